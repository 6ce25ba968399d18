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
    keys = [(m, r, q) for m, r, q in _configs(get_preset("smoke"))]
    assert keys == [("zhang2019-gnd", "msle", 0.0), ("zhang2019-gnd", "msle", 0.5),
                    ("zhang2019-gnd", "msle", 1.0), ("gnd-fcn7", "msle", 0.5)]


def test_predict_map_files(tmp_path):
    torch.manual_seed(0)
    model = export_gnd_model(create_model("gnd-fcn7", width=8).eval(), tmp_path / "m.pt")
    np.save(tmp_path / "map.npy", np.random.default_rng(0).normal(size=(12, 9, 2)) * 1e15)
    res = predict_map_files(tmp_path / "map.npy", tmp_path / "out", model=model, device="cpu")
    assert res["shape"] == [12, 9] and np.load(res["files"]["rho_t"]).shape == (12, 9)
    assert (tmp_path / "out" / "prediction.png").stat().st_size > 1000
    json.dumps(res)
