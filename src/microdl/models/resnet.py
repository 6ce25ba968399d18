"""Residual building blocks shared by the project's ResNets, and a backbone made of them.

The blocks are those of Yang et al. (2020) (:mod:`microdl.models.yang2020`): a 3x3
convolution block (conv with bias - BN - ReLU) stem, max-pooling 3x3 stride 2 with
TensorFlow's ``same`` padding, and stages of residual modules (``blocks`` conv-BN(-ReLU)
blocks whose last ReLU comes after the shortcut; the first module of a stage has a 1x1
conv-BN projection shortcut). BN epsilon 1e-3 and momentum 0.01 are Keras' defaults
(needed for the published weights; harmless elsewhere). The micrograph encoder
(:mod:`microdl.models.micrograph`) is the same backbone with another head.
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from microdl.exceptions import InvalidParameterError, ShapeError

__all__ = ["ResNetBackbone", "ResidualModule", "tf_same_max_pool", "BN_EPS", "BN_MOMENTUM"]

BN_EPS = 1e-3
BN_MOMENTUM = 0.01  # Keras momentum 0.99


def tf_same_max_pool(x: Tensor, kernel: int = 3, stride: int = 2) -> Tensor:
    """Max-pooling with TensorFlow's ``padding='same'``: output ``ceil(n / stride)``, extra pad bottom/right."""
    pads = []
    for n in (x.shape[-1], x.shape[-2]):  # F.pad order: last dim first
        total = max((math.ceil(n / stride) - 1) * stride + kernel - n, 0)
        pads += [total // 2, total - total // 2]
    if any(pads):
        x = F.pad(x, pads, value=float("-inf"))
    return F.max_pool2d(x, kernel, stride)


class _TFSamePool(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return tf_same_max_pool(x)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=BN_EPS, momentum=BN_MOMENTUM)


class ResidualModule(nn.Module):
    """``blocks`` conv(3x3)-BN(-ReLU) blocks + shortcut (1x1 conv-BN projection or identity), then ReLU."""

    def __init__(self, c_in: int, c_out: int, blocks: int, projection: bool) -> None:
        super().__init__()
        if not projection and c_in != c_out:
            raise InvalidParameterError(f"an identity shortcut needs c_in == c_out, got {c_in} -> {c_out}")
        self.convs = nn.ModuleList(nn.Conv2d(c_in if i == 0 else c_out, c_out, 3, padding=1)
                                   for i in range(blocks))
        self.bns = nn.ModuleList(_bn(c_out) for _ in range(blocks))
        self.proj_conv = nn.Conv2d(c_in, c_out, 1) if projection else None
        self.proj_bn = _bn(c_out) if projection else None

    def forward(self, x: Tensor) -> Tensor:
        z = x
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns, strict=True)):
            z = bn(conv(z))
            if i < len(self.convs) - 1:
                z = F.relu(z)
        short = x if self.proj_conv is None else self.proj_bn(self.proj_conv(x))
        return F.relu(z + short)


class ResNetBackbone(nn.Module):
    """Stem conv block, pool, then per stage residual modules and a pool; global-average features.

    Parameters
    ----------
    widths
        Filters of the residual stages.
    modules_per_stage, blocks_per_module
        Residual modules per stage and conv blocks per module.
    stem_width
        Filters of the first conv block.
    in_channels
        Input channels (1: gray).

    Examples
    --------
    >>> import torch
    >>> ResNetBackbone((8, 16), 1, 2).features(torch.zeros(2, 1, 32, 32)).shape
    torch.Size([2, 16])
    """

    def __init__(self, widths: tuple[int, ...] = (32, 64), modules_per_stage: int = 2,
                 blocks_per_module: int = 3, stem_width: int = 16, in_channels: int = 1) -> None:
        super().__init__()
        for key, v in (("modules_per_stage", modules_per_stage), ("blocks_per_module", blocks_per_module),
                       ("stem_width", stem_width), ("in_channels", in_channels)):
            if int(v) != v or v < 1:
                raise InvalidParameterError(f"{key} must be an integer >= 1, got {v!r}")
        widths = tuple(int(w) for w in widths)
        if not widths or min(widths) < 1:
            raise InvalidParameterError(f"widths must be positive integers, got {widths!r}")
        self.in_channels = in_channels
        self.stem_conv = nn.Conv2d(in_channels, stem_width, 3, padding=1)
        self.stem_bn = _bn(stem_width)
        self.pool = _TFSamePool()
        stages, c = [], stem_width
        for w in widths:
            mods = [ResidualModule(c if m == 0 else w, w, blocks_per_module, projection=m == 0)
                    for m in range(modules_per_stage)]
            stages.append(nn.Sequential(*mods))
            c = w
        self.stages = nn.ModuleList(stages)
        self.n_features = c

    def features(self, x: Tensor) -> Tensor:
        """Global-average-pool features ``(n, widths[-1])``."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ShapeError(f"input must have shape (n, {self.in_channels}, H, W), got {tuple(x.shape)}")
        x = self.pool(F.relu(self.stem_bn(self.stem_conv(x))))
        for stage in self.stages:
            x = self.pool(stage(x))
        return x.mean(dim=(2, 3))
