import numpy as np
import pytest
import torch
from sklearn.base import clone

from microdl.exceptions import InvalidParameterError, NonFiniteError, ShapeError
from microdl.features.two_point import TwoPointFeatures, autocorrelation, max_cutoff, two_point_baseline


def brute_force(f: np.ndarray, periodic: bool, c_y: int, c_x: int) -> np.ndarray:
    """The definition: mean of f(x) f(x + r) over the pairs inside the image (or circular), float64."""
    h, w = f.shape
    out = np.zeros((2 * c_y + 1, 2 * c_x + 1))
    for ry in range(-c_y, c_y + 1):
        for rx in range(-c_x, c_x + 1):
            if periodic:
                val = np.mean(f * np.roll(f, (-ry, -rx), axis=(0, 1)))
            else:
                vals = [f[y, x] * f[y + ry, x + rx] for y in range(h) for x in range(w)
                        if 0 <= y + ry < h and 0 <= x + rx < w]
                val = np.mean(vals)
            out[ry + c_y, rx + c_x] = val
    return out


@pytest.mark.parametrize("shape", [(6, 8), (7, 5), (5, 9), (8, 8)])
@pytest.mark.parametrize("periodic", [False, True])
def test_matches_brute_force(shape, periodic):
    f = np.random.default_rng(sum(shape)).random((3, *shape))
    h, w = shape
    full = autocorrelation(f, periodic=periodic)
    if periodic:
        assert full.shape == (3, h, w)
        # r = 0 at (h//2, w//2); displacements -(h//2) .. h - h//2 - 1, as fftshift
        for k in range(3):
            ref = brute_force(f[k], True, h // 2, w // 2)[: h, : w]
            np.testing.assert_allclose(full[k], ref, atol=1e-5, rtol=1e-5)
    else:
        assert full.shape == (3, 2 * h - 1, 2 * w - 1)
        for k in range(3):
            np.testing.assert_allclose(full[k], brute_force(f[k], False, h - 1, w - 1), atol=1e-5, rtol=1e-5)
    c = max_cutoff(shape, periodic)
    win = autocorrelation(f, periodic=periodic, cutoff=c)
    assert win.shape == (3, 2 * c + 1, 2 * c + 1) and win.dtype == np.float32
    for k in range(3):
        np.testing.assert_allclose(win[k], brute_force(f[k], periodic, c, c), atol=1e-5, rtol=1e-5)


def test_zero_displacement_is_mean_square_and_symmetric():
    f = np.random.default_rng(1).normal(2.0, 1.0, (4, 13, 21))
    for periodic in (False, True):
        a = autocorrelation(f, periodic=periodic, cutoff=5)
        np.testing.assert_allclose(a[:, 5, 5], (f ** 2).mean(axis=(1, 2)), rtol=1e-6)
        np.testing.assert_allclose(a, a[:, ::-1, ::-1], rtol=1e-5)  # A(r) = A(-r)


def test_constant_field_gives_constant_correlation():
    f = np.full((2, 9, 14), 3.0)
    np.testing.assert_allclose(autocorrelation(f), 9.0, rtol=1e-6)  # every displacement, normalised by N(r)
    np.testing.assert_allclose(autocorrelation(f, periodic=True, cutoff=4), 9.0, rtol=1e-6)


def test_cutoff_shapes_limits_and_tensor_input():
    f = np.random.default_rng(2).random((2, 10, 16))
    assert autocorrelation(f, cutoff=0).shape == (2, 1, 1)
    assert autocorrelation(f, cutoff=9).shape == (2, 19, 19)  # non-periodic: up to min(h, w) - 1
    assert autocorrelation(f, periodic=True, cutoff=4).shape == (2, 9, 9)
    with pytest.raises(InvalidParameterError, match="cutoff must be <= 4"):
        autocorrelation(f, periodic=True, cutoff=5)
    with pytest.raises(InvalidParameterError, match="cutoff must be <= 9"):
        autocorrelation(f, cutoff=10)
    with pytest.raises(InvalidParameterError, match="cutoff"):
        autocorrelation(f, cutoff=-1)
    t = autocorrelation(torch.from_numpy(f), cutoff=3)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    np.testing.assert_allclose(t.numpy(), autocorrelation(f, cutoff=3))
    d = autocorrelation(f, cutoff=3, dtype=torch.float64)
    assert d.dtype == np.float64
    np.testing.assert_allclose(d[0], brute_force(f[0], False, 3, 3), rtol=1e-12)


def test_two_phase_periodic_batch_like_pymks_timing():
    x = (np.random.default_rng(3).random((50, 64, 64)) < 0.5).astype(np.float32)
    a = autocorrelation(x, periodic=True, cutoff=31)
    assert a.shape == (50, 63, 63)
    np.testing.assert_allclose(a[:, 31, 31], x.mean(axis=(1, 2)), rtol=1e-6)  # indicator: f^2 = f
    np.testing.assert_allclose(a[7, 28:35, 28:35], brute_force(x[7].astype(np.float64), True, 3, 3), atol=1e-6)


def test_pymks_definition_if_installed():
    pymks = pytest.importorskip("pymks")
    x = np.random.default_rng(4).random((3, 11, 14))
    for periodic in (True, False):
        ref = np.asarray(pymks.two_point_stats(x, x, periodic_boundary=periodic, cutoff=4))
        np.testing.assert_allclose(autocorrelation(x, periodic=periodic, cutoff=4), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("bad, err, match", [
    (np.full((2, 5, 5), np.nan), NonFiniteError, "finite"),
    (np.zeros((5, 5)), ShapeError, "3 dimensions"),
    (np.zeros((0, 5, 5)), ShapeError, "non-empty"),
    (np.zeros((2, 0, 5)), ShapeError, "non-empty"),
    (np.zeros((2, 5, 5), complex), InvalidParameterError, "real"),
    (torch.full((1, 4, 4), float("inf")), NonFiniteError, "finite"),
])
def test_bad_fields_raise_one_line(bad, err, match):
    with pytest.raises(err, match=match) as info:
        autocorrelation(bad)
    assert "\n" not in str(info.value)


def test_features_sizes_and_names():
    rng = np.random.default_rng(5)
    X = [rng.random((30, 90)), rng.random((25, 70)), rng.random((30, 90))]
    t = TwoPointFeatures(cutoff=4).fit(X)
    out = t.transform(X)
    assert out.shape == (3, 81) and out.dtype == np.float32
    np.testing.assert_allclose(out[1], autocorrelation(X[1][None], cutoff=4)[0].ravel(), rtol=1e-6)
    assert t.get_feature_names_out()[40] == "r_0_0"
    resized = TwoPointFeatures(cutoff=4, size=(20, 60)).fit_transform(X)
    assert resized.shape == (3, 81)
    with pytest.raises(ShapeError, match=r"X\[1\] of shape \(25, 70\) is too small"):
        TwoPointFeatures(cutoff=13, periodic=True).fit_transform(X)
    assert TwoPointFeatures(cutoff=13, periodic=True, size=(32, 96)).fit_transform(X).shape == (3, 729)
    assert clone(t).get_params() == {"cutoff": 4, "size": None, "periodic": False}


@pytest.mark.parametrize("X, kw, err, match", [
    ([np.full((10, 10), np.nan)], {}, NonFiniteError, "finite"),
    ([np.zeros((0, 10))], {}, ShapeError, "non-empty"),
    ([], {}, ShapeError, "at least one"),
    (np.zeros((4, 10)), {}, ShapeError, "sequence of 2D"),
    ([np.zeros((3, 4, 5))], {}, ShapeError, "2 dimensions"),
    ([np.zeros((10, 10))], {"cutoff": 2.5}, InvalidParameterError, "cutoff"),
    ([np.zeros((10, 10))], {"size": (0, 5)}, InvalidParameterError, "size"),
    ([np.zeros((10, 10))], {"size": (8, 8), "cutoff": 8}, InvalidParameterError, "cutoff must be <= 7"),
])
def test_features_bad_inputs(X, kw, err, match):
    with pytest.raises(err, match=match) as info:
        TwoPointFeatures(**kw).fit_transform(X)
    assert "\n" not in str(info.value)


def _stripes(n_per_class=20, seed=0):
    """Three classes of noisy stripe patterns of different spacings (periods 4, 8, 16 px), sizes vary."""
    rng = np.random.default_rng(seed)
    X, y = [], []
    for label, period in enumerate((4, 8, 16)):
        for _ in range(n_per_class):
            h, w = rng.integers(28, 40), rng.integers(70, 110)
            phase = rng.uniform(0, 2 * np.pi)
            cols = np.sin(2 * np.pi * np.arange(w) / period + phase)
            X.append((np.tile(cols, (h, 1)) + rng.normal(0, 0.7, (h, w))).astype(np.float32))
            y.append(label)
    return X, np.asarray(y)


def test_baseline_pipeline_separates_stripe_spacings():
    X, y = _stripes(20, seed=0)
    pipe = two_point_baseline(n_components=5, n_estimators=50, cutoff=10, random_state=0)
    assert [name for name, _ in pipe.steps] == ["two_point", "pca", "forest"]
    pipe.fit(X, y)
    X_test, y_test = _stripes(10, seed=1)
    pred = pipe.predict(X_test)
    assert pred.shape == (30,)
    assert (pred == y_test).mean() > 0.8  # chance: 1/3
    assert pipe.predict_proba(X_test).shape == (30, 3)
    with pytest.raises(InvalidParameterError, match="n_components"):
        two_point_baseline(n_components=0)


def test_float32_full_map_accurate_for_gray_images():
    """The mean is taken out before the FFT: corner displacements (one pair) stay accurate."""
    f = np.clip(np.random.default_rng(6).normal(128, 30, (2, 40, 120)), 0, 255)
    a = autocorrelation(f)
    ref = autocorrelation(f, dtype=torch.float64)
    np.testing.assert_allclose(a, ref, rtol=1e-5)
    np.testing.assert_allclose(ref[0, 0, 0], f[0, 0, 0] * f[0, -1, -1], rtol=1e-12)


def test_chunked_batches_give_the_same_numbers(monkeypatch):
    from microdl.features import two_point

    f = np.random.default_rng(7).random((9, 12, 20))
    whole = [autocorrelation(f, periodic=p, cutoff=c) for p, c in ((True, 5), (False, None), (False, 4))]
    monkeypatch.setattr(two_point, "_CHUNK_CPU", 2 * 24 * 40)  # two fields per batch
    for ref, (p, c) in zip(whole, ((True, 5), (False, None), (False, 4)), strict=True):
        np.testing.assert_allclose(autocorrelation(f, periodic=p, cutoff=c), ref, rtol=1e-6)
