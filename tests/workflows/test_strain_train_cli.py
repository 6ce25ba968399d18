"""``microdl strain train | evaluate`` and prediction with a trained model, on a tiny CSV data set."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from microdl.cli import main


@pytest.fixture
def csv_data(tmp_path):
    rng = np.random.default_rng(0)
    lines = ["file,prior_pct,sample,width_um,slip,reload_pct"]
    for k in range(36):
        y = k % 3
        for reload in (0.1, 1.0):
            im = rng.integers(0, 40, (16, 48)).astype(np.uint8)
            im[:, int(rng.integers(0, 3))::(3 + 5 * y)] = 255
            name = f"s{k}_r{reload:g}.png"
            Image.fromarray(im).save(tmp_path / name)
            lines.append(f"{name},{(0.1, 1, 10)[y]},s{k},{(0.125, 0.25)[k % 2]},one,{reload:g}")
    (tmp_path / "labels.csv").write_text("\n".join(lines) + "\n")
    return tmp_path / "labels.csv"


def test_train_evaluate_predict(csv_data, tmp_path, capsys):
    runs = []
    for seed in (0, 1):
        run = tmp_path / f"run{seed}"
        assert main(["strain", "train", str(csv_data), "--out", str(run), "--crop", "16", "--epochs", "2",
                     "--batch-size", "48", "--seed", str(seed), "--threads", "1", "--no-progress", "--json"]) == 0
        res = json.loads(capsys.readouterr().out)
        assert res["epochs_completed"] == 2 and res["counts"]["train"]["samples"] > res["counts"]["val"]["samples"]
        runs.append(run)

    out = tmp_path / "eval"
    args = ["strain", "evaluate", str(csv_data), "--side", "val", "--out", str(out), "--no-progress", "--json"]
    assert main(args + [a for r in runs for a in ("--model", str(r))]) == 0
    res = json.loads(capsys.readouterr().out)
    names = list(res["reports"])
    assert names == ["run0 (yang2020-resnet)", "run1 (yang2020-resnet)", "ensemble (mean softmax)",
                     "two-point + PCA + random forest"]
    n_val = res["counts"]["val"]["0.1"] + res["counts"]["val"]["1"] + res["counts"]["val"]["10"]
    assert all(r["n"] == n_val for r in res["reports"].values())
    assert {p.name for p in out.iterdir()} == {"results.json", "results.md", "accuracy.png"}
    assert "| reload % | slip | 0.125 um | 0.25 um |" in (out / "results.md").read_text()

    assert main(["strain", "baseline", str(csv_data), "--side", "val", "--json"]) == 0
    alone = json.loads(capsys.readouterr().out)["reports"]
    assert list(alone) == ["two-point + PCA + random forest"]
    assert alone["two-point + PCA + random forest"] == res["reports"]["two-point + PCA + random forest"]

    assert main(["strain", "evaluate", str(csv_data), "--side", "all", "--model", str(runs[0]), "--no-baseline",
                 "--no-progress", "--json"]) == 0
    every = json.loads(capsys.readouterr().out)
    assert every["counts"]["all"]["samples"] == 36 and next(iter(every["reports"].values()))["n"] == 72
    assert main(["strain", "evaluate", str(csv_data), "--side", "all", "--model", str(runs[0])]) == 2
    assert "--no-baseline" in capsys.readouterr().err

    assert main(["strain", "predict", "--model", str(runs[0]), str(tmp_path / "s0_r0.1.png"), "--json"]) == 0
    pred = json.loads(capsys.readouterr().out)
    assert pred["crop"] == 16 and len(pred["predictions"]) == 1  # the crop the model was trained with


def test_bad_data_is_one_clear_line(tmp_path, capsys):
    (tmp_path / "labels.csv").write_text("file,prior_pct\nmissing.png,1\n")
    code = main(["strain", "train", str(tmp_path / "labels.csv"), "--out", str(tmp_path / "r"), "--crop", "16"])
    err = capsys.readouterr().err
    assert code == 2 and "missing.png" in err and err.count("\n") == 1
    assert main(["strain", "evaluate", str(tmp_path), "--no-baseline"]) == 2
    assert "at least one model" in capsys.readouterr().err
    assert main(["strain", "evaluate", str(tmp_path), "--model", str(tmp_path / "m")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_simulation_folder_asks_for_an_export(tmp_path, capsys):
    (tmp_path / "grid").mkdir()
    (tmp_path / "grid" / "manifest.json").write_text("{}")
    assert main(["strain", "train", str(tmp_path / "grid"), "--out", str(tmp_path / "r")]) == 2
    assert "microdl ddd export" in capsys.readouterr().err
    (tmp_path / "x.txt").write_text("")
    assert main(["strain", "baseline", str(tmp_path / "x.txt")]) == 2
    assert "HDF5" in capsys.readouterr().err
