"""Slip planes and the events of a glide step: plane geometry, obstacles, same-plane crossings.

Helpers of :class:`~microdl.simulate.ddd.dynamics.PillarModel` (SI units: m, Pa, s): the
discrete slip planes of each system (:class:`SlipPlanes`), the first obstacle on a swept
segment (:func:`_first_obstacle`), annihilation and pile-up ordering of the dislocations of
one plane (:func:`_same_plane_events`) and the number of explicit sub-steps a close pair
needs (:func:`substeps_needed`); see the module docstring of :mod:`.dynamics` for the physics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numba import njit

from microdl.simulate.ddd.kernels import plane_runs


@dataclass(frozen=True)
class SlipPlanes:
    """Discrete slip planes of all systems clipped to the pillar ``[0, w] x [0, h]`` (m).

    Plane ``p`` is the segment ``c_p n + xi s`` with ``xi`` in ``[lo_p, hi_p]``;
    ``lo_free``/``hi_free`` tell whether that end lies on a lateral (free) face.
    """

    system: np.ndarray
    theta: np.ndarray
    offset: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    lo_free: np.ndarray
    hi_free: np.ndarray
    spacing: float

    @classmethod
    def build(cls, width: float, height: float, angles: tuple[float, ...], spacing: float) -> SlipPlanes:
        rows = []
        corners = np.array([[0, 0], [width, 0], [0, height], [width, height]], dtype=float)
        for k, th in enumerate(angles):
            s = np.array([math.cos(th), math.sin(th)])
            n = np.array([-s[1], s[0]])
            cvals = corners @ n
            cmin, cmax = cvals.min(), cvals.max()
            m = int(math.floor((cmax - cmin) / spacing))
            for i in range(m + 1):
                c = cmin + (i + 0.5) * spacing
                if c >= cmax:
                    break
                p0 = c * n
                bx = sorted([(0.0 - p0[0]) / s[0], (width - p0[0]) / s[0]])
                by = sorted([(0.0 - p0[1]) / s[1], (height - p0[1]) / s[1]])
                lo, hi = max(bx[0], by[0]), min(bx[1], by[1])
                if hi - lo <= 0:
                    continue
                rows.append((k, th, c, lo, hi, bx[0] >= by[0], bx[1] <= by[1]))
        a = list(zip(*rows, strict=True))
        return cls(
            system=np.array(a[0], dtype=np.int64), theta=np.array(a[1]), offset=np.array(a[2]),
            lo=np.array(a[3]), hi=np.array(a[4]), lo_free=np.array(a[5], dtype=bool),
            hi_free=np.array(a[6], dtype=bool), spacing=spacing,
        )

    @property
    def n(self) -> int:
        return len(self.offset)

    def xy(self, plane: np.ndarray, xi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Global coordinates (m) of points ``xi`` on planes ``plane``."""
        th = self.theta[plane]
        c, s = np.cos(th), np.sin(th)
        off = self.offset[plane]
        return -off * s + xi * c, off * c + xi * s

    def random_points(self, rng: np.random.Generator, count: int, n_systems: int, margin: float):
        """Uniform random points snapped to the nearest plane of a random system.

        Returns plane indices and ``xi`` (m); points within ``margin`` of a plane end are
        redrawn.
        """
        planes = np.zeros(count, dtype=np.int64)
        xis = np.zeros(count)
        starts = {k: np.flatnonzero(self.system == k) for k in range(n_systems)}
        width = max(self.xy(np.arange(self.n), self.lo)[0].max(), self.xy(np.arange(self.n), self.hi)[0].max())
        height = max(self.xy(np.arange(self.n), self.lo)[1].max(), self.xy(np.arange(self.n), self.hi)[1].max())
        i = 0
        while i < count:
            x, y = rng.uniform(0, width), rng.uniform(0, height)
            k = int(rng.integers(n_systems))
            idx = starts[k]
            th = self.theta[idx[0]]
            c, s = math.cos(th), math.sin(th)
            cval = -x * s + y * c
            j = idx[int(np.argmin(np.abs(self.offset[idx] - cval)))]
            xi = x * c + y * s
            if self.lo[j] + margin <= xi <= self.hi[j] - margin:
                planes[i], xis[i] = j, xi
                i += 1
        return planes, xis


@njit(cache=True)
def _first_obstacle(plane, xi_old, xi_new, moving, obs_ptr, obs_xi):
    """Index of the first obstacle met on ``(xi_old, xi_new]`` of each dislocation, or -1."""
    n = plane.shape[0]
    hit = np.full(n, -1)
    for i in range(n):
        if not moving[i]:
            continue
        a, b = xi_old[i], xi_new[i]
        if a == b:
            continue
        p = plane[i]
        lo, hi = obs_ptr[p], obs_ptr[p + 1]
        if a < b:
            best = -1
            for k in range(lo, hi):  # sorted ascending
                if obs_xi[k] > a and obs_xi[k] <= b:
                    best = k
                    break
            hit[i] = best
        else:
            best = -1
            for k in range(hi - 1, lo - 1, -1):
                if obs_xi[k] < a and obs_xi[k] >= b:
                    best = k
                    break
            hit[i] = best
    return hit


@njit(cache=True)
def _same_plane_events(order, plane, sign, xi_old, xi_new, le, min_gap, lo_cap, hi_cap):
    """Annihilations (crossing or ending within ``le``) and like-sign ordering.

    Returns a boolean 'annihilated' mask and corrected ``xi_new``: like-sign
    neighbours never cross (a mover that would pass a like-sign neighbour stops
    ``min_gap`` short of it; rare thanks to the implicit update). ``lo_cap`` /
    ``hi_cap`` are per-dislocation bounds (blocked plane ends; +-inf where the end
    is free): after ordering, a backward and a forward pass keep every survivor inside
    them while keeping ``min_gap`` to its like-sign neighbours, so a pile-up pushed
    against a blocked end queues up behind its leader instead of collapsing onto it.
    """
    n = order.shape[0]
    dead = np.zeros(n, dtype=np.bool_)
    out = xi_new.copy()
    bounds = plane_runs(order, plane)
    for run in range(bounds.shape[0] - 1):
        start, stop = bounds[run], bounds[run + 1]
        idx = order[start:stop]  # sorted by xi_old
        m = stop - start
        if m > 1:
            # annihilation: repeatedly take the opposite-sign pair with the smallest old gap
            changed = True
            while changed:
                changed = False
                best = 1e300
                bi = -1
                bj = -1
                for q in range(m):
                    i = idx[q]
                    if dead[i]:
                        continue
                    for r in range(q + 1, m):
                        j = idx[r]
                        if dead[j] or sign[i] == sign[j]:
                            continue
                        g0 = xi_old[j] - xi_old[i]
                        g1 = out[j] - out[i]
                        if g0 * g1 <= 0.0 or abs(g1) < le:
                            if abs(g0) < best:
                                best = abs(g0)
                                bi = i
                                bj = j
                if bi >= 0:
                    dead[bi] = True
                    dead[bj] = True
                    changed = True
            # like-sign ordering between consecutive survivors
            prev = -1
            for q in range(m):
                i = idx[q]
                if dead[i]:
                    continue
                if prev >= 0 and sign[prev] == sign[i] and out[i] - out[prev] < min_gap:
                    # move whichever moved more so that the order of xi_old is kept
                    if abs(out[i] - xi_old[i]) >= abs(out[prev] - xi_old[prev]):
                        out[i] = out[prev] + min_gap
                    else:
                        out[prev] = out[i] - min_gap
                prev = i
            # a correction above may have pushed a survivor past a blocked end or onto the
            # like-sign neighbour behind it: queue back from the upper end, then the lower
            nxt = -1
            for q in range(m - 1, -1, -1):
                i = idx[q]
                if dead[i]:
                    continue
                if out[i] > hi_cap[i]:
                    out[i] = hi_cap[i]
                if nxt >= 0 and sign[nxt] == sign[i] and out[nxt] - out[i] < min_gap:
                    out[i] = out[nxt] - min_gap
                nxt = i
            prev = -1
            for q in range(m):
                i = idx[q]
                if dead[i]:
                    continue
                if out[i] < lo_cap[i]:
                    out[i] = lo_cap[i]
                if prev >= 0 and sign[prev] == sign[i] and out[i] - out[prev] < min_gap:
                    out[i] = out[prev] + min_gap
                prev = i
        else:
            i = idx[0]
            out[i] = min(max(out[i], lo_cap[i]), hi_cap[i])
    return dead, out


def substeps_needed(r2min: float, dt: float, drag: float, kpair: float, r_floor: float, max_substeps: int) -> int:
    """Number of explicit sub-steps for a closest different-plane pair at ``sqrt(r2min)`` (m).

    A pair at distance ``r`` has a glide stiffness of at most ``kpair / r^2`` (N/m^2, with
    ``kpair = mu b^2 / (2 pi (1-nu))``), so the relative mode of two mobile dislocations
    decays at ``lambda = 2 kpair / (B r^2)`` (``kpair / (B r^2)`` with one immobile
    member: pass ``2 r^2``, as :func:`.kernels.stiff_pair_r2` does). Explicit Euler is stable for
    ``dt lambda < 2``; we require ``dt_sub lambda <= 1.5``, i.e.
    ``dt_sub <= 0.75 B r^2 / kpair``, with ``r >= r_floor`` and at most ``max_substeps``.
    """
    if not np.isfinite(r2min):
        return 1
    r2 = max(r2min, r_floor * r_floor)
    dt_c = 0.75 * drag * r2 / kpair
    return int(min(max_substeps, max(1, math.ceil(dt / dt_c - 1e-12))))
