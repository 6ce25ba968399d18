"""Numba kernels for the O(N^2) and O(N M) sums of edge-dislocation fields.

The formulas are those of :mod:`microdl.simulate.ddd.fields` (SI units). The kernels
are plain serial double loops (one simulation per core; see the spec's measured
costs) with no ``fastmath``, so that results are bit-for-bit reproducible.

Inputs describing the dislocations are 1-D float64 arrays: positions ``x, y`` (m),
signed Burgers vectors ``b`` (m) and the cosine/sine ``c, s`` of each dislocation's
slip direction. ``dcoef = mu / (2 pi (1 - nu))`` (Pa). Pairs closer than the core
radius ``sqrt(rc2)`` are skipped (their fields are not defined in linear elasticity).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, inline="always")
def _stress_one(dx, dy, bj, cj, sj, dcoef):
    xp = dx * cj + dy * sj
    yp = -dx * sj + dy * cj
    r2 = xp * xp + yp * yp
    d = dcoef * bj / (r2 * r2)
    sxx_p = -d * yp * (3.0 * xp * xp + yp * yp)
    syy_p = d * yp * (xp * xp - yp * yp)
    sxy_p = d * xp * (xp * xp - yp * yp)
    cc = cj * cj
    ss = sj * sj
    cs = cj * sj
    sxx = cc * sxx_p - 2.0 * cs * sxy_p + ss * syy_p
    syy = ss * sxx_p + 2.0 * cs * sxy_p + cc * syy_p
    sxy = cs * (sxx_p - syy_p) + (cc - ss) * sxy_p
    return sxx, syy, sxy


@njit(cache=True)
def pair_resolved_shear(x, y, b, c, s, plane, dcoef, rc2):
    """Resolved shear stress on each dislocation from all others (Pa).

    Returns
    -------
    tau : ndarray (N,)
        ``s_i . (sum_{j != i} sigma_j(p_i)) . n_i`` (Pa).
    r2min : float
        Smallest squared distance (m^2) between two *different-plane* dislocations
        (``inf`` if none); used to choose the number of sub-steps.
    """
    n = x.shape[0]
    tau = np.zeros(n)
    r2min = np.inf
    for i in range(n):
        xi = x[i]
        yi = y[i]
        ci = c[i]
        si = s[i]
        acc_xx = 0.0
        acc_yy = 0.0
        acc_xy = 0.0
        for j in range(n):
            if j == i:
                continue
            dx = xi - x[j]
            dy = yi - y[j]
            r2 = dx * dx + dy * dy
            if r2 < rc2:
                continue
            if plane[j] != plane[i] and r2 < r2min:
                r2min = r2
            sxx, syy, sxy = _stress_one(dx, dy, b[j], c[j], s[j], dcoef)
            acc_xx += sxx
            acc_yy += syy
            acc_xy += sxy
        tau[i] = (acc_yy - acc_xx) * ci * si + acc_xy * (ci * ci - si * si)
    return tau, r2min


@njit(cache=True)
def stress_at_points(px, py, x, y, b, c, s, dcoef, rc2):
    """Summed infinite-medium stress (Pa) of all dislocations at field points ``px, py`` (m)."""
    m = px.shape[0]
    n = x.shape[0]
    sxx = np.zeros(m)
    syy = np.zeros(m)
    sxy = np.zeros(m)
    for k in range(m):
        a_xx = 0.0
        a_yy = 0.0
        a_xy = 0.0
        for j in range(n):
            dx = px[k] - x[j]
            dy = py[k] - y[j]
            if dx * dx + dy * dy < rc2:
                continue
            t_xx, t_yy, t_xy = _stress_one(dx, dy, b[j], c[j], s[j], dcoef)
            a_xx += t_xx
            a_yy += t_yy
            a_xy += t_xy
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
def implicit_plane_update(order, plane, xi, sign, mobile, force, mob, dt, kpair):
    """Linearly implicit glide increments with same-plane like-sign coupling.

    Solves, plane by plane, ``(I - dt*mob*J) dxi = dt*mob*force`` where ``J`` is
    the Jacobian of the infinite-medium same-plane like-sign pair forces
    ``f_i = kpair * sign_i sign_j / (xi_i - xi_j)`` (``kpair = D b`` per unit
    length, N). ``J`` is symmetric negative semi-definite (a weighted graph
    Laplacian), so the matrix is positive definite and the update damps the stiff
    pile-up modes for any ``dt`` (a Rosenbrock--Euler step). Immobile members
    (pinned) enter only through the diagonal of their mobile neighbours.

    Parameters
    ----------
    order
        Indices sorting the dislocations by (plane, xi).
    plane, xi, sign, mobile, force
        Per-dislocation plane id, coordinate along the plane (m), sign (+-1),
        mobility flag and glide force (N/m).
    mob, dt
        Mobility ``1/B`` (1/(Pa s)) and time step (s).
    kpair
        ``mu b^2 / (2 pi (1 - nu))`` (N).

    Returns
    -------
    dxi : ndarray
        Glide increments (m); zero for immobile dislocations.
    """
    n = order.shape[0]
    dxi = np.zeros(n)
    a = dt * mob
    start = 0
    while start < n:
        stop = start + 1
        p = plane[order[start]]
        while stop < n and plane[order[stop]] == p:
            stop += 1
        idx = order[start:stop]
        m = stop - start
        nm = 0
        for q in range(m):
            if mobile[idx[q]]:
                nm += 1
        if nm > 0:
            loc = np.full(m, -1)
            k = 0
            for q in range(m):
                if mobile[idx[q]]:
                    loc[q] = k
                    k += 1
            mat = np.zeros((nm, nm))
            rhs = np.zeros(nm)
            for q in range(m):
                if loc[q] >= 0:
                    mat[loc[q], loc[q]] = 1.0
                    rhs[loc[q]] = a * force[idx[q]]
            for q in range(m):
                iq = idx[q]
                for r in range(q + 1, m):
                    ir = idx[r]
                    if sign[iq] != sign[ir]:
                        continue
                    dist = xi[iq] - xi[ir]
                    if dist == 0.0:
                        continue
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
            sol = np.linalg.solve(mat, rhs)
            for q in range(m):
                if loc[q] >= 0:
                    dxi[idx[q]] = sol[loc[q]]
        start = stop
    return dxi
