"""``microdl strain curves | explain`` on a tiny DDD export and a tiny trained model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from microdl.cli import main
from microdl.train.tasks.strain import StrainTrainConfig
from microdl.workflows.strain_train import train_strain

from _strain_helpers import tiny_ddd_export


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tiny_ddd_export(tmp_path_factory.mktemp("export"))
    run = tmp_path_factory.mktemp("run") / "run"
    cfg = StrainTrainConfig(crop=16, batch_size=48, max_epochs=1, accelerator="cpu", devices=1, num_threads=1)
    train_strain(folder, run, cfg, progress=False)
    return folder, run


def test_curves_from_neighbours(trained, tmp_path, capsys):
    folder, run = trained
    out = tmp_path / "curves"
    assert main(["strain", "curves", str(folder), "--model", str(run), "--side", "test", "--k", "1", "--k", "2",
                 "--out", str(out), "--no-progress", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    names = list(res["summary"])
    assert names[:2] == ["kNN k=1", "kNN k=2"] and len(names) == 4
    assert res["n_predicted"] == len(res["profiles"]) > 0
    assert res["modulus_pa"] == pytest.approx(80e9, rel=0.02)  # the median initial slope of the training curves
    oracle = res["summary"]["mean of same width, slip and true prior (oracle)"]
    assert oracle["rmse_mpa_median"] < 6  # yield 60/90/120 MPa by prior, noise 3 MPa
    assert {p.name for p in out.iterdir()} == {"curves.json", "curves.md", "curves.png", "curve_errors.png",
                                               "features_pca.png"}
    one = res["profiles"][0]["file"]
    assert main(["strain", "curves", str(folder), "--model", str(run), "--profile", one, "--k", "1",
                 "--no-progress", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_predicted"] == 1
    assert main(["strain", "curves", str(folder), "--model", str(run), "--profile", "nope.png"]) == 2
    assert "nope.png" in capsys.readouterr().err
    assert main(["strain", "curves", str(folder), "--model", str(run), "--k", "999"]) == 2
    assert "ks must be <=" in capsys.readouterr().err


def test_explain_writes_saliency_and_filters(trained, tmp_path, capsys):
    _, run = trained
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (16, 48), dtype=np.uint8)).save(tmp_path / "p.png")
    out = tmp_path / "explain"
    assert main(["strain", "explain", str(tmp_path / "p.png"), "--model", str(run), "--out", str(out),
                 "--steps", "3", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert {p.name for p in out.iterdir()} == {"saliency_p.png", "filters.png"}
    assert len(res["activations"]) == 32
    assert main(["strain", "explain", "--model", str(run), "--out", str(out), "--layer", "stages.9"]) == 2
    assert "stages.9" in capsys.readouterr().err
