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

from torch import Tensor, nn

from microdl.exceptions import InvalidParameterError
from microdl.models.registry import MODELS
from microdl.models.resnet import BN_EPS, BN_MOMENTUM, ResidualModule, ResNetBackbone, tf_same_max_pool

__all__ = ["Yang2020ResNet", "ResidualModule", "tf_same_max_pool", "PRIOR_STRAIN_PERCENT", "BN_EPS",
           "BN_MOMENTUM"]

PRIOR_STRAIN_PERCENT = (0.1, 1.0, 10.0)
"""Prior strain (%) of class 0, 1, 2."""


class Yang2020ResNet(ResNetBackbone):
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
        if int(n_classes) != n_classes or n_classes < 1:
            raise InvalidParameterError(f"n_classes must be an integer >= 1, got {n_classes!r}")
        super().__init__(widths, modules_per_stage, blocks_per_module, stem_width, in_channels)
        self.fc = nn.Linear(self.n_features, n_classes)

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
