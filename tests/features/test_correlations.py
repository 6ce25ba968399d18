"""Two-point statistics: PyMKS's definition, checked against a slow float64 reference and PyMKS itself.

Float32 tolerance: the FFT round-off of a displacement is ~1e-7 * sum|a b| / norm(r) relative; the
windows below keep norm(r) >= total / 2^d or use the mean-centred path, so atol = 2e-6 (fields of
order 1) and rtol = 1e-5 hold with margin; float64 results match to 1e-12.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from microdl.exceptions import InvalidParameterError, NonFiniteError, ShapeError
from microdl.features import correlations as corr_mod
from microdl.features.correlations import correlation_pairs, correlations, two_point_stats, window_shape

ATOL, RTOL = 2e-6, 1e-5
FIXTURE = Path(__file__).parent / "data" / "pymks_two_point.npz"


def reference(a: np.ndarray, b: np.ndarray, periodic: bool, c: tuple[int, ...] | str,
              mask: np.ndarray | None = None) -> np.ndarray:
    """The definition, one displacement at a time (float64): sum_x a(x) b(x + r) / norm(r).

    ``c``: half-width per axis, or "full". Periodic: b read at (x + r) mod s, norm = number of voxels
    (or sum m(x) m(x + r)). Non-periodic: pairs with both ends inside the grid, norm = their count
    (or their weight). Output index of r: r - lo.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    s = a.shape
    m = np.ones(s) if mask is None else np.asarray(mask, np.float64)
    if c == "full":
        lo = [-(k // 2) if periodic else 1 - k for k in s]
        hi = [k - k // 2 - 1 if periodic else k - 1 for k in s]
    else:
        lo, hi = [-ck for ck in c], list(c)
    out = np.empty([h - lo_ + 1 for lo_, h in zip(lo, hi, strict=True)])
    am, bm = a * m, b * m
    for r in itertools.product(*[range(lo_, h + 1) for lo_, h in zip(lo, hi, strict=True)]):
        if periodic:  # np.roll(f, -r)[x] = f[x + r]
            shift = [-rk for rk in r]
            num = np.sum(am * np.roll(bm, shift, axis=tuple(range(len(s)))))
            den = np.sum(m * np.roll(m, shift, axis=tuple(range(len(s)))))
        else:
            first = tuple(slice(max(0, -rk), sk - max(0, rk)) for rk, sk in zip(r, s, strict=True))
            second = tuple(slice(max(0, rk), sk - max(0, -rk)) for rk, sk in zip(r, s, strict=True))
            num, den = np.sum(am[first] * bm[second]), np.sum(m[first] * m[second])
        out[tuple(rk - lo_ for rk, lo_ in zip(r, lo, strict=True))] = num / den if den > 0 else np.nan
    return out


def ref_batch(a, b, periodic, c, mask=None):
    masks = [None] * len(a) if mask is None else (mask if mask.ndim == a.ndim else [mask] * len(a))
    return np.stack([reference(x, y, periodic, c, m) for x, y, m in zip(a, b, masks, strict=True)])


def test_sign_convention_and_centre():
    """b = a shifted by r = (0, +1): the peak is at S(0, +1), index (c, c + 1); odd and even sizes."""
    for shape in ((5, 5), (6, 8)):
        a = np.zeros((1, *shape))
        a[0, 1, 1] = 1
        b = np.roll(a, 1, axis=2)
        for periodic in (True, False):
            s = two_point_stats(a, b, periodic=periodic, cutoff=2)
            assert np.unravel_index(np.argmax(s[0]), s[0].shape) == (2, 3)
        full = two_point_stats(a, b, periodic=True, cutoff="full")  # fftshift layout: r = 0 at s // 2
        assert full.shape == (1, *shape)
        assert np.unravel_index(np.argmax(full[0]), shape) == (shape[0] // 2, shape[1] // 2 + 1)


CASES_2D = [((7, 9), 3), ((8, 6), 2), ((8, 6), "full"), ((7, 9), (1, 4)), ((6, 10), None)]
CASES_3D = [((5, 6, 7), 2), ((4, 6, 5), (1, 2, 2)), ((4, 5, 6), "full")]


@pytest.mark.parametrize("shape, cutoff", CASES_2D + CASES_3D)
@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("cross", [False, True])
def test_two_point_stats_matches_reference(shape, cutoff, periodic, cross):
    rng = np.random.default_rng(len(shape) * 100 + sum(shape))
    a = rng.normal(0.5, 1.0, (2, *shape))
    b = rng.random((2, *shape)) if cross else a
    c = cutoff
    if cutoff is None:
        c = ((min(shape) - 1) // 2,) * len(shape)
    elif isinstance(cutoff, int):
        c = (cutoff,) * len(shape)
    ref = ref_batch(a, b, periodic, c)
    got = two_point_stats(a, b if cross else None, periodic=periodic, cutoff=cutoff)
    assert got.shape == ref.shape == (2, *window_shape(shape, periodic, cutoff)) and got.dtype == np.float32
    np.testing.assert_allclose(got, ref, atol=ATOL, rtol=RTOL)
    got64 = two_point_stats(a, b if cross else None, periodic=periodic, cutoff=cutoff, dtype=torch.float64)
    np.testing.assert_allclose(got64, ref, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("shape", [(8, 9), (5, 6, 7)])
@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("shared", [True, False])
def test_mask_matches_reference(shape, periodic, shared):
    rng = np.random.default_rng(11)
    a, b = rng.normal(1.0, 1.0, (2, *shape)), rng.random((2, *shape))
    mask = rng.random(shape if shared else (2, *shape))
    mask[..., 1:3, 2:4] = 0.0          # a hole
    mask[..., 0, 0] = 1.0
    ref = ref_batch(a, b, periodic, (2,) * len(shape), mask)
    got = two_point_stats(a, b, periodic=periodic, cutoff=2, mask=mask)
    np.testing.assert_allclose(got, ref, atol=ATOL, rtol=RTOL)
    ones = two_point_stats(a, b, periodic=periodic, cutoff=2, mask=np.ones(shape))  # = no mask
    np.testing.assert_allclose(ones, two_point_stats(a, b, periodic=periodic, cutoff=2), atol=ATOL, rtol=RTOL)


def test_mask_without_pairs_gives_nan():
    a = np.random.default_rng(12).random((1, 6, 7))
    mask = np.zeros((6, 7))
    mask[2, 3] = mask[2, 4] = 1.0      # pairs only at r = 0 and r = (0, +-1)
    got = two_point_stats(a, periodic=False, cutoff=2, mask=mask)[0]
    ref = reference(a[0], a[0], False, (2, 2), mask)
    assert np.isnan(got).sum() == 22 and np.array_equal(np.isnan(got), np.isnan(ref))
    np.testing.assert_allclose(got[2, 1:4], ref[2, 1:4], rtol=1e-6)


@pytest.mark.parametrize("periodic", [True, False])
def test_symmetry_cross_is_reversed_swap(periodic):
    rng = np.random.default_rng(13)
    for shape in ((9, 8), (5, 6, 7)):
        a, b = rng.random((3, *shape)), rng.normal(size=(3, *shape))
        ab = two_point_stats(a, b, periodic=periodic, cutoff=2)
        ba = two_point_stats(b, a, periodic=periodic, cutoff=2)
        flip = tuple(range(1, 1 + len(shape)))
        np.testing.assert_allclose(ab, np.flip(ba, axis=flip), atol=ATOL, rtol=RTOL)  # S_ab(r) = S_ba(-r)


def _ref_labels(labels, pairs, periodic, c):
    """Reference S_ij of the phase indicators, (n, n_pairs, *window)."""
    return np.stack([np.stack([reference(lab == i, lab == j, periodic, c) for i, j in pairs])
                     for lab in labels])


@pytest.mark.parametrize("shape, c", [((9, 8), 3), ((6, 5, 7), 2)])
@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("n_phases", [2, 3])
def test_correlations_match_reference(shape, c, periodic, n_phases):
    rng = np.random.default_rng(n_phases + len(shape))
    labels = rng.integers(0, n_phases, (3, *shape))
    pairs = correlation_pairs(n_phases, "all") + [(1, 0)]
    got = correlations(labels, pairs=pairs, periodic=periodic, cutoff=c)
    ref = _ref_labels(labels, pairs, periodic, (c,) * len(shape))
    assert got.shape == (3, len(pairs), *(2 * c + 1,) * len(shape))
    np.testing.assert_allclose(got, ref, atol=ATOL, rtol=RTOL)
    t = correlations(torch.from_numpy(labels).to(torch.int32), n_phases, pairs="auto", periodic=periodic,
                     cutoff=c)
    assert isinstance(t, torch.Tensor) and t.shape[1] == n_phases
    np.testing.assert_allclose(t.numpy(), ref[:, [pairs.index((i, i)) for i in range(n_phases)]], atol=ATOL)


def test_two_phase_shortcut_equals_generic_path_and_is_accurate_for_rare_phases():
    """Two phases use one mean-centred FFT (phase 1 = 1 - phase 0); n_phases=3 with phase 2 absent runs
    one FFT per phase: same numbers. A rare phase (0.3 %) keeps its relative accuracy."""
    rng = np.random.default_rng(14)
    labels = (rng.random((4, 40, 36)) < 0.003).astype(np.int8)
    for periodic in (True, False):
        two = correlations(labels, 2, pairs="all", periodic=periodic, cutoff=(12, 17))
        three = correlations(labels, 3, pairs=[(0, 0), (0, 1), (1, 1)], periodic=periodic, cutoff=(12, 17))
        exact = correlations(labels, 2, pairs="all", periodic=periodic, cutoff=(12, 17), dtype=torch.float64)
        np.testing.assert_allclose(two, three, atol=ATOL)
        rare = exact[:, 2]
        assert np.abs(two[:, 2] - rare).max() < 1e-9 + 1e-3 * rare.max()


@pytest.mark.parametrize("shape", [(16, 15), (7, 8, 6)])
def test_indicator_identities(shape):
    rng = np.random.default_rng(15)
    labels = rng.integers(0, 3, (5, *shape))
    frac = np.stack([(labels == p).mean(axis=tuple(range(1, 1 + len(shape)))) for p in range(3)], 1)
    full = [(i, j) for i in range(3) for j in range(3)]
    s = correlations(labels, 3, pairs=full, periodic=True)
    centre = tuple(k // 2 for k in s.shape[2:])
    vf = s[(slice(None), slice(None), *centre)]
    np.testing.assert_allclose(vf[:, [0, 4, 8]], frac, atol=1e-6)          # S_ii(0) = volume fraction
    np.testing.assert_allclose(vf[:, [1, 2, 3, 5, 6, 7]], 0, atol=1e-6)    # S_ij(0) = 0 for i != j
    rows = s.reshape(5, 3, 3, *s.shape[2:]).sum(axis=2)                     # sum_j S_ij(r) = fraction of i
    np.testing.assert_allclose(rows, frac.reshape(5, 3, *(1,) * len(shape)) + 0 * rows, atol=2e-6)
    two = correlations((labels > 0).astype(int), 2, pairs="all", periodic=True)
    np.testing.assert_allclose(two[:, 0] + two[:, 1], (labels == 0).mean(axis=tuple(range(1, 1 + len(shape))))
                               .reshape(5, *(1,) * len(shape)) + 0 * two[:, 0], atol=2e-6)


def test_large_nonperiodic_window_stays_accurate():
    """Windows beyond PyMKS's cutoff (few pairs) use the mean-centred FFT: float32 close to float64."""
    rng = np.random.default_rng(16)
    a = np.clip(rng.normal(128, 30, (2, 20, 24, 18)), 0, 255)
    b = a + rng.normal(0, 5, a.shape)
    for cut in ((19, 3, 17), "full"):
        got = two_point_stats(a, b, periodic=False, cutoff=cut)
        ref = two_point_stats(a, b, periodic=False, cutoff=cut, dtype=torch.float64)
        np.testing.assert_allclose(got, ref, rtol=2e-5)
    # r = -(s - 1): the one pair x = s - 1, x + r = 0
    assert ref[0, 0, 0, 0] == pytest.approx(a[0, -1, -1, -1] * b[0, 0, 0, 0], rel=1e-12)
    labels = (rng.random((2, 12, 11)) < 0.4).astype(int)
    got = correlations(labels, pairs="all", periodic=False, cutoff="full")
    ref = _ref_labels(labels, correlation_pairs(2, "all"), False, "full")
    np.testing.assert_allclose(got, ref, atol=ATOL)


def test_batches_and_chunks_give_the_same_numbers(monkeypatch):
    rng = np.random.default_rng(17)
    labels = rng.integers(0, 3, (7, 10, 9, 8))
    a = rng.random((7, 12, 10))
    runs = [lambda: correlations(labels, pairs="all", periodic=False, cutoff=3),
            lambda: correlations(labels > 0, 2, pairs="all", periodic=True, cutoff=(4, 3, 2)),
            lambda: two_point_stats(a, a[::-1], periodic=False, cutoff="full"),
            lambda: two_point_stats(a, periodic=True, cutoff=4, mask=a[::-1])]
    whole = [run() for run in runs]
    monkeypatch.setattr(corr_mod, "_CHUNK_CPU", 1)  # one sample per FFT batch
    for run, ref in zip(runs, whole, strict=True):
        np.testing.assert_allclose(run(), ref, atol=1e-6, rtol=1e-6)
    single = correlations(labels[3:4], pairs="all", periodic=False, cutoff=3)
    np.testing.assert_allclose(single[0], whole[0][3], atol=1e-6, rtol=1e-6)


def test_fft_batches_stay_bounded(monkeypatch):
    """Each FFT batch holds at most _CHUNK_CPU padded voxels per field stack (or one sample)."""
    seen = []
    rfftn = torch.fft.rfftn

    def spy(x, *args, **kwargs):
        seen.append(x.shape[0] * int(np.prod(kwargs["s"])))
        return rfftn(x, *args, **kwargs)

    monkeypatch.setattr(torch.fft, "rfftn", spy)
    grid = 15 * 16 * 18                       # 2-3-5-smooth sizes >= (11, 12, 13) + 4
    monkeypatch.setattr(corr_mod, "_CHUNK_CPU", 2 * 6 * grid)  # 6 pairs: two samples a batch
    labels = np.random.default_rng(20).integers(0, 3, (9, 11, 12, 13))
    correlations(labels, pairs="all", periodic=False, cutoff=4)
    assert seen == [2 * grid] * 4 + [grid]
    seen.clear()
    monkeypatch.setattr(corr_mod, "_CHUNK_CPU", 1)
    correlations(labels[:3] > 0, 2, periodic=True, cutoff=2)
    assert seen == [11 * 12 * 13] * 3                   # at least one sample a batch


def test_one_dimensional_fields_as_height_one():
    x = np.random.default_rng(18).random((3, 1, 20))
    got = two_point_stats(x, periodic=False, cutoff=(0, 6))[:, 0]
    ref = np.stack([[np.mean(f[0, max(0, -r):20 - max(0, r)] * f[0, max(0, r):20 - max(0, -r)])
                     for r in range(-6, 7)] for f in x])
    np.testing.assert_allclose(got, ref, atol=ATOL, rtol=RTOL)


def test_output_types_pairs_and_shapes():
    labels = np.random.default_rng(19).integers(0, 3, (2, 9, 9))
    assert correlation_pairs(3) == [(0, 0), (1, 1), (2, 2)]
    assert correlation_pairs(3, "first") == [(0, 0), (0, 1), (0, 2)]  # PyMKS's default
    assert correlation_pairs(2, [[1, 0]]) == [(1, 0)]
    assert correlations(labels).shape == (2, 3, 9, 9)                   # PyMKS's cutoff (9 - 1) // 2
    assert correlations(labels, 4, cutoff=1).shape == (2, 4, 3, 3)
    assert correlations(labels, periodic=False, cutoff=8).shape == (2, 3, 17, 17)
    out = correlations(labels, dtype=torch.float64, device="cpu")
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    t = two_point_stats(torch.rand(2, 6, 7, dtype=torch.float64), cutoff=(1, 3))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32 and t.shape == (2, 3, 7)
    assert window_shape((10, 12), True, "full") == (10, 12)


def test_matches_pymks_fixture():
    """Numbers from PyMKS 0.4.1 itself (benchmarks/linkage/make_pymks_fixture.py)."""
    data = np.load(FIXTURE)
    names = sorted({k.split("__")[0] for k in data.files})
    assert len(names) == 12
    for name in names:
        args = json.loads(str(data[f"{name}__args"]))
        ref = data[f"{name}__pymks"]
        if args["kind"] == "labels":
            got = correlations(data[f"{name}__labels"], args["n_phases"], pairs=args["pairs"],
                               periodic=args["periodic"], cutoff=args["cutoff"])
            ref = np.moveaxis(ref, -1, 1)  # PyMKS stacks the pairs last
        else:
            mask = data[f"{name}__mask"] if args["mask"] else None
            got = two_point_stats(data[f"{name}__a"], data[f"{name}__b"], periodic=args["periodic"],
                                  cutoff=args["cutoff"], mask=mask)
        assert got.shape == ref.shape, name
        np.testing.assert_allclose(got, ref, atol=ATOL, rtol=RTOL, err_msg=name)


@pytest.mark.parametrize("call, err, match", [
    (lambda: two_point_stats(np.zeros((5, 5))), ShapeError, "3 or 4 dimensions"),
    (lambda: two_point_stats(np.zeros((2, 5, 5)), np.zeros((2, 5, 6))), ShapeError, "shape of a"),
    (lambda: two_point_stats(np.full((1, 4, 4), np.nan)), NonFiniteError, "finite"),
    (lambda: two_point_stats(np.zeros((1, 4, 4), complex)), InvalidParameterError, "real"),
    (lambda: two_point_stats(np.zeros((1, 4, 4)), mask=np.full((4, 4), 2.0)), InvalidParameterError, "0, 1"),
    (lambda: two_point_stats(np.zeros((2, 4, 4)), mask=np.ones((3, 4, 4))), ShapeError, "mask"),
    (lambda: two_point_stats(np.zeros((1, 9, 9)), cutoff=5), InvalidParameterError, "cutoff must be <= 4"),
    (lambda: two_point_stats(np.zeros((1, 9, 9)), periodic=False, cutoff=9), InvalidParameterError, "<= 8"),
    (lambda: two_point_stats(np.zeros((1, 9, 6)), cutoff=(4, 3)), InvalidParameterError, r"cutoff\[1\]"),
    (lambda: two_point_stats(np.zeros((1, 9, 9)), cutoff=(1, 2, 3)), InvalidParameterError, "one per axis"),
    (lambda: two_point_stats(np.zeros((1, 9, 9)), cutoff="half"), InvalidParameterError, "cutoff"),
    (lambda: two_point_stats(np.zeros((1, 9, 9)), cutoff=-1), InvalidParameterError, "cutoff"),
    (lambda: two_point_stats(np.zeros((1, 9, 9)), periodic=1), InvalidParameterError, "periodic"),
    (lambda: two_point_stats(np.zeros((1, 9, 9)), dtype=torch.float16), InvalidParameterError, "dtype"),
    (lambda: correlations(np.zeros((9, 9), int)), ShapeError, r"labels\[None\]"),
    (lambda: correlations(np.zeros((1, 0, 9), int)), ShapeError, "non-empty"),
    (lambda: correlations(np.full((1, 4, 4), -1)), InvalidParameterError, ">= 0"),
    (lambda: correlations(np.full((1, 4, 4), 0.5)), InvalidParameterError, "integer"),
    (lambda: correlations(np.full((1, 4, 4), 3), 2), InvalidParameterError, "< n_phases"),
    (lambda: correlations(np.zeros((1, 4, 4), int), 0), InvalidParameterError, "n_phases"),
    (lambda: correlations(np.zeros((1, 4, 4), int), 2, pairs=[(0, 2)]), InvalidParameterError, "pairs"),
    (lambda: correlations(np.zeros((1, 4, 4), int), 2, pairs="cross"), InvalidParameterError, "pairs"),
    (lambda: correlations(np.zeros((1, 4, 4), int), 2, pairs=[]), InvalidParameterError, "pairs"),
    (lambda: correlations(np.zeros((1, 4, 4), int), device="gpu0"), InvalidParameterError, "device"),
])
def test_bad_inputs_raise_one_line(call, err, match):
    with pytest.raises(err, match=match) as info:
        call()
    assert "\n" not in str(info.value)
