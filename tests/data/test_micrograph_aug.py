"""Augmentations of gray micrographs: reproducible through a torch.Generator, each transform doing what it says."""

from __future__ import annotations

import pytest
import torch

from microdl.data.micrograph_aug import (
    AugmentConfig,
    augment,
    dihedral,
    gaussian_blur,
    grid_crops,
    grid_positions,
    random_crop,
    random_crops,
    standardize,
)
from microdl.exceptions import InvalidParameterError, ShapeError


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _image(h: int = 90, w: int = 120, seed: int = 0) -> torch.Tensor:
    """Distinct gray values in 0..1 in random places."""
    return (torch.randperm(h * w, generator=_gen(seed)).float() / (h * w)).view(1, h, w)


PLAIN = dict(scale=(1.0, 1.0), dihedral=False, brightness=0.0, contrast=0.0, blur_p=0.0, noise_std=(0.0, 0.0))


def _find(crop: torch.Tensor, image: torch.Tensor) -> tuple[int, int]:
    """Top-left of ``crop`` inside ``image`` (unique values make the match unique)."""
    where = (image[0] == crop[0, 0, 0]).nonzero()
    assert where.shape[0] == 1
    return int(where[0, 0]), int(where[0, 1])


def test_default_config_is_valid_and_validation_names_the_parameter():
    cfg = AugmentConfig()
    assert cfg.crop == 224 and cfg.dihedral and 0 < cfg.scale[0] <= 1 <= cfg.scale[1]
    assert AugmentConfig(scale=[0.9, 1.1]).scale == (0.9, 1.1)
    bad = {"crop": 4, "scale": (1.2, 0.8), "contrast": 1.0, "blur_p": 1.5, "noise_std": (-0.1, 0.0),
           "brightness": -0.1, "blur_sigma": (0.5,), "dihedral": "yes"}
    for name, value in bad.items():
        with pytest.raises(InvalidParameterError, match=name):
            AugmentConfig(**{name: value})


def test_same_generator_seed_same_output_different_seed_different():
    x, cfg = _image(), AugmentConfig(crop=48)
    a, b = augment(x, cfg, _gen(7)), augment(x, cfg, _gen(7))
    assert a.shape == (1, 48, 48) and torch.equal(a, b)
    assert not torch.equal(a, augment(x, cfg, _gen(8)))


def test_global_random_state_is_not_used():
    x, cfg = _image(), AugmentConfig(crop=48)
    with torch.random.fork_rng():
        torch.manual_seed(1)
        a = augment(x, cfg, _gen(3))
        torch.manual_seed(2)
        b = augment(x, cfg, _gen(3))
    assert torch.equal(a, b)


def test_batch_shapes_and_each_image_gets_its_own_draws():
    x = _image().expand(4, 1, 90, 120).contiguous()
    out = augment(x, AugmentConfig(crop=32), _gen(0))
    assert out.shape == (4, 1, 32, 32)
    assert not torch.equal(out[0], out[1])
    with pytest.raises(ShapeError, match=r"\(1, H, W\) or \(n, 1, H, W\)"):
        augment(torch.rand(3, 20, 20), AugmentConfig(crop=16), _gen(0))
    with pytest.raises(InvalidParameterError, match="floats"):
        augment(torch.zeros(1, 20, 20, dtype=torch.uint8), AugmentConfig(crop=16), _gen(0))
    with pytest.raises(ShapeError, match="smaller side 20"):
        augment(torch.rand(1, 20, 30), AugmentConfig(crop=24, scale=(1.0, 1.0)), _gen(0))


def test_plain_random_crop_is_a_block_of_the_image():
    x = _image()
    for seed in range(5):
        crop = random_crop(x, 30, _gen(seed))
        t, left = _find(crop, x)
        assert torch.equal(crop, x[:, t:t + 30, left:left + 30])
    tops = {_find(random_crop(x, 30, _gen(s)), x) for s in range(10)}
    assert len(tops) > 5  # the position varies with the seed


def test_scaled_crop_is_resized_to_the_crop_size():
    x = _image()
    for seed in range(5):
        out = random_crop(x, 40, _gen(seed), scale=(0.5, 2.0))
        assert out.shape == (1, 40, 40) and torch.isfinite(out).all()
    zoomed = random_crop(torch.zeros(1, 90, 120) + 0.3, 40, _gen(0), scale=(2.0, 2.0))
    assert torch.allclose(zoomed, torch.full_like(zoomed, 0.3))  # antialiased resize keeps a constant


def test_the_eight_dihedral_transforms_are_distinct_and_keep_the_pixels():
    x = _image(16, 16)
    outs = [dihedral(x, k) for k in range(8)]
    assert len({tuple(o.flatten().tolist()) for o in outs}) == 8
    for o in outs:
        assert torch.equal(o.flatten().sort().values, x.flatten().sort().values)
    assert torch.equal(dihedral(x, 4), x.flip(-1)) and torch.equal(dihedral(x, 2), x.flip(-1).flip(-2))
    with pytest.raises(InvalidParameterError, match="k must be"):
        dihedral(x, 8)


def test_augment_with_only_dihedral_gives_one_of_the_eight():
    x = _image(24, 24)
    cfg = AugmentConfig(crop=24, **{**PLAIN, "dihedral": True})
    candidates = [dihedral(x, k) for k in range(8)]
    seen = set()
    for seed in range(30):
        out = augment(x, cfg, _gen(seed))
        assert torch.equal(out.flatten().sort().values, x.flatten().sort().values)  # pixel multiset kept
        seen.add(next(k for k, c in enumerate(candidates) if torch.equal(c, out)))
    assert len(seen) >= 6


def test_blur_keeps_the_mean_and_smooths():
    x = _image(64, 80)
    y = gaussian_blur(x, 1.5)
    assert y.shape == x.shape
    assert abs(float(y.mean() - x.mean())) < 2e-3
    assert float(y.std()) < 0.5 * float(x.std())
    c = torch.full((1, 30, 30), 0.4)
    assert torch.allclose(gaussian_blur(c, 2.0), c)
    assert torch.equal(gaussian_blur(x, 0.0), x)
    batch = gaussian_blur(x.expand(2, 1, 64, 80), 1.0)
    assert batch.shape == (2, 1, 64, 80) and torch.allclose(batch[0], gaussian_blur(x, 1.0))


def test_jitter_and_noise_change_values_within_their_ranges():
    x = _image(40, 40)
    cfg = AugmentConfig(crop=40, **{**PLAIN, "brightness": 0.1})
    shift = [float((augment(x, cfg, _gen(s)) - x).mean()) for s in range(20)]
    assert max(abs(v) for v in shift) <= 0.1 + 1e-6 and max(shift) - min(shift) > 0.02
    cfg = AugmentConfig(crop=40, **{**PLAIN, "noise_std": (0.05, 0.05)})
    assert float((augment(x, cfg, _gen(0)) - x).std()) == pytest.approx(0.05, rel=0.1)


def test_standardize_gives_zero_mean_unit_std_per_crop():
    x = torch.rand(5, 1, 20, 30, generator=_gen(0)) * torch.arange(1, 6).view(5, 1, 1, 1) + 3
    z = standardize(x)
    assert torch.allclose(z.mean(dim=(1, 2, 3)), torch.zeros(5), atol=1e-5)
    assert torch.allclose(z.std(dim=(1, 2, 3), unbiased=False), torch.ones(5), atol=1e-4)
    one = standardize(x[0])
    assert torch.allclose(one, z[0], atol=1e-6)
    flat = standardize(torch.full((1, 8, 8), 0.7))
    assert torch.isfinite(flat).all() and flat.abs().max() < 1e-3  # float rounding of the mean only
    with pytest.raises(ShapeError):
        standardize(torch.rand(8, 8))


def test_random_crops_are_reproducible_and_differ_between_seeds():
    x = _image()
    a = random_crops(x, 6, 25, _gen(1))
    assert a.shape == (6, 1, 25, 25) and torch.equal(a, random_crops(x, 6, 25, _gen(1)))
    assert not torch.equal(a, random_crops(x, 6, 25, _gen(2)))
    assert len({_find(c, x) for c in a}) > 1


def test_grid_crops_cover_the_image_evenly_and_deterministically():
    x = _image(475, 645)
    pos = grid_positions(475, 645, 8, 224)
    assert pos[0] == (0, 0) and pos[-1] == (475 - 224, 645 - 224)
    assert sorted({t for t, _ in pos}) == [0, 251] and len({left for _, left in pos}) == 4  # 2 x 4
    covered = torch.zeros(475, 645, dtype=torch.bool)
    for t, left in pos:
        covered[t:t + 224, left:left + 224] = True
    assert covered.any(dim=0).all() and covered.float().mean() > 0.9  # 2 x 224 < 475: 27 middle rows missed
    covered[:] = False
    for t, left in grid_positions(475, 645, 9, 224):  # 3 x 3 covers every pixel
        covered[t:t + 224, left:left + 224] = True
    assert covered.all()
    crops = grid_crops(x, 8, 224)
    assert crops.shape == (8, 1, 224, 224) and torch.equal(crops, grid_crops(x, 8, 224))
    assert torch.equal(crops[5], x[:, 251:, 140:364])
    assert grid_positions(100, 100, 1, 40) == [(30, 30)]  # one crop: centred
    with pytest.raises(ShapeError, match="size must be <= the image's smaller side 475"):
        grid_positions(475, 645, 8, 500)


def test_downscale_is_the_block_mean():
    import numpy as np

    from microdl.data.micrograph_aug import downscale

    img = np.arange(5 * 7, dtype=np.float32).reshape(5, 7)
    out = downscale(img, 2)
    assert out.shape == (2, 3)
    assert out[0, 0] == np.mean([0, 1, 7, 8]) and out[1, 2] == np.mean([18, 19, 25, 26])
    assert downscale(img, 1) is img
    with pytest.raises(InvalidParameterError, match="factor"):
        downscale(img, 0)
    with pytest.raises(ShapeError, match="at least 6"):
        downscale(img, 6)
