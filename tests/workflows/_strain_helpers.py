"""A tiny Keras-2-style model file of another architecture, for the strain tests."""

from __future__ import annotations

import numpy as np


def tiny_keras_file(path, filters: int = 8):
    """A small Keras-2-style model.save() file of another architecture (conv 3x3/8 - GAP - dense 3)."""
    import json

    import h5py

    layers = [
        {"class_name": "InputLayer", "name": "input_1", "inbound_nodes": [],
         "config": {"name": "input_1", "batch_input_shape": [None, 32, 32, 1]}},
        {"class_name": "Conv2D", "name": "conv2d_1", "inbound_nodes": [[["input_1", 0, 0, {}]]],
         "config": {"name": "conv2d_1", "filters": filters, "kernel_size": [3, 3], "strides": [1, 1],
                    "padding": "same", "use_bias": True, "activation": "linear"}},
        {"class_name": "GlobalAveragePooling2D", "name": "gap", "inbound_nodes": [[["conv2d_1", 0, 0, {}]]],
         "config": {"name": "gap"}},
        {"class_name": "Dense", "name": "dense_1", "inbound_nodes": [[["gap", 0, 0, {}]]],
         "config": {"name": "dense_1", "units": 3, "activation": "softmax", "use_bias": True}},
    ]
    cfg = {"class_name": "Model", "config": {"name": "m", "layers": layers, "input_layers": [["input_1", 0, 0]],
                                              "output_layers": [["dense_1", 0, 0]]}}
    with h5py.File(path, "w") as f:
        f.attrs["model_config"] = json.dumps(cfg)
        f.attrs["keras_version"] = "2.1.6"
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = [n.encode() for n in ("input_1", "conv2d_1", "gap", "dense_1")]
        for name, arrays in (("conv2d_1", {"kernel": np.zeros((3, 3, 1, filters)), "bias": np.zeros(filters)}),
                             ("dense_1", {"kernel": np.zeros((filters, 3)), "bias": np.zeros(3)})):
            lg = g.create_group(name)
            lg.attrs["weight_names"] = [f"{name}/{k}:0".encode() for k in arrays]
            for k, v in arrays.items():
                lg[f"{name}/{k}:0"] = v.astype(np.float32)
        for name in ("input_1", "gap"):
            g.create_group(name).attrs["weight_names"] = []
    return path
