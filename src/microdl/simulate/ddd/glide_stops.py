"""Stopping events inside a glide step of :class:`~microdl.simulate.ddd.dynamics.PillarModel`.

A mixin (SI units): glide increments are first solved with every dislocation free; when one
stops during the step (pinned at an obstacle, or held ``block_standoff_nm`` short of a blocked
plane end), the like-sign dislocations of its plane coming from behind are solved again with it
as a wall, so a pile-up queues at its equilibrium spacing instead of two dislocations ending
``b`` apart (a pair repelling with ~6 GPa: energy from nothing, which drove 0.125 um pillars
into tension before this correction).
"""

from __future__ import annotations

import numpy as np

from microdl.simulate.ddd import kernels
from microdl.simulate.ddd.planes import _first_obstacle, substeps_needed


class GlideStops:
    """Event corrections of :class:`~microdl.simulate.ddd.dynamics.PillarModel` (needs its attributes)."""

    def _end_substeps(self, trial: np.ndarray, mobile: np.ndarray) -> float:
        """Sub-steps needed so that no mobile dislocation near a blocked plane end (a clamped
        face) glides further per sub-step than that end's field allows, stiff-pair members
        included (their sub-cycling freezes the hat field): the clamped face's image repels
        as 1/d, which a field frozen over a long step cannot see.

        * Towards a blocked end: at most a quarter of the remaining distance to the standoff.
        * Away from a blocked end: at most half the distance to that end. The repulsion felt
          at the standoff (hundreds of MPa) falls off within a few nm; frozen over a whole
          0.5 ns step it shot a dislocation held there across its plane and out through the
          free face (~300 nm), a +-b slip cycle with energy from nothing: a source near a
          clamped end then fired every nucleation time and the 0.125 um / 10 % pillar of the
          glide-stop fix was driven into tension on reloading at dt = 0.5 ns, not at 0.1 ns.

        Never less than 1 nm. ``trial`` are the trial glide increments (m) of a whole step."""
        if not np.any(mobile):
            return 0.0
        lo, hi = self.planes.lo[self.d_plane], self.planes.hi[self.d_plane]
        lo_free, hi_free = self.planes.lo_free[self.d_plane], self.planes.hi_free[self.d_plane]
        up = trial > 0
        gap = np.where(up, np.where(hi_free, np.inf, hi - self.d_xi),
                       np.where(lo_free, np.inf, self.d_xi - lo)) - self.standoff
        behind = np.where(up, np.where(lo_free, np.inf, self.d_xi - lo), np.where(hi_free, np.inf, hi - self.d_xi))
        allowed = np.maximum(np.minimum(0.25 * gap, 0.5 * behind), 1e-9)
        need = float(np.max(np.abs(trial[mobile]) / allowed[mobile]))
        # explicit stability of the face's 1/d repulsion: as for a pair at the image distance 2 d
        # (:func:`.planes.substeps_needed`), whatever the trial travel (a pile-up pressed against a
        # clamped end is near equilibrium, so its trial step is short, but it oscillated about the
        # standoff with 10-30 nm swings at dt = 0.5 ns, letting a nearby source fire every t_nuc)
        lo_d = np.where(lo_free, np.inf, self.d_xi - lo)
        hi_d = np.where(hi_free, np.inf, hi - self.d_xi)
        dn = np.minimum(lo_d, hi_d) * np.abs(np.sin(self.planes.theta[self.d_plane]))
        stable = substeps_needed(float(np.min(4.0 * dn[mobile] ** 2)), self.dt, self.drag, self.kpair,
                                 2 * self.le, self.config.max_substeps)
        return max(need, float(stable))

    def _clip_blocked_ends(self, xi_old, xi_new):
        """Stop glide ``block_standoff_nm`` short of blocked plane ends; also returns who was stopped."""
        lo, hi = self.planes.lo[self.d_plane], self.planes.hi[self.d_plane]
        so = self.standoff
        at_lo = ~self.planes.lo_free[self.d_plane] & (xi_new < lo + so)
        at_hi = ~self.planes.hi_free[self.d_plane] & (xi_new > hi - so)
        xi_new = np.where(at_lo, np.maximum(lo + so, np.minimum(xi_old, xi_new)), xi_new)
        xi_new = np.where(at_hi, np.minimum(hi - so, np.maximum(xi_old, xi_new)), xi_new)
        # the side a follower of the stopped one comes from (+1 above a lower end), 0: not stopped
        return xi_new, np.where(at_lo, 1.0, np.where(at_hi, -1.0, 0.0))

    def _stop_behind(self, order, force, dt, mobile, xi_old, xi_new, hit, ended, max_rounds: int = 8):
        """Followers of a dislocation stopped in this step (pinned, or at a blocked plane end)
        stop behind it: an event-driven correction of the glide increments.

        The increments were solved with every dislocation free; once a leader stops, a
        like-sign follower coming from the same side would keep its increment, reach the
        same obstacle (or end) and be put ``b`` from the leader by the ordering rule: a pair
        repelling with ~6 GPa, i.e. energy from nothing, the pin released at once, chatter.
        Here only the first like-sign arrival at an obstacle is pinned, and the like-sign
        dislocations of its plane on the side it came from are solved again from ``xi_old``
        (:func:`.kernels.implicit_plane_update`) with the stopped ones as walls at their stop
        positions (their like-sign forces moved there); followers that now meet an obstacle
        or a blocked end are stopped in turn, up to ``max_rounds`` rounds.
        """
        done = np.zeros(len(xi_old), dtype=bool)
        side_of = np.where(hit >= 0, np.sign(xi_old - xi_new), ended)
        stopped = side_of != 0
        for _ in range(max_rounds):
            new = np.flatnonzero(stopped & ~done)
            if len(new) == 0:
                break
            redo = np.zeros(len(xi_old), dtype=bool)
            for i in new[np.argsort(np.abs(xi_old[new] - xi_new[new]))]:  # nearest arrival first
                if not stopped[i]:
                    continue
                side = side_of[i]
                behind = ((self.d_plane == self.d_plane[i]) & (self.d_sign == self.d_sign[i]) & mobile & ~done
                          & ((xi_old - xi_new[i]) * side > 0))
                behind[i] = False
                hit = np.where(behind, -1, hit)  # a later arrival is not stopped there
                stopped &= ~behind
                side_of = np.where(behind, 0.0, side_of)
                redo |= behind
            done |= stopped
            redo &= ~done
            if not np.any(redo):
                break
            wall = np.where(done, xi_new, xi_old)
            f_adj = force + (kernels.like_sign_plane_forces(order, self.d_plane, wall, self.d_sign, self.kpair)
                             - kernels.like_sign_plane_forces(order, self.d_plane, xi_old, self.d_sign, self.kpair))
            dxi = kernels.implicit_plane_update(order, self.d_plane, wall, self.d_sign, redo, f_adj,
                                                1.0 / self.drag, dt, self.kpair)
            xi_new = np.where(redo, xi_old + dxi, xi_new)
            hit2 = _first_obstacle(self.d_plane, xi_old, xi_new, redo, self.obs_ptr, self.obs_xi)
            hit = np.where(redo, hit2, hit)
            if np.any(redo & (hit >= 0)):
                xi_new = np.where(redo & (hit >= 0), self.obs_xi[np.maximum(hit, 0)], xi_new)
            xi_new, ended2 = self._clip_blocked_ends(xi_old, xi_new)
            side_of = np.where(redo, np.where(hit >= 0, np.sign(xi_old - xi_new), ended2), side_of)
            stopped = side_of != 0
        return xi_new, hit
