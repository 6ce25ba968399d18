"""Numba kernels of the exact pixel operator for displacement jumps (:mod:`.profile`).

A *cut* is a straight segment ``(x0, y0) -- (x1, y1)`` (m) across which ``u_y`` jumps by
``jump_up`` (m) when it is crossed in the ``+y`` direction. The pixel grid has its lower
left corner at ``(ox, oy)`` (m), ``nx x ny`` pixels of ``dx x dy`` (m), arrays indexed
``[i_x, j_y]``. Serial loops without ``fastmath``: results are reproducible bit for bit.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def _clip_to_box(x0, y0, ex, ey, xlo, xhi, ylo, yhi):
    """Liang--Barsky: parameter interval ``[ta, tb]`` of ``p0 + t e, t in [0, 1]`` inside the box."""
    ta = 0.0
    tb = 1.0
    for k in range(4):
        if k == 0:
            p, q = -ex, x0 - xlo
        elif k == 1:
            p, q = ex, xhi - x0
        elif k == 2:
            p, q = -ey, y0 - ylo
        else:
            p, q = ey, yhi - y0
        if p == 0.0:
            if q < 0.0:
                return 1.0, 0.0
        else:
            r = q / p
            if p < 0.0:
                ta = max(ta, r)
            else:
                tb = min(tb, r)
    return ta, tb


@njit(cache=True)
def clipped_jump_sum(cuts, ox, oy, dx, dy, nx, ny):
    """Sum over cuts of ``jump_up * (x-extent of the cut inside each pixel)`` (m^2), shape ``(nx, ny)``.

    Each cut is clipped to the grid (Liang--Barsky) and split at every grid line it
    crosses; each piece, found by its midpoint, adds ``jump_up * |dx_piece|`` to its pixel.
    Exact up to rounding: no sampling.
    """
    out = np.zeros((nx, ny))
    xhi = ox + nx * dx
    yhi = oy + ny * dy
    for k in range(cuts.shape[0]):
        x0, y0, x1, y1, jump = cuts[k, 0], cuts[k, 1], cuts[k, 2], cuts[k, 3], cuts[k, 4]
        ex, ey = x1 - x0, y1 - y0
        if ex == 0.0 or jump == 0.0:
            continue  # a vertical cut has no x-extent: it does not change eps_yy
        ta, tb = _clip_to_box(x0, y0, ex, ey, ox, xhi, oy, yhi)
        if not ta < tb:
            continue
        xa, xb = x0 + ta * ex, x0 + tb * ex
        ya, yb = y0 + ta * ey, y0 + tb * ey
        ia, ib = math.floor((min(xa, xb) - ox) / dx), math.floor((max(xa, xb) - ox) / dx)
        ja, jb = math.floor((min(ya, yb) - oy) / dy), math.floor((max(ya, yb) - oy) / dy)
        ts = np.empty(2 + (ib - ia + 1) + (jb - ja + 1))
        ts[0], ts[1] = ta, tb
        m = 2
        for i in range(ia + 1, ib + 1):
            t = (ox + i * dx - x0) / ex
            if ta < t < tb:
                ts[m] = t
                m += 1
        if ey != 0.0:
            for j in range(ja + 1, jb + 1):
                t = (oy + j * dy - y0) / ey
                if ta < t < tb:
                    ts[m] = t
                    m += 1
        ts = np.sort(ts[:m])
        for q in range(m - 1):
            dt = ts[q + 1] - ts[q]
            if dt <= 0.0:
                continue
            tm = 0.5 * (ts[q] + ts[q + 1])
            i = min(max(math.floor((x0 + tm * ex - ox) / dx), 0), nx - 1)
            j = min(max(math.floor((y0 + tm * ey - oy) / dy), 0), ny - 1)
            out[i, j] += jump * abs(ex) * dt
    return out


@njit(cache=True)
def vertical_edge_jumps(cuts, ox, oy, dx, dy, nx, ny):
    """Jump of ``u_y`` (m) along each vertical pixel edge, shape ``(nx + 1, ny)``.

    Edge ``[i, j]`` runs from corner ``(x_i, y_j)`` to ``(x_i, y_{j+1})``; it gets
    ``jump_up`` of every cut that crosses the vertical line ``x = x_i`` at a height in
    ``[y_j, y_{j+1})``, the part of ``u_y(x_i, y_{j+1}) - u_y(x_i, y_j)`` that corner
    sampling attributes to the cut. Only crossings strictly inside a cut's x-range count:
    give cuts that continue beyond the grid far end points (outside the grid).
    """
    out = np.zeros((nx + 1, ny))
    for k in range(cuts.shape[0]):
        x0, y0, x1, y1, jump = cuts[k, 0], cuts[k, 1], cuts[k, 2], cuts[k, 3], cuts[k, 4]
        if x0 == x1 or jump == 0.0:
            continue
        lo, hi = min(x0, x1), max(x0, x1)
        i0 = max(0, math.floor((lo - ox) / dx))
        i1 = min(nx, math.ceil((hi - ox) / dx))
        slope = (y1 - y0) / (x1 - x0)
        for i in range(i0, i1 + 1):
            xi = ox + i * dx
            if not lo < xi < hi:
                continue
            j = math.floor((y0 + (xi - x0) * slope - oy) / dy)
            if 0 <= j < ny:
                out[i, j] += jump
    return out
