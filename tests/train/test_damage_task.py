"""Damage-crop augmentations, the NiN presets and a tiny training run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from microdl.data.damage_aug import SiteAugmentConfig, augment_sites
from microdl.exceptions import InvalidParameterError, ShapeError, UnknownNameError
from microdl.models import create_model, load_model
from microdl.train.tasks.damage import DamageTrainConfig, fit_damage


def test_identity_augmentation_keeps_the_crop():
    x = torch.rand(3, 1, 32, 32)
    cfg = SiteAugmentConfig(rotation_deg=0, shear_deg=0, flip=False, dropout_p=0, blur_p=0)
    torch.testing.assert_close(augment_sites(x, cfg, torch.Generator().manual_seed(0)), x, atol=1e-5, rtol=0)


def test_rotation_by_90_degrees_and_flip():
    x = torch.zeros(1, 1, 33, 33)
    x[0, 0, 16, 19:25] = 1.0  # a bar right of the centre, far enough from the edges that mirrored borders miss it
    cfg = SiteAugmentConfig(rotation_deg=90, shear_deg=0, flip=False, dropout_p=0, blur_p=0)
    gen = torch.Generator().manual_seed(0)
    out = augment_sites(x.repeat(64, 1, 1, 1), cfg, gen)
    # every output is the bar rotated by some angle in [-90, 90]: its mass stays at the same radius
    yy, xx = torch.meshgrid(torch.arange(33.0) - 16, torch.arange(33.0) - 16, indexing="ij")
    r = (out[:, 0] * torch.hypot(yy, xx)).sum((1, 2)) / out[:, 0].sum((1, 2))
    assert torch.allclose(r, torch.full_like(r, 5.5), atol=0.6)
    mean_x = (out[:, 0] * xx).sum((1, 2)) / out[:, 0].sum((1, 2))
    assert (mean_x > -1).all()  # +-90 degrees never sends the bar to the left half
    angles = torch.atan2((out[:, 0] * yy).sum((1, 2)), (out[:, 0] * xx).sum((1, 2)))
    assert angles.abs().max() > math.radians(60) and angles.abs().min() < math.radians(30)


def test_dropout_and_reproducibility():
    x = torch.rand(8, 1, 40, 40) + 0.5
    cfg = SiteAugmentConfig(dropout_p=0.1)
    a = augment_sites(x, cfg, torch.Generator().manual_seed(3))
    b = augment_sites(x, cfg, torch.Generator().manual_seed(3))
    torch.testing.assert_close(a, b)
    assert 0.05 < (a == 0).float().mean() < 0.15
    with pytest.raises(ShapeError):
        augment_sites(torch.rand(40, 40), cfg, torch.Generator())
    with pytest.raises(InvalidParameterError, match="dropout_p"):
        SiteAugmentConfig(dropout_p=2)


@pytest.mark.parametrize("name,size", [("kerzel2021-nin", 64), ("kerzel2021-stage1", 250), ("damage-nin-small", 50)])
def test_presets_give_logits(name, size):
    net = create_model(name).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 1, size, size) * 255)
    assert out.shape == (2, net.n_classes) and torch.isfinite(out).all()


def _crops(n, rng):
    """Two classes: a dark disc, a dark horizontal bar (both on noise)."""
    x = rng.normal(120, 10, (n, 32, 32))
    y = np.arange(n) % 2
    yy, xx = np.mgrid[:32, :32]
    for i in range(n):
        if y[i] == 0:
            x[i][(yy - 16) ** 2 + (xx - 16) ** 2 < 30] = 10
        else:
            x[i][14:18, 4:28] = 10
    return np.clip(x, 0, 255).astype(np.uint8), y


def test_fit_damage_learns_and_exports(tmp_path, one_torch_thread):
    rng = np.random.default_rng(0)
    cfg = DamageTrainConfig(classes=("disc", "bar"), max_epochs=8, patience=8, batch_size=16, accelerator="cpu",
                            rotation_deg=0, shear_deg=0, lr=3e-3)
    res = fit_damage(cfg, _crops(96, rng), _crops(16, rng), tmp_path / "run", progress=False)
    net, extra = load_model(res["model_path"])
    assert extra["classes"] == ["disc", "bar"] and extra["crop"] == 32
    x, y = _crops(40, rng)
    with torch.no_grad():
        pred = net.eval()(torch.from_numpy(x.astype(np.float32) / 255)[:, None]).argmax(1).numpy()
    assert (pred == y).mean() >= 0.9
    with pytest.raises(InvalidParameterError, match="class indices"):
        fit_damage(cfg, (x, y + 5), (x, y), tmp_path / "run2", progress=False)
    with pytest.raises(UnknownNameError):
        DamageTrainConfig(model="resnet50")
