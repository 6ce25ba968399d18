"""The 24-crop transform of Yang et al. (2020)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from microdl.data.strain_crops import PAPER_SCALES, crop_scales, strain_crops, to_gray255
from microdl.exceptions import NonFiniteError, ShapeError


def test_24_crops_shapes_and_range():
    img = np.random.default_rng(0).integers(0, 256, (20, 70), dtype=np.uint8)
    x = strain_crops(img, crop=32)
    assert x.shape == (24, 1, 32, 32) and x.dtype == torch.float32
    assert float(x.min()) >= 0 and float(x.max()) <= 255
    assert crop_scales(224) == PAPER_SCALES
    assert crop_scales(112) == (128, 144, 160, 176)


def test_centre_crop_is_the_centre_and_resized_square_is_the_square():
    img = np.random.default_rng(1).random((30, 100)) * 1000.0  # float: min-max rescaled
    crop = 32
    x = strain_crops(img, crop=crop)
    g = torch.from_numpy(to_gray255(img))[None, None]
    for s, d in enumerate(crop_scales(crop)):
        wide = F.interpolate(g, size=(d, 3 * d), mode="bilinear", align_corners=False)
        for i in range(3):  # left, middle, right
            square = wide[..., i * d:(i + 1) * d]
            o = (d - crop) // 2
            k = 6 * s + 2 * i
            assert torch.equal(x[k], square[0, :, o:o + crop, o:o + crop])
            assert torch.allclose(x[k + 1], F.interpolate(square, size=(crop, crop), mode="bilinear",
                                                          align_corners=False)[0])


def test_rescaling_and_orientation():
    img16 = (np.arange(12, dtype=np.uint16).reshape(3, 4) * 1000)
    g = to_gray255(img16)
    assert g.min() == 0 and g.max() == 255
    u8 = np.full((4, 12), 7, np.uint8)
    assert to_gray255(u8).max() == 7  # uint8 used as is (the authors' bytescale)
    assert to_gray255(np.zeros((12, 4))).shape == (4, 12)  # long axis horizontal
    assert to_gray255(np.ones((3, 3))).max() == 0  # constant image -> zeros


@pytest.mark.parametrize("bad, err", [(np.zeros((0, 5)), ShapeError), (np.zeros((4, 5, 3)), ShapeError),
                                      (np.zeros(5), ShapeError), (np.full((4, 9), np.nan), NonFiniteError),
                                      (np.array([[1.0, np.inf]]), NonFiniteError)])
def test_bad_images(bad, err):
    with pytest.raises(err):
        strain_crops(bad, crop=16)
