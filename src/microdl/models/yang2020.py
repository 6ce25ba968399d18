"""The residual network of Yang et al. (2020) for strain profiles (seed 000).

``input - conv16 - pool - (Res32 x 3) x 2 - pool - (Res64 x 3) x 2 - pool - avgpool - output``:
a 3x3 convolution block (conv with bias - BN - ReLU) with 16 filters, max-pooling
3x3 stride 2 ``same``; per stage (32, then 64 filters) residual modules of three
conv blocks whose last ReLU comes after the addition of the shortcut; the first
module of a stage has a 1x1 conv + BN projection shortcut, the others the
identity (this is the layer graph stored in the published weights; the paper's
text says every module has a 1x1 projection, the file says otherwise); a max-pool
after each stage; global average pooling; a dense layer with 3 outputs (logits
of prior strain 0.1 %, 1 %, 10 %; softmax is left to the caller).

Exactness details for the published Keras weights: BN epsilon 1e-3 (Keras
momentum 0.99 = torch momentum 0.01), and TensorFlow's ``same`` padding for the
stride-2 max-pooling, which pads ``max(0, (ceil(n/2) - 1) * 2 + 3 - n)`` pixels
with the larger half at the bottom/right (an even size gets 0 before, 1 after),
with ``-inf`` so padding never wins the max.

The paper's two variants (Table 1) read ``Res32 x 4 - pool - Res64 x 4``: one
residual module of four conv blocks per stage (the notation of the proposed
model puts blocks-per-module inside the parentheses and modules outside). They
differ only by an L2 penalty of 1e-4 on every convolution kernel, a training
setting recorded on the registry entries (``keras_l2``; Keras adds
``l2 * sum(w**2)`` to the loss, i.e. a gradient ``2 * l2 * w``, the same as a
coupled weight decay of 2e-4 on the conv kernels).

Input: ``(n, 1, H, W)`` raw gray values 0..255 (no scaling), 224 x 224 in the
paper (any size >= 8 works: the head is a global average).
"""

from __future__ import annotations

import math

import torch.nn.functional as F
from torch import Tensor, nn

from microdl.exceptions import InvalidParameterError, ShapeError
from microdl.models.registry import MODELS

__all__ = ["Yang2020ResNet", "tf_same_max_pool", "PRIOR_STRAIN_PERCENT", "BN_EPS", "BN_MOMENTUM"]

PRIOR_STRAIN_PERCENT = (0.1, 1.0, 10.0)
"""Prior strain (%) of class 0, 1, 2."""
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


class Yang2020ResNet(nn.Module):
    """Yang et al. (2020) ResNet: gray strain-profile crops -> 3 prior-strain logits.

    Parameters
    ----------
    widths
        Filters of the residual stages (paper: 32, 64).
    modules_per_stage
        Residual modules per stage (proposed model: 2; variants: 1).
    blocks_per_module
        Conv blocks per residual module (proposed model: 3; variants: 4).
    stem_width
        Filters of the first conv block (16).
    in_channels, n_classes
        1 gray channel; 3 classes (0.1, 1, 10 % prior strain).

    Examples
    --------
    >>> import torch
    >>> Yang2020ResNet().eval()(torch.zeros(2, 1, 64, 64)).shape
    torch.Size([2, 3])
    """

    def __init__(self, widths: tuple[int, ...] = (32, 64), modules_per_stage: int = 2,
                 blocks_per_module: int = 3, stem_width: int = 16, in_channels: int = 1,
                 n_classes: int = 3) -> None:
        super().__init__()
        for key, v in (("modules_per_stage", modules_per_stage), ("blocks_per_module", blocks_per_module),
                       ("stem_width", stem_width), ("in_channels", in_channels), ("n_classes", n_classes)):
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
        self.fc = nn.Linear(c, n_classes)

    def features(self, x: Tensor) -> Tensor:
        """Global-average-pool features ``(n, widths[-1])`` (the paper's second-to-last layer)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ShapeError(f"input must have shape (n, {self.in_channels}, H, W), got {tuple(x.shape)}")
        x = self.pool(F.relu(self.stem_bn(self.stem_conv(x))))
        for stage in self.stages:
            x = self.pool(stage(x))
        return x.mean(dim=(2, 3))

    def forward(self, x: Tensor) -> Tensor:
        """Map ``(n, 1, H, W)`` gray values 0..255 to ``(n, 3)`` logits."""
        return self.fc(self.features(x))


_INPUT = "(n, 1, 224, 224) gray values 0..255 (no scaling); 24 crops per profile, softmax averaged"
_PAPER = "Yang et al. (2020), Sci. Rep., Table 1 and section 4.5"
_TRAINING = "Adam lr 1e-3, batch 72, early stopping patience 20 (val loss)"


def _register(name: str, factory, *, keras_l2: float, summary: str) -> None:
    # register_model's metadata plus the training settings of Table 1 (L2 is not an architecture choice).
    MODELS.add(name, factory, paper=_PAPER, paper_parameters=None, input=_INPUT, summary=summary,
               keras_l2=keras_l2, training=_TRAINING)


def yang2020_resnet(n_classes: int = 3) -> Yang2020ResNet:
    """Yang et al. (2020) proposed ResNet, (Res32 x 3) x 2, (Res64 x 3) x 2 (the published weights)."""
    return Yang2020ResNet(modules_per_stage=2, blocks_per_module=3, n_classes=n_classes)


def yang2020_resnet_res4(n_classes: int = 3) -> Yang2020ResNet:
    """Yang et al. (2020) variant Res32 x 4, Res64 x 4 without L2 (Table 1: 90.01 %)."""
    return Yang2020ResNet(modules_per_stage=1, blocks_per_module=4, n_classes=n_classes)


def yang2020_resnet_res4_l2(n_classes: int = 3) -> Yang2020ResNet:
    """Yang et al. (2020) variant Res32 x 4, Res64 x 4 with L2 1e-4 on conv kernels (Table 1: 91.58 %)."""
    return Yang2020ResNet(modules_per_stage=1, blocks_per_module=4, n_classes=n_classes)


_register("yang2020-resnet", yang2020_resnet, keras_l2=0.0,
          summary="Yang et al. (2020) proposed ResNet (the published weights' architecture).")
_register("yang2020-resnet-res4", yang2020_resnet_res4, keras_l2=0.0,
          summary="Yang et al. (2020) variant Res x 4 blocks, no L2.")
_register("yang2020-resnet-res4-l2", yang2020_resnet_res4_l2, keras_l2=1e-4,
          summary="Yang et al. (2020) variant Res x 4 blocks, L2 1e-4 (training setting).")
