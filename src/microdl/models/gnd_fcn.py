"""A fully convolutional GND model that predicts whole maps in one pass.

Same task, input window and outputs as the Zhang & Ngan (2019) network
(:class:`~microdl.models.zhang2019.ZhangNgan2019GND`): the 7 x 7 neighbourhood
``[screw, edge, |rho_GND|]`` of a pixel (m^-2) -> 5 logits of N and the target
``z = log(1 + rho_t / rho_unit)``. The difference is the architecture: three
*valid* 3 x 3 convolutions (7 -> 5 -> 3 -> 1) and two 1 x 1 layers, so the
prediction at a pixel depends on exactly its 7 x 7 window and nothing else, and
the network is translation-equivariant. Applied to a whole (padded) map it
computes every pixel's prediction at once, sharing the convolutions between
overlapping windows. Table A1's 'same'-padded layers zero-pad *each window*,
which makes windows unshareable: a 200 x 200 map costs 4e11 multiply-adds with
Table A1 and about 1e10 with this model.

This is microdl's own model, not a paper preset; the benchmark trains it beside
the paper's network on the same data.
"""

from __future__ import annotations

from torch import Tensor, nn

from microdl.exceptions import InvalidParameterError, ShapeError, check_positive
from microdl.models.registry import register_model
from microdl.data.gnd import N_CLASSES, WINDOW
from microdl.models.zhang2019 import GNDModel, InputTransform
from microdl.simulate.gnd_config import RHO_UNIT_PER_M2

__all__ = ["GNDFullyConvolutional", "gnd_fcn7"]


def _block(c_in: int, c_out: int, kernel: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, kernel), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))


class GNDFullyConvolutional(GNDModel):
    """Translation-equivariant GND model with a 7 x 7 receptive field.

    Parameters
    ----------
    width
        Channels of the three 3 x 3 layers are ``width/2, width, width``; the
        1 x 1 layer has ``width``.
    dropout
        Dropout before the output layer.
    input_transform, rho_unit_per_m2
        Fixed input scaling and target unit, as for the Zhang & Ngan network.

    Examples
    --------
    >>> import torch
    >>> m = GNDFullyConvolutional().eval()
    >>> m(torch.full((2, 3, 7, 7), 1e14)).shape
    torch.Size([2, 6])
    >>> m.forward_map(torch.full((1, 3, 26, 36), 1e14)).shape
    torch.Size([1, 6, 20, 30])
    """

    fully_convolutional = True

    def __init__(self, width: int = 128, dropout: float = 0.2, input_transform: InputTransform = "asinh",
                 rho_unit_per_m2: float = RHO_UNIT_PER_M2) -> None:
        super().__init__()
        if width < 2:
            raise InvalidParameterError(f"width must be >= 2, got {width}")
        if not 0.0 <= dropout < 1.0:
            raise InvalidParameterError(f"dropout must be in [0, 1), got {dropout!r}")
        if input_transform not in ("asinh", "linear"):
            raise InvalidParameterError(f"input_transform must be 'asinh' or 'linear', got {input_transform!r}")
        check_positive("rho_unit_per_m2", rho_unit_per_m2)
        self.input_transform = input_transform
        self.rho_unit_per_m2 = float(rho_unit_per_m2)
        half = max(1, width // 2)
        self.input_norm = nn.BatchNorm2d(3)
        self.body = nn.Sequential(
            _block(3, half, 3), _block(half, width, 3), _block(width, width, 3),  # 7 -> 1
            _block(width, width, 1), nn.Dropout(dropout), nn.Conv2d(width, N_CLASSES + 1, 1),
        )

    def forward_map(self, x_per_m2: Tensor) -> Tensor:
        """``(n, 3, H + 6, W + 6)`` padded maps in m^-2 -> ``(n, 6, H, W)`` outputs."""
        if x_per_m2.ndim != 4 or x_per_m2.shape[1] != 3 or min(x_per_m2.shape[2:]) < WINDOW:
            raise ShapeError(f"x_per_m2 must have shape (n, 3, >=7, >=7), got {tuple(x_per_m2.shape)}")
        return self.body(self.input_norm(self.scale_input(x_per_m2)))

    def forward(self, x_per_m2: Tensor) -> Tensor:
        """Map ``(n, 3, 7, 7)`` windows in m^-2 to ``(n, 6)`` outputs (5 logits, z)."""
        if x_per_m2.ndim != 4 or tuple(x_per_m2.shape[1:]) != (3, WINDOW, WINDOW):
            raise ShapeError(f"x_per_m2 must have shape (n, 3, 7, 7), got {tuple(x_per_m2.shape)}")
        return self.forward_map(x_per_m2).flatten(1)


@register_model(
    "gnd-fcn7",
    paper=None,
    paper_parameters=None,
    input="(n, 3, 7, 7) m^-2 [screw, edge, |rho_GND|]; whole maps (n, 3, H, W) via forward_map",
)
def gnd_fcn7(width: int = 128, dropout: float = 0.2, input_transform: InputTransform = "asinh",
             rho_unit_per_m2: float = RHO_UNIT_PER_M2) -> GNDFullyConvolutional:
    """microdl's fully convolutional GND model, 7 x 7 receptive field (:class:`GNDFullyConvolutional`)."""
    return GNDFullyConvolutional(width=width, dropout=dropout, input_transform=input_transform,
                                 rho_unit_per_m2=rho_unit_per_m2)

