"""The 24-crop transform of Yang et al. (2020) for strain profiles.

Steps (seed 000, section 4.4, and the authors' ``image_preprocessing``):

1. gray values in 0..255: ``uint8`` images are used as they are; any other dtype
   (16-bit PNG/TIFF, float arrays) is min-max rescaled to 0..255 (what
   ``scipy.misc.bytescale`` did inside the authors' ``imresize``; a constant
   image becomes all zeros);
2. the profile, long axis horizontal (a taller-than-wide array is transposed,
   a choice), is resized to ``d x 3d`` for ``d`` in 256, 288, 320, 352 (bilinear);
3. the left, middle and right ``d x d`` squares are cut;
4. from each square, the centre ``crop x crop`` window and the whole square
   resized to ``crop x crop``: 4 x 3 x 2 = 24 crops, in that nesting order
   (scale, then left/middle/right, then centre/resized).

``crop`` is a parameter (224 in the paper); for smaller crops the scales shrink
in proportion (``d = round(d_224 * crop / 224)``) so a crop sees the same part
of the profile. Values stay 0..255 (the published network takes raw gray values).

Resize convention
-----------------
The resizes run in torch (``interpolate``, bilinear, ``align_corners=False``,
``antialias=False`` by default), which is fast. The authors' code used
``scipy.misc.imresize`` (PIL ``Image.resize`` with ``BILINEAR``, returning
``uint8``): half-pixel centres like ``align_corners=False``, but antialiased when
shrinking (the 256..352 -> 224 square resizes) and rounded to integers after
each resize. ``antialias=True, round_uint8=True`` approximates that path (torch's
antialiased bilinear follows PIL's filter); the default is a choice for speed
and differs from it only in the shrinking steps.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from microdl.exceptions import InvalidParameterError, NonFiniteError, ShapeError

__all__ = ["PAPER_SCALES", "N_CROPS", "crop_scales", "to_gray255", "strain_crops"]

PAPER_SCALES = (256, 288, 320, 352)
"""Short sides of the resized profile for 224 crops (seed 000)."""
N_CROPS = 24


def crop_scales(crop: int = 224) -> tuple[int, ...]:
    """The short sides ``d`` used for ``crop`` (the paper's for 224)."""
    if int(crop) != crop or crop < 8:
        raise InvalidParameterError(f"crop must be an integer >= 8, got {crop!r}")
    return tuple(int(round(s * crop / 224)) for s in PAPER_SCALES)


def to_gray255(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Check a 2D profile and return it as float32 gray values in 0..255, long axis horizontal.

    Raises
    ------
    ShapeError
        If the array is empty or not 2D (``(H, W, 1)`` is accepted).
    NonFiniteError
        If it holds NaN or infinite values.
    """
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise ShapeError(f"{name} must be a 2D gray image, got shape {arr.shape}")
    if arr.size == 0:
        raise ShapeError(f"{name} is empty (shape {arr.shape})")
    if arr.dtype.kind not in "biuf":
        raise InvalidParameterError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise NonFiniteError(f"{name} holds {int((~np.isfinite(arr)).sum())} NaN or infinite values")
    if arr.shape[0] > arr.shape[1]:
        arr = arr.T
    if arr.dtype == np.uint8:
        return arr.astype(np.float32)
    lo, hi = float(arr.min()), float(arr.max())
    scaled = (arr.astype(np.float64) - lo) * (255.0 / (hi - lo) if hi > lo else 0.0)
    return scaled.astype(np.float32)


def _resize(x: Tensor, size: tuple[int, int], antialias: bool, round_uint8: bool) -> Tensor:
    y = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=antialias)
    return y.round().clamp(0, 255) if round_uint8 else y


def strain_crops(image: np.ndarray, crop: int = 224, *, antialias: bool = False,
                 round_uint8: bool = False, name: str = "image") -> Tensor:
    """The 24 crops of one profile as a float32 tensor ``(24, 1, crop, crop)`` in 0..255.

    Parameters
    ----------
    image
        2D profile (any size, any numeric dtype); see :func:`to_gray255`.
    crop
        Side of the crops (paper: 224).
    antialias, round_uint8
        ``True, True`` approximates the authors' PIL resizing (see module notes).
    name
        Used in error messages (e.g. the file name).

    Examples
    --------
    >>> import numpy as np
    >>> strain_crops(np.random.default_rng(0).random((20, 70)), crop=32).shape
    torch.Size([24, 1, 32, 32])
    """
    scales = crop_scales(crop)
    x = torch.from_numpy(to_gray255(image, name))[None, None]
    out = []
    for d in scales:
        wide = _resize(x, (d, 3 * d), antialias, round_uint8)
        squares = torch.cat([wide[..., i * d:(i + 1) * d] for i in range(3)])  # (3, 1, d, d)
        o = (d - crop) // 2
        centre = squares[..., o:o + crop, o:o + crop]
        small = _resize(squares, (crop, crop), antialias, round_uint8)
        out.append(torch.stack([centre, small], dim=1).reshape(6, 1, crop, crop))
    return torch.cat(out).contiguous()
