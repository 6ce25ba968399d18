"""Tests of the GND line-map generator against geometry and brute force."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from microdl.data.gnd import GNDWindows, generate_windows
from microdl.exceptions import InvalidParameterError, ShapeError
from microdl.simulate import _gnd_kernels as kern
from microdl.simulate.gnd_lines import (
    PAPER_SPLITS,
    WALKS,
    GNDLineConfig,
    _sample_windows_traced,
    _training_map,
    density_per_pixel_length,
    generate_map,
    pixel_densities,
    sample_windows,
)

S_UM = 3 / 7
B_M = 3e-10
UNIT = 1.0 / (S_UM * 1e-6 * B_M)  # m^-2 per pixel-length of line


def _brute(lines, grid, step=2e-3):
    """Per line: pixel index of every tiny sub-segment and its length (dense sampling)."""
    out = []
    for line in lines:
        a, b = line[:-1], line[1:]
        seg = np.hypot(*(b - a).T)
        m = np.maximum(np.ceil(seg / step).astype(int), 1)
        k = np.repeat(np.arange(len(a)), m)
        j = np.concatenate([np.arange(q) for q in m])
        t = (j + 0.5) / m[k]
        p = a[k] + t[:, None] * (b - a)[k]
        ix = np.floor(p[:, 0]).astype(int)
        iy = np.floor(p[:, 1]).astype(int)
        inside = (ix >= 0) & (iy >= 0) & (ix < grid) & (iy < grid)
        out.append((iy, ix, (seg / m)[k], inside))
    return out


@pytest.fixture(scope="module")
def some_map():
    return generate_map(12, rng=123)


# ------------------------------------------------------------------ analytic cases


def test_straight_segment_in_one_pixel_is_analytic():
    a, b = np.array([0.2, 0.3]), np.array([0.9, 0.8])
    g, rho, n = pixel_densities([np.array([a, b])], 1, S_UM, B_M)
    length_m = np.hypot(*(b - a)) * S_UM * 1e-6
    expected = length_m / ((S_UM * 1e-6) ** 2 * B_M)
    assert rho[0, 0] == pytest.approx(expected, rel=1e-12)
    assert np.hypot(*g[0, 0]) == pytest.approx(rho[0, 0], rel=1e-12)
    assert g[0, 0] == pytest.approx((b - a) * UNIT, rel=1e-12)
    assert n[0, 0] == 1


def test_straight_crossing_gives_one_over_s_b_per_pixel():
    line = np.array([[0.0, 1.5], [3.0, 1.5]])
    g, rho, n = pixel_densities([line], 3, S_UM, B_M)
    assert density_per_pixel_length(S_UM, B_M) == pytest.approx(7.7778e15, rel=1e-4)
    np.testing.assert_allclose(rho[1], UNIT, rtol=1e-12)
    np.testing.assert_allclose(g[1, :, 0], UNIT, rtol=1e-12)  # pure screw: xi // b // x
    np.testing.assert_allclose(g[1, :, 1], 0.0, atol=1e-3)
    assert rho[0].sum() == rho[2].sum() == 0
    assert n.tolist() == [[0, 0, 0], [1, 1, 1], [0, 0, 0]]


def test_diagonal_through_corners_and_opposite_lines_cancel():
    diag = np.array([[0.0, 0.0], [2.0, 2.0]])  # passes exactly through the corner (1, 1)
    g, rho, n = pixel_densities([diag], 2, S_UM, B_M)
    np.testing.assert_allclose(np.diag(rho), np.sqrt(2) * UNIT, rtol=1e-12)
    assert rho[0, 1] == rho[1, 0] == 0 and n[0, 1] == n[1, 0] == 0
    back = diag[::-1] + [0.0, 0.0]
    g2, rho2, n2 = pixel_densities([diag, back], 2, S_UM, B_M)
    np.testing.assert_allclose(g2, 0.0, atol=1e-3)  # GND cancels ...
    np.testing.assert_allclose(np.diag(rho2), 2 * np.sqrt(2) * UNIT, rtol=1e-12)  # ... rho_t adds
    assert np.diag(n2).tolist() == [2, 2]


# --------------------------------------------------------------- random maps


def test_total_density_bounds_gnd_magnitude(some_map):
    mag = np.hypot(some_map.gnd[..., 0].astype(float), some_map.gnd[..., 1].astype(float))
    assert np.all(some_map.rho_t >= mag * (1 - 1e-6) - 1e3)
    assert np.all(some_map.gnd[..., 2] <= some_map.rho_t * (1 + 1e-6) + 1e3)
    assert (some_map.rho_t > 0).sum() > 20
    # the cancellation is real somewhere: some pixel has |rho_GND| clearly below rho_t
    assert np.any(some_map.gnd[..., 2] < 0.5 * some_map.rho_t)


def test_lengths_and_counts_match_brute_force(some_map):
    grid = some_map.rho_t.shape[0]
    rho_bf = np.zeros((grid, grid))
    per_line = []
    for iy, ix, ds, inside in _brute(some_map.lines, grid):
        acc = np.zeros((grid, grid))
        np.add.at(acc, (iy[inside], ix[inside]), ds[inside])
        rho_bf += acc
        per_line.append(acc)
    np.testing.assert_allclose(some_map.rho_t / UNIT, rho_bf, atol=0.02)
    n_bf = sum((acc > 0).astype(int) for acc in per_line)
    n_bf_strict = sum((acc > 0.02).astype(int) for acc in per_line)
    assert np.all(some_map.n_lines >= n_bf_strict) and np.all(some_map.n_lines <= n_bf)
    assert np.array_equal(some_map.n_lines, n_bf)  # no sub-0.02-pixel clips in these maps


def test_flux_continuity_per_line(some_map):
    grid = some_map.rho_t.shape[0]
    for line in some_map.lines:
        g, rho, _ = pixel_densities([line], grid, S_UM, B_M)
        np.testing.assert_allclose(g.sum(axis=(0, 1)) / UNIT, line[-1] - line[0], atol=1e-9)
        length = np.hypot(*np.diff(line, axis=0).T).sum()
        assert rho.sum() / UNIT == pytest.approx(length, rel=1e-12)


def test_entries_and_exits_balance(some_map):
    grid = some_map.rho_t.shape[0]
    for iy, ix, _, _ in _brute(some_map.lines, grid):
        cell = iy * grid + ix
        change = np.flatnonzero(cell[1:] != cell[:-1])
        net = np.zeros(grid * grid, int)
        np.add.at(net, cell[change], -1)  # exits
        np.add.at(net, cell[change + 1], 1)  # entries
        expected = np.zeros(grid * grid, int)
        expected[cell[0]] -= 1
        expected[cell[-1]] += 1
        assert np.array_equal(net, expected)


def test_lines_run_boundary_to_boundary():
    for seed in range(5):
        m = generate_map(10, rng=seed)
        for line in m.lines:
            assert np.all((line >= 0) & (line <= 21))
            for end in (line[0], line[-1]):
                assert end[0] in (0.0, 21.0) or end[1] in (0.0, 21.0)
            interior = line[1:-1]
            assert np.all((interior > 0) & (interior < 21))


def test_walk_uses_five_neighbours_except_predecessor():
    state = np.array([99], np.uint64)
    bx = np.empty(200, np.int64)
    by = np.empty(200, np.int64)
    nxt = defaultdict(lambda: defaultdict(int))
    first = defaultdict(lambda: defaultdict(int))
    for _ in range(15000):
        n = kern.random_walk(state, 7, 7, 2, 200, bx, by)
        nodes = list(zip(bx[:n].tolist(), by[:n].tolist(), strict=True))
        first[nodes[0]][nodes[1]] += 1
        for a, b, c in zip(nodes[:-2], nodes[1:-1], nodes[2:], strict=True):
            nxt[(a, b)][c] += 1
            assert c != a
        for (x0, y0), (x1, y1) in zip(nodes[:-1], nodes[1:], strict=True):
            assert (x0 % 2) != (y0 % 2) and (x1 % 2) != (y1 % 2)  # edge midpoints
            dx, dy = abs(x1 - x0), abs(y1 - y0)
            if x0 % 2 == x1 % 2:  # same orientation: the opposite edge of a shared pixel
                assert (dx, dy) == ((2, 0) if x0 % 2 == 0 else (0, 2))
            else:  # perpendicular: an adjacent edge of a shared pixel
                assert (dx, dy) == (1, 1)
    assert {len(v) for v in first.values()} == {3}
    common = [v for v in nxt.values() if sum(v.values()) >= 200]
    assert len(common) > 5 and {len(v) for v in common} == {5}
    for v in common:
        counts = np.array(list(v.values()))
        assert counts.min() > 0.4 * counts.mean()  # roughly uniform


def test_self_avoiding_walks_never_revisit_and_correlate_more():
    state = np.array([7], np.uint64)
    bx = np.empty(200, np.int64)
    by = np.empty(200, np.int64)
    for _ in range(2000):
        n = kern.random_walk(state, 9, 9, 2, 200, bx, by, True)
        nodes = list(zip(bx[:n].tolist(), by[:n].tolist(), strict=True))
        assert len(set(nodes)) == n
    pearson = {}
    for walk in WALKS:
        _, rho_t, n_lines = sample_windows(400, config=GNDLineConfig(walk=walk), rng=3)
        pearson[walk] = np.corrcoef(n_lines, rho_t)[0, 1]
    assert pearson["self-avoiding"] > pearson["random"] + 0.05  # straighter lines: N says more about rho_t
    with pytest.raises(InvalidParameterError):
        GNDLineConfig(walk="levy")


def test_map_shapes_dtypes_and_larger_grid():
    m = generate_map(4, grid_pixels=40, rng=1)
    assert m.gnd.shape == (40, 40, 3) and m.gnd.dtype == np.float32
    assert m.rho_t.dtype == np.float64 and m.n_lines.dtype == np.int64
    assert len(m.lines) == 4 and all(line.shape[1] == 2 for line in m.lines)
    assert generate_map(0, rng=1).rho_t.sum() == 0


# ------------------------------------------------------------------- windows


@pytest.fixture(scope="module")
def traced():
    arrays, origin, root = _sample_windows_traced(300, GNDLineConfig(), 5, False)
    return GNDWindows(*arrays), origin, root


def test_windows_balanced_and_typed(traced):
    ds = traced[0]
    assert ds.gnd.shape == (1500, 7, 7, 3) and ds.gnd.dtype == np.float32
    assert ds.rho_t.dtype == np.float64 and ds.n_lines.dtype == np.int64
    assert np.bincount(ds.n_lines).tolist() == [0, 300, 300, 300, 300, 300]
    assert not np.all(np.diff(ds.n_lines) >= 0)  # shuffled


def test_labels_stay_attached_to_their_windows(traced):
    ds, origin, root = traced
    centre = ds.gnd[:, 3, 3, 2].astype(float)
    assert np.all(centre <= ds.rho_t * (1 + 1e-6))
    one = ds.n_lines == 1
    assert np.median(centre[one] / ds.rho_t[one]) > 0.8
    config = GNDLineConfig()
    for i in np.random.default_rng(0).choice(len(ds), 8, replace=False):
        idx, r, c = origin[i]
        m = _training_map(root, int(idx), config)
        np.testing.assert_array_equal(ds.gnd[i], m.gnd[r - 3:r + 4, c - 3:c + 4])
        assert ds.rho_t[i] == m.rho_t[r, c] and ds.n_lines[i] == m.n_lines[r, c]


def test_same_seed_same_arrays_and_different_seed_differs():
    a = generate_windows(40, rng=11)
    b = generate_windows(40, rng=np.random.default_rng(11))
    c = generate_windows(40, rng=12)
    for name in ("gnd", "rho_t", "n_lines"):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.rho_t, c.rho_t)


def test_same_arrays_as_before_the_restructure():
    """sha256 of generate_windows(20, rng=0) recorded with the code before issue 8."""
    import hashlib

    w = generate_windows(20, rng=0)
    want = {"gnd": "b6d85b7a8999053b0b12d88adfac9e2367e6d14560cfff2cd44c60eff99d8497",
            "rho_t": "b3a42c3ef3c47ec1c35850a611fe04f06673989d03d24f4df464f43cdeff0b90",
            "n_lines": "e241d889cb5a109fe68d24866061ff79086dbb189de12e6a27e983b3be5f3880"}
    for name, digest in want.items():
        assert hashlib.sha256(np.ascontiguousarray(getattr(w, name)).tobytes()).hexdigest() == digest
    raw = sample_windows(20, rng=0)
    for a, name in zip(raw, ("gnd", "rho_t", "n_lines"), strict=True):
        assert np.array_equal(a, getattr(w, name))


def test_windows_outside_the_contract_are_refused():
    with pytest.raises(InvalidParameterError, match="window"):
        generate_windows(2, config=GNDLineConfig(window=5), rng=0)
    gnd, _, _ = sample_windows(2, config=GNDLineConfig(window=5), rng=0)
    assert gnd.shape == (10, 5, 5, 3)


def test_result_does_not_depend_on_thread_count():
    import numba

    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        a = generate_windows(30, rng=3)
    finally:
        numba.set_num_threads(before)
    b = generate_windows(30, rng=3)
    assert np.array_equal(a.gnd, b.gnd) and np.array_equal(a.rho_t, b.rho_t)


def test_custom_classes_and_paper_splits():
    cfg = GNDLineConfig(n_min=2, n_max=3, lines_per_map_max=20)
    ds = generate_windows(25, config=cfg, rng=0)
    assert sorted(np.unique(ds.n_lines).tolist()) == [2, 3] and len(ds) == 50
    assert PAPER_SPLITS == {"train": 500_000, "val": 100_000, "test": 100_000}


@pytest.mark.parametrize("kwargs", [
    {"window": 6}, {"window": 0}, {"grid_pixels": 5}, {"pixel_size_um": 0.0},
    {"plane_thickness_m": float("nan")}, {"n_min": 0}, {"n_min": 3, "n_max": 2},
    {"lines_per_map_max": 4}, {"lines_per_map_min": 9, "lines_per_map_max": 8},
    {"min_walk_nodes": 1}, {"max_walk_nodes": 22}, {"spline_samples_per_span": 0},
    {"windows_per_map_per_class": 0}, {"grid_pixels": 21.0},
])
def test_invalid_config_raises(kwargs):
    with pytest.raises(InvalidParameterError):
        GNDLineConfig(**kwargs)


def test_invalid_arguments_raise():
    with pytest.raises(InvalidParameterError, match="n_per_class"):
        generate_windows(-1)
    with pytest.raises(InvalidParameterError, match="n_lines"):
        generate_map(-2)
    with pytest.raises(ShapeError):
        pixel_densities([np.zeros((3, 3))], 5, S_UM, B_M)
    with pytest.raises(InvalidParameterError):
        pixel_densities([np.array([[0, 0], [np.nan, 1]])], 5, S_UM, B_M)
