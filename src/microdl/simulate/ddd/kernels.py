"""Numba kernels for the O(N^2) and O(N M) sums of edge-dislocation fields.

The formulas are those of :mod:`microdl.simulate.ddd.fields` (SI units). The kernels
are plain serial double loops (one simulation per core; see the spec's measured
costs) with no ``fastmath``, so that results are bit-for-bit reproducible.

Inputs describing the dislocations are 1-D float64 arrays: positions ``x, y`` (m),
signed Burgers vectors ``b`` (m) and the cosine/sine ``c, s`` of each dislocation's
slip direction. ``dcoef = mu / (2 pi (1 - nu))`` (Pa). Pairs closer than the core
radius ``sqrt(rc2)`` are skipped (their fields are not defined in linear elasticity).
``rc2 = 0`` still excludes coincident points (self terms).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def pair_resolved_shear(x, y, b, c, s, plane, dcoef, rc2):
    """Resolved shear stress on each dislocation from all others (Pa), and the closest cross-plane pair.

    Returns
    -------
    tau : ndarray (N,)
        ``s_i . (sum_{j != i} sigma_j(p_i)) . n_i`` (Pa), see :func:`resolved_shear_sum`.
    r2min : float
        Smallest squared distance (m^2) between two *different-plane* dislocations
        (``inf`` if none).
    """
    return resolved_shear_sum(x, y, b, c, s, dcoef, rc2), min_cross_plane_r2(x, y, plane, rc2)


@njit(cache=True)
def resolved_shear_sum(x, y, b, c, s, dcoef, rc2):
    """Resolved shear stress on each dislocation from all others (Pa): the O(N^2) kernel.

    Uses the global-frame edge field of a Burgers vector ``(bx, by) = b (c, s)``
    (Hirth & Lothe 1982, eq. 3-43 rotated), for which the resolved shear on a plane
    with direction ``(c_i, s_i)`` collapses to
    ``dcoef (bx dx + by dy) (4 dx dy c_i s_i + (dx^2 - dy^2)(c_i^2 - s_i^2)) / r^4``.
    Self terms and pairs closer than ``sqrt(rc2)`` are excluded (``r^2 <= rc2``).
    """
    n = x.shape[0]
    tau = np.zeros(n)
    bx = np.empty(n)
    by = np.empty(n)
    for j in range(n):
        bx[j] = dcoef * b[j] * c[j]
        by[j] = dcoef * b[j] * s[j]
    for i in range(n):
        xi = x[i]
        yi = y[i]
        pi = 2.0 * c[i] * s[i]
        qi = c[i] * c[i] - s[i] * s[i]
        acc = 0.0
        for j in range(n):
            dx = xi - x[j]
            dy = yi - y[j]
            r2 = dx * dx + dy * dy
            inv = 1.0 / (r2 * r2) if r2 > rc2 else 0.0
            acc += (bx[j] * dx + by[j] * dy) * (2.0 * dx * dy * pi + (dx * dx - dy * dy) * qi) * inv
        tau[i] = acc
    return tau


@njit(cache=True)
def stiff_pair_r2_each(x, y, plane, mobile, rc2):
    """Per dislocation, the smallest effective ``r^2`` (m^2) of its explicit pairs (``inf`` if none).

    Over pairs on *different* planes with at least one mobile member, the effective
    ``r^2`` is ``r^2`` (both mobile) or ``2 r^2`` (one mobile). One O(N^2) scan serves
    :func:`stiff_pair_r2` (the minimum) and :func:`stiff_pair_members` (those below a
    threshold) for every threshold.
    """
    n = x.shape[0]
    out = np.full(n, np.inf)
    for i in range(n):
        xi = x[i]
        yi = y[i]
        pl = plane[i]
        mi = mobile[i]
        best = out[i]
        for j in range(i + 1, n):
            if plane[j] == pl or not (mi or mobile[j]):
                continue
            dx = xi - x[j]
            dy = yi - y[j]
            r2 = dx * dx + dy * dy
            if r2 <= rc2:
                continue
            eff = r2 if (mi and mobile[j]) else 2.0 * r2
            if eff < best:
                best = eff
            if eff < out[j]:
                out[j] = eff
        out[i] = best
    return out


@njit(cache=True)
def stiff_pair_r2(x, y, plane, mobile, rc2):
    """Effective squared distance (m^2) of the stiffest explicit pair, for sub-stepping.

    Over pairs on *different* planes with at least one mobile member, returns the
    minimum of ``r^2`` (both mobile) or ``2 r^2`` (one mobile): the relative glide
    mode of a pair decays at ``(number of mobile members) * kpair / (B r^2)``.
    Pairs of immobile (pinned or blocked) dislocations cannot go unstable.
    """
    r2 = stiff_pair_r2_each(x, y, plane, mobile, rc2)
    return r2.min() if r2.shape[0] else np.inf


@njit(cache=True)
def min_cross_plane_r2(x, y, plane, rc2):
    """Smallest squared distance (m^2) between dislocations of different planes (``inf`` if none)."""
    n = x.shape[0]
    r2min = np.inf
    for i in range(n):
        xi = x[i]
        yi = y[i]
        pl = plane[i]
        rmin = np.inf
        for j in range(i + 1, n):
            dx = xi - x[j]
            dy = yi - y[j]
            r2 = dx * dx + dy * dy
            rr = r2 if (plane[j] != pl and r2 > rc2) else np.inf
            rmin = min(rmin, rr)
        r2min = min(r2min, rmin)
    return r2min


@njit(cache=True)
def stiff_pair_members(x, y, plane, mobile, rc2, r2crit):
    """Members of explicit pairs too stiff for one step: different planes, at least one
    mobile member and effective ``r^2`` (as in :func:`stiff_pair_r2`) below ``r2crit``."""
    return stiff_pair_r2_each(x, y, plane, mobile, rc2) < r2crit


@njit(cache=True)
def subcycle_cluster(x, y, b, c, s, plane, xi, mobile, force_ext, mob, dt, dcoef, rc2, kpair, max_sub,
                     r_floor=0.0):
    """Sub-cycling of a small cluster of strongly interacting dislocations (multirate).

    The cluster members glide under ``force_ext`` (N/m; all forces except those between
    members, frozen over ``dt``) plus their mutual infinite-medium forces, recomputed at
    every sub-step. The number of sub-steps makes explicit Euler stable for the
    closest explicit member pair (``dt_sub <= 0.75 B r^2 / kpair``, ``r >= r_floor``: pairs
    closer than a few Burgers vectors are core-level, outside linear elasticity), capped at
    ``max_sub``.

    ``plane`` and ``xi`` are the members' plane ids and coordinates along their planes (m).
    Like-sign members of one plane are integrated implicitly at every sub-step
    (:func:`implicit_plane_update`, backward Euler in their ``1/r`` repulsion, everything
    else explicit), as in the single-rate step: they do not enter the sub-step count, and
    a pile-up member held ``b`` from its neighbour cannot be shot apart by an unstable
    explicit step. (Before, they were explicit too, with their stability bound floored at
    ``r_floor``: like-sign pairs closer than that blew apart, which created energy.)

    Returns
    -------
    dxi : ndarray
        Glide displacement of each member over ``dt`` (m); 0 for immobile members.
    n_sub : int
        Sub-steps used.
    """
    m = x.shape[0]
    sgn = np.sign(b)
    r2min = np.inf
    for i in range(m):
        for j in range(i + 1, m):
            if plane[i] == plane[j] and sgn[i] == sgn[j]:
                continue
            dx = x[i] - x[j]
            dy = y[i] - y[j]
            r2 = dx * dx + dy * dy
            if r2 > rc2 and r2 < r2min:
                r2min = r2
    n_sub = 1
    r2min = max(r2min, r_floor * r_floor)
    if r2min < np.inf:
        n_sub = int(min(max_sub, max(1, math.ceil(dt * kpair / (0.75 * r2min / mob)))))
    h = dt / n_sub
    d = np.zeros(m)
    px = x.copy()
    py = y.copy()
    order = np.argsort(plane, kind="mergesort")  # runs of one plane (the xi order is not needed)
    xs = xi.copy()
    for _k in range(n_sub):
        f = force_ext.copy()
        for i in range(m):
            pi = 2.0 * c[i] * s[i]
            qi = c[i] * c[i] - s[i] * s[i]
            acc = 0.0
            for j in range(m):
                dx = px[i] - px[j]
                dy = py[i] - py[j]
                r2 = dx * dx + dy * dy
                if r2 <= rc2:
                    continue
                bxj = dcoef * b[j] * c[j]
                byj = dcoef * b[j] * s[j]
                acc += (bxj * dx + byj * dy) * (2.0 * dx * dy * pi + (dx * dx - dy * dy) * qi) / (r2 * r2)
            f[i] += b[i] * acc
        step = implicit_plane_update(order, plane, xs, sgn, mobile, f, mob, h, kpair)
        for i in range(m):
            if mobile[i]:
                d[i] += step[i]
                xs[i] += step[i]
                px[i] += step[i] * c[i]
                py[i] += step[i] * s[i]
    return d, n_sub


@njit(cache=True)
def stress_at_points(px, py, x, y, b, c, s, dcoef, rc2):
    """Summed infinite-medium stress (Pa) of all dislocations at field points ``px, py`` (m).

    Dislocations closer than ``sqrt(rc2)`` to a point (``r^2 <= rc2``) are skipped.
    """
    m = px.shape[0]
    n = x.shape[0]
    bx = np.empty(n)
    by = np.empty(n)
    for j in range(n):
        bx[j] = dcoef * b[j] * c[j]
        by[j] = dcoef * b[j] * s[j]
    sxx = np.zeros(m)
    syy = np.zeros(m)
    sxy = np.zeros(m)
    for k in range(m):
        a_xx = 0.0
        a_yy = 0.0
        a_xy = 0.0
        xk = px[k]
        yk = py[k]
        for j in range(n):
            dx = xk - x[j]
            dy = yk - y[j]
            x2 = dx * dx
            y2 = dy * dy
            r2 = x2 + y2
            inv = 1.0 / (r2 * r2) if r2 > rc2 else 0.0
            bxj = bx[j] * inv
            byj = by[j] * inv
            a_xx += -bxj * dy * (3.0 * x2 + y2) + byj * dx * (x2 - y2)
            a_yy += bxj * dy * (x2 - y2) + byj * dx * (x2 + 3.0 * y2)
            a_xy += (bxj * dx + byj * dy) * (x2 - y2)
        sxx[k] = a_xx
        syy[k] = a_yy
        sxy[k] = a_xy
    return sxx, syy, sxy


@njit(cache=True)
def displacement_at_points(px, py, x, y, b, c, s, nu, stx, sty, stb, stc, sts):
    """Summed displacement (m) of dislocations plus surface steps at ``px, py``.

    ``stx, sty, stb, stc, sts`` describe exited dislocations (+s exits): a point on
    the slip line, the signed Burgers vector and the slip direction. Each adds
    ``+-(b/2) s`` on the two sides of its line (:func:`fields.step_displacement`).
    Points closer than 1e-30 m^2 to a dislocation get no contribution from it.
    """
    m = px.shape[0]
    n = x.shape[0]
    nst = stx.shape[0]
    ux = np.zeros(m)
    uy = np.zeros(m)
    inv2pi = 1.0 / (2.0 * math.pi)
    k1 = (1.0 - 2.0 * nu) / (4.0 * (1.0 - nu))
    k2 = 1.0 / (4.0 * (1.0 - nu))
    k3 = 1.0 / (2.0 * (1.0 - nu))
    for k in range(m):
        a_x = 0.0
        a_y = 0.0
        for j in range(n):
            dx = px[k] - x[j]
            dy = py[k] - y[j]
            cj = c[j]
            sj = s[j]
            xp = dx * cj + dy * sj
            yp = -dx * sj + dy * cj
            r2 = xp * xp + yp * yp
            if r2 < 1e-30:
                continue
            f = b[j] * inv2pi
            uxp = f * (math.atan2(yp, xp) + k3 * xp * yp / r2)
            uyp = -f * (k1 * math.log(r2) + k2 * (xp * xp - yp * yp) / r2)
            a_x += cj * uxp - sj * uyp
            a_y += sj * uxp + cj * uyp
        for j in range(nst):
            side = -(px[k] - stx[j]) * sts[j] + (py[k] - sty[j]) * stc[j]
            if side > 0.0:
                a_x += 0.5 * stb[j] * stc[j]
                a_y += 0.5 * stb[j] * sts[j]
            elif side < 0.0:
                a_x -= 0.5 * stb[j] * stc[j]
                a_y -= 0.5 * stb[j] * sts[j]
        ux[k] = a_x
        uy[k] = a_y
    return ux, uy


@njit(cache=True)
def _like_pair_force_jac(xs, sign, a, kpair, fvec, mat, loc):
    """Like-sign same-plane pair forces ``fvec`` (N/m) and ``I - a J`` into ``mat``."""
    m = xs.shape[0]
    for q in range(m):
        fvec[q] = 0.0
    mat[:, :] = 0.0
    for q in range(mat.shape[0]):
        mat[q, q] = 1.0
    for q in range(m):
        for r in range(q + 1, m):
            if sign[q] != sign[r]:
                continue
            dist = xs[q] - xs[r]
            if dist == 0.0:
                continue
            fq = kpair / dist
            fvec[q] += fq
            fvec[r] -= fq
            w = a * kpair / (dist * dist)
            lq = loc[q]
            lr = loc[r]
            if lq >= 0:
                mat[lq, lq] += w
            if lr >= 0:
                mat[lr, lr] += w
            if lq >= 0 and lr >= 0:
                mat[lq, lr] -= w
                mat[lr, lq] -= w


@njit(cache=True)
def _order_kept(xs0, xs1, sign):
    m = xs0.shape[0]
    for q in range(m):
        for r in range(q + 1, m):
            if sign[q] == sign[r] and (xs0[q] - xs0[r]) * (xs1[q] - xs1[r]) <= 0.0:
                return False
    return True


@njit(cache=True)
def plane_runs(order, plane):
    """Bounds of the runs of one plane in ``plane[order]``: run ``r`` is ``order[b[r]:b[r + 1]]``."""
    n = order.shape[0]
    bounds = np.empty(n + 1, dtype=np.int64)
    bounds[0] = 0
    k = 0
    start = 0
    while start < n:
        stop = start + 1
        p = plane[order[start]]
        while stop < n and plane[order[stop]] == p:
            stop += 1
        k += 1
        bounds[k] = stop
        start = stop
    return bounds[: k + 1]


@njit(cache=True)
def like_sign_plane_forces(order, plane, xi, sign, kpair):
    """Like-sign same-plane pair forces ``kpair * sum_j 1/(xi_i - xi_j)`` (N/m) on each dislocation.

    The part of the glide force that :func:`implicit_plane_update` treats implicitly;
    ``order`` groups the dislocations by plane (as there).
    """
    n = order.shape[0]
    out = np.zeros(n)
    bounds = plane_runs(order, plane)
    for run in range(bounds.shape[0] - 1):
        for q in range(bounds[run], bounds[run + 1]):
            i = order[q]
            for r in range(q + 1, bounds[run + 1]):
                j = order[r]
                if sign[i] != sign[j] or xi[i] == xi[j]:
                    continue
                f = kpair / (xi[i] - xi[j])
                out[i] += f
                out[j] -= f
    return out


@njit(cache=True)
def implicit_plane_update(order, plane, xi, sign, mobile, force, mob, dt, kpair, tol=1e-13, max_iter=30):
    """Glide increments, backward Euler in the same-plane like-sign pair forces.

    Per plane, solves ``dxi = dt*mob*(f_other + f_like(xi + dxi))`` by Newton's method,
    where ``f_like`` are the infinite-medium like-sign pair forces on that plane,
    ``f_like,i = kpair * sum_j 1/(xi_i - xi_j)`` (``kpair = mu b^2 / (2 pi (1 - nu))``, N),
    and ``f_other = force - f_like(xi)`` (everything else: applied, FE image,
    other planes, opposite signs) is frozen over the step. The like-sign interaction
    energy ``-kpair ln|xi_i - xi_j|`` is convex, so the implicit step minimises a
    strongly convex function: it exists, is unique and keeps the order of like-sign
    dislocations for any ``dt``. The Newton matrix ``I - dt*mob*J`` is a positive
    definite shifted weighted graph Laplacian; a step-halving line search keeps the
    order. Pinned (immobile) members are fixed but repel their neighbours.

    Parameters
    ----------
    order
        Indices sorting the dislocations by (plane, xi).
    plane, xi, sign, mobile, force
        Per-dislocation plane id, coordinate along the plane (m), sign (+-1),
        mobility flag and total glide force (N/m) at ``xi``.
    mob, dt
        Mobility ``1/B`` (1/(Pa s)) and time step (s).
    kpair
        ``mu b^2 / (2 pi (1 - nu))`` (N); 0 gives plain explicit Euler.
    tol, max_iter
        Newton tolerance on the increment (m) and iteration cap.

    Returns
    -------
    dxi : ndarray
        Glide increments (m); zero for immobile dislocations.
    """
    n = order.shape[0]
    dxi = np.zeros(n)
    a = dt * mob
    bounds = plane_runs(order, plane)
    for run in range(bounds.shape[0] - 1):
        start, stop = bounds[run], bounds[run + 1]
        idx = order[start:stop]
        m = stop - start
        nm = 0
        for q in range(m):
            if mobile[idx[q]]:
                nm += 1
        if nm == 0:
            continue
        loc = np.full(m, -1)
        k = 0
        for q in range(m):
            if mobile[idx[q]]:
                loc[q] = k
                k += 1
        xs0 = np.empty(m)
        sg = np.empty(m)
        for q in range(m):
            xs0[q] = xi[idx[q]]
            sg[q] = sign[idx[q]]
        fvec = np.zeros(m)
        mat = np.zeros((nm, nm))
        _like_pair_force_jac(xs0, sg, a, kpair, fvec, mat, loc)
        fother = np.empty(m)
        for q in range(m):
            fother[q] = force[idx[q]] - fvec[q]
        # explicit predictor is exact when there is no like-sign coupling
        d = np.zeros(m)
        xs = xs0.copy()
        for _it in range(max_iter):
            _like_pair_force_jac(xs, sg, a, kpair, fvec, mat, loc)
            res = np.zeros(nm)
            big = 0.0
            for q in range(m):
                if loc[q] >= 0:
                    res[loc[q]] = d[q] - a * (fother[q] + fvec[q])
            step = np.linalg.solve(mat, -res)
            for q in range(nm):
                if abs(step[q]) > big:
                    big = abs(step[q])
            alpha = 1.0
            trial = xs.copy()
            for _ls in range(60):
                for q in range(m):
                    if loc[q] >= 0:
                        trial[q] = xs[q] + alpha * step[loc[q]]
                if _order_kept(xs0, trial, sg):
                    break
                alpha *= 0.5
            for q in range(m):
                if loc[q] >= 0:
                    d[q] += alpha * step[loc[q]]
                    xs[q] = xs0[q] + d[q]
            if big * alpha <= tol or kpair == 0.0:
                break
        for q in range(m):
            if loc[q] >= 0:
                dxi[idx[q]] = d[q]
    return dxi

