"""The gnd commands end to end on tiny inputs (no shipped model needed)."""

import json

import h5py
import numpy as np
import pytest
import torch

from microdl.cli import main
from microdl.models import create_model
from microdl.models.gnd_io import export_gnd_model


@pytest.fixture
def tiny_model(tmp_path):
    torch.manual_seed(0)
    model = create_model("gnd-fcn7", width=8).eval()
    return export_gnd_model(model, tmp_path / "model.pt")


def test_generate_json_and_file(tmp_path, capsys):
    out = tmp_path / "X.h5"
    assert main(["gnd", "generate", "--per-class", "20", "--seed", "0", "--out", str(out), "--json",
                 "--no-progress"]) == 0
    res = json.loads(capsys.readouterr().out)
    for key in ("n_windows", "pearson_n_rho_t", "rho_t_mean_per_m2", "windows_per_second"):
        assert key in res
    assert res["n_windows"] == 100
    with h5py.File(out) as f:
        assert f["gnd"].shape == (100, 7, 7, 3)
        assert (f["rho_t"][()] >= f["gnd"][:, 3, 3, 2] * (1 - 1e-5)).all()
    assert main(["data", "list", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["entries"][0]["id"] == res["id"]


def test_generate_self_avoiding_and_train_on_a_stream(tmp_path, capsys):
    val = tmp_path / "val.h5"
    assert main(["gnd", "generate", "--per-class", "10", "--seed", "1", "--out", str(val), "--walk", "self-avoiding",
                 "--json", "--no-progress"]) == 0
    assert json.loads(capsys.readouterr().out)["n_windows"] == 50
    with h5py.File(val) as f:
        assert json.loads(f.attrs["config"])["walk"] == "self-avoiding"
    args = ["gnd", "train", "--val", str(val), "--out", str(tmp_path / "run"), "--model", "gnd-anchored",
            "--stream-per-class", "8", "--augment", "--reg", "mape", "--monitor", "val_mape_pct", "--epochs", "1",
            "--accelerator", "cpu", "--devices", "1", "--json", "--no-progress"]
    assert main(args) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["epochs_completed"] == 1 and res["train_fresh_each_epoch"] is True
    assert main(["gnd", "train", "--val", str(val), "--out", str(tmp_path / "r2"), "--no-progress"]) == 2


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_predict_writes_maps_and_figure(tmp_path, capsys, tiny_model, suffix):
    rng = np.random.default_rng(0)
    m = rng.normal(size=(20, 30, 2)) * 1e15
    path = tmp_path / f"map{suffix}"
    if suffix == ".npy":
        np.save(path, m)
    else:
        np.savetxt(path, m.reshape(20, 60), delimiter=",")
    out = tmp_path / "pred"
    assert main(["gnd", "predict", str(path), "--out", str(out), "--model", str(tiny_model), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["shape"] == [20, 30]
    assert np.load(out / "rho_t.npy").shape == (20, 30)
    assert np.load(out / "n_lines.npy").shape == (20, 30)
    assert (out / "prediction.png").stat().st_size > 1000


def test_evaluate_reports_metrics(tmp_path, capsys, tiny_model):
    data = tmp_path / "t.h5"
    assert main(["gnd", "generate", "--per-class", "10", "--out", str(data), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["gnd", "evaluate", "--data", str(data), "--model", str(tiny_model), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert 0 <= res["n_accuracy"] <= 1 and res["mape_rho_t"] >= 0
    assert np.asarray(res["confusion"]).sum() == 50


def test_unknown_model_file_is_a_clear_error(tmp_path, capsys):
    np.save(tmp_path / "m.npy", np.zeros((10, 10, 2)))
    code = main(["gnd", "predict", str(tmp_path / "m.npy"), "--out", str(tmp_path / "o"),
                 "--model", str(tmp_path / "nope.pt")])
    assert code == 2 and "model not found" in capsys.readouterr().err


def test_train_records_run_and_resumes(tmp_path, capsys):
    for split, seed in (("train", 0), ("val", 1)):
        assert main(["gnd", "generate", "--per-class", "8", "--seed", str(seed), "--no-progress",
                     "--out", str(tmp_path / f"{split}.h5")]) == 0
    args = ["gnd", "train", "--train", str(tmp_path / "train.h5"), "--val", str(tmp_path / "val.h5"),
            "--out", str(tmp_path / "run"), "--model", "gnd-fcn7", "--epochs", "1", "--progress",
            "--accelerator", "cpu", "--json"]
    capsys.readouterr()
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)  # progress bars on: stdout is still one JSON object
    assert first["epochs_completed"] == 1 and (tmp_path / "run" / "model.pt").is_file()
    assert main(["runs", "list", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)["entries"]
    assert [e["status"] for e in entries if e["id"] == first["id"]] == ["done"]
    # rerun with more epochs: resumes from the checkpoint, same catalog entry
    assert main(args[:-4] + ["--epochs", "2", "--progress", "--accelerator", "cpu", "--json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["resumed_from"] and second["epochs_completed"] == 2 and second["id"] == first["id"]
