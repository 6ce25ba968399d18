"""GND workflows: benchmark presets, whole-map prediction files."""

import json

import numpy as np
import pytest
import torch

from microdl.exceptions import UnknownNameError
from microdl.models import create_model
from microdl.models.gnd_io import export_gnd_model
from microdl.workflows.gnd_benchmark import PRESETS, _configs, get_preset
from microdl.workflows.gnd_predict import predict_map_files


def test_presets_are_a_registry_with_descriptions():
    assert PRESETS.names() == ["cpu", "paper", "smoke"]
    assert get_preset("SMOKE").max_epochs == 1 and PRESETS.metadata("cpu")["description"]
    with pytest.raises(UnknownNameError, match="unknown benchmark preset"):
        get_preset("gpu9000")
    configs = _configs(get_preset("smoke"))
    assert [(c["model"], c["reg"], c["ratio"]) for c in configs] == [
        ("zhang2019-gnd", "msle", 0.0), ("zhang2019-gnd", "msle", 0.5), ("zhang2019-gnd", "msle", 1.0),
        ("gnd-fcn7", "msle", 0.5), ("zhang2019-gnd-dropout-last", "msle", 0.5), ("gnd-anchored", "mape", 0.5)]
    anchored = configs[-1]["train_cfg"]
    assert anchored["stream_per_class"] == 40 and anchored["monitor"] == "val_mape_pct" and anchored["augment"]


def test_rows_select_trainings():
    from microdl.exceptions import InvalidParameterError
    from microdl.workflows.gnd_benchmark import with_rows

    smoke = get_preset("smoke")
    assert with_rows(smoke, "all") == smoke
    only = _configs(with_rows(smoke, "anchored"))
    assert [c["recipe"] for c in only] == ["anchored"]
    both = _configs(with_rows(smoke, "Table1, fcn7"))
    assert [c["recipe"] for c in both] == ["paper"] * 3 + ["fcn7"]
    for bad in ("", "anchored,resnet"):
        with pytest.raises(InvalidParameterError, match="comma-separated list"):
            with_rows(smoke, bad)


def test_smoke_benchmark_end_to_end(tmp_path):
    """Every row on one test set, a validation scale per row, intervals, both tables in results.md; reruns resume."""
    from microdl.workflows.gnd_benchmark import run_gnd_benchmark

    res = run_gnd_benchmark("smoke", tmp_path / "out", tmp_path / "work", progress=False, workers=1,
                            accelerator="cpu", devices=1)
    rows = {r["recipe"] if r["recipe"] != "paper" else f"paper{r['ratio']:g}": r for r in res["configs"]}
    assert set(rows) == {"paper0", "paper0.5", "paper1", "fcn7", "paper-dropout-last", "anchored"} and not res["failed_configs"]
    anch = rows["anchored"]
    assert anch["scale_in_weights"] and anch["scaled"] is None and anch["val_scale"] > 0
    assert anch["train_windows_seen"] == 40 * 5 * anch["epochs"]
    assert rows["paper0.5"]["scaled"]["scale"] == rows["paper0.5"]["val_scale"]
    assert rows["paper1"]["mape_rho_t"] is None and rows["paper1"]["n_accuracy"] is not None
    assert set(res["baselines"]) == {"isotonic", "gbdt-centre", "gbdt-centre-canonical", "gbdt-window"}
    iv = res["baselines"]["gbdt-window"]["intervals"]["mape_rho_t"]
    assert iv["low"] <= res["baselines"]["gbdt-window"]["scaled"]["mape_rho_t"] <= iv["high"]
    md = (tmp_path / "out" / "results.md").read_text()
    assert "## Table 1 layout" in md and "## Every predictor on the same test set" in md and "gbdt-window" in md
    again = run_gnd_benchmark("smoke", tmp_path / "out", tmp_path / "work", progress=False, workers=1,
                              accelerator="cpu", devices=1)
    assert [r["mape_rho_t"] for r in again["configs"]] == [r["mape_rho_t"] for r in res["configs"]]


def test_predict_map_files(tmp_path):
    torch.manual_seed(0)
    model = export_gnd_model(create_model("gnd-fcn7", width=8).eval(), tmp_path / "m.pt")
    np.save(tmp_path / "map.npy", np.random.default_rng(0).normal(size=(12, 9, 2)) * 1e15)
    res = predict_map_files(tmp_path / "map.npy", tmp_path / "out", model=model, device="cpu")
    assert res["shape"] == [12, 9] and np.load(res["files"]["rho_t"]).shape == (12, 9)
    assert (tmp_path / "out" / "prediction.png").stat().st_size > 1000
    json.dumps(res)


def test_predict_map_files_reports_ensemble_uncertainty(tmp_path):
    from microdl.models.gnd_ensemble import GNDEnsemble

    members = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        members.append(create_model("gnd-anchored", width=8, wide=4, head=8).eval())
    ens = GNDEnsemble.from_models(members).eval()
    ens.calibrate_error(torch.linspace(0, 1, 100), torch.linspace(0.1, 0.5, 100))
    path = export_gnd_model(ens, tmp_path / "ens.pt")
    np.save(tmp_path / "map.npy", np.random.default_rng(0).normal(size=(12, 9, 2)) * 1e15)
    res = predict_map_files(tmp_path / "map.npy", tmp_path / "out", model=path, device="cpu", border="valid")
    spread = np.load(res["files"]["rho_t_log_spread"])
    assert spread.shape == (12, 9) and np.isnan(spread[0, 0]) and (spread[3:-3, 3:-3] > 0).all()
    assert len(res["rho_t_mean_members_per_m2"]) == 2 and res["rho_t_mean_log_spread"] > 0
    assert res["log_spread_median"] == pytest.approx(float(np.nanmedian(spread)))
    typical = np.load(res["files"]["rho_t_typical_log_error"])
    assert np.isnan(typical[0, 0]) and (typical[3:-3, 3:-3] >= 0.1).all() and res["typical_log_error_median"] > 0
    json.dumps(res)
