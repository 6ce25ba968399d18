"""Glide integration: stable pile-ups, dipole equilibrium, swept-segment events, slip planes."""

from __future__ import annotations

import numpy as np
import pytest

from microdl.simulate.ddd import fields, kernels
from microdl.simulate.ddd.planes import SlipPlanes, _first_obstacle, _same_plane_events, substeps_needed

MU, NU, B = 26.3e9, 0.33, 0.25e-9
DCOEF = fields.dislocation_prefactor(MU, NU)
KPAIR = DCOEF * B * B
DRAG, DT = 1e-4, 0.5e-9


def _relax_same_plane(xi, sign, mobile, tau_app, n_steps, implicit=True):
    xi = np.array(xi, dtype=float)
    sign = np.array(sign, dtype=float)
    n = len(xi)
    c, s = np.ones(n), np.zeros(n)
    plane = np.zeros(n, dtype=np.int64)
    history = []
    for _ in range(n_steps):
        tau, _ = kernels.pair_resolved_shear(xi, np.zeros(n), sign * B, c, s, plane, DCOEF, 0.0)
        force = sign * B * (tau + tau_app)
        order = np.argsort(xi, kind="stable")
        dxi = kernels.implicit_plane_update(order, plane, xi, sign, mobile, force, 1 / DRAG, DT,
                                            KPAIR if implicit else 0.0)
        xi = xi + dxi
        history.append(xi.copy())
        if not np.all(np.isfinite(xi)):
            break
    return xi, np.array(history)


def test_pileup_against_pinned_dislocation_is_stable_and_exact():
    """Mobile dislocation pushed by tau = 100 MPa against a pinned like-sign one.

    Equilibrium gap d = mu b / (2 pi (1-nu) tau) = 15.6 nm, half the explicit
    stability limit at dt = 0.5 ns. The implicit update converges monotonically to
    d (rel. 1e-6); plain explicit Euler oscillates with growing amplitude.
    """
    tau = -100e6  # pushes the + dislocation towards -x, onto the pinned one at 0
    d_eq = DCOEF * B / abs(tau)
    xi, hist = _relax_same_plane([0.0, 60e-9], [1, 1], np.array([False, True]), tau, 200)
    assert xi[1] == pytest.approx(d_eq, rel=1e-6)
    gaps = hist[:, 1] - hist[:, 0]
    assert np.all(gaps >= d_eq * (1 - 1e-9))  # no overshoot, never crosses
    _, hist_ex = _relax_same_plane([0.0, 60e-9], [1, 1], np.array([False, True]), tau, 60, implicit=False)
    gaps_ex = hist_ex[:, 1] - hist_ex[:, 0]
    assert np.nanmin(gaps_ex) < 0.5 * d_eq or not np.all(np.isfinite(gaps_ex))


def test_multi_dislocation_pileup_reaches_force_balance():
    tau = -150e6
    xi, _ = _relax_same_plane([0.0, 40e-9, 90e-9, 150e-9, 220e-9], [1] * 5,
                              np.array([False, True, True, True, True]), tau, 3000)
    n = len(xi)
    t_pair, _ = kernels.pair_resolved_shear(xi, np.zeros(n), np.full(n, B), np.ones(n), np.zeros(n),
                                            np.zeros(n, np.int64), DCOEF, 0.0)
    residual = B * (t_pair + tau)[1:]
    assert np.abs(residual).max() < 1e-4 * B * abs(tau)
    assert np.all(np.diff(xi) > 0)  # order kept; spacing grows away from the obstacle
    assert np.all(np.diff(np.diff(xi)) > 0)


def test_dipole_on_parallel_planes_relaxes_to_45_degrees():
    """Opposite-sign edge dislocations on planes 25 nm apart settle at |dx| = h (45 deg),
    the stable dipole of linear elasticity, integrated with the sub-cycling rule."""
    h = 100 * B
    x = np.array([0.0, 0.4 * h])
    y = np.array([0.0, h])
    b = np.array([B, -B])
    c, s = np.ones(2), np.zeros(2)
    plane = np.array([0, 1], dtype=np.int64)
    for _ in range(400):
        tau, r2 = kernels.pair_resolved_shear(x, y, b, c, s, plane, DCOEF, 0.0)
        n_sub = substeps_needed(r2, DT, DRAG, KPAIR, 12 * B, 64)
        for _k in range(n_sub):
            tau, _ = kernels.pair_resolved_shear(x, y, b, c, s, plane, DCOEF, 0.0)
            x = x + DT / n_sub * b * tau / DRAG
    assert n_sub > 1  # 25 nm is inside the explicit stability radius
    assert abs(x[1] - x[0]) == pytest.approx(h, rel=1e-3)


def test_swept_segment_pins_at_first_obstacle_in_direction_of_motion():
    obs_ptr = np.array([0, 3, 3], dtype=np.int64)
    obs_xi = np.array([10e-9, 20e-9, 30e-9])
    plane = np.array([0, 0, 0, 1], dtype=np.int64)
    old = np.array([0.0, 35e-9, 10e-9, 0.0])
    new = np.array([25e-9, 5e-9, 15e-9, 50e-9])
    hit = _first_obstacle(plane, old, new, np.ones(4, dtype=np.bool_), obs_ptr, obs_xi)
    # forward: first is 10 nm; backward from 35: 30 nm; starting on an obstacle excludes it; other plane
    assert hit.tolist() == [0, 2, -1, -1]


def test_crossing_opposite_signs_annihilate_and_like_signs_never_cross():
    plane = np.zeros(4, dtype=np.int64)
    sign = np.array([1.0, -1.0, 1.0, 1.0])
    old = np.array([0.0, 100e-9, 300e-9, 320e-9])
    new = np.array([150e-9, 90e-9, 330e-9, 325e-9])  # 0/1 cross (swept), 2 passes 3 (like sign)
    order = np.argsort(old)
    free = (np.full(4, -np.inf), np.full(4, np.inf))
    dead, out = _same_plane_events(order, plane, sign, old, new, 6 * B, B, *free)
    assert dead.tolist() == [True, True, False, False]
    assert out[3] > out[2]
    # ending within L_e without crossing also annihilates
    dead, _ = _same_plane_events(np.arange(2), plane[:2], sign[:2], np.array([0.0, 100e-9]),
                                 np.array([50e-9, 51e-9]), 6 * B, B, free[0][:2], free[1][:2])
    assert dead.all()


def test_pile_up_against_a_blocked_end_queues_behind_its_leader():
    # three like-sign dislocations overshoot a blocked end at 100 nm in one step: they must
    # end strictly ordered, the leader at the end, never on top of each other
    plane = np.zeros(3, dtype=np.int64)
    sign = np.ones(3)
    old = np.array([90e-9, 95e-9, 99e-9])
    new = np.array([100e-9, 100e-9, 100e-9])  # as clipped at the end by the glide step
    cap = np.full(3, 100e-9)
    dead, out = _same_plane_events(np.argsort(old), plane, sign, old, new, 6 * B, B, np.full(3, -np.inf), cap)
    assert not dead.any()
    assert out[2] == pytest.approx(100e-9)
    assert np.all(np.diff(out) >= B * (1 - 1e-9))
    assert np.all(out <= cap)


def test_slip_planes_cover_the_pillar_and_end_on_faces():
    w, h = 0.125e-6, 0.5e-6
    planes = SlipPlanes.build(w, h, (np.pi / 3, 2 * np.pi / 3), 25e-9)
    idx = np.arange(planes.n)
    for xi in (planes.lo, planes.hi):
        x, y = planes.xy(idx, xi)
        assert np.all((x > -1e-15) & (x < w + 1e-15) & (y > -1e-15) & (y < h + 1e-15))
        on_lateral = (np.abs(x) < 1e-15) | (np.abs(x - w) < 1e-15)
        assert np.all(on_lateral | (np.abs(y) < 1e-15) | (np.abs(y - h) < 1e-15))
    x_lo, _ = planes.xy(idx, planes.lo)
    assert np.array_equal(planes.lo_free, (np.abs(x_lo) < 1e-15) | (np.abs(x_lo - w) < 1e-15))
    # spacing between neighbouring planes of one system is 100 b
    off = np.sort(planes.offset[planes.system == 0])
    np.testing.assert_allclose(np.diff(off), 25e-9)
