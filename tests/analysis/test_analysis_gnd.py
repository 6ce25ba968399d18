import numpy as np
import pytest

from microdl.analysis.gnd import (
    evaluate_gnd,
    gnd_metrics,
    mape_percent,
    predict_map,
    predict_windows,
)
from microdl.exceptions import InvalidParameterError, NonFiniteError, ShapeError


def _map(h, w, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(h, w, 2)) * 5e14).astype(np.float32)


def _windows_of(gnd_map, pad_mode=None):
    full = np.concatenate([gnd_map, np.hypot(gnd_map[..., 0], gnd_map[..., 1])[..., None]], 2)
    if pad_mode is not None:
        full = np.pad(full, ((3, 3), (3, 3), (0, 0)), mode=pad_mode)
    return full


def test_mape_by_hand():
    assert mape_percent([1e15, 2e15], [1.5e15, 1e15]) == pytest.approx(50.0)
    assert mape_percent([4.0], [4.0]) == 0.0
    with pytest.raises(InvalidParameterError):
        mape_percent([0.0, 1.0], [1.0, 1.0])
    with pytest.raises(ShapeError):
        mape_percent([1.0, 2.0], [1.0])
    with pytest.raises(NonFiniteError):
        mape_percent([1.0], [np.nan])


def test_metrics_confusion_and_per_class():
    rho = np.array([1.0, 2.0, 4.0, 8.0])
    pred = np.array([1.0, 3.0, 4.0, 4.0])
    n_true = np.array([1, 1, 2, 5])
    n_pred = np.array([1, 2, 2, 4])
    m = gnd_metrics(rho, pred, n_true, n_pred)
    assert m["n_accuracy"] == pytest.approx(0.5)
    conf = np.array(m["confusion"])
    assert conf.shape == (5, 5) and conf.sum() == 4
    assert conf[0, 0] == 1 and conf[0, 1] == 1 and conf[1, 1] == 1 and conf[4, 3] == 1
    assert m["mape_rho_t_by_n"]["1"] == pytest.approx(25.0)
    assert m["mape_rho_t_by_n"]["5"] == pytest.approx(50.0)
    assert m["mape_rho_t_by_n"]["3"] is None
    assert m["mape_rho_t"] == pytest.approx(100 * (0 + 0.5 + 0 + 0.5) / 4)


def test_predict_windows_shapes(gnd_model):
    gnd = _windows_of(_map(10, 10))[None, :7, :7, :].repeat(5, 0)
    pred = predict_windows(gnd_model, gnd, batch_size=2)
    assert pred.rho_t.shape == (5,) and pred.proba.shape == (5, 5)
    assert set(pred.n_lines.tolist()) <= {1, 2, 3, 4, 5}
    np.testing.assert_allclose(pred.proba.sum(1), 1.0, rtol=1e-5)
    assert gnd_model.training is False


@pytest.mark.parametrize("border", ["reflect", "edge", "zero", "valid"])
def test_predict_map_shape(gnd_model, border):
    out = predict_map(gnd_model, _map(12, 9), border=border, batch_size=20)
    assert out.rho_t.shape == (12, 9) and out.n_lines.shape == (12, 9)
    interior = out.rho_t[3:-3, 3:-3]
    assert np.isfinite(interior).all()
    if border == "valid":
        assert np.isnan(out.rho_t[:3]).all() and (out.n_lines[:, -3:] == 0).all()
    else:
        assert np.isfinite(out.rho_t).all() and (out.n_lines >= 1).all()


@pytest.mark.parametrize("border, pad", [("reflect", "reflect"), ("edge", "edge"),
                                         ("zero", "constant")])
def test_predict_map_matches_windows(gnd_model, border, pad):
    m = _map(11, 13, seed=1)
    out = predict_map(gnd_model, m, border=border, batch_size=30)
    padded = _windows_of(m, pad_mode=pad)
    # every pixel, including the border ones, equals predict_windows on its window
    idx = [(0, 0), (5, 6), (10, 12), (3, 9), (1, 11)]
    wins = np.stack([padded[i:i + 7, j:j + 7] for i, j in idx])
    ref = predict_windows(gnd_model, wins)
    got = np.array([out.rho_t[i, j] for i, j in idx])
    np.testing.assert_allclose(got, ref.rho_t, rtol=1e-4, atol=1e10)  # float32 batching noise
    np.testing.assert_array_equal([out.n_lines[i, j] for i, j in idx], ref.n_lines)
    # the model is input-sensitive, so the border policy matters
    assert np.std(np.log(np.abs(out.rho_t))) > 1e-2
    other = "zero" if border != "zero" else "edge"
    alt = predict_map(gnd_model, m, border=other, batch_size=30)
    assert not np.allclose(alt.rho_t[0], out.rho_t[0], rtol=1e-3)
    np.testing.assert_allclose(alt.rho_t[3:-3, 3:-3], out.rho_t[3:-3, 3:-3], rtol=1e-4, atol=1e10)


def test_predict_map_translation_consistency(gnd_model):
    m = _map(20, 20, seed=2)
    out = predict_map(gnd_model, m, border="valid")
    shifted = predict_map(gnd_model, m[2:, 3:], border="valid")
    # the same interior pixel gives the same prediction after cropping the map
    np.testing.assert_allclose(shifted.rho_t[5:12, 4:10], out.rho_t[7:14, 7:13], rtol=1e-4,
                               atol=1e10)


def test_predict_map_errors(gnd_model):
    with pytest.raises(ShapeError):
        predict_map(gnd_model, np.zeros((10, 10, 3)))
    bad = _map(8, 8)
    bad[2, 2, 0] = np.inf
    with pytest.raises(NonFiniteError):
        predict_map(gnd_model, bad)
    with pytest.raises(InvalidParameterError):
        predict_map(gnd_model, _map(8, 8), border="wrap")
    with pytest.raises(ShapeError):
        predict_map(gnd_model, _map(5, 8), border="valid")
    with pytest.raises(ShapeError):
        predict_windows(gnd_model, np.zeros((3, 7, 7, 2)))


def test_evaluate_gnd_with_figures(gnd_model, tmp_path):
    rng = np.random.default_rng(0)
    gnd = _windows_of(_map(7, 7))[None].repeat(30, 0) * rng.uniform(0.5, 2, (30, 1, 1, 1))
    rho = rng.uniform(1e14, 1e16, 30)
    n = rng.integers(1, 6, 30)
    res = evaluate_gnd(gnd_model, gnd.astype(np.float32), rho, n, batch_size=8,
                       figures_dir=tmp_path)
    assert 0 <= res["n_accuracy"] <= 1 and res["mape_rho_t"] >= 0
    assert np.array(res["confusion"]).sum() == 30
    for p in res["figures"].values():
        assert p.endswith(".png") and (tmp_path / p.split("/")[-1]).stat().st_size > 1000
