"""Analytic checks of the pixel operator of the strain profiles (:mod:`microdl.simulate.ddd.profile`)."""

from __future__ import annotations

import numpy as np
import pytest

from microdl.exceptions import InvalidParameterError, NonFiniteError, ShapeError
from microdl.simulate.ddd import fields
from microdl.simulate.ddd.profile import (
    jump_correction,
    jump_strain_yy,
    pixel_grid,
    render_uint8,
    slip_cuts,
    strain_profile,
    strain_yy,
)

B = 0.25e-9
NU = 0.33
ANGLES_DEG = [0.0, 45.0, 60.0, 17.3, 120.0, 90.0]
# (shape, pixel (dx, dy), origin): square and oblong pixels, grid offsets
GRIDS = [((20, 30), (1.0, 1.0), (0.0, 0.0)), ((13, 41), (1.7, 0.9), (-0.37, 0.21)), ((31, 17), (0.6, 1.9), (0.1, -2.3))]


def _dense_x_extent(x0, y0, x1, y1, shape, pixel, origin, n=400_001):
    """Independent reference: x-extent of the segment in each pixel by dense midpoint sampling."""
    t = (np.arange(n) + 0.5) / n
    x, y = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
    i = np.floor((x - origin[0]) / pixel[0]).astype(int)
    j = np.floor((y - origin[1]) / pixel[1]).astype(int)
    inside = (i >= 0) & (i < shape[0]) & (j >= 0) & (j < shape[1])
    out = np.zeros(shape)
    np.add.at(out, (i[inside], j[inside]), abs(x1 - x0) / n)
    return out


def _x_extent_in_box(x0, y0, x1, y1, shape, pixel, origin):
    """x-extent of a non-vertical segment inside the grid rectangle, by intervals of x."""
    lo, hi = max(min(x0, x1), origin[0]), min(max(x0, x1), origin[0] + shape[0] * pixel[0])
    if y1 != y0:  # x-range where origin_y <= y(x) <= top
        xa = x0 + (origin[1] - y0) * (x1 - x0) / (y1 - y0)
        xb = x0 + (origin[1] + shape[1] * pixel[1] - y0) * (x1 - x0) / (y1 - y0)
        lo, hi = max(lo, min(xa, xb)), min(hi, max(xa, xb))
    return max(0.0, hi - lo)


def _trace(theta_deg, shape, pixel, origin, frac=(0.31, 0.43), half_len=None):
    """A segment through a point inside the grid; half_len None: long enough to cross the whole grid."""
    th = np.radians(theta_deg)
    c, s = np.cos(th), np.sin(th)
    xm = origin[0] + frac[0] * shape[0] * pixel[0]
    ym = origin[1] + frac[1] * shape[1] * pixel[1]
    h = 1.5 * np.hypot(shape[0] * pixel[0], shape[1] * pixel[1]) if half_len is None else half_len
    return xm - h * c, ym - h * s, xm + h * c, ym + h * s


@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("theta_deg", ANGLES_DEG)
def test_single_trace_per_pixel_coverage_and_total(theta_deg, grid):
    shape, pixel, origin = grid
    x0, y0, x1, y1 = _trace(theta_deg, shape, pixel, origin)
    jump_up = 2.0 * B  # rise of u_y crossing upwards: any jump vector, also across a 0 deg trace
    eps = jump_strain_yy([[x0, y0, x1, y1, jump_up]], shape, pixel, origin)
    area = pixel[0] * pixel[1]
    ref_ext = _dense_x_extent(x0, y0, x1, y1, shape, pixel, origin)
    # (b) each pixel: the clipped x-extent (= length |n_y|) per area times the jump
    np.testing.assert_allclose(eps * area, jump_up * ref_ext, atol=jump_up * 1e-3 * abs(x1 - x0) / 400, rtol=0)
    # (a) total: jump times the trace's x-extent inside the grid (length |n_y|), whatever the angle
    total = 0.0 if theta_deg == 90.0 else _x_extent_in_box(x0, y0, x1, y1, shape, pixel, origin)
    np.testing.assert_allclose(eps.sum() * area, jump_up * total, rtol=1e-12, atol=jump_up * pixel[0] * 1e-12)
    # (c) no dotted trace: every pixel the trace crosses is non-zero, no other pixel is
    crossed = ref_ext > 0
    if theta_deg != 90.0:
        assert np.array_equal(eps != 0, crossed)
    else:  # a vertical cut has no x-extent: no eps_yy at all (cos 90 deg = 6e-17 in floating point)
        assert np.abs(eps).max() * pixel[1] < jump_up * 1e-12


@pytest.mark.parametrize("theta_deg", [45.0, 60.0, 17.3, 120.0])
def test_slip_trace_total_is_b_sy_ny_times_length(theta_deg):
    # a dislocation dipole +b / -b on one plane: slipped segment between them, length L
    shape, pixel = (40, 60), (1e-9, 1e-9)
    th = np.radians(theta_deg)
    c, s = np.cos(th), np.sin(th)
    mid, half = np.array([17.3e-9, 29.1e-9]), 9.4e-9
    p1, p2 = mid + half * np.array([c, s]), mid - half * np.array([c, s])
    cuts = slip_cuts([p1[0], p2[0]], [p1[1], p2[1]], [B, -B], [c, c], [s, s], np.zeros((0, 5)), 40e-9, 60e-9)
    eps = jump_strain_yy(cuts, shape, pixel)
    np.testing.assert_allclose(eps.sum() * 1e-18, B * s * c * 2 * half, rtol=1e-9)
    # the two cuts cancel behind the rear dislocation (to rounding): only the slipped segment shows
    quantum = B / 1e-9
    ref = _dense_x_extent(p2[0], p2[1], p1[0], p1[1], shape, pixel, (0.0, 0.0)) * B * s * np.sign(c) / 1e-18
    np.testing.assert_allclose(eps, ref, rtol=0, atol=1e-4 * quantum)  # dense sampling: 2 samples per edge
    assert np.abs(eps[ref == 0]).max() < 1e-12 * quantum


def test_pinned_dislocation_contributes_only_its_partial_length():
    # (d) one dislocation inside pixel (3, 5) of a unit grid, its cut running along -s
    th = np.radians(60.0)
    c, s = np.cos(th), np.sin(th)
    xd, yd = 3.4, 5.3
    cuts = slip_cuts([xd], [yd], [B], [c], [s], np.zeros((0, 5)), 10.0, 20.0)
    eps = jump_strain_yy(cuts, (10, 20), (1.0, 1.0))
    # inside its own pixel the cut runs from the dislocation back to y = 5 (bottom edge, reached
    # before x = 3 since (yd - 5) / s < (xd - 3) / c): length (yd - 5) / s
    length = (yd - 5.0) / s
    np.testing.assert_allclose(eps[3, 5], B * s * c * length, rtol=1e-12)
    assert not eps[:, 6:].any()  # nothing ahead of the dislocation
    np.testing.assert_allclose(eps.sum(), B * s * c * yd / s, rtol=1e-12)  # down to y = 0


@pytest.mark.parametrize("theta_deg", [0.0, 60.0, 17.3])
def test_result_does_not_depend_on_which_end_is_which(theta_deg):
    shape, pixel, origin = GRIDS[1]
    x0, y0, x1, y1 = _trace(theta_deg, shape, pixel, origin, half_len=5.3)
    a = jump_strain_yy([[x0, y0, x1, y1, B]], shape, pixel, origin)
    b = jump_strain_yy([[x1, y1, x0, y0, B]], shape, pixel, origin)
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-30)
    assert np.count_nonzero(a) > 3


def _corner_u(fn, shape, pixel):
    gx = np.arange(shape[0] + 1) * pixel[0]
    gy = np.arange(shape[1] + 1) * pixel[1]
    px, py = np.meshgrid(gx, gy, indexing="ij")
    return np.stack(fn(px, py)), px, py


@pytest.mark.parametrize("theta_deg", [60.0, 120.0, 17.3])
def test_surface_step_plus_uniform_strain_is_exact(theta_deg):
    # a surface step is an exact jump b s across a full line: corner sampling + correction is exact
    shape, pixel = (31, 125), (2e-9, 2e-9)
    th = np.radians(theta_deg)
    x0, y0, eps0 = 31e-9, 0.0 + 97.3e-9, -0.004

    def u(px, py):
        ux, uy = fields.step_displacement(px, py, x0, y0, B, th)
        return ux, uy + eps0 * py

    uc, _, _ = _corner_u(u, shape, pixel)
    cuts = slip_cuts([], [], [], [], [], [[x0, y0, B, np.cos(th), np.sin(th)]], 62e-9, 250e-9)
    exact = eps0 + jump_strain_yy(cuts, shape, pixel)
    got = strain_yy(uc, pixel[1], jump_correction(cuts, shape, pixel))
    np.testing.assert_allclose(got, exact, rtol=0, atol=1e-12)
    # the corner trapezoid alone quantizes to 0, 1/2 or 1 jump per dy: wrong gray levels, and a
    # steep trace (more than one row per column) leaves crossed pixels empty (dotted)
    old = strain_yy(uc, pixel[1])
    crossed = exact != eps0
    assert np.abs(old - exact).max() > 0.2 * B * abs(np.sin(th)) / pixel[1]
    assert np.any(np.isclose(old[crossed], eps0, rtol=0, atol=1e-12)) == (abs(np.tan(th)) > 1)
    assert not np.any(np.isclose(got[crossed], eps0, rtol=0, atol=1e-12))


def test_dislocation_field_converges_to_the_fine_grid_average():
    # a dislocation dipole (cut between the two cores): corrected coarse pixels agree with
    # the block average of a 6x finer grid away from the cores; the corner trapezoid does not
    th = np.radians(60.0)
    c, s = np.cos(th), np.sin(th)
    pa, pb = np.array([20.3e-9, 31.7e-9]), np.array([20.3e-9 + 20e-9 * c, 31.7e-9 + 20e-9 * s])

    def u(px, py):
        ua = fields.edge_displacement(px, py, pa[0], pa[1], -B, th, NU)
        ub = fields.edge_displacement(px, py, pb[0], pb[1], B, th, NU)
        return ua[0] + ub[0], ua[1] + ub[1]

    cuts = slip_cuts([pa[0], pb[0]], [pa[1], pb[1]], [-B, B], [c, c], [s, s], np.zeros((0, 5)), 60e-9, 80e-9)
    out = {}
    for name, k in (("coarse", 1), ("fine", 6)):
        shape, pixel = (30 * k, 40 * k), (2e-9 / k, 2e-9 / k)
        uc, _, _ = _corner_u(u, shape, pixel)
        out[name] = strain_yy(uc, pixel[1], jump_correction(cuts, shape, pixel))
        out[name + "_old"] = strain_yy(uc, pixel[1])
    fine = out["fine"].reshape(30, 6, 40, 6).mean(axis=(1, 3))
    px, py = (np.arange(30) + 0.5) * 2e-9, (np.arange(40) + 0.5) * 2e-9
    gx, gy = np.meshgrid(px, py, indexing="ij")
    far = np.minimum(np.hypot(gx - pa[0], gy - pa[1]), np.hypot(gx - pb[0], gy - pb[1])) > 6e-9
    quantum = B * s / 2e-9  # one corner-sampled jump per dy
    err_new = np.abs(out["coarse"] - fine)[far].max()
    err_old = np.abs(out["coarse_old"] - fine)[far].max()
    assert err_new < 0.01 * quantum
    assert err_old > 0.3 * quantum


def test_smooth_fields_are_exact():
    shape, pixel = (7, 11), (0.3, 0.2)
    a, q, eps0 = 0.013, -0.02, 0.004

    def u(px, py):  # u_y = eps0 y + a x y + q y^2: eps_yy = eps0 + a x + 2 q y, its cell average is exact
        return 0.1 * px * py, eps0 * py + a * px * py + q * py * py

    uc, _, _ = _corner_u(u, shape, pixel)
    xc = (np.arange(shape[0]) + 0.5) * pixel[0]
    yc = (np.arange(shape[1]) + 0.5) * pixel[1]
    exact = eps0 + a * xc[:, None] + 2 * q * yc[None, :]
    np.testing.assert_allclose(strain_yy(uc, pixel[1]), exact, rtol=1e-12)
    # no cuts: the correction is zero and the profile is unchanged
    corr = jump_correction(np.zeros((0, 5)), shape, pixel)
    assert corr.shape == shape and not corr.any()
    np.testing.assert_allclose(strain_yy(uc, pixel[1], corr), exact, rtol=1e-12)


def test_strain_profile_modes_with_corrections():
    rng = np.random.default_rng(3)
    u1, u0 = rng.normal(size=(2, 2, 6, 9))
    c1, c0 = rng.normal(size=(2, 5, 8))
    full = strain_profile(u1, u0, 0.5, correction_current=c1, correction_reference=c0)
    np.testing.assert_allclose(full, strain_yy(u1, 0.5, c1) - strain_yy(u0, 0.5, c0), rtol=1e-12)
    mean = strain_profile(u1, u0, 0.5, mode="mean", correction_current=c1, correction_reference=c0)
    np.testing.assert_allclose(mean, strain_yy(u1, 0.5, c1) - strain_yy(u0, 0.5, c0).mean(), rtol=1e-12)
    np.testing.assert_allclose(strain_profile(u1, u0, 0.5), strain_yy(u1 - u0, 0.5), rtol=1e-12)
    with pytest.raises(InvalidParameterError, match="mode"):
        strain_profile(u1, u0, 0.5, mode="median")
    with pytest.raises(ShapeError, match="correction"):
        strain_yy(u1, 0.5, np.zeros((4, 4)))


def test_bad_inputs_name_the_parameter():
    with pytest.raises(InvalidParameterError, match="pixel_m"):
        jump_strain_yy(np.zeros((0, 5)), (3, 3), (0.0, 1.0))
    with pytest.raises(InvalidParameterError, match="shape"):
        jump_correction(np.zeros((0, 5)), (0, 3), (1.0, 1.0))
    with pytest.raises(ShapeError, match="cuts"):
        jump_strain_yy(np.zeros((2, 4)), (3, 3), (1.0, 1.0))
    with pytest.raises(NonFiniteError, match="cuts"):
        jump_strain_yy([[0, 0, 1, np.nan, 1]], (3, 3), (1.0, 1.0))
    with pytest.raises(ShapeError, match="x_m"):
        slip_cuts([0.0], [0.0, 1.0], [B], [1.0], [0.0], np.zeros((0, 5)), 1.0, 1.0)
    with pytest.raises(InvalidParameterError, match="pixel_size_m"):
        pixel_grid(1.0, 1.0, 0.0)


def test_render_uint8_mapping():
    e = np.zeros((3, 4))
    e[1, 2] = 2.0
    e[0, 1] = 1.0
    img = render_uint8(e)
    assert img.dtype == np.uint8 and img[1, 2] == 255 and img[0, 1] == 127 and img.sum() == 255 + 127
    assert not render_uint8(np.ones((2, 2))).any()
