"""Multitask loss of Zhang & Ngan (2019), eqn (3).

``loss = (1 - ratio) * reg + ratio * cal`` where ``cal`` is the softmax
cross-entropy of the line count N (classes N = 1..5) and ``reg`` is either

* ``"mse"``:  mean of ``(rho_t / rho_unit - rho_hat / rho_unit)^2``, or
* ``"msle"``: mean of ``(log(1 + rho_t / rho_unit) - log(1 + rho_hat / rho_unit))^2``, or
* ``"mape"``: mean of ``|rho_hat - rho_t| / rho_t``, the benchmark's metric itself (not in
  the paper; MSLE estimates a geometric mean, which is biased low for MAPE). ``z`` is capped
  at ``log(1 + rho_t / rho_unit) + 3`` inside this term so that a wild early prediction
  cannot overflow ``expm1``.

Densities are divided by ``rho_unit`` (default ``1/(s b)`` = 7.78e15 m^-2,
:func:`microdl.simulate.gnd_config.rho_unit`) so both terms are
O(1); eqn (3) writes ``log(rho + 1)`` with rho in the paper's (unstated) units.
The network's regression output is ``z = log(1 + rho_hat / rho_unit)``
(see :mod:`microdl.models.zhang2019`), so MSLE is the MSE of ``z`` and MSE uses
``rho_hat / rho_unit = expm1(z)``.

References
----------
Zhang, Y. & Ngan, A. H. W. (2019). Extracting dislocation microstructures by deep learning. Int. J. Plasticity, eqn (3).
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from microdl.exceptions import InvalidParameterError, ShapeError, check_positive
from microdl.simulate.gnd_config import RHO_UNIT_PER_M2

__all__ = ["LossParts", "multitask_loss", "MultitaskLoss", "RegressionLoss", "check_ratio"]

RegressionLoss = Literal["mse", "msle", "mape"]
_REGS = ("mse", "msle", "mape")
N_CLASSES = 5


class LossParts(NamedTuple):
    """The total loss and its two unweighted terms (all scalar tensors)."""

    total: Tensor
    reg: Tensor
    cal: Tensor


def check_ratio(ratio: float) -> float:
    """Validate the eqn (3) mixing ratio: a finite number in [0, 1]."""
    if not isinstance(ratio, (int, float)) or not 0.0 <= float(ratio) <= 1.0:
        raise InvalidParameterError(f"ratio must be a number in [0, 1], got {ratio!r}")
    return float(ratio)


def _check_reg(reg: str) -> None:
    if reg not in _REGS:
        raise InvalidParameterError(f"reg must be one of {list(_REGS)}, got {reg!r}")


def multitask_loss(
    outputs: Tensor,
    rho_t_per_m2: Tensor,
    n_lines: Tensor,
    *,
    ratio: float,
    reg: RegressionLoss = "msle",
    rho_unit_per_m2: float = RHO_UNIT_PER_M2,
) -> LossParts:
    """Eqn (3) of Zhang & Ngan (2019) for a batch.

    Parameters
    ----------
    outputs
        ``(n, 6)`` network outputs: 5 logits of N = 1..5 and
        ``z = log(1 + rho_hat / rho_unit)``.
    rho_t_per_m2
        ``(n,)`` true total densities in m^-2.
    n_lines
        ``(n,)`` integer line counts in 1..5.
    ratio
        Weight of the classification term, in [0, 1].
    reg
        ``"mse"``, ``"msle"`` or ``"mape"``.
    rho_unit_per_m2
        Density unit in m^-2.

    Returns
    -------
    LossParts
        ``total``, and the unweighted ``reg`` and ``cal`` terms.
    """
    ratio = check_ratio(ratio)
    _check_reg(reg)
    check_positive("rho_unit_per_m2", rho_unit_per_m2)
    if outputs.ndim != 2 or outputs.shape[1] != N_CLASSES + 1:
        raise ShapeError(f"outputs must have shape (n, 6), got {tuple(outputs.shape)}")
    n = outputs.shape[0]
    if tuple(rho_t_per_m2.shape) != (n,) or tuple(n_lines.shape) != (n,):
        raise ShapeError(
            f"rho_t_per_m2 and n_lines must have shape ({n},), got "
            f"{tuple(rho_t_per_m2.shape)} and {tuple(n_lines.shape)}"
        )
    logits, z = outputs[:, :N_CLASSES], outputs[:, N_CLASSES]
    rho = rho_t_per_m2.to(z.dtype) / rho_unit_per_m2
    if reg == "msle":
        reg_term = torch.mean((z - torch.log1p(rho)) ** 2)
    elif reg == "mape":
        target = torch.log1p(rho)
        reg_term = torch.mean(torch.abs(torch.expm1(torch.minimum(z, target + 3.0)) - rho) / rho)
    else:
        reg_term = torch.mean((torch.expm1(z) - rho) ** 2)
    cal_term = F.cross_entropy(logits, n_lines.long() - 1)
    total = (1.0 - ratio) * reg_term + ratio * cal_term
    return LossParts(total, reg_term, cal_term)


class MultitaskLoss(nn.Module):
    """Module form of :func:`multitask_loss` with fixed ``ratio``, ``reg`` and unit."""

    def __init__(
        self, ratio: float = 0.5, reg: RegressionLoss = "msle", rho_unit_per_m2: float = RHO_UNIT_PER_M2
    ) -> None:
        super().__init__()
        self.ratio = check_ratio(ratio)
        _check_reg(reg)
        check_positive("rho_unit_per_m2", rho_unit_per_m2)
        self.reg = reg
        self.rho_unit_per_m2 = float(rho_unit_per_m2)

    def forward(self, outputs: Tensor, rho_t_per_m2: Tensor, n_lines: Tensor) -> LossParts:
        """See :func:`multitask_loss`."""
        return multitask_loss(
            outputs,
            rho_t_per_m2,
            n_lines,
            ratio=self.ratio,
            reg=self.reg,
            rho_unit_per_m2=self.rho_unit_per_m2,
        )
