"""The fully convolutional network of Zhang & Ngan (2019) for GND windows.

The network maps a 7 x 7 window of a geometrically-necessary-dislocation (GND)
density map with three channels ``[screw, edge, |rho_GND|]`` (m^-2) to

* five logits for the number ``N`` (1..5) of dislocation lines crossing the
  centre pixel, and
* one regression output ``z`` for the centre pixel's total density ``rho_t``.

Units and scaling
-----------------
Callers pass densities in m^-2. The model owns a fixed (non-learned) input
transform, by default ``asinh(rho / rho_unit)`` with ``rho_unit = 1/(s b)`` =
7.78e15 m^-2 (:func:`microdl.simulate.gnd_config.rho_unit`, one pixel-length of line in
a pixel): it is linear for ``|rho| << rho_unit``, logarithmic above, odd (keeps the
sign of the screw and edge components) and maps the 1e13..5e16 m^-2 range of the
data to about 0.001..2.6. Models saved with another unit (the shipped ones use
1e15 m^-2) keep it: it is part of their stored configuration. The regression output is the transformed target
``z = log(1 + rho_t / rho_unit)``; :func:`target_to_rho` inverts it
(``rho_t = rho_unit * expm1(z)``). The mean-square-logarithmic loss of eqn (3)
is then the plain MSE of ``z``; see :mod:`microdl.train.losses`.

Parameter count (paper: 343,434)
--------------------------------
Table A1 with a bias in every convolution/linear layer and batch normalisation
(scale gamma and shift beta) after every learnable layer except the output has

* kernels and weights: 339,315 (convolutions) + 768 (output layer) = 340,083,
* biases: 1,113 (convolutions, one per output channel) + 6 (output) = 1,119,
* BN gamma and beta: 2 x 1,113 = 2,226,

in total **343,428** trainable parameters. The paper's 343,434 is 6 more: the
authors' public TensorFlow code also applies batch normalisation to the 3-channel
input (gamma and beta: 2 x 3 = 6) and prints the number of *trainable*
variables, i.e. BN moving mean and variance are not counted. With
``input_batchnorm=True`` (the preset default) this model therefore has exactly
343,434 trainable parameters. Counting as Keras' ``model.summary()`` does
(moving mean and variance included) gives 343,434 + 2 x 1,116 = 345,666. Note the
public code uses a 3 x 3 kernel for Conv_1_2 where Table A1 says 1 x 1; that
would give 348,434 and does not match the paper, so Table A1 is followed here.
:func:`count_parameters` reproduces these conventions.

References
----------
Zhang, Y. & Ngan, A. H. W. (2019). Extracting dislocation microstructures by deep learning. Int. J. Plasticity (seed 001),
section 3, eqn (3) and Appendix Table A1.
"""

from __future__ import annotations

from typing import Literal, TypeVar

import numpy as np
import torch
from torch import Tensor, nn

from microdl.exceptions import (
    InvalidParameterError,
    ShapeError,
    check_positive,
)
from microdl.data.gnd import N_CLASSES, WINDOW
from microdl.simulate.gnd_config import RHO_UNIT_PER_M2
from microdl.models.registry import register_model

__all__ = [
    "GNDModel",
    "ZhangNgan2019GND",
    "zhang2019_gnd",
    "rho_to_target",
    "target_to_rho",
    "count_parameters",
]

InputTransform = Literal["asinh", "linear"]
_ArrayT = TypeVar("_ArrayT", np.ndarray, Tensor)


def rho_to_target(rho_per_m2: _ArrayT, rho_unit_per_m2: float = RHO_UNIT_PER_M2) -> _ArrayT:
    """Transform a total density to the regression target ``log(1 + rho / rho_unit)``.

    Parameters
    ----------
    rho_per_m2
        Total dislocation density in m^-2 (NumPy array or torch tensor).
    rho_unit_per_m2
        Density unit in m^-2.

    Returns
    -------
    Same type as ``rho_per_m2``; dimensionless.

    Examples
    --------
    >>> import numpy as np
    >>> float(rho_to_target(np.array(1e15), rho_unit_per_m2=1e15))  # log(2)
    0.6931471805599453
    """
    if isinstance(rho_per_m2, Tensor):
        return torch.log1p(rho_per_m2 / rho_unit_per_m2)
    return np.log1p(np.asarray(rho_per_m2) / rho_unit_per_m2)


def target_to_rho(z: _ArrayT, rho_unit_per_m2: float = RHO_UNIT_PER_M2) -> _ArrayT:
    """Inverse of :func:`rho_to_target`: ``rho = rho_unit * (exp(z) - 1)`` in m^-2."""
    if isinstance(z, Tensor):
        return torch.expm1(z) * rho_unit_per_m2
    return np.expm1(np.asarray(z)) * rho_unit_per_m2


class _ConvBNReLU(nn.Sequential):
    """Convolution (with bias, as in the paper) -> batch norm -> ReLU."""

    def __init__(self, c_in: int, c_out: int, kernel: int, padding: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel_size=kernel, padding=padding, bias=True),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )


class GNDModel(nn.Module):
    """Base of the GND window models: fixed input scaling and output decoding.

    Subclasses set ``input_transform``, ``rho_unit_per_m2`` and implement
    ``forward`` mapping ``(n, 3, 7, 7)`` windows in m^-2 to ``(n, 6)`` outputs
    (5 logits of N = 1..5, then ``z = log(1 + rho_t / rho_unit)``). A subclass
    with ``fully_convolutional = True`` also provides ``forward_map`` that maps a
    padded ``(1, 3, H + 6, W + 6)`` map to ``(1, 6, H, W)`` in one pass.
    """

    fully_convolutional: bool = False
    input_transform: str
    rho_unit_per_m2: float

    def scale_input(self, x_per_m2: Tensor) -> Tensor:
        """Apply the fixed input transform to densities in m^-2."""
        x = x_per_m2 / self.rho_unit_per_m2
        return torch.asinh(x) if self.input_transform == "asinh" else x

    @staticmethod
    def split_outputs(out: Tensor) -> tuple[Tensor, Tensor]:
        """Split ``(n, 6)`` outputs into N logits ``(n, 5)`` and target ``z`` ``(n,)``."""
        return out[:, :N_CLASSES], out[:, N_CLASSES]

    def decode(self, out: Tensor) -> tuple[Tensor, Tensor]:
        """Turn outputs into ``rho_t`` in m^-2 ``(n,)`` and N probabilities ``(n, 5)``."""
        logits, z = self.split_outputs(out)
        return target_to_rho(z, self.rho_unit_per_m2), torch.softmax(logits, dim=1)


class ZhangNgan2019GND(GNDModel):
    """Zhang & Ngan (2019) Table A1 network: GND window -> (N logits, rho_t target).

    Parameters
    ----------
    dropout
        Dropout probability of the two dropout layers (paper: 0.5).
    input_transform
        Fixed input scaling: ``"asinh"`` (default) applies ``asinh(x / rho_unit)``,
        ``"linear"`` applies ``x / rho_unit``.
    rho_unit_per_m2
        Density unit in m^-2 for the input transform and the regression target
        ``z = log(1 + rho_t / rho_unit)``.
    input_batchnorm
        Batch-normalise the (scaled) input before the inception block, as the
        authors' code does; gives the paper's 343,434 parameters.
    dropout_feeds_batchnorm
        ``True`` (Table A1): Dropout_19 sits in front of Conv_20 and its batch
        normalisation. ``False``: Dropout_19 is left out, so the only dropout is
        Dropout_21 in front of the output layer (which has no batch normalisation);
        same parameters.

    Notes
    -----
    **Dropout in front of batch normalisation.** In training, Conv_20's batch
    statistics are those of dropped-out (and 1/(1-p)-rescaled) inputs; in evaluation
    the dropout is off, the input variance is smaller, and the normalised
    activations shrink. For zero-mean inputs at p = 0.5 the standard deviation
    would fall to 1/sqrt(2) = 0.71 of what training saw (Li et al. 2019, "Understanding
    the disharmony between dropout and batch normalization"); Conv_20 sees
    non-negative ReLU outputs, and on the shipped ``zhang2019-gnd`` the measured ratio
    is 0.89 (median over its 128 channels, 5,000 validation windows; 0.97 with the
    dropout left on). The preset keeps the paper's order; ``zhang2019-gnd-dropout-last``
    is the variant without it.

    ``forward`` takes densities in m^-2 of shape ``(n, 3, 7, 7)`` with channels
    ``[screw, edge, |rho_GND|]`` and returns ``(n, 6)``: columns 0..4 are the
    logits of N = 1..5, column 5 is ``z``. Use :meth:`split_outputs` and
    :func:`target_to_rho`, or :func:`microdl.analysis.gnd.predict_windows`.

    Examples
    --------
    >>> import torch
    >>> model = ZhangNgan2019GND().eval()
    >>> model(torch.full((2, 3, 7, 7), 1e14)).shape
    torch.Size([2, 6])
    """

    def __init__(
        self,
        dropout: float = 0.5,
        input_transform: InputTransform = "asinh",
        rho_unit_per_m2: float = RHO_UNIT_PER_M2,
        input_batchnorm: bool = True,
        dropout_feeds_batchnorm: bool = True,
    ) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise InvalidParameterError(f"dropout must be in [0, 1), got {dropout!r}")
        if input_transform not in ("asinh", "linear"):
            raise InvalidParameterError(
                f"input_transform must be 'asinh' or 'linear', got {input_transform!r}"
            )
        check_positive("rho_unit_per_m2", rho_unit_per_m2)
        self.input_transform = input_transform
        self.rho_unit_per_m2 = float(rho_unit_per_m2)
        self.input_norm = nn.BatchNorm2d(3) if input_batchnorm else nn.Identity()
        # Inception-style block (Conv_1_1 .. Maxpooling_3_2), 'same' padding.
        self.branch1 = nn.Sequential(_ConvBNReLU(3, 25, 3, 1), _ConvBNReLU(25, 25, 1, 0))
        self.branch2 = nn.Sequential(_ConvBNReLU(3, 10, 1, 0), _ConvBNReLU(10, 25, 3, 1))
        self.branch3 = nn.Sequential(
            _ConvBNReLU(3, 25, 1, 0), nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        )
        layers: list[nn.Module] = []
        c = 75
        for c_out in range(30, 66, 5):  # Conv_5 .. Conv_12: 3x3 'same'
            layers.append(_ConvBNReLU(c, c_out, 3, 1))
            c = c_out
        for c_out in range(70, 96, 5):  # Conv_13 .. Conv_18: 2x2 'valid', 7 -> 1
            layers.append(_ConvBNReLU(c, c_out, 2, 0))
            c = c_out
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Dropout(dropout) if dropout_feeds_batchnorm else nn.Identity(),  # Dropout_19
            _ConvBNReLU(95, 128, 1, 0),  # Conv_20 (= fully connected 128)
            nn.Dropout(dropout),  # Dropout_21
            nn.Flatten(),  # Flatten_22
            nn.Linear(128, N_CLASSES + 1),  # Fully_connected_23, no BN/ReLU
        )

    def forward(self, x_per_m2: Tensor) -> Tensor:
        """Map ``(n, 3, 7, 7)`` windows in m^-2 to ``(n, 6)`` outputs (5 logits, z)."""
        if x_per_m2.ndim != 4 or tuple(x_per_m2.shape[1:]) != (3, WINDOW, WINDOW):
            raise ShapeError(
                f"x_per_m2 must have shape (n, 3, 7, 7), got {tuple(x_per_m2.shape)}"
            )
        x = self.input_norm(self.scale_input(x_per_m2))
        x = torch.cat([self.branch1(x), self.branch2(x), self.branch3(x)], dim=1)
        return self.head(self.trunk(x))


@register_model(
    "zhang2019-gnd",
    paper="Zhang & Ngan (2019), Int. J. Plasticity, Appendix Table A1",
    paper_parameters=343_434,
    input="(n, 3, 7, 7) m^-2 [screw, edge, |rho_GND|]",
)
def zhang2019_gnd(
    dropout: float = 0.5,
    input_transform: InputTransform = "asinh",
    rho_unit_per_m2: float = RHO_UNIT_PER_M2,
    input_batchnorm: bool = True,
) -> ZhangNgan2019GND:
    """Zhang & Ngan (2019) Table A1 preset (343,434 trainable parameters).

    See :class:`ZhangNgan2019GND` for the parameters.
    """
    return ZhangNgan2019GND(
        dropout=dropout,
        input_transform=input_transform,
        rho_unit_per_m2=rho_unit_per_m2,
        input_batchnorm=input_batchnorm,
    )


@register_model(
    "zhang2019-gnd-dropout-last",
    paper="Zhang & Ngan (2019) Table A1 without the dropout in front of Conv_20's batch norm",
    paper_parameters=343_434,
    input="(n, 3, 7, 7) m^-2 [screw, edge, |rho_GND|]",
)
def zhang2019_gnd_dropout_last(
    dropout: float = 0.5,
    input_transform: InputTransform = "asinh",
    rho_unit_per_m2: float = RHO_UNIT_PER_M2,
    input_batchnorm: bool = True,
) -> ZhangNgan2019GND:
    """Table A1 with one dropout, in front of the output layer only (no variance shift).

    See :class:`ZhangNgan2019GND` (``dropout_feeds_batchnorm=False``).
    """
    return ZhangNgan2019GND(
        dropout=dropout,
        input_transform=input_transform,
        rho_unit_per_m2=rho_unit_per_m2,
        input_batchnorm=input_batchnorm,
        dropout_feeds_batchnorm=False,
    )


def count_parameters(
    model: nn.Module, *, convention: Literal["trainable", "keras"] = "trainable"
) -> int:
    """Count a model's parameters.

    Parameters
    ----------
    model
        Any module.
    convention
        ``"trainable"``: learnable tensors only (PyTorch ``requires_grad``, the
        TensorFlow ``trainable_variables`` count the paper printed).
        ``"keras"``: also the batch-norm moving mean and variance, as Keras'
        ``model.summary()`` reports them (``num_batches_tracked`` excluded).

    Returns
    -------
    int
        Number of scalar parameters.
    """
    n = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if convention == "trainable":
        return n
    if convention == "keras":
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                n += m.running_mean.numel() + m.running_var.numel()
        return n
    raise InvalidParameterError(
        f"convention must be 'trainable' or 'keras', got {convention!r}"
    )
