import numpy as np
import pytest

from microdl.analysis.gnd_stats import bootstrap_intervals, mape_scale, pearson_log
from microdl.exceptions import InvalidParameterError, ShapeError


def _brute(t, p):
    ks = np.linspace(0.2, 3.0, 28001)
    return ks[np.argmin([np.mean(np.abs(k * p - t) / t) for k in ks])]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mape_scale_is_the_minimiser(seed):
    rng = np.random.default_rng(seed)
    t = rng.lognormal(0, 0.5, 301)
    p = t * rng.lognormal(-0.2, 0.4, 301)
    k = mape_scale(t, p)
    assert k == pytest.approx(_brute(t, p), abs=2e-4)
    assert np.mean(np.abs(k * p - t) / t) <= np.mean(np.abs(p - t) / t)


def test_mape_scale_with_non_positive_predictions():
    rng = np.random.default_rng(7)
    t = rng.lognormal(0, 0.5, 200)
    p = t * rng.lognormal(0, 0.4, 200)
    p[:15] = -0.3 * t[:15]
    p[15:20] = 0.0
    assert mape_scale(t, p) == pytest.approx(_brute(t, p), abs=2e-4)


def test_pearson_and_bootstrap():
    rng = np.random.default_rng(3)
    t = rng.lognormal(0, 1, 2000)
    p = t * rng.lognormal(0, 0.3, 2000)
    n = rng.integers(1, 6, 2000)
    assert pearson_log(t, t) == pytest.approx(1.0)
    out = bootstrap_intervals(t, p, n, n, n_boot=200, seed=0)
    m = out["mape_rho_t"]
    assert m["low"] < m["value"] < m["high"]
    assert m["value"] == pytest.approx(100 * np.mean(np.abs(p - t) / t))
    assert out["n_accuracy"]["value"] == 1.0
    assert set(out) >= {"median_ape_rho_t", "pearson_log_rho_t", "mape_rho_t_n1", "mape_rho_t_n5"}
    # a test set 4x larger halves the interval, roughly
    big = bootstrap_intervals(np.tile(t, 4), np.tile(p, 4), n_boot=200, seed=0)["mape_rho_t"]
    assert (big["high"] - big["low"]) < 0.7 * (m["high"] - m["low"])


def test_errors():
    with pytest.raises(ShapeError):
        mape_scale([1.0, 2.0], [1.0])
    with pytest.raises(InvalidParameterError):
        mape_scale([1.0, -2.0], [1.0, 1.0])
    with pytest.raises(InvalidParameterError):
        bootstrap_intervals([1.0], [1.0], n_boot=5)
