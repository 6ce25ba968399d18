"""Stress–strain curves from nearest neighbours in feature space (Yang et al. 2020, section 2.2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from microdl.analysis import plots
from microdl.analysis.strain_curves import (
    NeighbourCurves,
    baseline_curves,
    curve_errors,
    group_mean_curves,
    initial_modulus,
    neighbour_figure,
    offset_yield,
    plot_errors,
    profile_features,
    reload_curve,
    reload_curves,
)
from microdl.data.strain_crops import strain_crops
from microdl.exceptions import DataFileError, InvalidParameterError, NonFiniteError, ShapeError
from microdl.models.yang2020 import Yang2020ResNet

E = 80e9  # Pa
GRID = np.linspace(0.0, 0.01, 101)


def _bilinear(sigma_y: float, hardening: float = 0.0, modulus: float = E, x: np.ndarray = GRID) -> np.ndarray:
    """Elastic up to sigma_y (MPa), then slope ``hardening`` (Pa)."""
    eps_y = sigma_y * 1e6 / modulus
    return np.where(x <= eps_y, modulus * x, sigma_y * 1e6 + hardening * (x - eps_y)) / 1e6


def _sim(key: str, reload_to: float = 0.01, step: float = 5e-5, *, unload: bool = True) -> dict[str, np.ndarray]:
    """A load / unload / reload record like curves.npz; reload stress = E * reload strain (elastic)."""
    n_load = 5
    rs = np.arange(1, int(round(reload_to / step)) + 1) * step
    stage = np.r_[np.zeros(n_load), np.ones(3 if unload else 0), np.full(len(rs), 2)].astype(np.int8)
    reload_strain = np.r_[np.zeros(n_load + (3 if unload else 0)), rs]
    stress = np.r_[np.linspace(1e7, 5e7, n_load), [3e7, 1e7, 0.0][: 3 if unload else 0], E * rs]
    strain = np.r_[np.linspace(1e-4, 5e-4, n_load), [4e-4, 3e-4, 2e-4][: 3 if unload else 0], 2e-4 + rs]
    return {f"{key}/stage": stage, f"{key}/reload_strain": reload_strain.astype(np.float32),
            f"{key}/stress_pa": stress.astype(np.float32), f"{key}/strain": strain.astype(np.float32)}


def test_reload_curve_interpolates_the_reload_from_the_unloaded_point():
    curves = {**_sim("a"), **_sim("b", step=1e-4)}
    grid, s = reload_curve(curves, "a")
    np.testing.assert_allclose(grid, GRID)
    np.testing.assert_allclose(s, E * GRID / 1e6, rtol=1e-5, atol=1e-3)  # starts at the unloaded stress 0
    grid2, both = reload_curves(curves, ["a", "b"], max_strain=0.005, n_points=11)
    assert both.shape == (2, 11) and grid2[-1] == pytest.approx(0.005)
    np.testing.assert_allclose(both[0], both[1], rtol=1e-5)


def test_reload_curve_errors_name_the_key():
    curves = {**_sim("short", reload_to=0.005), **_sim("bare", unload=False)}
    with pytest.raises(DataFileError, match="'missing'"):
        reload_curve(curves, "missing")
    with pytest.raises(DataFileError, match="'short'.*max_strain"):
        reload_curve(curves, "short")
    grid, s = reload_curve(curves, "short", max_strain=0.005)  # enough for a shorter grid
    assert s[-1] == pytest.approx(400.0, rel=1e-5)
    with pytest.raises(DataFileError, match="'bare'"):  # starts at 5e-5 with no unloading point
        reload_curve(curves, "bare")
    slack = _sim("slack", reload_to=0.01)
    slack["slack/reload_strain"][-1] = 0.01 - 5e-7
    reload_curve(slack, "slack")  # within the 1e-6 slack
    with pytest.raises(InvalidParameterError):
        reload_curve(curves, "short", n_points=1)


def test_neighbours_are_found_exactly_and_prediction_is_their_mean():
    feats = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [10.0, 0.0]])
    curves = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0], [100.0, 100.0]])
    nc = NeighbourCurves(k=2).fit(feats, curves)
    dist, idx = nc.kneighbors(np.array([[0.4, 0.0], [9.0, 0.0]]), k=3)
    np.testing.assert_array_equal(idx, [[0, 1, 2], [3, 2, 1]])
    np.testing.assert_allclose(dist, [[0.4, 0.6, 2.6], [1.0, 6.0, 8.0]])
    np.testing.assert_allclose(nc.predict(np.array([[0.4, 0.0]])), [[1.0, 2.0]])
    np.testing.assert_allclose(nc.predict(np.array([[0.4, 0.0]]), k=3), [[2.0, 3.0]])
    np.testing.assert_allclose(nc.predict(feats, k=1), curves)  # each training profile is its own neighbour
    assert clone(nc).get_params() == {"k": 2, "metric": "euclidean"}
    with pytest.raises(InvalidParameterError, match="k must"):
        nc.predict(feats, k=5)
    with pytest.raises(ShapeError):
        nc.predict(np.zeros((1, 3)))
    with pytest.raises(NotFittedError):
        NeighbourCurves().predict(feats)
    with pytest.raises(ShapeError):
        NeighbourCurves(k=1).fit(feats, curves[:3])
    with pytest.raises(NonFiniteError):
        NeighbourCurves(k=1).fit(np.array([[np.nan]]), np.array([[1.0]]))


def test_baselines_average_the_group_and_leave_missing_groups_nan():
    train = np.array([[1.0, 1.0], [3.0, 3.0], [10.0, 10.0], [20.0, 20.0]])
    out = baseline_curves(train, ["a", "a", "a", "b"], [0, 0, 1, 1], ["a", "b", "c"], [1, 0, 0])
    np.testing.assert_allclose(out["subset"][:2], [[14 / 3, 14 / 3], [20.0, 20.0]])
    assert np.isnan(out["subset"][2]).all()
    np.testing.assert_allclose(out["subset_label"][0], [10.0, 10.0])
    assert np.isnan(out["subset_label"][1:]).all()  # ("b", 0) and ("c", 0) never trained
    assert group_mean_curves(train, [0, 0, 1, 1], []).shape == (0, 2)
    with pytest.raises(ShapeError):
        baseline_curves(train, ["a"] * 4, [0] * 3, ["a"], [0])


def test_rmse_of_a_constant_offset_is_the_offset():
    true = np.stack([_bilinear(300.0), _bilinear(150.0, 5e9)])
    err = curve_errors(true, true + 7.0, GRID)
    np.testing.assert_allclose(err["rmse_mpa"], 7.0)
    np.testing.assert_allclose(err["yield_error_mpa"], 7.0)  # the offset line goes through each curve's start
    assert err["summary"]["rmse_mpa_median"] == pytest.approx(7.0)
    window = np.where(GRID >= 0.005, 2.0, 0.0)
    assert curve_errors(true, true + window, GRID, min_strain=0.005)["summary"]["rmse_mpa_mean"] == pytest.approx(2.0)


@pytest.mark.parametrize("hardening", [0.0, 2e9, 10e9])
def test_offset_yield_of_a_bilinear_curve(hardening):
    sigma_y = 123.4
    expected = sigma_y + hardening * 0.002 / (1 - hardening / E) / 1e6
    curve = _bilinear(sigma_y, hardening)
    assert offset_yield(GRID, curve, E) == pytest.approx(expected, rel=1e-9)
    assert initial_modulus(GRID, curve) == pytest.approx(E)
    err = curve_errors(curve[None], curve[None], GRID)
    assert err["yield_true_mpa"][0] == pytest.approx(expected) and err["modulus_pa"][0] == pytest.approx(E)


def test_yields_never_reached_are_counted_not_faked():
    elastic = E * GRID / 1e6  # no plasticity up to 1 %
    plastic = _bilinear(200.0)
    true = np.stack([elastic, plastic, plastic])
    pred = np.stack([plastic, elastic, np.full(101, np.nan)])
    err = curve_errors(true, pred, GRID, modulus_pa=E)
    s = err["summary"]
    assert np.isnan(err["yield_true_mpa"][0]) and np.isnan(err["yield_pred_mpa"][1])
    assert s["n_yield_true_missing"] == 1 and s["n_yield_pred_missing"] == 1 and s["n_pred_missing"] == 1
    assert s["n_yield_compared"] == 0 and s["yield_abs_error_mpa_median"] is None
    assert np.isnan(err["rmse_mpa"][2]) and s["rmse_mpa_mean"] == pytest.approx(err["rmse_mpa"][:2].mean())
    flat = np.zeros(101)  # no positive initial slope: no modulus, no yield
    assert np.isnan(initial_modulus(GRID, flat)) and np.isnan(offset_yield(GRID, flat, float("nan")))
    with pytest.raises(ShapeError):
        curve_errors(true, pred[:2], GRID)
    with pytest.raises(ShapeError):
        curve_errors(true, pred, GRID, modulus_pa=[E, E])


def test_profile_features_concatenate_the_crop_features():
    model = Yang2020ResNet(widths=(4, 8), modules_per_stage=1, blocks_per_module=1, stem_width=4)
    rng = np.random.default_rng(0)
    crops = torch.stack([strain_crops(rng.random((20, 60)), 16) for _ in range(3)])  # (3, 24, 1, 16, 16)
    model.train()
    f = profile_features(model, crops, batch_profiles=2)
    assert f.shape == (3, 24 * 8) and f.dtype == np.float32
    assert model.training  # mode restored
    with torch.no_grad():
        expected = model.eval().features(crops[1]).numpy().reshape(-1)
    np.testing.assert_allclose(f[1], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(profile_features(model, list(crops), device="cpu"), f, rtol=1e-5, atol=1e-6)
    with pytest.raises(ShapeError):
        profile_features(model, [crops[0], crops[1, :12]])
    with pytest.raises(InvalidParameterError):
        profile_features(model, [])


def test_figures_draw_every_panel():
    true = np.stack([_bilinear(300.0), _bilinear(100.0)])
    preds = {k: true + k for k in (1, 5, 10)}
    fig, axes = neighbour_figure(GRID, true, preds, titles=["2 µm, 10 %", "0.125 µm, 0.1 %"])
    assert axes.shape == (2, 3) and len(axes[1, 2].get_lines()) == 2
    _, ax = plots.figure()
    plot_errors(ax, {"k = 1": [1.0, 2.0, np.nan], "subset": [3.0]})
    assert [t.get_text() for t in ax.get_xticklabels()] == ["k = 1\n(n=2)", "subset\n(n=1)"]
    with pytest.raises(ShapeError):
        neighbour_figure(GRID, true, {1: true[:1]})
