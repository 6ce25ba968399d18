"""Analytic infinite-medium fields of straight edge dislocations (plane strain).

These are the "tilde" fields of the Van der Giessen--Needleman superposition
(Van der Giessen & Needleman 1995). Everything is in SI units: positions and
Burgers vectors in metres, moduli and stresses in pascals.

Conventions
-----------
A dislocation sits at ``(xd, yd)`` on a slip plane whose slip direction makes the
angle ``theta`` (radians) with the global x axis: ``s = (cos theta, sin theta)``,
plane normal ``n = (-sin theta, cos theta)``. Its Burgers vector is ``b s`` with a
*signed* scalar ``b``. In the slip frame ``x' = (p - p_d).s``, ``y' = (p - p_d).n``
and, with ``D = mu b / (2 pi (1 - nu))`` and ``r^2 = x'^2 + y'^2``::

    s'_xx = -D y'(3x'^2 + y'^2)/r^4
    s'_yy =  D y'(x'^2 - y'^2)/r^4
    s'_xy =  D x'(x'^2 - y'^2)/r^4
    u'_x  = b/(2 pi) [atan2(y', x') + x'y'/(2(1-nu) r^2)]
    u'_y  = -b/(2 pi) [(1-2nu)/(4(1-nu)) ln r^2 + (x'^2 - y'^2)/(4(1-nu) r^2)]

The branch cut of ``atan2`` lies along ``-s`` (``x' < 0, y' = 0``), across which
``u'_x`` jumps by ``b`` (``u(y'=0+) - u(y'=0-) = b s``). A dislocation that has left the
body through a free face in the ``+s`` direction is replaced by its limit at
infinity, a rigid offset ``+-(b/2) s`` on the two sides of its slip line
(:func:`step_displacement`); one that left in the ``-s`` direction contributes
nothing. ``ln r^2`` is evaluated with ``r`` in metres; its constant part is a
rigid translation and never changes stresses or strains.

References
----------
E. Van der Giessen and A. Needleman, "Discrete dislocation plasticity: a simple
planar model", Modelling Simul. Mater. Sci. Eng. 3, 689 (1995).
J. P. Hirth and J. Lothe, *Theory of Dislocations*, 2nd ed. (1982), ch. 3.
"""

from __future__ import annotations

import numpy as np


def dislocation_prefactor(mu_pa: float, nu: float) -> float:
    """Return ``mu / (2 pi (1 - nu))`` in Pa; times ``b`` (m) this is ``D`` (Pa m)."""
    return mu_pa / (2.0 * np.pi * (1.0 - nu))


def _slip_frame(x, y, xd, yd, theta):
    c, s = np.cos(theta), np.sin(theta)
    dx = np.asarray(x, dtype=float) - xd
    dy = np.asarray(y, dtype=float) - yd
    return dx * c + dy * s, -dx * s + dy * c, c, s


def edge_stress(x, y, xd: float, yd: float, b: float, theta: float, mu_pa: float, nu: float):
    """In-plane stress (Pa) of one edge dislocation in an infinite medium.

    Parameters
    ----------
    x, y
        Field points (m), any broadcastable shape.
    xd, yd
        Dislocation position (m).
    b
        Signed Burgers vector magnitude (m) along the slip direction.
    theta
        Angle of the slip direction to the x axis (rad).
    mu_pa, nu
        Shear modulus (Pa) and Poisson ratio.

    Returns
    -------
    sxx, syy, sxy : ndarray
        Global-frame stresses (Pa); ``szz = nu (sxx + syy)`` in plane strain.
    """
    xp, yp, c, s = _slip_frame(x, y, xd, yd, theta)
    d = dislocation_prefactor(mu_pa, nu) * b
    r2 = xp * xp + yp * yp
    r4 = r2 * r2
    sxx_p = -d * yp * (3 * xp * xp + yp * yp) / r4
    syy_p = d * yp * (xp * xp - yp * yp) / r4
    sxy_p = d * xp * (xp * xp - yp * yp) / r4
    sxx = c * c * sxx_p - 2 * c * s * sxy_p + s * s * syy_p
    syy = s * s * sxx_p + 2 * c * s * sxy_p + c * c * syy_p
    sxy = c * s * (sxx_p - syy_p) + (c * c - s * s) * sxy_p
    return sxx, syy, sxy


def edge_displacement(x, y, xd: float, yd: float, b: float, theta: float, nu: float):
    """Displacement (m) of one edge dislocation in an infinite medium.

    The branch cut runs from the dislocation along ``-s``; see the module notes.

    Parameters
    ----------
    x, y
        Field points (m).
    xd, yd
        Dislocation position (m).
    b
        Signed Burgers vector magnitude (m).
    theta
        Angle of the slip direction to the x axis (rad).
    nu
        Poisson ratio.

    Returns
    -------
    ux, uy : ndarray
        Global-frame displacement components (m).
    """
    xp, yp, c, s = _slip_frame(x, y, xd, yd, theta)
    r2 = xp * xp + yp * yp
    uxp = b / (2 * np.pi) * (np.arctan2(yp, xp) + xp * yp / (2 * (1 - nu) * r2))
    uyp = -b / (2 * np.pi) * (
        (1 - 2 * nu) / (4 * (1 - nu)) * np.log(r2) + (xp * xp - yp * yp) / (4 * (1 - nu) * r2)
    )
    return c * uxp - s * uyp, s * uxp + c * uyp


def step_displacement(x, y, x0: float, y0: float, b: float, theta: float):
    """Rigid surface-step field (m) left by a dislocation that exited along ``+s``.

    Points on the ``+n`` side of the slip line through ``(x0, y0)`` move by
    ``+(b/2) s``, points on the other side by ``-(b/2) s``: the limit of
    :func:`edge_displacement` as the dislocation goes to infinity along ``+s``
    (up to a rigid translation). It carries no stress.
    """
    c, s = np.cos(theta), np.sin(theta)
    side = np.sign(-(np.asarray(x, dtype=float) - x0) * s + (np.asarray(y, dtype=float) - y0) * c)
    return 0.5 * b * side * c, 0.5 * b * side * s


def resolved_shear(sxx, syy, sxy, theta):
    """Resolved shear stress ``s . sigma . n`` (Pa) on a plane with slip angle ``theta`` (rad).

    The glide (Peach--Koehler) force per unit length on a dislocation with signed
    Burgers vector ``b`` is ``b * resolved_shear(...)`` (N/m), positive along ``+s``.
    """
    c, s = np.cos(theta), np.sin(theta)
    return (syy - sxx) * c * s + sxy * (c * c - s * s)
