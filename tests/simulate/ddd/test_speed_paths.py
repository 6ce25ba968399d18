"""The faster field paths of issue 9 item 8 give the fields of the reference paths.

* :mod:`.fused` (own-face shortcut, both faces' images in one kernel) against
  :func:`.kernels.stress_at_points` / :func:`.kernels.displacement_at_points` plus
  :meth:`.fem.PillarFE.images_at`;
* :func:`._fe_kernels.q4_stress` against ``C B u_e`` with :func:`.fem._bmat`;
* one stiff-pair scan (:func:`.kernels.stiff_pair_r2_each`) against the pair definition;
* the caches of :class:`.model_fields.ModelFields` against recomputation;
* 2 Gauss points per lateral edge against 4 on a pillar with 300 dislocations;
* the frozen hat field between refreshes (``hat_refresh_nm``) against a new solve.
"""

from __future__ import annotations

import numpy as np
import pytest

from microdl.simulate.ddd import PillarConfig, fused, kernels
from microdl.simulate.ddd._fe_kernels import q4_stress
from microdl.simulate.ddd.dynamics import PillarModel
from microdl.simulate.ddd.fem import _bmat

_FIELDS = {}


def _model(width_um=1.0, n=300, seed=3, **kw):
    """A pillar with ``n`` random dislocations on its planes (many inside the image bands)."""
    m = PillarModel(PillarConfig(width_um=width_um, **kw), np.random.default_rng(0))
    rng = np.random.default_rng(seed)
    plane, xi = m.planes.random_points(rng, n, 2, 2 * m.le)
    m._add(plane, xi, rng.choice([-1.0, 1.0], n))
    return m


def _reference(m):
    """Boundary sigma~, clamped-node u~ and resolved shear by the reference (pre-issue-9) path."""
    x, y, b, c, s = m.dislocation_arrays()
    sig = np.array(kernels.stress_at_points(m._bnd_x, m._bnd_y, x, y, b, c, s, m.dcoef, m.rc2))
    sig += np.array(m.fe.images_at(m._bnd_x, m._bnd_y, x, y, b, c, s))
    u = np.array(kernels.displacement_at_points(m._tb_x, m._tb_y, x, y, b, c, s, m.nu, *m._step_arrays()))
    u += np.array(m.fe.images_at(m._tb_x, m._tb_y, x, y, b, c, s, displacement=True)[3:])
    img = np.array(m.fe.images_at(x, y, x, y, b, c, s))
    return sig, u, img


def test_fused_boundary_fields_match_the_reference_path():
    m = _model()
    x, y, b, c, s = m.dislocation_arrays()
    bands = m._images(x)
    assert len(bands[0]) > 20 and len(bands[2]) > 20  # the shortcut and images are exercised
    sig_ref, u_ref, img_ref = _reference(m)
    sig = fused.boundary_stress(m._bnd_x, m._bnd_y, m._n_left, m._n_left, x, y, b, c, s, *bands, m.mu, m.nu,
                                m.dcoef, m.rc2)
    lateral = slice(0, 2 * m._n_left)
    scale = np.abs(sig_ref).max()
    # tractions on the lateral faces (own-face images by the exact shortcut) and all of the top face
    for k in (0, 2):
        np.testing.assert_allclose(sig[k, lateral], sig_ref[k, lateral], rtol=0, atol=1e-9 * scale)
    np.testing.assert_allclose(sig[:, 2 * m._n_left:], sig_ref[:, 2 * m._n_left:], rtol=0, atol=1e-9 * scale)
    u = fused.displacement_with_images(m._tb_x, m._tb_y, x, y, b, c, s, m.nu, *m._step_arrays(), *bands, m.mu)
    np.testing.assert_allclose(np.array(u), u_ref, rtol=0, atol=1e-9 * np.abs(u_ref).max())
    img = fused.image_fields(x, y, np.full(len(x), -1), x, y, b, c, s, *bands, m.mu, m.nu, False)[:3]
    np.testing.assert_allclose(img, img_ref, rtol=0, atol=1e-9 * np.abs(img_ref).max())


def test_q4_stress_matches_the_element_formula():
    m = _model(n=5)
    rng = np.random.default_rng(1)
    u_hat = rng.normal(size=(m.fe.n_nodes, 2)) * 1e-10
    px = rng.uniform(0, m.width, 200)
    py = np.concatenate([rng.uniform(0, m.height, 196), [0.0, m.height, 1e-12, m.height - 1e-12]])
    px[:4] = [0.0, m.width, m.width, 0.0]  # faces and corners
    got = m.fe.stress_at(u_hat, px, py)
    i, j, xi, eta, hx, hy = m.fe._locate(px, py)
    eps = np.einsum("mkl,ml->mk", _bmat(xi, eta, hx, hy), u_hat.ravel()[m.fe._elem_dofs[j, i]])
    ref = eps @ m.fe.C.T
    np.testing.assert_allclose(np.array(got).T, ref, rtol=1e-12, atol=1e-12 * np.abs(ref).max())
    assert q4_stress(m.fe.xs, m.fe.ys, m.fe._elem_dofs, u_hat.ravel(), m.fe.C, px[:1], py[:1]).shape == (3, 1)


def test_one_stiff_pair_scan_gives_minimum_and_members():
    rng = np.random.default_rng(2)
    n = 60
    x, y = rng.uniform(0, 200e-9, n), rng.uniform(0, 200e-9, n)
    plane = rng.integers(0, 6, n)
    mobile = rng.random(n) < 0.7
    each = kernels.stiff_pair_r2_each(x, y, plane, mobile, 1e-20)
    ref = np.full(n, np.inf)
    for i in range(n):
        for j in range(n):
            r2 = (x[i] - x[j]) ** 2 + (y[i] - y[j]) ** 2
            if i != j and plane[i] != plane[j] and (mobile[i] or mobile[j]) and r2 > 1e-20:
                ref[i] = min(ref[i], r2 if mobile[i] and mobile[j] else 2 * r2)
    np.testing.assert_array_equal(each, ref)
    assert kernels.stiff_pair_r2(x, y, plane, mobile, 1e-20) == ref.min()
    crit = np.quantile(ref, 0.3)
    np.testing.assert_array_equal(kernels.stiff_pair_members(x, y, plane, mobile, 1e-20, crit), ref < crit)


def test_caches_give_the_fields_of_a_recomputation():
    m = _model(n=120)
    u = 0.002 * m.height
    tau0, r0 = m.solve_fields(u)
    fresh = _model(n=120)
    # a repeated solve (boundary cache and skipped FE solve) and a solve at another U
    np.testing.assert_array_equal(m.solve_fields(u)[0], tau0)
    tau1, _ = m.solve_fields(1.5 * u)
    np.testing.assert_array_equal(tau1, fresh.solve_fields(1.5 * u)[0])
    assert m.force_per_m == fresh.force_per_m
    # after a move and back, the cache must not return the moved state's fields
    st = m.get_state()
    m.d_xi = m.d_xi + 5e-9
    moved, _ = m.solve_fields(u)
    assert np.abs(moved - tau0).max() > 1e5
    m.set_state(st)
    np.testing.assert_array_equal(m.solve_fields(u)[0], tau0)
    assert m.solve_fields(u)[1] == r0


@pytest.mark.parametrize("width_um", [0.25, 1.0])
def test_two_gauss_points_per_lateral_edge_reproduce_four(width_um):
    """Resolved shear at 300 dislocations (100 at 0.25 um) within 0.05 MPa, force within 1e-6."""
    n = 300 if width_um == 1.0 else 100
    m2, m4 = _model(width_um, n, fe_gauss_points=2), _model(width_um, n, fe_gauss_points=4)
    assert len(m2._bnd_x) < len(m4._bnd_x)
    u = 0.002 * m2.height
    t2, _ = m2.solve_fields(u)
    t4, _ = m4.solve_fields(u)
    assert np.abs(t2 - t4).max() < 0.05e6
    assert m2.force_per_m == pytest.approx(m4.force_per_m, rel=1e-6)


def test_hat_field_is_refreshed_as_configured():
    """hat_refresh_nm = 0 solves the FE problem at every sub-step; > 0 reuses it in between,
    with the pair and image forces of the new positions."""
    for refresh, reused in ((0.0, False), (100.0, True)):
        m = _model(width_um=0.5, n=40, hat_refresh_nm=refresh)
        for k in range(1, 6):
            m.step(k * 1e-11)
        assert (m.stats.hat_reused > 0) == reused
    m = _model(width_um=0.5, n=40)
    u = 1e-9
    m.solve_fields(u)
    m.d_xi = m.d_xi + 10e-9
    frozen, _ = m.shear_fields()
    x, y, b, c, s = m.dislocation_arrays()
    pair = kernels.resolved_shear_sum(x, y, b, c, s, m.dcoef, m.rc2)
    fresh, _ = m.solve_fields(u)
    # the pair part is exact and the hat part changes little over 10 nm of glide
    assert np.abs(frozen - fresh).max() < 0.1 * np.abs(pair).max()
