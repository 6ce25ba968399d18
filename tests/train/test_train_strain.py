"""Training the strain-profile classifier: config, L2, profile accuracy, resume, export, prediction."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from microdl.data.strain_profiles import StrainProfiles
from microdl.exceptions import InvalidParameterError, UnknownNameError
from microdl.models.registry import load_model
from microdl.train.tasks.strain import StrainTask, StrainTrainConfig, fit_strain


def stripes(n_per_class: int, seed: int, shape=(16, 48)) -> StrainProfiles:
    """Profiles whose class is the spacing of bright vertical traces (learnable in a few epochs)."""
    rng = np.random.default_rng(seed)
    ims, labels, meta = [], [], []
    for k in range(3 * n_per_class):
        y = k % 3
        im = rng.integers(0, 40, shape).astype(np.uint8)
        im[:, rng.integers(0, 3)::(3 + 5 * y)] = 255
        ims.append(im)
        labels.append(y)
        meta.append({"file": f"p{seed}_{k}.png", "sample": f"s{seed}_{k}", "width_um": (0.125, 0.25)[k % 2],
                     "slip": "one", "reload_pct": 0.1})
    return StrainProfiles(tuple(ims), np.array(labels), tuple(meta))


def _cfg(**kw):
    base = dict(crop=16, batch_size=48, max_epochs=3, patience=10, seed=2, accelerator="cpu", devices=1,
                log_every_n_steps=1)
    base.update(kw)
    return StrainTrainConfig(**base)


@pytest.mark.parametrize("kw, err", [({"crop": 4}, InvalidParameterError), ({"l2": -1.0}, InvalidParameterError),
                                     ({"model": "resnet50"}, UnknownNameError), ({"lr": 0}, InvalidParameterError),
                                     ({"batch_size": 0}, InvalidParameterError)])
def test_config_refuses_bad_values(kw, err):
    with pytest.raises(err):
        _cfg(**kw)


def test_l2_comes_from_the_registry_and_matches_keras():
    assert _cfg().l2_factor == 0.0 and _cfg(model="yang2020-resnet-res4-l2").l2_factor == 1e-4
    assert _cfg(model="yang2020-resnet-res4-l2", l2=0.0).l2_factor == 0.0
    task = StrainTask("yang2020-resnet-res4", l2=1e-4)
    convs = [m.weight for m in task.model.modules() if isinstance(m, torch.nn.Conv2d)]
    expected = 1e-4 * sum(float((w.detach() ** 2).sum()) for w in convs)
    assert float(task.l2_penalty().detach()) == pytest.approx(expected, rel=1e-5)
    assert StrainTrainConfig.from_dict(_cfg().to_dict()) == _cfg()
    with pytest.raises(InvalidParameterError, match="unknown"):
        StrainTrainConfig.from_dict({"crops": 3})


def test_fit_learns_resumes_and_exports(tmp_path):
    train, val = stripes(12, 0), stripes(4, 1)
    run = tmp_path / "run"
    res = fit_strain(_cfg(max_epochs=4), train, val, run, mode="mean", progress=False)
    assert res["epochs_completed"] == 4 and res["train_crops"] == 36 * 24 and res["val_profiles"] == 12
    with open(run / "metrics.csv", newline="") as fh:
        acc = [float(r["val_acc"]) for r in csv.DictReader(fh) if r.get("val_acc")]
    assert len(acc) == 4 and max(acc) > 0.6  # chance is 1/3
    model, extra = load_model(run / "model.pt")
    assert extra["preprocessing"] == {"crop": 16, "antialias": False, "round_uint8": True, "mode": "mean"}
    assert extra["train_config"]["model"] == "yang2020-resnet"
    assert next(model.parameters()).is_contiguous()  # exported in the standard memory format

    again = fit_strain(_cfg(max_epochs=5), train, val, run, mode="mean", progress=False)
    assert again["resumed_from"] and again["epochs_completed"] == 5
    with pytest.raises(InvalidParameterError, match="crop"):
        fit_strain(_cfg(max_epochs=6, crop=24), train, val, run, progress=False)
