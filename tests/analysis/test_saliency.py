"""Saliency maps, guided backprop and activation maximisation against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from microdl.analysis.saliency import (
    activation_maximisation,
    maximise_layer,
    plot_filter_grid,
    plot_profile_saliency,
    profile_saliency,
    saliency,
)
from microdl.exceptions import InvalidParameterError, NonFiniteError, ShapeError, UnknownNameError
from microdl.models.yang2020 import Yang2020ResNet


def _seeded(build, seed: int = 0):
    with torch.random.fork_rng():  # test only; the library never seeds
        torch.manual_seed(seed)
        return build()


def _n_hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               for m in model.modules())


@pytest.fixture(scope="module")
def tiny_yang():
    return _seeded(lambda: Yang2020ResNet(widths=(4, 8), modules_per_stage=1, blocks_per_module=2,
                                          stem_width=4)).eval()


class _TwoReLUs(nn.Module):
    """x (3) -> W1 -> F.relu -> W2 -> nn.ReLU -> W3 -> 1 logit: one functional and one module ReLU."""

    W1 = [[1.0, -1.0, 0.0], [0.0, 1.0, 1.0], [-1.0, 0.0, 2.0]]
    W2 = [[1.0, -2.0, 1.0], [-1.0, 1.0, 1.0]]
    W3 = [[1.0, -1.0]]

    def __init__(self):
        super().__init__()
        self.l1, self.l2, self.l3 = (nn.Linear(len(w[0]), len(w), bias=False) for w in (self.W1, self.W2, self.W3))
        with torch.no_grad():
            for lin, w in ((self.l1, self.W1), (self.l2, self.W2), (self.l3, self.W3)):
                lin.weight.copy_(torch.tensor(w))
        self.relu = nn.ReLU()
        self.fail = False

    def forward(self, x):
        h = F.relu(self.l1(x.flatten(1)))
        if self.fail:
            raise RuntimeError("boom")
        return self.l3(self.relu(self.l2(h)))


def _hand_backprop(x, rule):
    """Backward pass of _TwoReLUs by hand (numpy): gradient of the logit w.r.t. x under ``rule``."""
    W1, W2, W3 = (np.array(w) for w in (_TwoReLUs.W1, _TwoReLUs.W2, _TwoReLUs.W3))
    z1 = W1 @ x
    z2 = W2 @ np.maximum(z1, 0)

    def relu_back(g, z):
        if rule == "gradient":
            return g * (z > 0)
        if rule == "guided":
            return g * (g > 0) * (z > 0)
        return g * (g > 0)  # rectified

    g2 = relu_back(W3[0], z2)
    g1 = relu_back(W2.T @ g2, z1)
    return W1.T @ g1


def test_gradient_saliency_of_linear_model_is_abs_weights():
    lin = _seeded(lambda: nn.Sequential(nn.Flatten(), nn.Linear(2 * 4 * 5, 3)))
    w = lin[1].weight.detach().numpy().reshape(3, 2, 4, 5)
    x = torch.randn(4, 2, 4, 5, generator=torch.Generator().manual_seed(1)) * 50
    target = [0, 2, 1, 2]
    s = saliency(lin, x, target)
    assert s.shape == (4, 4, 5) and s.dtype == np.float32
    np.testing.assert_allclose(s, np.abs(w[target]).max(axis=1), rtol=1e-6)
    # default target: each sample's predicted class
    pred = lin(x).argmax(1).numpy()
    np.testing.assert_allclose(saliency(lin, x), np.abs(w[pred]).max(axis=1), rtol=1e-6)
    np.testing.assert_allclose(saliency(lin, x, 1, batch_size=3), np.abs(w[[1] * 4]).max(axis=1), rtol=1e-6)


@pytest.mark.parametrize("method", ["gradient", "guided", "rectified"])
def test_modified_backprop_matches_hand_computation(method):
    net = _TwoReLUs()
    xs = np.array([[1.0, -0.5, 2.0], [2.0, 1.0, -1.0], [-1.0, 3.0, 0.5], [0.5, 0.5, 0.5]])
    s = saliency(net, torch.tensor(xs, dtype=torch.float32).reshape(4, 1, 1, 3), 0, method=method)
    expected = np.stack([np.abs(_hand_backprop(x, method)) for x in xs]).reshape(4, 1, 3)
    np.testing.assert_allclose(s, expected, atol=1e-6)


def test_guided_differs_from_gradient_on_the_hand_example():
    x = np.array([1.0, -0.5, 2.0])
    assert not np.allclose(np.abs(_hand_backprop(x, "guided")), np.abs(_hand_backprop(x, "gradient")))


def test_mode_and_hooks_restored_even_after_an_exception():
    net = _TwoReLUs().train()
    net.l2.eval()  # mixed flags must come back exactly
    flags = [m.training for m in net.modules()]
    hooks = _n_hooks(net)
    x = torch.ones(2, 1, 1, 3)
    saliency(net, x, 0, method="guided")
    assert [m.training for m in net.modules()] == flags and _n_hooks(net) == hooks
    net.fail = True
    with pytest.raises(RuntimeError, match="boom"):
        saliency(net, x, 0, method="guided")
    assert [m.training for m in net.modules()] == flags and _n_hooks(net) == hooks
    # the guided rule did not leak: a plain ReLU passes a negative gradient again
    z = torch.tensor([1.0], requires_grad=True)
    (-F.relu(z)).sum().backward()
    assert z.grad.item() == -1.0


def test_guided_without_relu_warns_and_bad_inputs_raise():
    lin = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    with pytest.warns(UserWarning, match="no ReLU"):
        saliency(lin, torch.ones(1, 1, 2, 2), method="guided")
    with pytest.raises(InvalidParameterError, match="method"):
        saliency(lin, torch.ones(1, 1, 2, 2), method="smooth")
    with pytest.raises(ShapeError, match="x must have shape"):
        saliency(lin, torch.ones(1, 2, 2))
    with pytest.raises(NonFiniteError):
        saliency(lin, torch.full((1, 1, 2, 2), float("nan")))
    with pytest.raises(InvalidParameterError, match="target"):
        saliency(lin, torch.ones(1, 1, 2, 2), target=2)
    with pytest.raises(ShapeError, match="target"):
        saliency(lin, torch.ones(3, 1, 2, 2), target=[0, 1])


def test_profile_saliency_shape_and_orientation(tiny_yang):
    img = np.random.default_rng(0).integers(0, 256, (20, 70), dtype=np.uint8)
    flags = [m.training for m in tiny_yang.modules()]
    s = profile_saliency(tiny_yang, img, crop=16, method="guided")
    assert s.shape == img.shape and np.isfinite(s).all() and (s >= 0).all() and s.max() > 0
    np.testing.assert_allclose(profile_saliency(tiny_yang, img.T, crop=16, method="guided"), s.T,
                               rtol=1e-5, atol=1e-7)
    assert profile_saliency(tiny_yang, img, crop=16, crops="centre", target=1).shape == img.shape
    assert [m.training for m in tiny_yang.modules()] == flags


class _HalfSquare(nn.Module):
    """One logit ``0.5 * sum(x**2)``: its gradient is ``x``, so each crop's saliency is the crop itself."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))

    def forward(self, x):
        return 0.5 * (x ** 2).sum(dim=(1, 2, 3))[:, None] + self.dummy


@pytest.mark.parametrize("crops", ["all", "centre", "resized"])
def test_profile_saliency_maps_crops_back_onto_the_profile(crops):
    # The saliency of every crop is the crop; mapped back it must give the (smooth) profile again,
    # where the crops saw it: this checks every crop's offset, scale and the averaging.
    yy, xx = np.mgrid[0:40, 0:120]
    img = 40 + 150 * np.exp(-((yy - 22) ** 2 + (xx - 70) ** 2) / (2 * 9.0 ** 2)) + 0.3 * xx
    s = profile_saliency(_HalfSquare(), img.astype(np.float32), crop=32, crops=crops)
    ref = (img - img.min()) * 255 / (img.max() - img.min())  # to_gray255 rescales non-uint8 input
    seen = np.isfinite(s)
    if crops == "centre":  # the centre crops miss the margins and the seams between the squares
        assert not seen[:2].any() and not seen[:, 39:42].any() and seen[8:32, 5:35].all()
    else:
        assert seen.all()
    err = np.abs(s - ref)[seen]
    assert err.max() < 0.05 * 255
    assert np.unravel_index(np.nanargmax(s), s.shape) == pytest.approx((22, 70), abs=1)


def test_activation_maximisation_raises_activation_and_is_reproducible(tiny_yang):
    layer = "stages.0.0.convs.1"
    kw = dict(size=24, steps=15, lr=2.0)
    a = activation_maximisation(tiny_yang, layer, 3, generator=torch.Generator().manual_seed(5), **kw)
    b = activation_maximisation(tiny_yang, layer, 3, generator=5, **kw)
    c = activation_maximisation(tiny_yang, layer, 3, generator=6, **kw)
    assert a.shape == (24, 24) and a.min() >= 0 and a.max() <= 255
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # steps=0 gives the same starting noise; the ascent raised the channel's mean activation from it
    start, act0 = maximise_layer(tiny_yang, layer, [3], generator=5, **{**kw, "steps": 0})
    end, act1 = maximise_layer(tiny_yang, layer, [3], generator=5, **kw)
    np.testing.assert_array_equal(end[0], a)
    assert 115 <= start.min() and start.max() <= 140 and act1[0] > act0[0] + 0.5
    assert _n_hooks(tiny_yang) == 0 and not tiny_yang.training


def test_activation_maximisation_restores_mode_after_an_error():
    net = _seeded(lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.BatchNorm2d(2))).train()
    with pytest.raises(InvalidParameterError, match="channel must be in 0..1"):
        activation_maximisation(net, "0", 2, size=8, steps=1, generator=0)
    assert net.training and all(m.training for m in net.modules()) and _n_hooks(net) == 0


def test_activation_maximisation_regularisers_and_layer_batch(tiny_yang):
    imgs, acts = maximise_layer(tiny_yang, tiny_yang.stem_conv, size=16, steps=5, generator=0,
                                decay=0.01, blur_sigma=0.5, blur_every=2)
    assert imgs.shape == (4, 16, 16) and acts.shape == (4,) and np.isfinite(imgs).all()
    fig = plot_filter_grid(imgs, activations=acts, top=3, ncols=2, title="stem")
    assert sum(ax.has_data() for ax in fig.axes) == 3


def test_unknown_layer_and_bad_channel(tiny_yang):
    with pytest.raises(UnknownNameError, match="stem_conv") as err:
        activation_maximisation(tiny_yang, "stages.9", 0, size=16, steps=1, generator=0)
    assert "'stages.9'" in str(err.value)
    with pytest.raises(InvalidParameterError, match="channel must be in 0..3"):
        activation_maximisation(tiny_yang, "stem_conv", 4, size=16, steps=1, generator=0)
    with pytest.raises(InvalidParameterError, match="submodule"):
        activation_maximisation(tiny_yang, nn.Conv2d(1, 1, 3), 0, size=16, steps=1, generator=0)
    with pytest.raises(InvalidParameterError, match="lr"):
        activation_maximisation(tiny_yang, "stem_conv", 0, lr=0.0, generator=0)
    assert _n_hooks(tiny_yang) == 0


def test_profile_figure(tiny_yang):
    img = np.random.default_rng(1).integers(0, 256, (20, 70), dtype=np.uint8)
    fig = plot_profile_saliency(tiny_yang, img, crop=16, class_names=("0.1 %", "1 %", "10 %"))
    assert len(fig.axes) == 3
    assert any("guided" in ax.get_title() for ax in fig.axes)
