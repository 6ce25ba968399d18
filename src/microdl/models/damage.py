"""Classifiers of damage-site crops: the Network-in-Network of Kerzel et al.'s second stage, and presets.

Kerzel et al. (2021) classify each candidate site in two stages: an InceptionV3 (ImageNet
weights, 250 x 250 px crops) separates inclusions from the rest (threshold 0.7), then a
Network-in-Network-style CNN (Lin et al. 2014) on 50-100 px windows separates notch,
shadowing, interface decohesion and martensite cracking.

:class:`NiNClassifier` is the Network in Network: ``mlpconv`` blocks (a ``k x k``
convolution followed by two ``1 x 1`` convolutions, i.e. a small MLP applied at every
position), pooling and dropout between blocks, and a last block with one output map per
class, averaged globally (no fully connected layer). Inputs are standardised per crop
(zero mean, unit standard deviation), so SEM brightness and contrast settings do not matter.

Presets:

* ``kerzel2021-nin``: stage 2 as the authors, widths of Lin et al.'s CIFAR network
  (192-160-96 / 192-192-192 / 192-192-classes), batch normalisation after each convolution
  (the authors' exact layer list is not published), for 64 px windows.
* ``kerzel2021-stage1``: stage 1. InceptionV3 cannot be used as the authors did: its
  ImageNet weights cannot be downloaded here and 24 M parameters do not train from scratch on
  a few hundred crops on a CPU. The preset is the same Network in Network at half width on
  250 px crops downscaled to 125 px (a documented deviation).
* ``damage-nin-small``: a small NiN (32-32-32 / 64-64-64 / 64-64-classes) for tests and CPU
  experiments.

The micrograph encoder (``micrograph-resnet-small`` with ``n_classes``) is the alternative
classifier; its ``classify`` gives logits.

References
----------
Lin, M., Chen, Q. & Yan, S. (2014). Network in network. ICLR.
Kerzel, U. et al. (2021). Automated damage classification in dual-phase steel. TMS.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from microdl.exceptions import InvalidParameterError
from microdl.models.micrograph import standardise_crops
from microdl.models.registry import MODELS

__all__ = ["NiNClassifier", "kerzel2021_nin", "kerzel2021_stage1", "damage_nin_small"]


def _mlpconv(c_in: int, widths: tuple[int, int, int], kernel: int, norm: bool) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i, c_out in enumerate(widths):
        k = kernel if i == 0 else 1
        layers.append(nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=not norm))
        if norm:
            layers.append(nn.BatchNorm2d(c_out))
        layers.append(nn.ReLU(inplace=True))
        c_in = c_out
    return layers


class NiNClassifier(nn.Module):
    """Network in Network: three mlpconv blocks, global average pooling of one map per class.

    Parameters
    ----------
    n_classes
        Number of classes (>= 2).
    widths
        ``((a, b, c), (d, e, f), (g, h))``: the filters of the three mlpconv blocks (the last
        block ends with ``n_classes`` maps).
    kernels
        Kernel side of the first convolution of each block.
    dropout
        Dropout after the first two blocks.
    norm
        Batch normalisation after every convolution.
    input_size
        Side (px) the crops are resized to before the network (bilinear, antialiased), or
        ``None`` to take them as they come.

    Examples
    --------
    >>> import torch
    >>> net = damage_nin_small(n_classes=4).eval()
    >>> net(torch.rand(2, 1, 64, 64)).shape
    torch.Size([2, 4])
    """

    def __init__(self, n_classes: int, widths: tuple[tuple[int, ...], ...] = ((192, 160, 96), (192, 192, 192),
                                                                             (192, 192)),
                 kernels: tuple[int, int, int] = (5, 5, 3), dropout: float = 0.5, norm: bool = True,
                 input_size: int | None = None) -> None:
        super().__init__()
        if isinstance(n_classes, bool) or int(n_classes) != n_classes or n_classes < 2:
            raise InvalidParameterError(f"n_classes must be an integer >= 2, got {n_classes!r}")
        if not 0 <= dropout < 1:
            raise InvalidParameterError(f"dropout must be in [0, 1), got {dropout!r}")
        if input_size is not None and input_size < 16:
            raise InvalidParameterError(f"input_size must be >= 16 px or None, got {input_size!r}")
        self.n_classes, self.input_size = int(n_classes), input_size
        b1, b2, b3 = (tuple(w) for w in widths)
        layers = _mlpconv(1, b1, kernels[0], norm)
        layers += [nn.MaxPool2d(3, 2, padding=1), nn.Dropout(dropout)]
        layers += _mlpconv(b1[-1], b2, kernels[1], norm)
        layers += [nn.AvgPool2d(3, 2, padding=1), nn.Dropout(dropout)]
        layers += _mlpconv(b2[-1], (*b3, self.n_classes), kernels[2], norm)[:-1]  # no ReLU on the class maps
        self.body = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Class logits ``(n, n_classes)`` of gray crops ``(n, 1, h, w)`` on any scale."""
        x = x.to(torch.float32)
        if self.input_size is not None and x.shape[-1] != self.input_size:
            x = nn.functional.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                                          align_corners=False, antialias=True)
        return self.body(standardise_crops(x)).mean(dim=(2, 3))

    def classify(self, x: Tensor) -> Tensor:
        """The logits (the same call as the micrograph encoder's, so tasks treat both alike)."""
        return self(x)


_PAPER = "Kerzel et al., TMS 2021 (stage 2: Network in Network, Lin et al. 2014)"


def kerzel2021_nin(n_classes: int = 4) -> NiNClassifier:
    """Stage 2 of Kerzel et al.: a Network in Network with Lin et al.'s CIFAR widths, 64 px windows."""
    return NiNClassifier(n_classes, ((192, 160, 96), (192, 192, 192), (192, 192)), (5, 5, 3), 0.5, True, 64)


def kerzel2021_stage1(n_classes: int = 2) -> NiNClassifier:
    """Stage 1 (inclusion vs rest): a half-width NiN on 250 px crops resized to 125 px (not InceptionV3)."""
    return NiNClassifier(n_classes, ((96, 80, 48), (96, 96, 96), (96, 96)), (5, 5, 3), 0.5, True, 125)


def damage_nin_small(n_classes: int = 4) -> NiNClassifier:
    """A small NiN (32-32-32 / 64-64-64 / 64-64) for tests and CPU experiments, 64 px windows."""
    return NiNClassifier(n_classes, ((32, 32, 32), (64, 64, 64), (64, 64)), (5, 5, 3), 0.3, True, 64)


_INPUT = "(n, 1, s, s) gray crops, any scale (standardised per crop), resized to the preset's input size"
MODELS.add("kerzel2021-nin", kerzel2021_nin, paper=_PAPER, paper_parameters=None, input=_INPUT,
           summary="Damage stage 2 (notch / shadow / interface / martensite): Network in Network, 64 px windows.")
MODELS.add("kerzel2021-stage1", kerzel2021_stage1, paper="Kerzel et al., TMS 2021 (stage 1 was InceptionV3; ours)",
           paper_parameters=None, input=_INPUT,
           summary="Damage stage 1 (inclusion vs rest): half-width NiN on 250 px crops at 125 px.")
MODELS.add("damage-nin-small", damage_nin_small, paper=None, paper_parameters=None, input=_INPUT,
           summary="Small Network in Network for damage crops (tests, CPU experiments).")
