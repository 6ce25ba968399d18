"""Numba kernels of :mod:`.fem`: the FE hat stress at arbitrary points
(:meth:`.fem.PillarFE.stress_at`) and the sums of Head's half-plane image
(:func:`.fem.half_plane_image`, also used by :mod:`.fused`).

Serial, no ``fastmath``, like :mod:`.kernels`; SI units.
"""

from __future__ import annotations

import cmath

import numpy as np
from numba import njit


@njit(cache=True)
def _cell(edges, v):
    """Index ``i`` of the cell ``[edges[i], edges[i+1])`` holding ``v``, clipped to the mesh."""
    lo = 0
    hi = edges.shape[0] - 2
    while lo < hi:  # largest i <= hi with edges[i] <= v
        mid = (lo + hi + 1) // 2
        if edges[mid] <= v:
            lo = mid
        else:
            hi = mid - 1
    return lo


@njit(cache=True)
def q4_stress(xs, ys, elem_dofs, u, cmat, px, py):
    """Stress ``C B u_e`` (Pa), shape (3, m), of bilinear rectangles at points ``px, py`` (m).

    ``xs, ys``: node coordinates of the tensor-product mesh; ``elem_dofs[j, i]``: the 8 dofs
    of element ``(i, j)`` (nodes ``(i,j), (i+1,j), (i+1,j+1), (i,j+1)``, x then y); ``u``:
    flat nodal displacements (m); ``cmat``: plane-strain matrix, Voigt ``(xx, yy, 2xy)``.
    """
    m = px.shape[0]
    out = np.empty((3, m))
    for k in range(m):
        i = _cell(xs, px[k])
        j = _cell(ys, py[k])
        hx = xs[i + 1] - xs[i]
        hy = ys[j + 1] - ys[j]
        xi = 2.0 * (px[k] - xs[i]) / hx - 1.0
        eta = 2.0 * (py[k] - ys[j]) / hy - 1.0
        fx = 0.5 / hx
        fy = 0.5 / hy
        dndx = (-(1.0 - eta) * fx, (1.0 - eta) * fx, (1.0 + eta) * fx, -(1.0 + eta) * fx)
        dndy = (-(1.0 - xi) * fy, -(1.0 + xi) * fy, (1.0 + xi) * fy, (1.0 - xi) * fy)
        d = elem_dofs[j, i]
        exx = 0.0
        eyy = 0.0
        gxy = 0.0
        for a in range(4):
            ux = u[d[2 * a]]
            uy = u[d[2 * a + 1]]
            exx += dndx[a] * ux
            eyy += dndy[a] * uy
            gxy += dndy[a] * ux + dndx[a] * uy
        for r in range(3):
            out[r, k] = cmat[r, 0] * exx + cmat[r, 1] * eyy + cmat[r, 2] * gxy
    return out


@njit(cache=True)
def _image_consts(z0, g):
    """Per-dislocation constants of :func:`_image_point`: ``conj(z0)``, ``g``, ``2 a2``,
    ``a2 + conj(z0) g`` and ``2 a2 conj(z0)`` with ``a2 = 2 i Im(z0) conj(g)``; shape (5, n)."""
    out = np.empty((5, z0.shape[0]), np.complex128)
    for j in range(z0.shape[0]):
        zc = z0[j].conjugate()
        a2 = 2j * z0[j].imag * g[j].conjugate()
        out[0, j], out[1, j], out[2, j], out[3, j], out[4, j] = zc, g[j], 2.0 * a2, a2 + zc * g[j], 2.0 * a2 * zc
    return out


@njit(cache=True)
def _image_point(zk, k, kappa, with_u):
    """One field point ``zk`` of :func:`.fem.half_plane_image` in its frame: ``4 Re Phi1``,
    ``2 (conj(z) Phi1' + Psi1)`` and ``2 mu u`` summed over the dislocations of
    ``k = _image_consts(z0, g)`` (serial, no fastmath; ``1/d`` as ``conj(d) / |d|^2``)."""
    a_tr, a_dev, a_u = 0.0, 0j, 0j
    zkc = zk.conjugate()
    for j in range(k.shape[1]):
        zc, gj, t2, c1, c2 = k[0, j], k[1, j], k[2, j], k[3, j], k[4, j]
        d = zk - zc  # the mirror point lies outside the body: never zero
        i1 = d.conjugate() * (1.0 / (d.real * d.real + d.imag * d.imag))
        i2 = i1 * i1
        t = t2 * i1  # 2 a2 / (z - zc)
        phi = -(gj + 0.5 * t) * i1
        a_tr += 4.0 * phi.real
        a_dev += 2.0 * (i2 * (zkc * (gj + t) - c1 - c2 * i1) - gj.conjugate() * i1)
        if with_u:  # principal log: its cut runs from the mirror point parallel to the face, outside
            lw = cmath.log(d)
            f2 = -gj.conjugate() * lw + c1 * i1 + 0.5 * c2 * i2
            a_u += kappa * (-gj * lw + 0.5 * t) - zk * phi.conjugate() - f2.conjugate()
    return a_tr, a_dev, a_u
