"""Embedding training on a tiny synthetic set: every objective learns, resumes and exports."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from microdl.data.micrographs import MicrographSet
from microdl.exceptions import InvalidParameterError, UnknownNameError
from microdl.models.registry import load_model
from microdl.train.tasks.micrograph import PRESETS, MicrographTrainConfig, fit_micrograph, preset_config


def _textures(n_per_class: int = 8, size: int = 72, seed: int = 0) -> MicrographSet:
    """Lamellae (class 0) against blobs (class 1), random phase and orientation."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    images, labels = [], []
    for i in range(2 * n_per_class):
        c = i % 2
        if c == 0:
            a = rng.uniform(0, np.pi)
            img = 0.5 + 0.4 * np.sin((np.cos(a) * xx + np.sin(a) * yy) / 1.5 + rng.uniform(0, 6))
        else:
            img = np.full((size, size), 0.2, np.float32)
            for _ in range(25):
                cy, cx = rng.uniform(0, size, 2)
                img[(yy - cy) ** 2 + (xx - cx) ** 2 < 9] = 0.9
        images.append((img + 0.05 * rng.standard_normal((size, size))).astype(np.float32))
        labels.append(c)
    files = tuple(f"m{i}.png" for i in range(len(images)))
    return MicrographSet(images, files, np.array(labels), ("lamellae", "blobs"))


def _cfg(objective: str, **kw) -> MicrographTrainConfig:
    base = dict(objective=objective, model="micrograph-resnet-small", embedding_dim=8, crop=32, crops_per_image=4,
                batch_size=16, lr=3e-3, max_epochs=3, patience=3, accelerator="cpu", devices=1, num_threads=1)
    return MicrographTrainConfig(**{**base, **kw})


@pytest.mark.parametrize("objective", ["contrastive", "triplet", "supervised", "simclr"])
def test_each_objective_trains_and_exports_a_loadable_encoder(tmp_path, objective):
    data = _textures()
    train, val = np.arange(12), np.arange(12, 16)
    kw = {"batch_size": 8} if objective == "triplet" else {}  # P x K: K <= the images of a class (6)
    res = fit_micrograph(_cfg(objective, **kw), data, train, val, tmp_path / "run", progress=False)
    assert np.isfinite(res["best_val_loss"])
    model, extra = load_model(res["model_path"])
    assert extra["objective"] == objective and extra["class_names"] == ["lamellae", "blobs"]
    z = model.eval()(torch.rand(2, 1, 32, 32))
    assert z.shape == (2, 8) and torch.allclose(z.norm(dim=1), torch.ones(2), atol=1e-5)
    metrics = (tmp_path / "run" / "metrics.csv").read_text()
    assert "val_loss" in metrics and "val_knn_acc" in metrics


def test_contrastive_training_separates_the_classes_and_resumes(tmp_path):
    data = _textures(n_per_class=10)
    train, val = np.arange(14), np.arange(14, 20)
    run = tmp_path / "run"
    first = fit_micrograph(_cfg("contrastive", max_epochs=2), data, train, val, run, progress=False)
    again = fit_micrograph(_cfg("contrastive", max_epochs=6, patience=6), data, train, val, run, progress=False)
    assert again["resumed_from"] and again["epochs_completed"] > first["epochs_completed"]
    from microdl.analysis.micrograph import embed_images
    model, _ = load_model(again["model_path"])
    emb = embed_images(model, [data.images[i] for i in val], crop=32, n_crops=4)
    same = emb @ emb.T
    lab = data.labels[val]
    within = same[lab[:, None] == lab[None, :]].mean()
    between = same[lab[:, None] != lab[None, :]].mean()
    assert within > between + 0.2  # lamellae and blobs end up apart


def test_config_errors_and_presets():
    assert set(PRESETS.names()) == {"siamese", "triplet", "supervised", "simclr"}
    assert preset_config("siamese").objective == "contrastive"
    assert preset_config("triplet", margin=0.3).margin == 0.3
    with pytest.raises(InvalidParameterError, match="objective must be one of"):
        MicrographTrainConfig(objective="arcface")
    with pytest.raises(UnknownNameError, match="micrograph-resnet"):
        MicrographTrainConfig(model="yang2020-resnet")
    with pytest.raises(InvalidParameterError, match="disjoint"):
        fit_micrograph(_cfg("contrastive"), _textures(), np.arange(10), np.arange(9, 16), "/nonexistent/run")


def test_triplet_survives_one_class_validation_batches(tmp_path):
    # files sorted by class, as in UHCS: Lightning's two sanity-check batches hold one class only
    data = _textures(n_per_class=8)
    order = np.argsort(data.labels, kind="stable")
    data = data.subset(order)
    val = np.r_[0:4, 8:10]  # four of class 0 first, then two of class 1
    train = np.setdiff1d(np.arange(16), val)
    res = fit_micrograph(_cfg("triplet", batch_size=8, max_epochs=1), data, train, val, tmp_path / "run",
                         progress=False)
    assert np.isfinite(res["best_val_loss"])


def test_one_device_only():
    with pytest.raises(InvalidParameterError, match="devices and num_nodes must be 1"):
        _cfg("contrastive", devices=2)
