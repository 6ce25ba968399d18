import numpy as np
import pytest
from sklearn.base import clone

from microdl.data.gnd import generate_windows
from microdl.data.gnd_symmetry import apply_symmetry
from microdl.exceptions import InvalidParameterError
from microdl.features.gnd_gbdt import CanonicalWindow, GBDTBaseline


@pytest.fixture(scope="module")
def windows():
    return generate_windows(300, rng=5), generate_windows(100, rng=6)


def test_canonical_features_ignore_line_reversal(windows):
    w, _ = windows
    for region, k in (("centre", 3), ("window", 147)):
        tf = CanonicalWindow(region).fit(w.gnd)
        a = tf.transform(w.gnd)
        assert a.shape == (len(w), k)
        np.testing.assert_allclose(tf.transform(apply_symmetry(w.gnd, 1)), a)


@pytest.mark.parametrize("region", ["centre", "window"])
def test_gbdt_both_losses_learn(windows, region):
    (tr, te) = windows
    mape = {}
    for loss in ("mape", "log"):
        est = GBDTBaseline(region=region, loss=loss, max_iter=60).fit(tr.gnd, tr.rho_t, tr.n_lines)
        rho, n = est.predict(te.gnd)
        assert rho.shape == (len(te),) and (rho > 0).all()
        assert set(np.unique(n)) <= {1, 2, 3, 4, 5}
        assert est.predict_proba(te.gnd).sum(1) == pytest.approx(np.ones(len(te)))
        mape[loss] = 100 * np.mean(np.abs(rho - te.rho_t) / te.rho_t)
    # a constant predictor (the best one for MAPE) is far worse than either
    const = 100 * np.mean(np.abs(np.median(tr.rho_t) - te.rho_t) / te.rho_t)
    assert max(mape.values()) < const


def test_errors_and_clone(windows):
    tr, _ = windows
    with pytest.raises(InvalidParameterError):
        GBDTBaseline(loss="l2").fit(tr.gnd, tr.rho_t)
    with pytest.raises(InvalidParameterError):
        CanonicalWindow("corner").fit(tr.gnd)
    est = GBDTBaseline(region="centre", max_iter=5).fit(tr.gnd, tr.rho_t)
    with pytest.raises(InvalidParameterError):
        est.predict_n(tr.gnd)
    assert clone(est).get_params()["region"] == "centre"
