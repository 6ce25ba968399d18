"""Lattice curvature, Nye tensor and GND fit against analytic orientation fields."""

from __future__ import annotations

import numpy as np
import pytest

from microdl.exceptions import InvalidParameterError
from microdl.features.crystal import (
    dislocation_types,
    euler_to_matrix,
    misorientation_vector,
    rotation_matrix,
    rotation_vector,
    symmetry_operators,
)
from microdl.features.nye import fit_gnd, lattice_curvature, nye_measurable, nye_tensor

DX = 0.5e-6
G0 = euler_to_matrix(np.array([0.4, 0.7, 1.1]))


def _graded_map(axis, along: str, rate: float, shape=(6, 7), g0=G0) -> np.ndarray:
    """Orientations rotated about the sample ``axis`` by ``rate * x`` (or ``* y``): kappa = axis rate."""
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    t = (xx if along == "x" else yy) * DX * rate
    r = rotation_matrix(np.broadcast_to(np.asarray(axis, float), (ny, nx, 3)), t)
    return np.swapaxes(r @ g0.T, -1, -2)  # g = (R O0)^T


@pytest.mark.parametrize("axis", [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 2, -2)])
@pytest.mark.parametrize("along", ["x", "y"])
def test_constant_rotation_gradient_gives_the_analytic_curvature_in_every_direction(axis, along):
    rate = np.radians(0.2) / DX  # 0.2 degree per step
    g = _graded_map(axis, along, rate)
    kappa = lattice_curvature(g, symmetry_operators("cubic"), (DX, DX))
    expected = np.zeros((3, 2))
    expected[:, 0 if along == "x" else 1] = np.asarray(axis, float) / np.linalg.norm(axis) * rate
    assert np.all(np.isfinite(kappa))
    np.testing.assert_allclose(kappa, np.broadcast_to(expected, kappa.shape), atol=1e-9 * rate)


def test_a_symmetrically_equivalent_orientation_is_not_a_gradient():
    rate = np.radians(0.1) / DX
    g = _graded_map((0, 0, 1), "x", rate)
    sym = symmetry_operators("cubic")
    g_sym = g.copy()
    g_sym[2, 3] = sym[7] @ g[2, 3]  # the same crystal, another variant (a 90-120 degree jump naively)
    assert np.linalg.norm(rotation_vector(g[2, 3] @ g_sym[2, 3].T)) > np.radians(60)
    k1 = lattice_curvature(g, sym, (DX, DX))
    k2 = lattice_curvature(g_sym, sym, (DX, DX))
    np.testing.assert_allclose(k2, k1, atol=1e-9 * rate)


def test_boundaries_and_unindexed_points_are_not_curvature():
    rate = np.radians(0.2) / DX
    g = _graded_map((0, 1, 0), "x", rate)
    g[:, 4:] = rotation_matrix(np.array([1.0, 1.0, 0.0]), np.radians(10)) @ g[:, 4:]  # a 10 degree boundary
    g[1, 1] = np.nan  # not indexed
    kappa = lattice_curvature(g, symmetry_operators("cubic"), (DX, DX), boundary_deg=5)
    assert np.all(np.isnan(kappa[1, 1]))
    # the points beside the boundary keep their one-sided difference: still the true gradient
    np.testing.assert_allclose(kappa[3, 3, :, 0], [0, rate, 0], atol=1e-9 * rate)
    np.testing.assert_allclose(kappa[3, 4, :, 0], [0, rate, 0], atol=1e-6 * rate)
    # with a threshold above 10 degrees the boundary is counted as a huge gradient
    k_all = lattice_curvature(g, symmetry_operators("cubic"), (DX, DX), boundary_deg=15)
    assert np.linalg.norm(k_all[3, 3, :, 0]) > 10 * rate


def test_hexagonal_symmetry_is_used_for_the_mg_crystal():
    sym = symmetry_operators("hexagonal")
    assert len(sym) == 12
    g = G0
    w = misorientation_vector(g, sym[1] @ g, sym)  # a 60 degree rotation about c: the same crystal
    assert np.linalg.norm(w) < 1e-9
    w_cubic = misorientation_vector(g, sym[1] @ g, symmetry_operators("cubic"))
    assert np.linalg.norm(w_cubic) > np.radians(20)


def test_nye_tensor_of_a_bent_crystal_is_an_edge_density():
    """Bending about z along x (kappa_31 = k): alpha_13 = k, an edge density b rho = k with
    b along x and line along z (Nye 1953)."""
    k = 1e4
    kappa = np.zeros((3, 3))
    kappa[2, 0] = k
    alpha = nye_tensor(kappa)
    expected = np.zeros((3, 3))
    expected[0, 2] = k
    np.testing.assert_allclose(alpha, expected)
    meas = nye_measurable(kappa[:, :2])
    np.testing.assert_allclose(meas, [0, k, 0, 0, 0, 0])
    # a twist about z (kappa_11 = kappa_22 = -k/2) is a screw density along z: alpha_33 = k
    tw = np.diag([-k / 2, -k / 2, 0.0])
    assert nye_tensor(tw)[2, 2] == pytest.approx(k)
    assert nye_measurable(tw[:, :2])[4] == pytest.approx(k)


@pytest.mark.parametrize("lattice,n", [("bcc", 28), ("fcc", 18), ("hcp", 27)])
def test_dislocation_types_of_each_lattice(lattice, n):
    t = dislocation_types(lattice)
    assert len(t) == n
    # every line lies in its slip plane: edges perpendicular to b, screws parallel
    cos = np.abs(np.sum(t.burgers * t.line, axis=1)) / np.linalg.norm(t.burgers, axis=1)
    is_edge = np.array(["edge" in f for f in t.family])
    np.testing.assert_allclose(cos[is_edge], 0, atol=1e-12)
    np.testing.assert_allclose(cos[~is_edge], 1, atol=1e-12)


@pytest.mark.parametrize("method", ["l2", "l1"])
@pytest.mark.parametrize("lattice", ["bcc", "fcc", "hcp"])
def test_gnd_fit_reproduces_the_measured_nye_numbers(lattice, method):
    types = dislocation_types(lattice)
    rng = np.random.default_rng(0)
    g = euler_to_matrix(rng.uniform(0, np.pi, (4, 3)))
    rho_true = np.zeros((4, len(types)))
    rho_true[:, 3] = 2e13  # one type at 2e13 m^-2
    alpha = np.einsum("nct,nt->nc", _design_for_test(g, types), rho_true)
    rho = fit_gnd(alpha, g, types, method=method)
    np.testing.assert_allclose(np.einsum("nct,nt->nc", _design_for_test(g, types), rho), alpha,
                               atol=1e-6 * np.abs(alpha).max())
    total = np.sum(np.abs(rho), axis=1)
    if method == "l1":  # the minimum-energy fit is never more than the true configuration's energy
        assert np.all(np.sum(np.abs(rho) * types.energy, axis=1) <= 2e13 * types.energy[3] * (1 + 1e-6))
    assert np.all(total > 0)


def _design_for_test(g, types):
    b = np.einsum("nji,tj->nti", g, types.burgers)
    ln = np.einsum("nji,tj->nti", g, types.line)
    full = np.einsum("nti,ntj->ntij", b, ln)
    return np.stack([full[..., 0, 1], full[..., 0, 2], full[..., 1, 0], full[..., 1, 2], full[..., 2, 2],
                     full[..., 0, 0] - full[..., 1, 1]], axis=1)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(InvalidParameterError, match="crystal system"):
        symmetry_operators("quasicrystal")
    with pytest.raises(InvalidParameterError, match="lattice"):
        dislocation_types("bct")
    with pytest.raises(InvalidParameterError, match="shape"):
        lattice_curvature(np.zeros((3, 3, 3)), symmetry_operators("cubic"), (DX, DX))
    with pytest.raises(InvalidParameterError, match="method"):
        fit_gnd(np.zeros((1, 6)), np.eye(3)[None], dislocation_types("fcc"), method="l3")


def test_hexagonal_frame_convention_puts_an_a_axis_along_x_or_y():
    for conv, axis in (("a", 0), ("a*", 1)):
        t = dislocation_types("hcp", hex_convention=conv)
        a_type = np.array(["<a>" in f for f in t.family])
        bhat = t.burgers[a_type] / np.linalg.norm(t.burgers[a_type], axis=1, keepdims=True)
        assert np.any(np.isclose(np.abs(bhat[:, axis]), 1.0))
        assert not np.any(np.isclose(np.abs(bhat[:, 1 - axis]), 1.0))
    with pytest.raises(InvalidParameterError, match="hex_convention"):
        dislocation_types("hcp", hex_convention="c")
