import numpy as np
import pytest
from sklearn.base import clone
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.pipeline import make_pipeline

from microdl.exceptions import InvalidParameterError, NonFiniteError, ShapeError
from microdl.features.centre_pixel import CentrePixel, CentrePixelBaseline, centre_pixel


def _data(n=600, seed=0):
    rng = np.random.default_rng(seed)
    gnd = rng.uniform(-1e15, 1e15, (n, 7, 7, 3)).astype(np.float32)
    mag = 10 ** rng.uniform(13, 16, n)
    gnd[:, 3, 3, 2] = mag
    rho = 2.0 * mag ** 1.0 * np.exp(rng.normal(0, 0.05, n))  # monotone in |rho_GND(centre)|
    n_lines = np.clip(np.floor((np.log10(mag) - 13) / 0.6) + 1, 1, 5).astype(np.int64)
    return gnd, rho, n_lines


def test_centre_pixel_features():
    gnd, *_ = _data(5)
    np.testing.assert_array_equal(centre_pixel(gnd), gnd[:, 3, 3, :].astype(np.float64))
    t = CentrePixel(channels="magnitude", log10_magnitude=True).fit(gnd)
    np.testing.assert_allclose(t.transform(gnd)[:, 0], np.log10(gnd[:, 3, 3, 2] + 1e12),
                               rtol=1e-6)
    assert list(t.get_feature_names_out()) == ["log10_abs_rho_gnd"]


def test_isotonic_baseline_is_monotone_and_accurate():
    gnd, rho, n = _data()
    est = CentrePixelBaseline(method="isotonic").fit(gnd, rho, n)
    test_gnd, test_rho, test_n = _data(300, seed=1)
    rho_hat, n_hat = est.predict(test_gnd)
    order = np.argsort(test_gnd[:, 3, 3, 2])
    assert np.all(np.diff(rho_hat[order]) >= 0)  # monotone in |rho_GND(centre)|
    assert np.all(np.diff(n_hat[order]) >= 0)
    assert np.median(np.abs(rho_hat - test_rho) / test_rho) < 0.1
    assert (n_hat == test_n).mean() > 0.8


def test_gbdt_baseline_and_pipeline():
    gnd, rho, n = _data()
    est = CentrePixelBaseline(method="gbdt", max_iter=20, random_state=0).fit(gnd, rho, n)
    rho_hat, n_hat = est.predict(gnd)
    assert rho_hat.shape == (600,) and n_hat.dtype == np.int64
    assert np.median(np.abs(rho_hat - rho) / rho) < 0.3
    pipe = make_pipeline(CentrePixel(log10_magnitude=True),
                         HistGradientBoostingRegressor(max_iter=10))
    pipe.fit(gnd, np.log10(rho))
    assert pipe.predict(gnd).shape == (600,)


def test_sklearn_conventions():
    est = CentrePixelBaseline(method="gbdt", max_iter=10)
    assert clone(est).get_params()["max_iter"] == 10
    assert not hasattr(est, "rho_model_")
    gnd, rho, _ = _data(50)
    fitted = est.fit(gnd, rho)
    assert fitted is est
    rho_hat, n_hat = est.predict(gnd)
    assert n_hat is None
    with pytest.raises(InvalidParameterError, match="n_lines"):
        est.predict_n(gnd)


def test_invalid_inputs():
    gnd, rho, n = _data(20)
    with pytest.raises(InvalidParameterError, match="method"):
        CentrePixelBaseline(method="knn").fit(gnd, rho, n)
    with pytest.raises(ShapeError):
        CentrePixelBaseline().fit(gnd[:, :5], rho, n)
    with pytest.raises(ShapeError):
        CentrePixelBaseline().fit(gnd, rho[:3], n)
    bad = gnd.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(NonFiniteError):
        CentrePixelBaseline().fit(bad, rho, n)
    with pytest.raises(InvalidParameterError):
        CentrePixelBaseline().fit(gnd, -rho, n)
    with pytest.raises(InvalidParameterError):
        CentrePixelBaseline().fit(gnd, rho, n + 7)
    with pytest.raises(InvalidParameterError):
        CentrePixel(channels="screw").fit(gnd)
