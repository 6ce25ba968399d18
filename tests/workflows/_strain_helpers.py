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


_INDEX_HEADER = ("file,key,mode,width_um,slip,prior_pct,reload_pct,seed,index,rows,cols,pixel_x_nm,pixel_y_nm,"
                 "median_strain,scale_strain,yield_stress_mpa,n_dislocations_final,label,plastic,slip_pixels,"
                 "reload_events,rendering,digest")


def tiny_ddd_export(folder, n_per_cell: int = 8, shape=(16, 48), seed: int = 0):
    """A small 'microdl ddd export' folder: learnable images (trace spacing = prior), curves, a split file.

    One width (0.125 um), one slip type, priors 0.1 / 1 / 10 %, reload snapshots 0.1 and 1 %, both
    reference modes; the reload curve of a simulation is elastic (80 GPa) up to a yield stress that
    grows with the prior strain.
    """
    from PIL import Image

    from microdl.data.ddd_splits import make_splits

    rng = np.random.default_rng(seed)
    lines, curves = [], {}
    for k, prior in enumerate((0.1, 1.0, 10.0)):
        for i in range(n_per_cell):
            key = f"w0.125_one_p{prior:g}_i{i:04d}"
            for reload in (0.1, 1.0):
                for mode in ("full", "mean"):
                    im = rng.integers(0, 40, shape).astype(np.uint8)
                    im[:, int(rng.integers(0, 3))::(3 + 5 * k)] = 255
                    name = f"{key}_r{reload:g}{'_mean' if mode == 'mean' else ''}.png"
                    Image.fromarray(im).save(folder / name)
                    lines.append(f"{name},{key},{mode},0.125,one,{prior:g},{reload:g},{i},{i},{shape[0]},"
                                 f"{shape[1]},2,2,0,1,,3,{prior:g},1,5,2,reference,x")
            yield_mpa = 60.0 + 30.0 * k + rng.normal(0, 3)
            reload = np.linspace(1e-4, 0.0101, 101)
            stress = np.minimum(80e9 * reload, yield_mpa * 1e6)
            curves[f"{key}/strain"] = np.concatenate([[0.0, 0.001], 0.001 + reload]).astype(np.float32)
            curves[f"{key}/stress_pa"] = np.concatenate([[0.0, 0.0], stress]).astype(np.float32)
            curves[f"{key}/stage"] = np.array([0, 1] + [2] * len(reload), dtype=np.int8)
            curves[f"{key}/reload_strain"] = np.concatenate([[-0.001, 0.0], reload]).astype(np.float32)
    (folder / "index.csv").write_text(_INDEX_HEADER + "\n" + "\n".join(lines) + "\n")
    np.savez_compressed(folder / "curves.npz", **curves)
    make_splits(folder)
    return folder
