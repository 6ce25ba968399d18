"""``microdl strain import-keras | predict``: a round trip on a tiny model and the bad inputs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from microdl.cli import main
from microdl.models import create_model
from microdl.models.registry import save_model

from _strain_helpers import tiny_keras_file


@pytest.fixture
def tiny_model_dir(tmp_path):
    torch.manual_seed(0)
    folder = tmp_path / "m"
    folder.mkdir()
    save_model(create_model("yang2020-resnet").eval(), folder / "model.pt")
    return folder


def _one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("microdl: error:"), err
    return err[0]


def test_predict_json(tiny_model_dir, tmp_path, capsys):
    from PIL import Image

    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (20, 60), dtype=np.uint8)).save(tmp_path / "a.png")
    Image.fromarray(rng.integers(0, 65535, (20, 60), dtype=np.uint16)).save(tmp_path / "b.tif")
    np.save(tmp_path / "c.npy", rng.random((60, 20)))
    files = [str(tmp_path / n) for n in ("a.png", "b.tif", "c.npy")]
    assert main(["strain", "predict", "--model", str(tiny_model_dir), *files, "--crop", "16", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_crops"] == 24 and len(out["predictions"]) == 3
    for row in out["predictions"]:
        assert abs(sum(row["probabilities"].values()) - 1) < 1e-5
        assert row["prior_strain_percent"] in (0.1, 1.0, 10.0)


def test_import_keras_and_predict_published(shared_data, tmp_path, capsys):
    folder = shared_data / "ddd-strain-profiles"
    if not (folder / "published_weights_keras.hdf5").is_file():
        pytest.skip(f"published weights not available in {folder}")
    out = tmp_path / "published"
    assert main(["strain", "import-keras", str(folder / "published_weights_keras.hdf5"), "--out", str(out),
                 "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["parameters"] == 258_403 and len(res["source_sha256"]) == 64
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["architecture"] == "yang2020-resnet"
    png = sorted(folder.glob("*0.10.png"))[0]
    assert main(["strain", "predict", "--model", str(out), str(png), "--crop", "112", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["predictions"]) == 1


def test_bad_inputs_one_line(tiny_model_dir, tmp_path, capsys):
    np.save(tmp_path / "nan.npy", np.full((10, 30), np.nan))
    np.save(tmp_path / "empty.npy", np.zeros((0, 30)))
    (tmp_path / "empty.png").write_bytes(b"")
    for bad, needle in (("nan.npy", "NaN"), ("empty.npy", "empty"), ("empty.png", "empty")):
        code = main(["strain", "predict", "--model", str(tiny_model_dir), str(tmp_path / bad), "--crop", "16"])
        assert code == 2
        assert needle in _one_error_line(capsys)
    other = tiny_keras_file(tmp_path / "other.h5")
    assert main(["strain", "import-keras", str(other), "--out", str(tmp_path / "x")]) == 2
    line = _one_error_line(capsys)
    assert "conv2d_1" in line and "not a yang2020-resnet" in line
    assert not (tmp_path / "x").exists()
    (tmp_path / "w.h5").write_bytes(b"not hdf5")
    assert main(["strain", "import-keras", str(tmp_path / "w.h5"), "--out", str(tmp_path / "y")]) == 2
    _one_error_line(capsys)


def test_library_error_names_first_misfit(tmp_path):
    from microdl.exceptions import DataFileError
    from microdl.io.keras_h5 import read_keras_h5
    from microdl.models.yang2020_keras import load_keras_yang2020

    with pytest.raises(DataFileError, match="conv2d_1"):
        load_keras_yang2020(read_keras_h5(tiny_keras_file(tmp_path / "other.h5")))
