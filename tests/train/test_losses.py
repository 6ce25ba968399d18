import math

import pytest
import torch

from microdl.exceptions import InvalidParameterError, ShapeError
from microdl.train.losses import MultitaskLoss, multitask_loss

UNIT = 1e15


def _hand(ratio, reg):
    # two samples; logits favour class 0 and class 2; z values given directly
    logits = [[2.0, 0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0, 0.0]]
    z = [math.log(1.5), math.log(3.0)]  # predictions rho_hat = 0.5e15, 2e15
    rho = [1e15, 4e15]
    n = [1, 4]  # true classes 0 and 3
    ce = 0.0
    for lg, k in zip(logits, n, strict=True):
        lse = math.log(sum(math.exp(v) for v in lg))
        ce += -(lg[k - 1] - lse)
    ce /= 2
    if reg == "msle":
        r = ((z[0] - math.log(2.0)) ** 2 + (z[1] - math.log(5.0)) ** 2) / 2
    else:
        r = ((0.5 - 1.0) ** 2 + (2.0 - 4.0) ** 2) / 2
    out = torch.tensor([lg + [zz] for lg, zz in zip(logits, z, strict=True)], dtype=torch.float64)
    total = (1 - ratio) * r + ratio * ce
    return out, torch.tensor(rho, dtype=torch.float64), torch.tensor(n), total, r, ce


@pytest.mark.parametrize("reg", ["mse", "msle"])
@pytest.mark.parametrize("ratio", [0.0, 0.5, 1.0])
def test_loss_matches_hand_computation(ratio, reg):
    out, rho, n, expected, r, ce = _hand(ratio, reg)
    parts = multitask_loss(out, rho, n, ratio=ratio, reg=reg, rho_unit_per_m2=UNIT)
    assert parts.total.item() == pytest.approx(expected, rel=1e-12)
    assert parts.reg.item() == pytest.approx(r, rel=1e-12)
    assert parts.cal.item() == pytest.approx(ce, rel=1e-12)
    module = MultitaskLoss(ratio=ratio, reg=reg, rho_unit_per_m2=UNIT)
    assert module(out, rho, n).total.item() == pytest.approx(expected, rel=1e-12)


def test_loss_gradient_flows():
    out, rho, n, *_ = _hand(0.5, "msle")
    out.requires_grad_(True)
    multitask_loss(out, rho, n, ratio=0.5).total.backward()
    assert out.grad is not None and torch.isfinite(out.grad).all()


@pytest.mark.parametrize("ratio", [-0.1, 1.5, float("nan"), "0.5"])
def test_invalid_ratio(ratio):
    out, rho, n, *_ = _hand(0.5, "msle")
    with pytest.raises(InvalidParameterError, match="ratio"):
        multitask_loss(out, rho, n, ratio=ratio)
    with pytest.raises(InvalidParameterError, match="ratio"):
        MultitaskLoss(ratio=ratio)


def test_invalid_reg_and_shapes():
    out, rho, n, *_ = _hand(0.5, "msle")
    with pytest.raises(InvalidParameterError, match="reg"):
        multitask_loss(out, rho, n, ratio=0.5, reg="mae")
    with pytest.raises(ShapeError):
        multitask_loss(out[:, :5], rho, n, ratio=0.5)
    with pytest.raises(ShapeError):
        multitask_loss(out, rho[:1], n, ratio=0.5)
