"""Analytic checks of the single edge-dislocation fields and the Numba kernels."""

from __future__ import annotations

import numpy as np
import pytest

from microdl.simulate.ddd import fields, kernels
from microdl.simulate.ddd.fem import plane_strain_matrix

MU, NU, B = 26.3e9, 0.33, 0.25e-9
E = 2 * MU * (1 + NU)


def test_stress_matches_textbook_formula_theta0():
    # Hirth & Lothe eq. 3-43 (slip plane along x): independent hand-written formulas
    x, y = 3e-9, -2e-9
    d = MU * B / (2 * np.pi * (1 - NU))
    r4 = (x * x + y * y) ** 2
    sxx, syy, sxy = fields.edge_stress(x, y, 0.0, 0.0, B, 0.0, MU, NU)
    np.testing.assert_allclose(sxx, -d * y * (3 * x * x + y * y) / r4, rtol=1e-12)
    np.testing.assert_allclose(syy, d * y * (x * x - y * y) / r4, rtol=1e-12)
    np.testing.assert_allclose(sxy, d * x * (x * x - y * y) / r4, rtol=1e-12)


@pytest.mark.parametrize("theta", [np.pi / 3, 2 * np.pi / 3, -0.4])
def test_rotated_stress_is_the_rotated_tensor(theta):
    rng = np.random.default_rng(1)
    x, y = rng.uniform(-20e-9, 20e-9, (2, 50))
    c, s = np.cos(theta), np.sin(theta)
    # the same points in the slip frame
    xp, yp = x * c + y * s, -x * s + y * c
    a = np.array(fields.edge_stress(xp, yp, 0.0, 0.0, B, 0.0, MU, NU))
    sig_p = np.array([[a[0], a[2]], [a[2], a[1]]])  # (2,2,m)
    rot = np.array([[c, -s], [s, c]])
    sig = np.einsum("ik,klm,jl->ijm", rot, sig_p, rot)
    sxx, syy, sxy = fields.edge_stress(x, y, 0.0, 0.0, B, theta, MU, NU)
    np.testing.assert_allclose(sxx, sig[0, 0], rtol=1e-10, atol=1e-3)
    np.testing.assert_allclose(syy, sig[1, 1], rtol=1e-10, atol=1e-3)
    np.testing.assert_allclose(sxy, sig[0, 1], rtol=1e-10, atol=1e-3)


@pytest.mark.parametrize("theta", [0.0, np.pi / 3])
def test_displacement_gives_stress_through_hooke_and_equilibrium(theta):
    """Central differences of u, through plane-strain Hooke, reproduce sigma; div sigma = 0."""
    pts = np.array([[7e-9, 3e-9], [-5e-9, 6e-9], [4e-9, -9e-9], [-8e-9, -2e-9]])
    h = 1e-12
    cmat = plane_strain_matrix(E, NU)
    for x, y in pts:
        # stay away from the cut for the derivative stencil (cut along -s)
        uxp = fields.edge_displacement(x + h, y, 0, 0, B, theta, NU)
        uxm = fields.edge_displacement(x - h, y, 0, 0, B, theta, NU)
        uyp = fields.edge_displacement(x, y + h, 0, 0, B, theta, NU)
        uym = fields.edge_displacement(x, y - h, 0, 0, B, theta, NU)
        exx = (uxp[0] - uxm[0]) / (2 * h)
        eyy = (uyp[1] - uym[1]) / (2 * h)
        gxy = (uxp[1] - uxm[1]) / (2 * h) + (uyp[0] - uym[0]) / (2 * h)
        sig = cmat @ np.array([exx, eyy, gxy])
        ref = np.array(fields.edge_stress(x, y, 0, 0, B, theta, MU, NU))
        np.testing.assert_allclose(sig, ref, rtol=1e-5, atol=1e-6 * np.abs(ref).max())
        # divergence of sigma
        sp = [fields.edge_stress(x + h, y, 0, 0, B, theta, MU, NU), fields.edge_stress(x - h, y, 0, 0, B, theta, MU, NU)]
        sq = [fields.edge_stress(x, y + h, 0, 0, B, theta, MU, NU), fields.edge_stress(x, y - h, 0, 0, B, theta, MU, NU)]
        divx = (sp[0][0] - sp[1][0]) / (2 * h) + (sq[0][2] - sq[1][2]) / (2 * h)
        divy = (sp[0][2] - sp[1][2]) / (2 * h) + (sq[0][1] - sq[1][1]) / (2 * h)
        scale = np.abs(ref).max() / np.hypot(x, y)
        assert abs(divx) < 1e-5 * scale and abs(divy) < 1e-5 * scale


@pytest.mark.parametrize("theta", [np.pi / 3, 2 * np.pi / 3])
def test_burgers_closure_jump_across_cut(theta):
    """u(+n side) - u(-n side) = b s on the cut (-s ray) and 0 on the +s ray."""
    c, s = np.cos(theta), np.sin(theta)
    sv, nv = np.array([c, s]), np.array([-s, c])
    eps = 1e-16
    for dist in (1e-9, 40e-9):
        behind = -dist * sv
        up = fields.edge_displacement(*(behind + eps * nv), 0, 0, B, theta, NU)
        dn = fields.edge_displacement(*(behind - eps * nv), 0, 0, B, theta, NU)
        np.testing.assert_allclose(np.subtract(up, dn), B * sv, atol=1e-6 * B)
        ahead = dist * sv
        up = fields.edge_displacement(*(ahead + eps * nv), 0, 0, B, theta, NU)
        dn = fields.edge_displacement(*(ahead - eps * nv), 0, 0, B, theta, NU)
        np.testing.assert_allclose(np.subtract(up, dn), 0.0, atol=1e-6 * B)
    # closure: the change of u along a circle from just below to just above the cut is b s
    phi = np.linspace(-np.pi + 1e-9, np.pi - 1e-9, 4001) + theta
    r = 5e-9
    ux, uy = fields.edge_displacement(r * np.cos(phi), r * np.sin(phi), 0, 0, B, theta, NU)
    total = np.array([np.sum(np.diff(ux)), np.sum(np.diff(uy))])
    np.testing.assert_allclose(total, B * sv, atol=1e-3 * B)


def test_step_is_limit_of_dislocation_at_infinity():
    theta = np.pi / 3
    c, s = np.cos(theta), np.sin(theta)
    pts = np.array([[10e-9, 3e-9], [-4e-9, 12e-9], [20e-9, -5e-9]])
    far = 1e-2  # 1 cm along +s
    u_far = np.array(fields.edge_displacement(pts[:, 0], pts[:, 1], far * c, far * s, B, theta, NU))
    u_step = np.array(fields.step_displacement(pts[:, 0], pts[:, 1], 0.0, 0.0, B, theta))
    # differences between points remove the (divergent) rigid part of the far dislocation
    np.testing.assert_allclose(u_far - u_far[:, :1], u_step - u_step[:, :1], atol=1e-4 * B)
    assert np.abs(u_step[:, 1] - u_step[:, 0]).max() > 0.5 * B  # points 0 and 1 straddle the line


def test_numba_kernels_match_numpy_fields():
    rng = np.random.default_rng(0)
    n = 12
    x, y = rng.uniform(0, 100e-9, (2, n))
    th = rng.choice([np.pi / 3, 2 * np.pi / 3], n)
    b = B * rng.choice([-1.0, 1.0], n)
    c, s = np.cos(th), np.sin(th)
    plane = np.arange(n)
    dcoef = fields.dislocation_prefactor(MU, NU)
    px, py = rng.uniform(0, 100e-9, (2, 30))
    sk = kernels.stress_at_points(px, py, x, y, b, c, s, dcoef, 0.0)
    uk = kernels.displacement_at_points(px, py, x, y, b, c, s, NU, *np.zeros((5, 0)))
    sref = np.zeros((3, 30))
    uref = np.zeros((2, 30))
    for j in range(n):
        sref += np.array(fields.edge_stress(px, py, x[j], y[j], b[j], th[j], MU, NU))
        uref += np.array(fields.edge_displacement(px, py, x[j], y[j], b[j], th[j], NU))
    np.testing.assert_allclose(np.array(sk), sref, rtol=1e-9, atol=1e-9 * np.abs(sref).max())
    np.testing.assert_allclose(np.array(uk), uref, rtol=1e-9, atol=1e-12 * B)
    tau, r2min = kernels.pair_resolved_shear(x, y, b, c, s, plane, dcoef, 0.0)
    for i in range(n):
        acc = np.zeros(3)
        for j in range(n):
            if j != i:
                acc += np.array(fields.edge_stress(x[i], y[i], x[j], y[j], b[j], th[j], MU, NU))
        np.testing.assert_allclose(tau[i], fields.resolved_shear(*acc, th[i]), rtol=1e-9, atol=1e-6)
    d2 = (x[:, None] - x[None]) ** 2 + (y[:, None] - y[None]) ** 2
    np.fill_diagonal(d2, np.inf)
    assert r2min == pytest.approx(d2.min())


def test_dipole_equilibrium_spacing_is_l_nuc():
    """At spacing L = mu b / (2 pi (1-nu) tau) the dipole attraction balances b tau."""
    tau_nuc = 50e6
    dcoef = fields.dislocation_prefactor(MU, NU)
    l_nuc = dcoef * B / tau_nuc
    assert l_nuc == pytest.approx(31.2e-9, rel=0.01)  # the spec's 31 nm at 50 MPa
    theta = np.pi / 3
    c, s = np.cos(theta), np.sin(theta)
    x = np.array([-0.5, 0.5]) * l_nuc * c
    y = np.array([-0.5, 0.5]) * l_nuc * s
    b = np.array([-B, B])
    tau, _ = kernels.pair_resolved_shear(x, y, b, np.full(2, c), np.full(2, s), np.zeros(2, np.int64), dcoef, 0.0)
    force = b * (tau + tau_nuc)  # glide force including the applied shear
    np.testing.assert_allclose(force, 0.0, atol=1e-9 * B * tau_nuc)
    # a slightly larger spacing separates, a smaller one collapses
    for factor, sign in ((1.05, 1.0), (0.95, -1.0)):
        tau, _ = kernels.pair_resolved_shear(x * factor, y * factor, b, np.full(2, c), np.full(2, s),
                                             np.zeros(2, np.int64), dcoef, 0.0)
        assert np.sign(b[1] * (tau[1] + tau_nuc)) == sign
