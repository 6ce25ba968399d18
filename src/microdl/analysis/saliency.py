"""Explanations of image classifiers: saliency maps and filter visualisation (Yang et al. 2020, §2.3).

Saliency [2]_ is ``|d logit / d pixel|``, maximum over input channels. Modified ReLU backward
rules: ``"guided"`` [3]_ passes a gradient only where it is positive *and* the ReLU's input
was; ``"rectified"`` (deconvnet [4]_) passes positive gradients whatever the input. The
latter is keras-vis' ``backprop_modifier="relu"``, matching [1]_'s words for Fig. 7(c) ("only
the positive gradients can be back propagated"); the issue asks for guided, so both exist.

ReLUs are replaced during the forward pass by a :class:`torch.overrides.TorchFunctionMode`,
not module hooks, so ``F.relu`` / ``torch.relu`` / ``Tensor.relu`` calls are modified as well
as ``nn.ReLU`` modules: all ReLUs of :class:`~microdl.models.yang2020.Yang2020ResNet` are
functional, and hook-based tools (Captum's ``GuidedBackprop`` hooks ``nn.ReLU`` only) silently
give the plain gradient for it. Models run in eval mode (batch norm with running statistics,
so a map depends on its own sample only); train/eval flags and hooks are restored, also on error.

Filters are visualised by activation maximisation ([1]_, after Chollet's Keras example):
gradient ascent on the input from gray noise; optional regularisers of [5]_.

References
----------
.. [1] Z. Yang et al., "Learning to predict crystal plasticity at the nanoscale: deep residual
   networks and size effects in uniaxial compression discrete dislocation simulations",
   Sci. Rep. (2020), section 2.3, Figs. 6 and 7.
.. [2] K. Simonyan, A. Vedaldi, A. Zisserman, "Deep inside convolutional networks: visualising
   image classification models and saliency maps", arXiv:1312.6034 (2014).
.. [3] J. T. Springenberg et al., "Striving for simplicity: the all convolutional net", arXiv:1412.6806.
.. [4] M. D. Zeiler, R. Fergus, "Visualizing and understanding convolutional networks", ECCV (2014).
.. [5] J. Yosinski et al., "Understanding neural networks through deep visualization", arXiv:1506.06579.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.overrides import TorchFunctionMode

from microdl.analysis import plots
from microdl.data.strain_crops import N_CROPS, crop_scales, strain_crops, to_gray255
from microdl.exceptions import InvalidParameterError, NonFiniteError, ShapeError, UnknownNameError

__all__ = ["METHODS", "saliency", "profile_saliency", "activation_maximisation", "maximise_layer",
           "draw_saliency_overlay", "plot_profile_saliency", "plot_filter_grid"]

METHODS = ("gradient", "guided", "rectified")
"""Backward rules of :func:`saliency`: plain gradient, guided backprop, deconvnet (keras-vis ``"relu"``)."""

_RELUS = frozenset({F.relu, torch.relu, torch.Tensor.relu, F.relu_, torch.relu_, torch.Tensor.relu_})


class _ModifiedReLU(torch.autograd.Function):
    """ReLU forward; guided or rectified backward."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, guided: bool) -> Tensor:
        ctx.guided, out = guided, x.clamp(min=0)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor, None]:
        (out,) = ctx.saved_tensors
        return (grad.clamp(min=0) * (out > 0) if ctx.guided else grad.clamp(min=0)), None


class _ModifiedReLUs(TorchFunctionMode):
    """Within this context every ReLU call builds a modified-backward ReLU (in-place ones out of place)."""

    def __init__(self, guided: bool) -> None:
        super().__init__()
        self.guided, self.calls = guided, 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _RELUS:
            self.calls += 1
            return _ModifiedReLU.apply(args[0], self.guided)
        return func(*args, **(kwargs or {}))


@contextmanager
def _evaluating(model: nn.Module) -> Iterator[None]:
    """Run ``model`` in eval mode and give every submodule its own train/eval flag back, even on error."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag


def _device(model: nn.Module) -> torch.device:
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def _as_batch(x: np.ndarray | Tensor, model: nn.Module) -> Tensor:
    t = torch.as_tensor(x).detach()
    if t.ndim != 4:
        raise ShapeError(f"x must have shape (n, channels, height, width), got {tuple(t.shape)}")
    t = t.to(device=_device(model), dtype=torch.float32)
    if not torch.isfinite(t).all():
        raise NonFiniteError(f"x holds {int((~torch.isfinite(t)).sum())} NaN or infinite values")
    return t


def _targets(target: np.ndarray | None, logits: Tensor) -> Tensor:
    if logits.ndim != 2:
        raise ShapeError(f"the model must return logits (n, classes), got shape {tuple(logits.shape)}")
    if target is None:
        return logits.argmax(dim=1)
    t, k = torch.as_tensor(target, device=logits.device), logits.shape[1]
    if t.dtype.is_floating_point or t.dtype == torch.bool or t.min() < 0 or t.max() >= k:
        raise InvalidParameterError(f"target must be class indices in 0..{k - 1}, got {target.tolist()}")
    return t.long()


def _profile_class(model: nn.Module, crops: Tensor, batch_size: int) -> int:
    """Argmax of the softmax summed over a profile's crops (Yang et al. 2020's evaluation)."""
    with _evaluating(model), torch.no_grad():
        probs = torch.cat([model(xb.to(_device(model))).softmax(dim=1) for xb in crops.split(int(batch_size))])
    return int(probs.sum(dim=0).argmax())


def saliency(model: nn.Module, x: np.ndarray | Tensor, target: int | Sequence[int] | np.ndarray | None = None,
             *, method: str = "gradient", batch_size: int = 32) -> np.ndarray:
    """Saliency maps ``|d logit_target / d x|``, maximum over input channels.

    Parameters
    ----------
    model
        Classifier ``(n, channels, h, w)`` -> logits ``(n, classes)``; run in eval mode, its
        train/eval flags restored afterwards (also on error); no hooks are added.
    x
        Inputs ``(n, channels, h, w)`` in the model's units (gray values 0..255 for strain profiles).
    target
        Class whose logit is explained: one index, one per sample, or ``None`` for each sample's
        predicted class.
    method
        ``"gradient"``, ``"guided"`` or ``"rectified"`` (see module notes).
    batch_size
        Samples per forward/backward pass (memory).

    Returns
    -------
    numpy.ndarray
        ``(n, h, w)`` float32, in logit units per input unit (per gray level).

    Examples
    --------
    >>> saliency(nn.Sequential(nn.Flatten(), nn.Linear(4, 2)), torch.ones(1, 1, 2, 2), target=0).shape
    (1, 2, 2)
    """
    if method not in METHODS:
        raise InvalidParameterError(f"method must be one of {METHODS}, got {method!r}")
    if int(batch_size) != batch_size or batch_size < 1:
        raise InvalidParameterError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    xb = _as_batch(x, model)
    tgt = None if target is None else np.asarray(target)
    tgt = np.full(len(xb), tgt) if tgt is not None and tgt.ndim == 0 else tgt
    if tgt is not None and tgt.shape != (len(xb),):
        raise ShapeError(f"target must be one class index or one per sample ({len(xb)}), got shape {tgt.shape}")
    out, rule = [], None if method == "gradient" else _ModifiedReLUs(guided=method == "guided")
    with _evaluating(model), torch.enable_grad():
        for i in range(0, len(xb), int(batch_size)):
            xi = xb[i:i + int(batch_size)].clone().requires_grad_(True)
            with rule or nullcontext():
                logits = model(xi)
            t = _targets(None if tgt is None else tgt[i:i + len(xi)], logits)
            (grad,) = torch.autograd.grad(logits.gather(1, t[:, None]).sum(), xi)
            out.append(grad.abs().amax(dim=1).cpu().numpy().astype(np.float32))
    if rule is not None and rule.calls == 0 and out:
        warnings.warn(f"method={method!r}: the model called no ReLU, so the map is the plain gradient",
                      stacklevel=2)
    return np.concatenate(out) if out else np.zeros((0, *xb.shape[2:]), np.float32)


def _resize(a: Tensor, size: tuple[int, int]) -> Tensor:
    return F.interpolate(a[None, None], size=size, mode="bilinear", align_corners=False, antialias=True)[0, 0]


def profile_saliency(model: nn.Module, image: np.ndarray, crop: int = 224, *,
                     target: int | None = None, method: str = "gradient", crops: str = "all",
                     antialias: bool = False, round_uint8: bool = False, batch_size: int = 8) -> np.ndarray:
    """Saliency of a whole strain profile: its 24 crops' maps mapped back onto its pixels and averaged.

    Each crop's map (:func:`saliency`) goes back where the crop came from in the ``d x 3d``
    resize of the profile (:mod:`microdl.data.strain_crops`): a centre crop at its window of
    the left/middle/right square, a resized square resized back to ``d x d`` (bilinear). Per
    scale, the maps and coverage masks are resized (bilinear, antialiased) to the profile's
    size; their sums over scales are divided, so each pixel gets the mean of the crops that
    saw it. Maps are averaged as images (logit per gray level of a crop pixel), not as the
    exact gradient with respect to the profile's own pixels.

    Parameters
    ----------
    model, method, batch_size
        As in :func:`saliency` (e.g. a :class:`~microdl.models.yang2020.Yang2020ResNet`).
    image
        2D profile ``(H, W)`` of any numeric dtype (:func:`~microdl.data.strain_crops.to_gray255`;
        a tall one is handled transposed and its map transposed back).
    crop, antialias, round_uint8
        Crop side (paper: 224) and resize options of :func:`~microdl.data.strain_crops.strain_crops`.
    target
        Class explained for every crop; ``None``: the profile's prediction (argmax of the softmax
        summed over the 24 crops, the evaluation of Yang et al. 2020).
    crops
        ``"all"``, ``"centre"`` (centre crops only) or ``"resized"`` (resized squares only).

    Returns
    -------
    numpy.ndarray
        ``(H, W)`` float32 map aligned with ``image``; NaN where no crop saw the pixel (only
        with ``crops="centre"``: the margins and the seams between the squares).
    """
    if crops not in ("all", "centre", "resized"):
        raise InvalidParameterError(f"crops must be 'all', 'centre' or 'resized', got {crops!r}")
    arr = np.asarray(image)
    gray = to_gray255(arr)  # long axis horizontal
    x = strain_crops(arr, crop, antialias=antialias, round_uint8=round_uint8)
    if target is None:
        target = _profile_class(model, x, batch_size)
    keep = [k for k in range(N_CROPS) if crops == "all" or (k % 2 == 0) == (crops == "centre")]
    maps = dict(zip(keep, torch.from_numpy(saliency(model, x[keep], target, method=method,
                                                    batch_size=batch_size)), strict=True))
    total, weight = torch.zeros((2, *gray.shape), dtype=torch.float64)
    for si, d in enumerate(crop_scales(crop)):
        s_sum, s_w = torch.zeros(d, 3 * d), torch.zeros(d, 3 * d)
        o = (d - crop) // 2
        for i in range(3):
            if (k := si * 6 + i * 2) in maps:  # centre crop of square i
                s_sum[o:o + crop, i * d + o:i * d + o + crop] += maps[k]
                s_w[o:o + crop, i * d + o:i * d + o + crop] += 1
            if k + 1 in maps:  # square i resized to crop x crop
                s_sum[:, i * d:(i + 1) * d] += _resize(maps[k + 1], (d, d))
                s_w[:, i * d:(i + 1) * d] += 1
        total += _resize(s_sum, gray.shape).double()
        weight += _resize(s_w, gray.shape).double()
    out = torch.where(weight > 1e-9, total / weight.clamp(min=1e-9), torch.nan).numpy().astype(np.float32)
    return out.T if arr.shape[0] > arr.shape[1] else out


def _layer(model: nn.Module, layer: str | nn.Module) -> nn.Module:
    named = dict(model.named_modules())
    if isinstance(layer, nn.Module):
        if not any(m is layer for m in named.values()):
            raise InvalidParameterError(f"layer must be a submodule of the model, got a {type(layer).__name__} "
                                        "that is not one")
        return layer
    if layer not in named or layer == "":
        raise UnknownNameError(f"layer must be a module name of model.named_modules(), one of "
                               f"{[n for n in named if n]}, got {layer!r}")
    return named[layer]


class _Reached(Exception):
    """Stops the forward pass once the layer of interest has run."""


def _layer_output(model: nn.Module, module: nn.Module, x: Tensor) -> Tensor:
    """Output of ``module`` at its first call in ``model(x)`` (the rest of the forward is skipped)."""
    seen: list[Tensor] = []

    def hook(_m: nn.Module, _inp: Any, out: Any) -> None:
        seen.append(out)
        raise _Reached

    handle = module.register_forward_hook(hook)
    try:
        model(x)
    except _Reached:
        pass
    finally:
        handle.remove()
    if not seen or not isinstance(seen[0], Tensor) or seen[0].ndim < 2:
        raise InvalidParameterError("layer must run in the model's forward pass and output a tensor (n, channels, "
                                    f"...), got {'no call' if not seen else type(seen[0]).__name__}")
    return seen[0]


def _channel_means(out: Tensor, channels: Tensor) -> Tensor:
    if channels.min() < 0 or channels.max() >= out.shape[1]:
        raise InvalidParameterError(f"channel must be in 0..{out.shape[1] - 1} for this layer, "
                                    f"got {channels.tolist()}")
    sel = out[torch.arange(len(out), device=out.device), channels.to(out.device)]
    return sel.reshape(len(out), -1).mean(dim=1)


def _blur(x: Tensor, sigma: float) -> Tensor:
    r = max(1, math.ceil(3 * sigma))
    t = torch.arange(-r, r + 1, dtype=x.dtype, device=x.device)
    k, c = torch.softmax(-0.5 * (t / sigma) ** 2, dim=0), x.shape[1]  # normalised Gaussian
    x = F.pad(x, (r, r, r, r), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _in_channels(model: nn.Module) -> int:
    c = getattr(model, "in_channels", None)
    return c if isinstance(c, int) else next((m.in_channels for m in model.modules()
                                              if isinstance(m, nn.Conv2d)), 1)


def maximise_layer(model: nn.Module, layer: str | nn.Module, channels: Sequence[int] | None = None, *,
                   size: int = 64, steps: int = 100, lr: float = 1.0,
                   generator: torch.Generator | int | None = None, noise: float = 20.0,
                   value_range: tuple[float, float] = (0.0, 255.0), decay: float = 0.0,
                   blur_sigma: float = 0.0, blur_every: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """Activation maximisation of several channels of one layer at once (one image per channel).

    Parameters are those of :func:`activation_maximisation`; ``channels=None`` means all. Returns
    the images ``(k, size, size)`` (``(k, c, size, size)`` for ``c > 1`` input channels) and each
    channel's final mean activation ``(k,)`` (``steps=0``: the starting noise and its activations),
    ready for :func:`plot_filter_grid` (Yang et al. 2020 show the channels of highest activation).
    """
    module = _layer(model, layer)
    for key, v, low in (("size", size, 8), ("steps", steps, 0), ("blur_every", blur_every, 1)):
        if int(v) != v or v < low:
            raise InvalidParameterError(f"{key} must be an integer >= {low}, got {v!r}")
    for key, v, ok, want in (("lr", lr, lr > 0, "> 0"), ("noise", noise, noise >= 0, ">= 0"),
                             ("decay", decay, 0 <= decay < 1, "in [0, 1)"),
                             ("blur_sigma", blur_sigma, blur_sigma >= 0, ">= 0")):
        if not (ok and math.isfinite(v)):
            raise InvalidParameterError(f"{key} must be a finite number {want}, got {v!r}")
    if not (lo := float(value_range[0])) < (hi := float(value_range[1])):
        raise InvalidParameterError(f"value_range must be (low, high) with low < high, got {value_range!r}")
    if generator is None or isinstance(generator, int):  # a local generator; fresh entropy for None
        seed, generator = generator, torch.Generator()
        generator.seed() if seed is None else generator.manual_seed(seed)
    dev, c_in = _device(model), _in_channels(model)
    with _evaluating(model), torch.enable_grad():
        if channels is None:
            with torch.no_grad():
                channels = range(_layer_output(model, module, torch.zeros(1, c_in, size, size, device=dev)).shape[1])
        ch = torch.as_tensor(list(channels), dtype=torch.long)
        if ch.ndim != 1 or len(ch) == 0:
            raise InvalidParameterError(f"channels must be a non-empty sequence of ints, got {channels!r}")
        mid = 0.5 * (lo + hi)
        x = mid + noise * (torch.rand((len(ch), c_in, size, size), generator=generator) - 0.5)
        x = x.to(dev).clamp(lo, hi)
        for step in range(int(steps)):
            x.requires_grad_(True)
            act = _channel_means(_layer_output(model, module, x), ch)
            (grad,) = torch.autograd.grad(act.sum(), x)
            with torch.no_grad():
                rms = grad.pow(2).mean(dim=(1, 2, 3), keepdim=True).sqrt()
                x = x + lr * grad / (rms + 1e-12)
                if decay:
                    x = mid + (1 - decay) * (x - mid)
                if blur_sigma and (step + 1) % int(blur_every) == 0:
                    x = _blur(x, blur_sigma)
                x = x.clamp(lo, hi)
        with torch.no_grad():
            act = _channel_means(_layer_output(model, module, x.detach()), ch)
    img = x.detach().cpu().numpy().astype(np.float32)
    return (img[:, 0] if c_in == 1 else img), act.cpu().numpy()


def activation_maximisation(model: nn.Module, layer: str | nn.Module, channel: int, *, size: int = 64,
                            steps: int = 100, lr: float = 1.0, generator: torch.Generator | int | None = None,
                            noise: float = 20.0, value_range: tuple[float, float] = (0.0, 255.0),
                            decay: float = 0.0, blur_sigma: float = 0.0, blur_every: int = 4) -> np.ndarray:
    """The input image that maximises the mean activation of one channel of a layer.

    Gradient ascent (Yang et al. 2020, §2.3) from gray noise ``mid + noise * (U(0, 1) - 0.5)``
    (``mid`` the middle of ``value_range``): each step adds ``lr * g / rms(g)``, ``g`` the gradient
    of the channel's mean activation, applies the optional regularisers and clips to ``value_range``
    (the model's input range). Eval mode; train/eval flags and hooks restored.

    Parameters
    ----------
    model
        Network taking ``(n, c, size, size)``.
    layer
        Module name from ``model.named_modules()`` or the module. For Yang2020ResNet,
        ``"stages.0.1.convs.2"`` is the last convolution of the second residual module (before
        batch norm, like the Keras conv layer of the paper's Fig. 6), ``"stages.0.1"`` that
        module's output after its ReLU. A module called several times per forward (e.g.
        ``Yang2020ResNet.pool``) is read at its first call.
    channel
        Channel (filter) index of the layer's output.
    size, steps
        Image side (pixels); gradient-ascent steps (paper: 100; ``0`` gives the starting noise).
    lr
        Step size in input units (gray levels RMS per step).
    generator
        ``torch.Generator`` or int seed for the starting noise (``None``: fresh entropy).
    noise, value_range
        Peak-to-peak amplitude of the uniform starting noise around mid gray (input units);
        ``(low, high)`` the image is clipped to after every step.
    decay
        Fraction of the deviation from mid gray removed per step (L2 decay [5]_); 0 = off (paper).
    blur_sigma, blur_every
        Gaussian blur (sigma in pixels) every ``blur_every`` steps [5]_; 0 = off (paper).

    Returns
    -------
    numpy.ndarray
        ``(size, size)`` float32 image in ``value_range`` (``(c, size, size)`` if the model has
        ``c > 1`` input channels).

    Raises
    ------
    UnknownNameError
        Unknown ``layer`` name (the message lists the model's module names).
    InvalidParameterError
        ``channel`` outside the layer's channels, or an option out of range.
    """
    return maximise_layer(model, layer, [int(channel)], size=size, steps=steps, lr=lr, generator=generator,
                          noise=noise, value_range=value_range, decay=decay, blur_sigma=blur_sigma,
                          blur_every=blur_every)[0][0]


def draw_saliency_overlay(ax: Any, image: np.ndarray, saliency_map: np.ndarray, *, title: str | None = None,
                          cmap: str = "inferno", alpha: float = 0.8, quantile: float = 0.99) -> Any:
    """Gray ``image`` with ``saliency_map`` on top, opacity rising with saliency; returns ``ax``.

    The map is scaled to 0..1 by its ``quantile`` (robust to a few extreme pixels); NaN shows no overlay.
    """
    img, sal = np.asarray(image, dtype=np.float64), np.asarray(saliency_map, dtype=np.float64)
    img = img[..., 0] if img.ndim == 3 and img.shape[-1] == 1 else img
    if img.shape != sal.shape or img.ndim != 2:
        raise ShapeError(f"image and saliency_map must be 2D of one shape, got {img.shape} and {sal.shape}")
    finite = np.isfinite(sal)
    scale = float(np.quantile(sal[finite], quantile)) if finite.any() else 0.0
    s = np.clip(np.where(finite, sal, 0) / scale, 0, 1) if scale > 0 else np.zeros_like(sal)
    ax.imshow(img, cmap="gray", interpolation="nearest")
    ax.imshow(s, cmap=cmap, alpha=alpha * s, vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    ax.set_title(title or "", fontsize=9)
    return ax


_LABELS = {"gradient": "gradient", "guided": "guided backprop", "rectified": "rectified (ReLU modifier)"}


def plot_profile_saliency(model: nn.Module, image: np.ndarray, crop: int = 224, *,
                          methods: Sequence[str] = ("gradient", "guided"), target: int | None = None,
                          class_names: Sequence[str] | None = None, crops: str = "all",
                          batch_size: int = 8) -> Any:
    """Figure: the profile, then its :func:`profile_saliency` overlay for each method, stacked.

    Wide profiles are stacked in rows, tall ones side by side. ``class_names`` label the
    explained class in the titles (e.g. ``("0.1 %", "1 %", "10 %")`` for prior strain).
    """
    arr = np.asarray(image)
    if target is None:
        target = _profile_class(model, strain_crops(arr, crop), batch_size)
    name = class_names[target] if class_names is not None else str(target)
    (h, w), n = arr.shape[:2], 1 + len(methods)
    size = (7.0, n * 7.0 * h / w + 0.4 * n) if w >= h else (n * 7.0 * w / h + 0.4, 7.0)
    fig, axes = plots.figure(n if w >= h else 1, 1 if w >= h else n, size=size, squeeze=False)
    axes = axes.ravel()
    draw_saliency_overlay(axes[0], arr, np.zeros((h, w)), title="profile")
    for ax, method in zip(axes[1:], methods, strict=True):
        sal = profile_saliency(model, arr, crop, target=target, method=method, crops=crops, batch_size=batch_size)
        draw_saliency_overlay(ax, arr, sal, title=f"{_LABELS.get(method, method)}, class {name}")
    return fig


def plot_filter_grid(images: np.ndarray, *, activations: np.ndarray | None = None,
                     channels: Sequence[int] | None = None, top: int | None = None, ncols: int = 8,
                     title: str | None = None) -> Any:
    """Figure: a grid of maximised filter images (from :func:`maximise_layer`), each with its own contrast.

    With ``activations`` the panels are sorted by decreasing activation (Yang et al. 2020, Fig. 6,
    show the filters of highest activation) and ``top`` keeps the first ``top``; titles give the
    channel index and activation.
    """
    imgs = np.asarray(images, dtype=np.float64)
    if imgs.ndim == 4:
        imgs = imgs.mean(axis=1)
    if imgs.ndim != 3 or len(imgs) == 0:
        raise ShapeError(f"images must have shape (k, size, size), got {np.asarray(images).shape}")
    ch = np.arange(len(imgs)) if channels is None else np.asarray(channels)
    if len(ch) != len(imgs) or (activations is not None and len(activations) != len(imgs)):
        raise ShapeError(f"channels and activations must have {len(imgs)} entries like images")
    order = np.arange(len(imgs)) if activations is None else np.argsort(-np.asarray(activations), kind="stable")
    if top is not None and (int(top) != top or top < 1):
        raise InvalidParameterError(f"top must be an integer >= 1 or None, got {top!r}")
    order, ncols = order[:top], max(1, min(int(ncols), len(imgs) if top is None else min(top, len(imgs))))
    nrows = math.ceil(len(order) / ncols)
    fig, axes = plots.figure(nrows, ncols, size=(1.3 * ncols, 1.45 * nrows + 0.3), squeeze=False)
    for ax, j in zip(axes.ravel(), order, strict=False):
        ax.imshow(imgs[j], cmap="gray", interpolation="nearest")
        label = f"{ch[j]}" if activations is None else f"{ch[j]}: {float(activations[j]):.3g}"
        ax.set_title(label, fontsize=7)
    for ax in axes.ravel():
        ax.set_axis_off()
    fig.suptitle(title or "", fontsize=9)
    return fig
