"""Map a Keras 2 model file of the Yang et al. (2020) family onto :class:`Yang2020ResNet`.

The Keras layer graph (``model_config``) is walked from the input, guided by the
torch module's structure: stem conv - BN - ReLU - max-pool; per residual module
the main branch's conv - BN (- ReLU) blocks up to the ``Add``, the shortcut
(a 1x1 conv - BN, or the module input itself), the ReLU after the ``Add``; a
max-pool after each stage; global average pooling; dense. Every layer is checked
(type, kernel size, filters, strides, padding, BN epsilon, pooling) as it is
met, and the first one that does not fit is named in the error. Weights are
converted as Keras stores them: conv kernels ``(kh, kw, in, out)`` ->
``(out, in, kh, kw)``, BN ``gamma, beta, moving_mean, moving_variance`` ->
``weight, bias, running_mean, running_var``, dense ``(in, out)`` -> ``(out, in)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from microdl.exceptions import DataFileError
from microdl.io.keras_h5 import KerasFile
from microdl.models.yang2020 import BN_EPS, ResidualModule, Yang2020ResNet

__all__ = ["keras_state_dict", "load_keras_yang2020"]


class _Graph:
    """The Keras functional graph: layers by name and who consumes whom."""

    def __init__(self, kf: KerasFile, arch: str) -> None:
        cfg = kf.config.get("config", {}) if isinstance(kf.config, dict) else {}
        layers = cfg.get("layers") if isinstance(cfg, dict) else None
        if not isinstance(layers, list) or not layers:
            raise DataFileError(f"{kf.path}: 'model_config' has no layer list (class {kf.config.get('class_name')!r})")
        self.kf, self.arch = kf, arch
        self.layers: dict[str, dict[str, Any]] = {}
        self.consumers: dict[str, list[str]] = {}
        for layer in layers:
            name = layer.get("name") or layer.get("config", {}).get("name")
            self.layers[name] = layer
            for node in layer.get("inbound_nodes") or []:
                for inbound in node:
                    self.consumers.setdefault(inbound[0], []).append(name)
        inputs = [n for n, lay in self.layers.items() if lay.get("class_name") == "InputLayer"]
        if len(inputs) != 1:
            raise DataFileError(f"{kf.path}: expected one InputLayer for {arch}, found {len(inputs)}")
        self.input = inputs[0]
        self.visited: set[str] = {self.input}

    def describe(self, name: str) -> str:
        lay = self.layers[name]
        c = lay.get("config", {})
        extra = {k: c[k] for k in ("filters", "kernel_size", "strides", "pool_size", "units", "activation")
                 if k in c}
        return f"{lay.get('class_name')} {name!r} {extra}" if extra else f"{lay.get('class_name')} {name!r}"

    def misfit(self, name: str | None, expected: str, after: str) -> DataFileError:
        where = (f"layer {self.describe(name)}" if name is not None else f"no layer after {after!r}")
        return DataFileError(f"{self.kf.path} is not a {self.arch} Keras model: the first layer that does "
                             f"not fit is {where}; expected {expected} after {after!r}")

    def next_of(self, name: str, cls: str, expected: str, **check: Any) -> str:
        """The single consumer of ``name``; it must be ``cls`` with config values ``check``."""
        cons = self.consumers.get(name, [])
        if len(cons) != 1:
            raise self.misfit(cons[0] if cons else None, expected + " (one consumer)", name)
        return self.expect(cons[0], cls, expected, name, **check)

    def expect(self, layer: str, cls: str, expected: str, after: str, **check: Any) -> str:
        lay = self.layers[layer]
        cfg = lay.get("config", {})
        ok = lay.get("class_name") == cls and all(_same(cfg.get(k), v) for k, v in check.items())
        if not ok:
            raise self.misfit(layer, expected, after)
        self.visited.add(layer)
        return layer


def _same(got: Any, want: Any) -> bool:
    if isinstance(want, float):
        return isinstance(got, int | float) and abs(float(got) - want) <= 1e-9 * max(1.0, abs(want))
    if isinstance(want, tuple):
        return isinstance(got, list | tuple) and tuple(got) == want
    return got == want


def _conv(g: _Graph, layer: str, conv: torch.nn.Conv2d, sd: dict[str, np.ndarray], prefix: str, after: str) -> None:
    k = conv.kernel_size[0]
    exp = f"Conv2D {k}x{k} with {conv.out_channels} filters, stride 1, 'same'"
    g.expect(layer, "Conv2D", exp, after, filters=conv.out_channels, kernel_size=(k, k), strides=(1, 1),
             padding="same", use_bias=True)
    act = g.layers[layer]["config"].get("activation", "linear")
    if act != "linear":
        raise g.misfit(layer, exp + " and no activation", after)
    w = g.kf.weights.get(layer, {})
    kernel, bias = w.get("kernel"), w.get("bias")
    want = (k, k, conv.in_channels, conv.out_channels)
    if kernel is None or bias is None or kernel.shape != want or bias.shape != (conv.out_channels,):
        got = None if kernel is None else kernel.shape
        raise g.misfit(layer, f"{exp} with a kernel of shape {want} (got {got})", after)
    sd[prefix + ".weight"] = kernel.transpose(3, 2, 0, 1)
    sd[prefix + ".bias"] = bias


def _bn(g: _Graph, conv_layer: str, c: int, sd: dict[str, np.ndarray], prefix: str) -> str:
    exp = f"BatchNormalization of {c} channels (epsilon {BN_EPS})"
    layer = g.next_of(conv_layer, "BatchNormalization", exp, epsilon=BN_EPS)
    axis = g.layers[layer]["config"].get("axis", -1)
    if axis not in (-1, 3, [3], [-1]):
        raise g.misfit(layer, exp + " over the channel axis", conv_layer)
    w = g.kf.weights.get(layer, {})
    keys = ("gamma", "beta", "moving_mean", "moving_variance")
    if any(w.get(k) is None or w[k].shape != (c,) for k in keys):
        raise g.misfit(layer, exp + " with gamma, beta, moving mean and variance", conv_layer)
    for k, t in zip(keys, ("weight", "bias", "running_mean", "running_var"), strict=True):
        sd[f"{prefix}.{t}"] = w[k]
    return layer


def _relu(g: _Graph, after: str) -> str:
    return g.next_of(after, "Activation", "Activation('relu')", activation="relu")


def _pool(g: _Graph, after: str) -> str:
    return g.next_of(after, "MaxPooling2D", "MaxPooling2D 3x3 stride 2 'same'",
                     pool_size=(3, 3), strides=(2, 2), padding="same")


def _module(g: _Graph, mod: ResidualModule, t: str, sd: dict[str, np.ndarray], prefix: str) -> str:
    cons = list(g.consumers.get(t, []))
    convs = [c for c in cons if g.layers[c].get("class_name") == "Conv2D"]
    if mod.proj_conv is not None:
        ones = [c for c in convs if tuple(g.layers[c]["config"].get("kernel_size", ())) == (1, 1)]
        if len(cons) != 2 or len(convs) != 2 or len(ones) != 1:
            bad = next((c for c in cons if c not in convs), cons[-1] if cons else None)
            raise g.misfit(bad, "a residual module: a 3x3 Conv2D main branch and a 1x1 Conv2D projection", t)
        short_conv = ones[0]
        main = next(c for c in convs if c != short_conv)
    else:
        adds = [c for c in cons if g.layers[c].get("class_name") == "Add"]
        if len(cons) != 2 or len(convs) != 1 or len(adds) != 1:
            bad = next((c for c in cons if c not in convs + adds), cons[-1] if cons else None)
            raise g.misfit(bad, "a residual module with an identity shortcut (a 3x3 Conv2D and an Add)", t)
        main, short_conv = convs[0], None
    z, after = main, t
    n = len(mod.convs)
    for i, conv in enumerate(mod.convs):
        if i > 0:
            z = g.next_of(after, "Conv2D", f"Conv2D 3x3 with {conv.out_channels} filters")
        _conv(g, z, conv, sd, f"{prefix}.convs.{i}", after)
        z = _bn(g, z, conv.out_channels, sd, f"{prefix}.bns.{i}")
        after = _relu(g, z) if i < n - 1 else z
    add = g.next_of(after, "Add", f"Add (end of a residual module of {n} conv blocks)")
    if short_conv is not None:
        _conv(g, short_conv, mod.proj_conv, sd, f"{prefix}.proj_conv", t)
        short = _bn(g, short_conv, mod.proj_conv.out_channels, sd, f"{prefix}.proj_bn")
    else:
        short = t
    inbound = sorted(x[0] for node in g.layers[add].get("inbound_nodes", []) for x in node)
    if inbound != sorted([after, short]):
        raise g.misfit(add, f"Add of {after!r} and {short!r}", after)
    return _relu(g, add)


def keras_state_dict(kf: KerasFile, model: Yang2020ResNet, arch: str = "yang2020-resnet") -> dict[str, torch.Tensor]:
    """Convert the weights of ``kf`` to a state dict of ``model`` (every layer checked).

    Raises
    ------
    DataFileError
        Naming the first Keras layer that does not fit, or a layer left over.
    """
    g = _Graph(kf, arch)
    sd: dict[str, np.ndarray] = {}
    conv = g.next_of(g.input, "Conv2D", f"Conv2D 3x3 with {model.stem_conv.out_channels} filters")
    _conv(g, conv, model.stem_conv, sd, "stem_conv", g.input)
    t = _pool(g, _relu(g, _bn(g, conv, model.stem_conv.out_channels, sd, "stem_bn")))
    for s, stage in enumerate(model.stages):
        for m, mod in enumerate(stage):
            t = _module(g, mod, t, sd, f"stages.{s}.{m}")
        t = _pool(g, t)
    gap = g.next_of(t, "GlobalAveragePooling2D", "GlobalAveragePooling2D")
    dense = g.next_of(gap, "Dense", f"Dense({model.fc.out_features}, softmax)", units=model.fc.out_features)
    w = kf.weights.get(dense, {})
    if w.get("kernel") is None or w["kernel"].shape != (model.fc.in_features, model.fc.out_features):
        raise g.misfit(dense, f"Dense kernel of shape {(model.fc.in_features, model.fc.out_features)}", gap)
    sd["fc.weight"], sd["fc.bias"] = w["kernel"].T, w["bias"]
    left = [n for n in g.layers if n not in g.visited]
    if left:
        raise g.misfit(left[0], "nothing (the network ended at the Dense output)", dense)
    own = model.state_dict()
    out = {k: torch.as_tensor(np.ascontiguousarray(v), dtype=own[k].dtype) for k, v in sd.items()}
    for k, v in own.items():  # num_batches_tracked: not stored by Keras
        out.setdefault(k, v.clone())
    return out


def load_keras_yang2020(kf: KerasFile, arch: str = "yang2020-resnet") -> Yang2020ResNet:
    """Build the registry model ``arch`` and load the Keras weights of ``kf`` into it (evaluation mode)."""
    from microdl.models.registry import create_model

    model = create_model(arch)
    model.load_state_dict(keras_state_dict(kf, model, arch))
    return model.eval()
