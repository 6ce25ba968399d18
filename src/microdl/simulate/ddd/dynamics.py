"""Dislocation dynamics in a compressed pillar: slip planes, sources, obstacles, glide, events.

Units are SI (m, Pa, s). :class:`PillarModel` holds the state of one simulation and
advances it by one time step with :meth:`PillarModel.step`.

Physics (Van der Giessen & Needleman 1995; Deshpande, Needleman & Van der Giessen 2005)
---------------------------------------------------------------------------------------
* Fields: ``sigma = sigma~ + sigma^`` where ``sigma~`` sums the infinite-medium edge
  fields (:mod:`.kernels`) and ``sigma^`` is the FE correction (:mod:`.fem`) for the
  traction-free lateral faces and the clamped, displaced top and bottom.
* Glide: ``v = f / B`` with ``f = b_i s_i . sigma . n_i`` (self field excluded).
* Sources: a point source emits a dipole of spacing ``L_nuc = mu b / (2 pi (1-nu) tau_nuc)``
  once ``|tau| >= tau_nuc`` has held for ``t_nuc``; the member on the ``+s`` side has
  the sign of ``tau`` so both glide apart. A source does not fire while a
  dislocation of its plane lies inside the would-be dipole (the timer keeps running).
* Obstacles: a dislocation whose swept segment ``(xi_old, xi_new]`` contains an
  obstacle of its plane is pinned there; it is released when ``|tau| >= tau_obs``.
* Annihilation: opposite-sign dislocations of one plane whose swept segments cross, or
  that end closer than ``L_e``, are removed.
* Exit: a dislocation whose segment passes a lateral (free) face leaves the body; an
  exit along ``+s`` leaves a rigid surface step ``+-(b/2) s`` (kept in the
  displacement field), an exit along ``-s`` leaves nothing (see :mod:`.fields`).
  Plane ends on the top/bottom faces are impenetrable: dislocations stop
  ``block_standoff_nm`` (2 nm) short of them, where the FE mesh, refined towards these
  faces (``fe_end_refinement_nm``), still resolves their image field. (With a uniform
  3.9 nm mesh, a dislocation held 0.25 nm from a clamped face saw a spurious hat stress
  of order GPa and was shot back across its plane.)

Time integration and stability
------------------------------
Explicit Euler at ``dt = 0.5 ns`` is unstable for dislocation pairs closer than
``sqrt(dt mu b^2 / (2 pi (1-nu) B))`` ~ 31-44 nm, while pile-ups on one plane are
~16 nm apart. Two measures make the update stable:

1. **Same-plane like-sign neighbours are integrated implicitly** (backward Euler,
   :func:`.kernels.implicit_plane_update`): per plane, ``dxi = dt/B (f_other + f_like(xi + dxi))``
   is solved by Newton's method, ``f_like`` being the exact ``1/r`` forces between
   like-sign dislocations of the plane and ``f_other`` (applied, image, other planes,
   opposite signs) frozen over the step. The like-sign energy ``-kpair ln|r|`` is
   convex, so the step is unique, stable for any ``dt`` and never reorders a pile-up.
   Opposite-sign pairs on one plane attract and are resolved by annihilation, so they
   stay explicit.
2. **Other close pairs are sub-cycled locally (multirate)**: pairs on different planes
   closer than the explicit stability radius are found each (sub-)step; their members
   are advanced in ``n_loc = ceil(dt / dt_c)`` local sub-steps with
   ``dt_c = 0.75 B r_eff^2 / (mu b^2 / (2 pi (1-nu)))`` (:func:`substeps_needed`), the
   other dislocations and the hat field being frozen over the step, while everything
   else glides once. ``r_eff`` is the pair distance (times ``sqrt 2`` when one member
   is immobile: pinned, or pressed against a blocked plane end), floored at ``2 L_e``;
   ``n_loc <= max_substeps``. Such pairs (locks at intersecting planes, dipoles on
   neighbouring planes) are long-lived, so sub-cycling only them keeps the cost of a
   step near one field solve. The cluster takes all dislocations of its members' planes,
   and like-sign neighbours of one plane are integrated implicitly inside every local
   sub-step (:func:`.kernels.subcycle_cluster`): a same-plane neighbour frozen as a wall
   while a member moved onto it used to end ``b`` away (~6 GPa of repulsion created from
   nothing; in a 0.125 um / 10 % pillar this drove the stress into tension). We avoid a
   velocity cut-off, which biases densities (Segurado, LLorca & Romero 2007).
3. **Fast glide is sub-stepped for accuracy**: a free dislocation at 100 MPa glides
   125 nm (a whole 0.125 um pillar) in 0.5 ns, while its own exit relaxes the stress by
   ~35 MPa. The step is therefore also split so that no free dislocation travels more
   than ``max_glide_nm`` per sub-step (20 nm by default) with all fields updated in
   between. Velocities are never capped; this only refines the time integration during
   avalanches (compare ``dt_ns = 0.1``, see the report of the Delta-t check). A
   dislocation gliding towards a blocked plane end (a clamped face) may cover at most a
   quarter of its remaining distance (>= 1 nm) per sub-step, stiff-pair members included
   (their sub-cycling freezes the hat field, i.e. the face's 1/d image): otherwise it
   jumped onto the standoff in one step, and a source 36 nm from a clamped end chattered
   (hundreds of +-b emissions at dt = 0.5 ns, two at dt = 0.1 ns). Gliding away from a
   blocked end, at most half its distance to it; and the sub-steps keep the face's 1/d
   repulsion stable (:meth:`.glide_stops.GlideStops._end_substeps` says why).
4. **The FE hat field is refreshed by glide distance** (``hat_refresh_nm``, 100 nm): inside
   a step, a global sub-step recomputes the pair and image forces and the hat stress at
   the new positions, but solves the FE problem again only once a dislocation has glided
   ``hat_refresh_nm`` (or a quarter of its distance to the nearer clamped end, where its
   clamped-face image changes fast) since the last solve, or one was added or removed. The
   hat field is smooth elsewhere, and the FE solve with its boundary sums was ~60 % of a
   sub-step (``benchmarks/ddd/speed.md``: timings and the paired old/new mechanics check).
   Without the end rule, dislocations near the clamped ends overshot and bounced (+50 %
   sub-steps at w = 0.25 um).

Events are detected on each (sub-)step's swept segment, not only at its end point. When a
dislocation stops during a step (pinned at an obstacle, or held at a blocked plane end), the
like-sign dislocations of its plane coming from behind are solved again with it as a wall
(:meth:`PillarModel._stop_behind`), so they queue at their equilibrium distances instead of
being put ``b`` behind it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from microdl.simulate.ddd import kernels
from microdl.simulate.ddd.config import PillarConfig
from microdl.simulate.ddd.fem import IMAGE_BAND_ELEMENTS, PillarFE
from microdl.simulate.ddd.fields import dislocation_prefactor
from microdl.simulate.ddd.glide_stops import GlideStops
from microdl.simulate.ddd.model_fields import ModelFields
from microdl.simulate.ddd.planes import SlipPlanes, _first_obstacle, _same_plane_events, substeps_needed


@dataclass
class StepStats:
    """Counters accumulated over a run."""

    nucleated: int = 0
    annihilated: int = 0
    exited: int = 0
    pinned: int = 0
    substeps: int = 0
    local_substeps: int = 0
    hat_reused: int = 0
    steps: int = 0
    dissipation_j_per_m: float = 0.0


class PillarModel(GlideStops, ModelFields):
    """State and time stepping of one pillar (SI units).

    Parameters
    ----------
    config
        The run configuration.
    rng
        Generator used once, here, to place sources and obstacles and draw their
        strengths; the dynamics is deterministic afterwards.
    """

    def __init__(self, config: PillarConfig, rng: np.random.Generator):
        self.config = config
        mat = config.material
        self.mu = mat.shear_modulus_pa
        self.nu = mat.poisson_ratio
        self.e = mat.youngs_modulus_gpa * 1e9
        self.b = mat.burgers_nm * 1e-9
        self.drag = mat.drag_pa_s
        self.dcoef = dislocation_prefactor(self.mu, self.nu)
        self.kpair = self.dcoef * self.b * self.b
        self.width = config.width_um * 1e-6
        self.height = config.height_um * 1e-6
        self.dt = config.dt_ns * 1e-9
        self.t_nuc = config.nucleation_time_ns * 1e-9
        self.tau_obs = config.obstacle_strength_mpa * 1e6
        self.le = config.annihilation_distance_b * self.b
        self.max_glide = config.max_glide_nm * 1e-9
        self._hat_refresh = config.hat_refresh_nm * 1e-9
        self._hat_ref = None  # (change counter, d_xi) at the last FE solve
        self._n_changes = 0  # dislocations added or removed so far
        self.rc2 = (0.5 * self.b) ** 2  # core cut-off for pair sums
        self.planes = SlipPlanes.build(
            self.width, self.height, config.slip_directions_rad, config.plane_spacing_b * self.b
        )
        # image_force="analytic": Head's half-plane image of dislocations near a lateral face is
        # added to the infinite-medium field and the FE corrects only the smooth remainder
        self.fe = PillarFE.pillar(self.width, self.height, config.fe_nx, self.e, self.nu,
                                  end_dy_m=config.fe_end_refinement_nm * 1e-9, ends=config.ends,
                                  image_band=IMAGE_BAND_ELEMENTS if config.image_force == "analytic" else None,
                                  n_gauss=config.fe_gauss_points, n_gauss_top=4)
        self.standoff = max(config.block_standoff_nm * 1e-9, self.b)
        self._frictionless = config.ends == "frictionless"
        extra = [self.fe.bottom_pts] if self._frictionless else []
        self._bnd_pts = np.vstack([self.fe.left_pts, self.fe.right_pts, self.fe.top_pts, *extra])
        self._bnd_x = np.ascontiguousarray(self._bnd_pts[:, 0])
        self._bnd_y = np.ascontiguousarray(self._bnd_pts[:, 1])
        self._n_left = len(self.fe.left_pts)
        self._n_top = len(self.fe.top_pts)
        self._tb_nodes = np.vstack([self.fe.bottom_nodes, self.fe.top_nodes])
        self._tb_x = np.ascontiguousarray(self._tb_nodes[:, 0])
        self._tb_y = np.ascontiguousarray(self._tb_nodes[:, 1])
        n_sys = len(config.slip_directions_rad)
        area_um2 = config.width_um * config.height_um

        # sources
        n_src = max(int(rng.poisson(config.source_density_per_um2 * area_um2)), int(config.min_sources))
        mean, sd = config.source_strength_mean_mpa * 1e6, config.source_strength_sd_mpa * 1e6
        tau_nuc = rng.normal(mean, sd, n_src)
        while np.any(bad := tau_nuc < 0.1 * mean):  # truncate the Gaussian far in its tail
            tau_nuc[bad] = rng.normal(mean, sd, int(bad.sum()))
        margin = 2 * self.le
        self.src_plane, self.src_xi = self.planes.random_points(rng, n_src, n_sys, margin)
        self.src_tau = tau_nuc
        self.src_timer = np.zeros(n_src)
        sx, sy = self.planes.xy(self.src_plane, self.src_xi)
        self.src_x, self.src_y = np.ascontiguousarray(sx), np.ascontiguousarray(sy)
        th = self.planes.theta[self.src_plane]
        self.src_c, self.src_s = np.cos(th), np.sin(th)

        # obstacles, sorted by (plane, xi) with CSR pointers per plane
        n_obs = int(rng.poisson(config.obstacle_density * area_um2))
        op, ox = self.planes.random_points(rng, n_obs, n_sys, margin)
        order = np.lexsort((ox, op))
        self.obs_plane, self.obs_xi = op[order], ox[order]
        self.obs_ptr = np.searchsorted(self.obs_plane, np.arange(self.planes.n + 1)).astype(np.int64)

        # dislocations (empty) and surface steps
        self.d_plane = np.zeros(0, dtype=np.int64)
        self.d_xi = np.zeros(0)
        self.d_sign = np.zeros(0)
        self.d_pin = np.zeros(0, dtype=np.int64)
        self.steps = np.zeros((0, 5))  # x0, y0, signed b, cos, sin
        self.stats = StepStats()
        self.u_hat = np.zeros((self.fe.n_nodes, 2))
        self.top_displacement = 0.0
        self.force_per_m = 0.0

    # ------------------------------------------------------------------ geometry
    @property
    def n_dislocations(self) -> int:
        return len(self.d_xi)

    def dislocation_arrays(self):
        """Positions (m), signed Burgers vectors (m) and slip-direction cos/sin."""
        x, y = self.planes.xy(self.d_plane, self.d_xi)
        th = self.planes.theta[self.d_plane]
        return (np.ascontiguousarray(x), np.ascontiguousarray(y), self.d_sign * self.b, np.cos(th), np.sin(th))

    def _step_arrays(self):
        st = self.steps
        return tuple(np.ascontiguousarray(st[:, k]) for k in range(5))

    # ------------------------------------------------------------------ fields
    def solve_fields(self, top_displacement: float):
        """Solve the hat problem for the current dislocations and platen displacement ``U`` (m).

        Updates :attr:`u_hat` and :attr:`force_per_m` (compression positive, N/m)
        and returns the total resolved shear stress on every dislocation (Pa) and the
        effective squared distance (m^2) of the stiffest explicit pair (for sub-stepping).
        """
        self.solve_hat(top_displacement)
        return self.shear_fields()

    def shear_fields(self):
        """Resolved shear (Pa) on every dislocation with the current :attr:`u_hat`, and the
        effective r^2 of the stiffest explicit pair (:func:`.kernels.stiff_pair_r2`).

        Pair and image forces are those of the current positions; the FE hat field is that of
        the last :meth:`solve_hat` (frozen between hat refreshes, see :meth:`step`). The
        per-dislocation r^2 of the stiff-pair scan is kept for :meth:`_stiff_members`.
        """
        if self.n_dislocations == 0:
            self._r2_each = np.zeros(0)
            return np.zeros(0), np.inf
        x, y, b, c, s = self.dislocation_arrays()
        tau = kernels.resolved_shear_sum(x, y, b, c, s, self.dcoef, self.rc2) + self._resolved_hat(x, y, c, s)
        self._r2_each = kernels.stiff_pair_r2_each(x, y, self.d_plane, self._mobile_mask(tau), self.rc2)
        return tau, float(self._r2_each.min())

    def _stiff_members(self, r2crit: float) -> np.ndarray:
        """Members of stiff pairs (:func:`.kernels.stiff_pair_members`) from the last scan."""
        return self._r2_each < r2crit

    # ------------------------------------------------------------------ dynamics
    def n_substeps(self, r2min: float) -> int:
        """Sub-steps needed for explicit stability of different-plane close pairs."""
        return substeps_needed(r2min, self.dt, self.drag, self.kpair, 2 * self.le, self.config.max_substeps)

    def step(self, top_displacement: float) -> None:
        """Advance by one time step ``dt`` at platen displacement ``U`` (m).

        The step is split into ``n_glob`` global sub-steps so that no free dislocation
        glides more than ``max_glide_nm`` per sub-step; pair and image forces are recomputed
        at every sub-step, the FE hat field when due (:meth:`_substep_fields`). Inside each
        sub-step, pairs too stiff for explicit Euler are sub-cycled locally
        (:meth:`_advance`). Sources are checked once per step.
        """
        tau, r2 = self.solve_fields(top_displacement)
        tau_src = self.source_shear()
        n_glob = 1
        if self.max_glide > 0 and self.n_dislocations:
            # fast glide of mobile dislocations outside stiff pairs (those are sub-cycled
            # locally); one pressed against a blocked plane end cannot glide, however large
            # its stress, so it does not ask for sub-steps
            mobile = self._mobile_mask(tau)
            free = mobile.copy()
            if np.isfinite(r2):
                free &= ~self._stiff_members(self.dt * self.kpair / (0.75 * self.drag))
            if np.any(mobile):
                # travel of a trial implicit step: a dislocation held in a pile-up (behind a
                # pinned, blocked or stiff leader) barely moves however large its stress; the
                # clamped-end rule covers stiff members too, so it is applied even without free ones
                order = np.lexsort((self.d_xi, self.d_plane))
                trial = kernels.implicit_plane_update(order, self.d_plane, self.d_xi, self.d_sign, mobile,
                                                      self.d_sign * self.b * tau, 1.0 / self.drag, self.dt,
                                                      self.kpair)
                glide = float(np.max(np.abs(trial[free]))) / self.max_glide if np.any(free) else 0.0
                need = max(glide, self._end_substeps(trial, mobile))
                n_glob = int(min(self.config.max_substeps, max(1, math.ceil(need - 1e-12))))
        for k in range(n_glob):
            if k > 0:
                tau, r2 = self._substep_fields(top_displacement)
            self._advance(tau, r2, self.dt / n_glob)
        self._nucleate(tau_src, self.dt)
        self.stats.steps += 1
        self.stats.substeps += n_glob

    def _substep_fields(self, top_displacement: float):
        """Fields for a global sub-step: the FE hat problem is solved again only if a
        dislocation glided more than ``hat_refresh_nm`` (or a quarter of its distance to the
        nearer clamped end) since the last solve, or one was removed (exit, annihilation) or
        added; otherwise the hat field is kept (it is smooth away from the clamped ends) and
        only pair and image forces and the hat stress at the new positions are updated
        (:meth:`shear_fields`)."""
        ref = self._hat_ref
        if self._hat_refresh <= 0 or ref is None or ref[0] != self._n_changes:
            return self.solve_fields(top_displacement)
        # near a clamped end the hat field of a dislocation (its clamped-face image) varies on
        # the scale of its distance d to that face: there the allowance is d / 4
        _, y = self.planes.xy(self.d_plane, self.d_xi)
        d_end = np.minimum(y, self.height - y)
        if np.any(np.abs(self.d_xi - ref[1]) > np.minimum(self._hat_refresh, 0.25 * d_end)):
            return self.solve_fields(top_displacement)
        self.stats.hat_reused += 1
        return self.shear_fields()

    def _advance(self, tau: np.ndarray, r2eff: float, dt: float) -> None:
        """Glide over ``dt`` with local sub-cycling of stiff cross-plane pairs (multirate).

        The members of stiff pairs (:func:`.kernels.stiff_pair_members`) are advanced by
        :func:`.kernels.subcycle_cluster`: explicit sub-steps of their mutual forces, all
        other forces (applied, hat field, other dislocations) frozen over ``dt``. Everyone
        else takes one implicit step with the stiff members as fixed walls. Events are then
        detected on the swept segments of all of them at once (:meth:`_glide`).
        """
        n_loc = substeps_needed(r2eff, dt, self.drag, self.kpair, 2 * self.le, self.config.max_substeps)
        if n_loc <= 1:
            self._glide(tau, dt)
            return
        x, y, b, c, s = self.dislocation_arrays()
        mobile = self._mobile_mask(tau)
        stiff = self._stiff_members(dt * self.kpair / (0.75 * self.drag))
        if not np.any(stiff):
            self._glide(tau, dt)
            return
        # the cluster takes every dislocation of its members' planes: a same-plane neighbour
        # left outside would be solved with the member as a wall frozen at its old position
        # while the member moves, and the two could end up b apart (a like-sign pair there
        # repels with ~6 GPa: energy created from nothing, obstacles released, chatter)
        stiff |= np.isin(self.d_plane, self.d_plane[stiff])
        idx = np.flatnonzero(stiff)
        xs, ys, bs, cs, ss = (np.ascontiguousarray(a[idx]) for a in (x, y, b, c, s))
        # forces between cluster members at the start, removed from the frozen part
        t_in = kernels.resolved_shear_sum(xs, ys, bs, cs, ss, self.dcoef, self.rc2)
        f_ext = bs * (tau[idx] - t_in)
        d, n_sub = kernels.subcycle_cluster(xs, ys, bs, cs, ss, np.ascontiguousarray(self.d_plane[idx]),
                                            np.ascontiguousarray(self.d_xi[idx]), mobile[idx], f_ext,
                                            1.0 / self.drag, dt, self.dcoef, self.rc2, self.kpair, 4096, 2 * self.le)
        dxi = np.zeros(self.n_dislocations)
        dxi[idx] = d
        self._glide(tau, dt, active=~stiff, dxi_given=(stiff, dxi))
        self.stats.local_substeps += n_sub

    def _mobile_mask(self, tau: np.ndarray) -> np.ndarray:
        """Free (or about to be released) and not pressed against a blocked plane end."""
        force_dir = self.d_sign * tau
        lo, hi = self.planes.lo[self.d_plane], self.planes.hi[self.d_plane]
        tol = self.standoff + self.b
        blocked = ((~self.planes.hi_free[self.d_plane]) & (self.d_xi >= hi - tol) & (force_dir > 0)) | (
            (~self.planes.lo_free[self.d_plane]) & (self.d_xi <= lo + tol) & (force_dir < 0)
        )
        return ((self.d_pin < 0) | (np.abs(tau) >= self.tau_obs)) & ~blocked

    def _glide(self, tau: np.ndarray, dt: float, active: np.ndarray | None = None,
               dxi_given: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray | None:
        """Glide the ``active`` dislocations (default all) over ``dt`` and process events.

        ``dxi_given = (mask, dxi)`` prescribes the glide increments (m) of the masked
        dislocations (computed by local sub-cycling); they are held fixed in the implicit
        solve of the others and share the event detection.
        Returns the boolean mask of survivors if dislocations were removed, else None.
        """
        n = self.n_dislocations
        if n == 0:
            return None
        if active is None:
            active = np.ones(n, dtype=bool)
        # release pinned dislocations whose shear exceeds the obstacle strength
        may_move = active if dxi_given is None else (active | dxi_given[0])
        release = (self.d_pin >= 0) & (np.abs(tau) >= self.tau_obs) & may_move
        self.d_pin[release] = -1
        mobile = (self.d_pin < 0) & active
        force = self.d_sign * self.b * tau
        order = np.lexsort((self.d_xi, self.d_plane))
        dxi = kernels.implicit_plane_update(
            order, self.d_plane, self.d_xi, self.d_sign, mobile, force, 1.0 / self.drag, dt, self.kpair
        )
        if dxi_given is not None:
            given, values = dxi_given
            dxi = np.where(given, values, dxi)
            mobile = mobile | (given & (values != 0.0))
        xi_old = self.d_xi
        xi_new = xi_old + dxi
        # obstacles on the swept segment
        hit = _first_obstacle(self.d_plane, xi_old, xi_new, mobile, self.obs_ptr, self.obs_xi)
        if np.any(hit >= 0):  # (a pillar may have no obstacle at all: then nothing is hit)
            xi_new = np.where(hit >= 0, self.obs_xi[np.maximum(hit, 0)], xi_new)
        # ends of the plane: blocked at top/bottom faces, exit through lateral faces
        lo, hi = self.planes.lo[self.d_plane], self.planes.hi[self.d_plane]
        lo_free, hi_free = self.planes.lo_free[self.d_plane], self.planes.hi_free[self.d_plane]
        so = self.standoff
        xi_new, ended = self._clip_blocked_ends(xi_old, xi_new)
        if np.any(hit >= 0) or np.any(ended != 0):
            xi_new, hit = self._stop_behind(order, force, dt, mobile, xi_old, xi_new, hit, ended)
        pinned_now = hit >= 0
        # same-plane annihilation (crossing / within L_e) and like-sign order
        lo_cap = np.where(lo_free, -np.inf, lo + so)
        hi_cap = np.where(hi_free, np.inf, hi - so)
        dead, xi_new = _same_plane_events(order, self.d_plane, self.d_sign, xi_old, xi_new, self.le, self.b,
                                          lo_cap, hi_cap)
        exit_hi = ~dead & hi_free & (xi_new >= hi)
        exit_lo = ~dead & lo_free & (xi_new <= lo)
        moved = np.clip(xi_new, lo, hi) - xi_old
        self.stats.dissipation_j_per_m += float(np.sum(np.where(dead, 0.0, force * moved)))
        self.stats.annihilated += int(dead.sum())
        self.stats.exited += int(exit_hi.sum() + exit_lo.sum())
        self.stats.pinned += int(np.sum(pinned_now & ~dead))
        if np.any(exit_hi):
            p = self.d_plane[exit_hi]
            x0, y0 = self.planes.xy(p, hi[exit_hi])
            th = self.planes.theta[p]
            new = np.column_stack([x0, y0, self.d_sign[exit_hi] * self.b, np.cos(th), np.sin(th)])
            self.steps = np.vstack([self.steps, new])
        self.d_xi = xi_new
        self.d_pin = np.where(pinned_now, hit, self.d_pin)
        keep = ~(dead | exit_hi | exit_lo)
        if not np.all(keep):
            self._keep(keep)
            return keep
        return None

    def _keep(self, keep: np.ndarray) -> None:
        self._n_changes += 1
        self.d_plane = self.d_plane[keep]
        self.d_xi = self.d_xi[keep]
        self.d_sign = self.d_sign[keep]
        self.d_pin = self.d_pin[keep]

    def _nucleate(self, tau_src: np.ndarray, dt: float) -> None:
        if len(tau_src) == 0:
            return
        active = np.abs(tau_src) >= self.src_tau
        self.src_timer = np.where(active, self.src_timer + dt, 0.0)
        ready = np.flatnonzero(self.src_timer >= self.t_nuc * (1 - 1e-9))
        for i in ready:
            p = self.src_plane[i]
            half = 0.5 * self.dcoef * self.b / self.src_tau[i]
            xi0 = self.src_xi[i]
            on_plane = self.d_plane == p
            if np.any(np.abs(self.d_xi[on_plane] - xi0) <= half + self.le):
                continue  # blocked by a dislocation inside the would-be dipole
            sgn = 1.0 if tau_src[i] > 0 else -1.0
            self._add(np.array([p, p]), np.array([xi0 + half, xi0 - half]), np.array([sgn, -sgn]))
            self.src_timer[i] = 0.0
            self.stats.nucleated += 2

    def _add(self, plane, xi, sign) -> None:
        lo, hi = self.planes.lo[plane], self.planes.hi[plane]
        lo_free, hi_free = self.planes.lo_free[plane], self.planes.hi_free[plane]
        xi = np.where(~lo_free, np.maximum(xi, lo + self.standoff), xi)
        xi = np.where(~hi_free, np.minimum(xi, hi - self.standoff), xi)
        self._n_changes += 1
        self.d_plane = np.concatenate([self.d_plane, plane])
        self.d_xi = np.concatenate([self.d_xi, xi])
        self.d_sign = np.concatenate([self.d_sign, sign])
        self.d_pin = np.concatenate([self.d_pin, np.full(len(plane), -1, dtype=np.int64)])
        # a member emitted beyond a free face leaves at once
        out_hi = hi_free & (xi >= hi)
        out_lo = lo_free & (xi <= lo)
        if np.any(out_hi | out_lo):
            n0 = self.n_dislocations - len(plane)
            keep = np.ones(self.n_dislocations, dtype=bool)
            keep[n0:] = ~(out_hi | out_lo)
            if np.any(out_hi):
                x0, y0 = self.planes.xy(plane[out_hi], hi[out_hi])
                th = self.planes.theta[plane[out_hi]]
                new = np.column_stack([x0, y0, sign[out_hi] * self.b, np.cos(th), np.sin(th)])
                self.steps = np.vstack([self.steps, new])
            self.stats.exited += int(np.sum(out_hi | out_lo))
            self._keep(keep)

    def reset_source_timers(self) -> None:
        self.src_timer[:] = 0.0

    def get_state(self) -> dict[str, np.ndarray]:
        """Copy of the mutable state (dislocations, pins, steps, timers) for checkpoints."""
        return {
            "d_plane": self.d_plane.copy(), "d_xi": self.d_xi.copy(), "d_sign": self.d_sign.copy(),
            "d_pin": self.d_pin.copy(), "steps": self.steps.copy(), "src_timer": self.src_timer.copy(),
        }

    def set_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore a state from :meth:`get_state` (same config and seed)."""
        self.d_plane = np.asarray(state["d_plane"], dtype=np.int64).copy()
        self.d_xi = np.asarray(state["d_xi"], dtype=float).copy()
        self.d_sign = np.asarray(state["d_sign"], dtype=float).copy()
        self.d_pin = np.asarray(state["d_pin"], dtype=np.int64).copy()
        self.steps = np.asarray(state["steps"], dtype=float).reshape(-1, 5).copy()
        self.src_timer = np.asarray(state["src_timer"], dtype=float).copy()
        self._n_changes += 1
