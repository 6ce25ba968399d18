"""Numba kernels of the infinite-medium edge fields plus the analytic face images.

:class:`~microdl.simulate.ddd.dynamics.PillarModel` needs, every (sub-)step, the
infinite-medium field of all dislocations (:mod:`.kernels`) plus Head's half-plane image of
those near a lateral face (:func:`.fem.half_plane_image`, weighted by
:func:`.fem.face_image_weight`) at the boundary Gauss points, the clamped nodes, the
dislocations and the sources. These kernels evaluate the images of both faces in one
compiled loop per point set (same formula, :func:`._fe_kernels._image_point`; serial, no
``fastmath``), instead of one complex NumPy + Numba pass per face and point set.

Own-face shortcut. On its own face a dislocation's image cancels the infinite-medium
traction exactly (that is what makes the half-plane traction-free): ``sxx_img = -sxx``,
``sxy_img = -sxy`` at every point of the face. At the Gauss points of the left (right)
face the traction of a dislocation with left (right) image weight ``w`` is therefore
``(1 - w)`` times its infinite-medium traction, with no image evaluation at all; only the
image of the *opposite* face is summed there (:func:`boundary_stress`). Only the
tractions ``sxx, sxy`` of the lateral faces enter the FE load.

Images are described per face by the indices ``il``/``ir`` of the dislocations inside the
face's band and their weights ``wl``/``wr`` (:func:`face_bands`); ``xl``/``xr`` are the face
positions (m).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from microdl.simulate.ddd._fe_kernels import _image_consts, _image_point
from microdl.simulate.ddd.fem import face_image_weight
from microdl.simulate.ddd.kernels import displacement_at_points, stress_at_points


def face_bands(fe, x):
    """Dislocations carrying an analytic image of each lateral face: ``(il, wl, ir, wr)``.

    ``fe`` is the :class:`.fem.PillarFE` (its ``image_band``; none: empty bands), ``x`` the
    dislocations' x (m). Weights as in :meth:`.fem.PillarFE.images_at` (full image up to
    ``inner`` face columns, none beyond ``outer``).
    """
    if fe.image_band is None or len(x) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, np.zeros(0), empty, np.zeros(0)
    h0, h1 = fe.xs[1] - fe.xs[0], fe.xs[-1] - fe.xs[-2]
    inner, outer = fe.image_band
    wl = face_image_weight(x - fe.xs[0], inner * h0, outer * h0)
    wr = face_image_weight(fe.xs[-1] - x, inner * h1, outer * h1)
    il, ir = np.flatnonzero(wl > 0), np.flatnonzero(wr > 0)
    return il, wl[il], ir, wr[ir]


@njit(cache=True)
def _face_coefs(idx, w, x, y, b, c, s, face, inward, gpref):
    """:func:`._fe_kernels._image_consts` of one face's image (frame of :func:`.fem.half_plane_image`)."""
    m = idx.shape[0]
    z0 = np.empty(m, np.complex128)
    g = np.empty(m, np.complex128)
    rot = 1j * inward
    for q in range(m):
        j = idx[q]
        z0[q] = rot * (x[j] + 1j * y[j] - face)
        g[q] = -1j * gpref * rot * b[j] * (c[j] + 1j * s[j]) * w[q]
    return _image_consts(z0, g)


@njit(cache=True)
def image_fields(px, py, skip, x, y, b, c, s, il, wl, ir, wr, xl, xr, mu, nu, with_u):
    """Image stress ``(sxx, syy, sxy)`` (Pa) and, if ``with_u``, displacement ``(ux, uy)`` (m) at points.

    Sums the images of both faces (:meth:`.fem.PillarFE.images_at`), except that of the left
    face at points with ``skip[k] == 0`` and of the right face where ``skip[k] == 1``.
    """
    m = px.shape[0]
    gpref = mu / (4.0 * math.pi * (1.0 - nu))
    kappa = 3.0 - 4.0 * nu
    kl = _face_coefs(il, wl, x, y, b, c, s, xl, 1.0, gpref)
    kr = _face_coefs(ir, wr, x, y, b, c, s, xr, -1.0, gpref)
    out = np.zeros((5, m))
    for k in range(m):
        for side in range(2):
            kk = kl if side == 0 else kr
            if skip[k] == side or kk.shape[1] == 0:
                continue
            rot = 1j if side == 0 else -1j
            zk = rot * (px[k] + 1j * py[k] - (xl if side == 0 else xr))
            tr, dev, u = _image_point(zk, kk, kappa, with_u)
            # zeta frame (xi, eta) -> global: sxx = s_eta_eta, syy = s_xi_xi, sxy = -s_xi_eta
            out[0, k] += 0.5 * (tr + dev.real)
            out[1, k] += 0.5 * (tr - dev.real)
            out[2, k] -= 0.5 * dev.imag
            if with_u:
                u = u / (2.0 * mu) / rot
                out[3, k] += u.real
                out[4, k] += u.imag
    return out


@njit(cache=True)
def boundary_stress(px, py, nl, nr, x, y, b, c, s, il, wl, ir, wr, xl, xr, mu, nu, dcoef, rc2):
    """Total ``sigma~`` (Pa) at the boundary points, faces images included.

    The first ``nl`` points lie on the left face, the next ``nr`` on the right face, the
    rest elsewhere (top, bottom). Own-face images are applied by the shortcut of the module
    notes (the dislocation's Burgers vector scaled by ``1 - w`` at its own face's points),
    which is exact for the tractions ``sxx, sxy``; ``syy`` there is not the total field.
    """
    m = px.shape[0]
    n = x.shape[0]
    bl = b.copy()
    br = b.copy()
    for q in range(il.shape[0]):
        bl[il[q]] *= 1.0 - wl[q]
    for q in range(ir.shape[0]):
        br[ir[q]] *= 1.0 - wr[q]
    out = np.empty((3, m))
    for lo, hi, bb in ((0, nl, bl), (nl, nl + nr, br), (nl + nr, m, b)):
        sxx, syy, sxy = stress_at_points(px[lo:hi], py[lo:hi], x, y, bb, c, s, dcoef, rc2)
        out[0, lo:hi] = sxx
        out[1, lo:hi] = syy
        out[2, lo:hi] = sxy
    if n and (il.shape[0] or ir.shape[0]):
        skip = np.full(m, -1)
        skip[:nl] = 0
        skip[nl:nl + nr] = 1
        img = image_fields(px, py, skip, x, y, b, c, s, il, wl, ir, wr, xl, xr, mu, nu, False)
        out += img[:3]
    return out


@njit(cache=True)
def displacement_with_images(px, py, x, y, b, c, s, nu, stx, sty, stb, stc, sts, il, wl, ir, wr, xl, xr, mu):
    """:func:`.kernels.displacement_at_points` (dislocations and surface steps) plus the face images (m)."""
    ux, uy = displacement_at_points(px, py, x, y, b, c, s, nu, stx, sty, stb, stc, sts)
    if il.shape[0] or ir.shape[0]:
        img = image_fields(px, py, np.full(px.shape[0], -1), x, y, b, c, s, il, wl, ir, wr, xl, xr, mu, nu, True)
        ux += img[3]
        uy += img[4]
    return ux, uy
