"""Augmentations of gray micrographs as torch tensors, every random draw from a ``torch.Generator``.

Images are ``(1, H, W)`` or ``(n, 1, H, W)`` floating tensors (gray values, usually 0..1
from :class:`microdl.data.micrographs.MicrographSet`). :func:`augment` applies, in
order: a random crop (optionally of a random scale, resized back with antialiasing),
one of the 8 dihedral transforms (flips and 90 degree rotations: micrographs have no
preferred orientation), Gaussian blur, brightness / contrast jitter and Gaussian noise,
as configured by :class:`AugmentConfig`. :func:`standardize` (zero mean, unit standard
deviation per crop) is what the models apply to every crop, augmented or not.
:func:`grid_crops` gives deterministic crops spread over a micrograph, to embed it as
the average of its crops.

References
----------
Chen, T., Kornblith, S., Norouzi, M. & Hinton, G. (2020). A simple framework for
contrastive learning of visual representations. ICML (random crop and resize, blur
and colour jitter as the views of SimCLR).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from microdl.exceptions import InvalidParameterError, ShapeError

__all__ = ["AugmentConfig", "augment", "dihedral", "downscale", "gaussian_blur", "grid_crops", "grid_positions",
           "random_crop", "random_crops", "standardize"]


def _range(name: str, value: tuple[float, float], *, low: float, high: float = math.inf) -> None:
    ok = (isinstance(value, tuple) and len(value) == 2
          and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value))
    if not ok or not low <= value[0] <= value[1] <= high:
        raise InvalidParameterError(f"{name} must be a tuple (lo, hi) with {low} <= lo <= hi <= {high}, "
                                    f"got {value!r}")


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation of one micrograph crop; the defaults suit SEM micrographs of steels.

    Parameters
    ----------
    crop
        Side of the output crop, pixels.
    scale
        Range of the crop side before resizing, as a factor of ``crop`` (``(1, 1)``: no
        resizing). Kept moderate: the size of particles and lamellae tells classes apart.
    dihedral
        Apply one of the 8 flips / 90 degree rotations at random.
    brightness
        Additive shift drawn in ``[-brightness, brightness]`` (gray values 0..1).
    contrast
        Factor drawn in ``[1 - contrast, 1 + contrast]`` around the crop mean (< 1).
    blur_sigma
        Range of the Gaussian blur's standard deviation, pixels.
    blur_p
        Probability of blurring.
    noise_std
        Range of the standard deviation of added Gaussian noise (gray values).

    Examples
    --------
    >>> AugmentConfig(crop=128).scale
    (0.8, 1.25)
    """

    crop: int = 224
    scale: tuple[float, float] = (0.8, 1.25)
    dihedral: bool = True
    brightness: float = 0.1
    contrast: float = 0.2
    blur_sigma: tuple[float, float] = (0.1, 1.5)
    blur_p: float = 0.3
    noise_std: tuple[float, float] = (0.0, 0.02)

    def __post_init__(self) -> None:
        if not isinstance(self.crop, int) or isinstance(self.crop, bool) or self.crop < 8:
            raise InvalidParameterError(f"crop must be an integer >= 8 pixels, got {self.crop!r}")
        for name in ("scale", "blur_sigma", "noise_std"):
            value = getattr(self, name)
            value = tuple(value) if isinstance(value, list) else value
            object.__setattr__(self, name, value)
        _range("scale", self.scale, low=1e-3)
        _range("blur_sigma", self.blur_sigma, low=0.0)
        _range("noise_std", self.noise_std, low=0.0)
        if not isinstance(self.dihedral, bool):
            raise InvalidParameterError(f"dihedral must be True or False, got {self.dihedral!r}")
        for name, high in (("brightness", math.inf), ("contrast", 1.0), ("blur_p", 1.0)):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= high or (
                    name == "contrast" and v >= 1):
                want = "in [0, 1)" if name == "contrast" else (">= 0" if high == math.inf else "in [0, 1]")
                raise InvalidParameterError(f"{name} must be a number {want}, got {v!r}")


def _as_batch(image: torch.Tensor, name: str = "image") -> tuple[torch.Tensor, bool]:
    """``(n, 1, H, W)`` view of a ``(1, H, W)`` or ``(n, 1, H, W)`` floating tensor; whether it was batched."""
    if not isinstance(image, torch.Tensor):
        raise InvalidParameterError(f"{name} must be a torch.Tensor, got {type(image).__name__}")
    if not image.is_floating_point():
        raise InvalidParameterError(f"{name} must hold floats, got dtype {image.dtype}")
    if image.ndim == 3 and image.shape[0] == 1:
        return image[None], False
    if image.ndim == 4 and image.shape[1] == 1:
        return image, True
    raise ShapeError(f"{name} must have shape (1, H, W) or (n, 1, H, W), got {tuple(image.shape)}")


def _check_size(size: int, h: int, w: int, name: str = "size") -> None:
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise InvalidParameterError(f"{name} must be an integer >= 1, got {size!r}")
    if size > min(h, w):
        raise ShapeError(f"{name} must be <= the image's smaller side {min(h, w)}, got {size} "
                         f"(image {h} x {w})")


def _uniform(lo: float, hi: float, generator: torch.Generator) -> float:
    return lo + (hi - lo) * float(torch.rand((), generator=generator))


def _randint(high: int, generator: torch.Generator) -> int:
    """An integer in ``0 .. high`` (inclusive)."""
    return int(torch.randint(0, high + 1, (1,), generator=generator))


def random_crop(image: torch.Tensor, size: int, generator: torch.Generator, *,
                scale: tuple[float, float] = (1.0, 1.0)) -> torch.Tensor:
    """One random ``(1, size, size)`` crop of a ``(1, H, W)`` image.

    The crop side is ``round(size * s)`` with ``s`` drawn in ``scale`` (at most the
    image's smaller side), resized to ``size`` with antialiased bilinear interpolation.
    """
    batch, batched = _as_batch(image)
    if batched:
        raise ShapeError(f"image must have shape (1, H, W), got {tuple(image.shape)}")
    scale = tuple(scale)
    _range("scale", scale, low=1e-3)
    h, w = batch.shape[-2:]
    _check_size(size, h, w)
    side = size if scale == (1.0, 1.0) else round(size * _uniform(scale[0], scale[1], generator))
    side = max(1, min(side, h, w))
    top, left = _randint(h - side, generator), _randint(w - side, generator)
    out = batch[:, :, top:top + side, left:left + side]
    if side != size:
        out = F.interpolate(out, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return out[0]


def dihedral(image: torch.Tensor, k: int) -> torch.Tensor:
    """Dihedral transform ``k`` in ``0..7``: ``k % 4`` quarter turns, then a horizontal flip if ``k >= 4``."""
    if not isinstance(k, int) or not 0 <= k <= 7:
        raise InvalidParameterError(f"k must be an integer in 0..7, got {k!r}")
    out = torch.rot90(image, k % 4, dims=(-2, -1))
    return out.flip(-1) if k >= 4 else out


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of standard deviation ``sigma`` pixels (separable, reflected borders).

    The kernel sums to one, so a constant image is unchanged and the mean is kept up to
    the border effect. ``sigma = 0`` returns the image.
    """
    batch, batched = _as_batch(image)
    if not sigma >= 0:
        raise InvalidParameterError(f"sigma must be >= 0 pixels, got {sigma!r}")
    h, w = batch.shape[-2:]
    radius = min(math.ceil(3 * sigma), h - 1, w - 1)
    if sigma == 0 or radius < 1:
        return image
    x = torch.arange(-radius, radius + 1, dtype=batch.dtype, device=batch.device)
    kernel = torch.exp(-0.5 * (x / sigma) ** 2)
    kernel = kernel / kernel.sum()
    out = F.pad(batch, (radius, radius, radius, radius), mode="reflect")
    out = F.conv2d(out, kernel.view(1, 1, 1, -1))
    out = F.conv2d(out, kernel.view(1, 1, -1, 1))
    return out if batched else out[0]


def standardize(x: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Zero mean and unit standard deviation per crop: ``(x - mean) / sqrt(var + eps)``.

    ``x`` is one crop ``(C, H, W)`` or a batch ``(n, C, H, W)``; a constant crop gives zeros.
    """
    if not isinstance(x, torch.Tensor) or x.ndim not in (3, 4) or not x.is_floating_point():
        raise ShapeError(f"x must be a float tensor (C, H, W) or (n, C, H, W), got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    dims = (-3, -2, -1)
    mean = x.mean(dim=dims, keepdim=True)
    var = x.var(dim=dims, keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var + eps)


def _augment_one(image: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    out = random_crop(image, cfg.crop, generator, scale=cfg.scale)
    if cfg.dihedral:
        out = dihedral(out, _randint(7, generator))
    if cfg.blur_p > 0 and float(torch.rand((), generator=generator)) < cfg.blur_p:
        out = gaussian_blur(out, _uniform(*cfg.blur_sigma, generator))
    if cfg.contrast > 0 or cfg.brightness > 0:
        c = _uniform(1 - cfg.contrast, 1 + cfg.contrast, generator)
        b = _uniform(-cfg.brightness, cfg.brightness, generator)
        mean = out.mean()
        out = (out - mean) * c + mean + b
    if cfg.noise_std[1] > 0:
        std = _uniform(*cfg.noise_std, generator)
        out = out + std * torch.randn(out.shape, generator=generator, dtype=out.dtype)
    return out.contiguous()


def augment(image: torch.Tensor, cfg: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Augmented crop of ``image`` (``(1, H, W)`` -> ``(1, c, c)``, ``(n, 1, H, W)`` -> ``(n, 1, c, c)``).

    Each image of a batch gets its own draws. The same generator state gives the same
    output, bit for bit.

    Examples
    --------
    >>> import torch
    >>> g = torch.Generator().manual_seed(0)
    >>> augment(torch.rand(1, 100, 120, generator=g), AugmentConfig(crop=64), g).shape
    torch.Size([1, 64, 64])
    """
    if not isinstance(cfg, AugmentConfig):
        raise InvalidParameterError(f"cfg must be an AugmentConfig, got {type(cfg).__name__}")
    if not isinstance(generator, torch.Generator):
        raise InvalidParameterError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    batch, batched = _as_batch(image)
    out = torch.stack([_augment_one(im, cfg, generator) for im in batch])
    return out if batched else out[0]


def random_crops(image: torch.Tensor, n: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` random ``size x size`` crops (no other change) of a ``(1, H, W)`` image: ``(n, 1, size, size)``."""
    if not isinstance(n, int) or n < 1:
        raise InvalidParameterError(f"n must be an integer >= 1, got {n!r}")
    return torch.stack([random_crop(image, size, generator) for _ in range(n)])


def _grid_shape(n: int, h: int, w: int, size: int) -> tuple[int, int]:
    """Rows x columns = n whose aspect best matches the free travel of the crop (or the image)."""
    travel_h, travel_w = max(h - size, 1), max(w - size, 1)
    pairs = [(r, n // r) for r in range(1, n + 1) if n % r == 0]
    return min(pairs, key=lambda rc: (abs(math.log(rc[0] / rc[1]) - math.log(travel_h / travel_w)), rc[0]))


def grid_positions(height: int, width: int, n: int, size: int) -> list[tuple[int, int]]:
    """``(top, left)`` of ``n`` crops on an even ``rows x cols = n`` grid, edge to edge.

    The grid's aspect follows the image (``n = 8`` on a 475 x 645 image: 2 x 4); along an
    axis with one crop, the crop is centred. The crops cover the whole image when
    ``rows * size >= height`` and ``cols * size >= width``.
    """
    _check_size(size, height, width)
    if not isinstance(n, int) or n < 1:
        raise InvalidParameterError(f"n must be an integer >= 1, got {n!r}")
    rows, cols = _grid_shape(n, height, width, size)

    def starts(count: int, extent: int) -> list[int]:
        if count == 1:
            return [(extent - size) // 2]
        return [round(i * (extent - size) / (count - 1)) for i in range(count)]

    return [(top, left) for top in starts(rows, height) for left in starts(cols, width)]


def grid_crops(image: torch.Tensor, n: int, size: int) -> torch.Tensor:
    """``n`` deterministic, evenly spaced ``size x size`` crops of a ``(1, H, W)`` image: ``(n, 1, size, size)``.

    See :func:`grid_positions`; the order is row by row.
    """
    if _as_batch(image)[1]:
        raise ShapeError(f"image must have shape (1, H, W), got {tuple(image.shape)}")
    h, w = image.shape[-2:]
    return torch.stack([image[:, t:t + size, x:x + size] for t, x in grid_positions(h, w, n, size)])


def downscale(image: np.ndarray, factor: int) -> np.ndarray:
    """Mean of ``factor x factor`` pixel blocks of a 2-D image (the last partial rows/columns are dropped).

    Area averaging is exact for integer factors: no aliasing of fine lamellae into false
    coarse texture, unlike picking every ``factor``-th pixel. ``factor=1`` returns the image.
    """
    arr = np.asarray(image)
    if isinstance(factor, bool) or not isinstance(factor, (int, np.integer)) or factor < 1:
        raise InvalidParameterError(f"factor must be an integer >= 1, got {factor!r}")
    if arr.ndim != 2 or min(arr.shape) < factor:
        raise ShapeError(f"image must be 2-D and at least {factor} px on both sides, got shape {arr.shape}")
    if factor == 1:
        return arr
    h, w = (arr.shape[0] // factor) * factor, (arr.shape[1] // factor) * factor
    blocks = arr[:h, :w].reshape(h // factor, factor, w // factor, factor)
    return blocks.mean(axis=(1, 3), dtype=np.float64).astype(np.float32)
