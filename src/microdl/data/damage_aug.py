"""Augmentations of damage-site crops, after Kerzel et al.: rotation, shear, pixel dropout, Gaussian blur.

The authors trained on uniaxially strained samples and applied the classifier to biaxially
strained ones; rotation and shear make the network blind to the orientation and elongation
that the loading imprints on cracks and voids, pixel dropout and blur to detector noise and
focus. All transforms act on a batch ``(n, 1, s, s)`` of float crops in torch (CPU or GPU),
with one :class:`torch.Generator` for reproducibility.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from microdl.data.micrograph_aug import gaussian_blur
from microdl.exceptions import InvalidParameterError, ShapeError

__all__ = ["SiteAugmentConfig", "augment_sites"]


@dataclass(frozen=True)
class SiteAugmentConfig:
    """Random transforms of one training batch (defaults after Kerzel et al.).

    Attributes
    ----------
    rotation_deg
        Rotation angle drawn uniformly in ``[-rotation_deg, rotation_deg]`` degrees.
    shear_deg
        Shear angle (along x) drawn uniformly in ``[-shear_deg, shear_deg]`` degrees.
    flip
        Mirror half of the crops.
    dropout_p
        Fraction of pixels set to 0 (black), as imgaug's ``Dropout``.
    blur_p, blur_sigma
        Probability of a Gaussian blur and the range of its standard deviation (pixels).
    """

    rotation_deg: float = 180.0
    shear_deg: float = 15.0
    flip: bool = True
    dropout_p: float = 0.01
    blur_p: float = 0.3
    blur_sigma: tuple[float, float] = (0.3, 1.2)

    def __post_init__(self) -> None:
        if not 0 <= self.rotation_deg <= 180:
            raise InvalidParameterError(f"rotation_deg must be in [0, 180], got {self.rotation_deg!r}")
        if not 0 <= self.shear_deg < 60:
            raise InvalidParameterError(f"shear_deg must be in [0, 60), got {self.shear_deg!r}")
        for name in ("dropout_p", "blur_p"):
            if not 0 <= getattr(self, name) <= 1:
                raise InvalidParameterError(f"{name} must be a probability in [0, 1], got {getattr(self, name)!r}")
        lo, hi = self.blur_sigma
        if not 0 <= lo <= hi:
            raise InvalidParameterError(f"blur_sigma must be (low, high) with 0 <= low <= high, got {self.blur_sigma!r}")

    def to_dict(self) -> dict:
        return asdict(self)


def _uniform(n: int, half: float, generator: torch.Generator) -> torch.Tensor:
    return (torch.rand(n, generator=generator, dtype=torch.float64) * 2 - 1) * half


def augment_sites(x: torch.Tensor, cfg: SiteAugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Apply ``cfg``'s random transforms to a batch of crops ``(n, 1, s, s)`` (float); returns a new batch.

    Geometry (rotation, shear, flip) is one affine resampling per crop, bilinear with mirrored
    borders, so no black corners appear (they would look like voids).
    """
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or not x.is_floating_point():
        raise ShapeError(f"x must be a float tensor (n, 1, s, s), got {getattr(x, 'shape', type(x).__name__)}")
    n = x.shape[0]
    if n == 0:
        return x
    angle = _uniform(n, math.radians(cfg.rotation_deg), generator)
    shear = torch.tan(_uniform(n, math.radians(cfg.shear_deg), generator))
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if cfg.flip else torch.ones(n)
    cos, sin = torch.cos(angle), torch.sin(angle)
    # theta = R @ S @ F, mapping output coordinates to input ones (normalised to [-1, 1])
    theta = torch.zeros(n, 2, 3, dtype=torch.float64)
    theta[:, 0, 0] = cos * flip
    theta[:, 0, 1] = cos * shear - sin
    theta[:, 1, 0] = sin * flip
    theta[:, 1, 1] = sin * shear + cos
    grid = F.affine_grid(theta.to(x.dtype).to(x.device), list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
    if cfg.blur_p > 0:
        pick = torch.rand(n, generator=generator) < cfg.blur_p
        sigmas = cfg.blur_sigma[0] + torch.rand(n, generator=generator) * (cfg.blur_sigma[1] - cfg.blur_sigma[0])
        for i in torch.nonzero(pick).ravel().tolist():
            out[i] = gaussian_blur(out[i], float(sigmas[i]))
    if cfg.dropout_p > 0:
        keep = torch.rand(out.shape, generator=generator) >= cfg.dropout_p
        out = out * keep.to(out.device, out.dtype)
    return out
