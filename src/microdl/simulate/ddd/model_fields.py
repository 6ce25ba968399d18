"""Field evaluation of :class:`~microdl.simulate.ddd.dynamics.PillarModel`: the hat problem and the forces.

A mixin (SI units) that keeps the field bookkeeping out of the time stepping: the
infinite-medium plus image field at the boundary Gauss points and clamped nodes
(:mod:`.fused`), the FE hat solve (:class:`.fem.PillarFE`), and the resolved shear of the
hat field and images at dislocations and sources. Two caches avoid work that cannot change
the result: the boundary fields are kept while the dislocations and surface steps are
unchanged, and then the FE solve too if the platen has not moved either.
"""

from __future__ import annotations

import numpy as np

from microdl.simulate.ddd import fused, kernels


class ModelFields:
    """Field methods of :class:`~microdl.simulate.ddd.dynamics.PillarModel` (needs its attributes)."""

    _bnd_key = None  # (d_plane, d_xi, d_sign, number of surface steps) of the cached boundary fields
    _bnd_val = None
    _hat_key = None  # (boundary-cache generation, U) of the current u_hat
    _bnd_gen = 0

    def _images(self, x):
        """Face bands of the dislocations and the face positions, for :mod:`.fused`."""
        return (*fused.face_bands(self.fe, x), self.fe.xs[0], self.fe.xs[-1])

    def displacement_tilde(self, px: np.ndarray, py: np.ndarray):
        """``u~`` (m) of dislocations and surface steps at points (m), face images included."""
        x, y, b, c, s = self.dislocation_arrays()
        return fused.displacement_with_images(np.ascontiguousarray(px, dtype=float),
                                              np.ascontiguousarray(py, dtype=float), x, y, b, c, s, self.nu,
                                              *self._step_arrays(), *self._images(x), self.mu)

    def _boundary_tilde(self):
        """``sigma~`` at the boundary Gauss points and ``u~`` at the clamped nodes, images included.

        Cached while the dislocations and surface steps are unchanged (compared by value).
        """
        key = (self.d_plane, self.d_xi, self.d_sign, len(self.steps))
        old = self._bnd_key
        if old is not None and old[3] == key[3] and all(np.array_equal(a, b) for a, b in zip(old[:3], key[:3], strict=True)):
            return self._bnd_val
        x, y, b, c, s = self.dislocation_arrays()
        img = self._images(x)
        sig = fused.boundary_stress(self._bnd_x, self._bnd_y, self._n_left, self._n_left, x, y, b, c, s, *img,
                                    self.mu, self.nu, self.dcoef, self.rc2)
        u = fused.displacement_with_images(self._tb_x, self._tb_y, x, y, b, c, s, self.nu, *self._step_arrays(),
                                           *img, self.mu)
        self._bnd_key = tuple(a.copy() for a in key[:3]) + (key[3],)
        self._bnd_val = (sig, u)
        self._bnd_gen += 1
        return sig, u

    def solve_hat(self, top_displacement: float) -> None:
        """Solve the FE hat problem at platen displacement ``U`` (m): :attr:`u_hat`, :attr:`force_per_m`.

        Skipped when neither the dislocations nor ``U`` changed since the last solve.
        """
        (sxx, syy, sxy), (ux, uy) = self._boundary_tilde()
        self._hat_ref = (self._n_changes, self.d_xi.copy())
        key = (self._bnd_gen, top_displacement)
        if key == self._hat_key:
            return
        nl = self._n_left
        nb = self.fe.nx + 1
        nt = self._n_top
        top = slice(2 * nl, 2 * nl + nt)
        self.u_hat = self.fe.solve(
            (sxx[:nl], sxy[:nl]), (sxx[nl:2 * nl], sxy[nl:2 * nl]), (ux[:nb], uy[:nb]), (ux[nb:], uy[nb:]),
            top_displacement,
            sxy_bottom=sxy[2 * nl + nt:] if self._frictionless else None,
            sxy_top=sxy[top] if self._frictionless else None,
        )
        self.top_displacement = top_displacement
        self.force_per_m = -(self.fe.top_force_hat(self.u_hat) + self.fe.top_integral(syy[top]))
        self._hat_key = key

    def _resolved_hat(self, px, py, pc, ps):
        """Resolved shear (Pa) of the FE hat field plus the face images at points on planes ``(pc, ps)``."""
        x, y, b, c, s = self.dislocation_arrays()
        hxx, hyy, hxy = self.fe.stress_at(self.u_hat, px, py)
        if len(x):
            img = fused.image_fields(px, py, np.full(len(px), -1), x, y, b, c, s, *self._images(x), self.mu, self.nu,
                                     False)
            hxx, hyy, hxy = hxx + img[0], hyy + img[1], hxy + img[2]
        return (hyy - hxx) * pc * ps + hxy * (pc * pc - ps * ps)

    def source_shear(self) -> np.ndarray:
        """Resolved shear stress (Pa) at the sources for the current fields."""
        if len(self.src_x) == 0:
            return np.zeros(0)
        x, y, b, c, s = self.dislocation_arrays()
        sxx, syy, sxy = kernels.stress_at_points(self.src_x, self.src_y, x, y, b, c, s, self.dcoef, self.rc2)
        c, s = self.src_c, self.src_s
        return (syy - sxx) * c * s + sxy * (c * c - s * s) + self._resolved_hat(self.src_x, self.src_y, c, s)
