"""yang2020-resnet: presets, TF 'same' pooling, and the import of the published Keras weights."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch

from microdl.models import count_parameters, create_model, model_info
from microdl.models.yang2020 import tf_same_max_pool

WEIGHTS = "ddd-strain-profiles/published_weights_keras.hdf5"


def test_parameter_counts_and_registry():
    # Trainable = conv kernels + biases + BN gamma/beta + dense: the published file holds 258,403.
    assert count_parameters(create_model("yang2020-resnet")) == 258_403
    assert count_parameters(create_model("yang2020-resnet"), convention="keras") == 259_779
    assert count_parameters(create_model("yang2020-resnet-res4")) == 165_667
    assert model_info("yang2020-resnet-res4-l2")["keras_l2"] == 1e-4
    assert model_info("yang2020-resnet-res4")["keras_l2"] == 0.0
    assert "Yang" in model_info("yang2020-resnet")["paper"]


@pytest.mark.parametrize("name", ["yang2020-resnet", "yang2020-resnet-res4", "yang2020-resnet-res4-l2"])
def test_output_shape(name):
    model = create_model(name).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 1, 33, 40) * 255).shape == (2, 3)


def test_bn_matches_keras_settings():
    bns = [m for m in create_model("yang2020-resnet").modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 15
    assert all(m.eps == 1e-3 and m.momentum == 0.01 for m in bns)


def test_tf_same_pool_even_size_pads_bottom_right_only():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    # TF: out = ceil(4/2) = 2, pad total 1 -> 0 before, 1 after; windows start at 0 and 2.
    # Window rows/cols {0,1,2} -> max at (2,2) = 10; {2,3} -> row 3 / col 3.
    want = torch.tensor([[10.0, 11.0], [14.0, 15.0]])
    assert torch.equal(tf_same_max_pool(x)[0, 0], want)
    # A symmetric padding of 1 (PyTorch's padding=1) would give a different answer.
    assert not torch.equal(torch.nn.functional.max_pool2d(x, 3, 2, padding=1)[0, 0], want)


def test_tf_same_pool_odd_size_and_negative_values():
    x = -torch.arange(1.0, 26.0).reshape(1, 1, 5, 5)  # all negative: a zero pad would win
    # out = ceil(5/2) = 3, pad total 2 -> 1 before, 1 after (padding with -inf).
    out = tf_same_max_pool(x)[0, 0]
    want = -torch.tensor([[1.0, 2.0, 4.0], [6.0, 7.0, 9.0], [16.0, 17.0, 19.0]])
    assert torch.equal(out, want)
    # Mixed sizes: 7 x 6 -> 4 x 3.
    assert tf_same_max_pool(torch.zeros(1, 2, 7, 6)).shape == (1, 2, 4, 3)


def _np_conv3x3_same(x, k, b):
    """x (H, W, cin), k (3, 3, cin, cout) as Keras stores it -> (H, W, cout)."""
    h, w, _ = x.shape
    xp = np.pad(x, ((1, 1), (1, 1), (0, 0)))
    out = np.zeros((h, w, k.shape[3]), np.float64)
    for i in range(3):
        for j in range(3):
            out += xp[i:i + h, j:j + w] @ k[i, j]
    return out + b


def _np_tf_pool(x):
    h, w, c = x.shape
    oh, ow = math.ceil(h / 2), math.ceil(w / 2)
    ph, pw = max((oh - 1) * 2 + 3 - h, 0), max((ow - 1) * 2 + 3 - w, 0)
    xp = np.full((h + ph, w + pw, c), -np.inf)
    xp[ph // 2:ph // 2 + h, pw // 2:pw // 2 + w] = x
    return np.stack([[xp[2 * i:2 * i + 3, 2 * j:2 * j + 3].max(axis=(0, 1)) for j in range(ow)]
                     for i in range(oh)])


def test_numpy_forward_of_first_layers_matches_torch(shared_data):
    path = shared_data / WEIGHTS
    if not path.is_file():
        pytest.skip(f"published weights not available at {path}")
    import h5py

    from microdl.io.keras_h5 import read_keras_h5
    from microdl.models.yang2020_keras import load_keras_yang2020

    with h5py.File(path, "r") as f:  # raw arrays, independent of microdl's reader
        g = f["model_weights"]
        k, b = g["conv2d_1/conv2d_1/kernel:0"][()], g["conv2d_1/conv2d_1/bias:0"][()]
        bn = {n: g[f"batch_normalization_1/batch_normalization_1/{n}:0"][()]
              for n in ("gamma", "beta", "moving_mean", "moving_variance")}
    x = np.random.default_rng(0).uniform(0, 255, (23, 30, 1))  # odd and even sides
    z = _np_conv3x3_same(x, k.astype(np.float64), b)
    z = bn["gamma"] * (z - bn["moving_mean"]) / np.sqrt(bn["moving_variance"] + 1e-3) + bn["beta"]
    want = _np_tf_pool(np.maximum(z, 0))
    model = load_keras_yang2020(read_keras_h5(path))
    with torch.no_grad():
        t = torch.from_numpy(x.transpose(2, 0, 1)[None].astype(np.float32))
        got = model.pool(torch.relu(model.stem_bn(model.stem_conv(t))))[0].numpy().transpose(1, 2, 0)
    assert got.shape == want.shape == (12, 15, 16)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-5)


def test_published_model_on_published_profiles(shared_data, capsys):
    folder = shared_data / "ddd-strain-profiles"
    if not (folder / "published_weights_keras.hdf5").is_file():
        pytest.skip(f"published weights not available in {folder}")
    from microdl.data.strain_crops import strain_crops
    from microdl.io.images import read_gray_image
    from microdl.io.keras_h5 import read_keras_h5
    from microdl.models.yang2020_keras import load_keras_yang2020

    model = load_keras_yang2020(read_keras_h5(folder / "published_weights_keras.hdf5"))
    rows = list(csv.DictReader(open(folder / "labels.csv")))
    correct = 0
    with torch.inference_mode():
        for row in rows:
            p = torch.softmax(model(strain_crops(read_gray_image(folder / row["file"]))), 1).mean(0)
            correct += int(p.argmax()) == int(row["label"])
            print(f"{row['file']}: p = {p.numpy().round(3)}, label {row['label']}")
    print(f"published yang2020-resnet on the {len(rows)} published profiles: accuracy {correct}/{len(rows)}")
    with capsys.disabled():
        print(f"\n[yang2020] published model accuracy on published profiles: {correct}/{len(rows)}")
    assert correct >= 8  # measured 10/10 (docs/strain.md)
