"""The fully convolutional GND model: window and whole-map passes agree."""

import numpy as np
import torch

from microdl.analysis.gnd import predict_map, predict_windows
from microdl.models import create_model


def _calibrated(seed=0):
    torch.manual_seed(seed)
    m = create_model("gnd-fcn7", width=16)
    m.train()
    with torch.no_grad():  # give batch norm non-trivial running statistics
        for _ in range(3):
            m(torch.randn(64, 3, 7, 7).abs() * 1e15)
    return m.eval()


def test_map_pass_equals_window_pass():
    rng = np.random.default_rng(1)
    gnd_map = rng.normal(size=(15, 12, 2)) * 1e15
    model = _calibrated()
    rho_map, n_map, _ = predict_map(model, gnd_map, border="zero", batch_size=50)
    padded = np.pad(gnd_map, ((3, 3), (3, 3), (0, 0)))
    mag = np.hypot(padded[..., 0], padded[..., 1])[..., None]
    full = np.concatenate([padded, mag], axis=2)
    windows = np.stack([full[i:i + 7, j:j + 7] for i in range(15) for j in range(12)]).astype(np.float32)
    ref = predict_windows(model, windows)
    np.testing.assert_allclose(rho_map.ravel(), ref.rho_t, rtol=1e-4)
    np.testing.assert_array_equal(n_map.ravel(), ref.n_lines)


def test_registered_and_translation_equivariant():
    model = _calibrated(1)
    x = torch.randn(1, 3, 20, 20).abs() * 1e15
    with torch.no_grad():
        a = model.forward_map(x)[0, :, 2:, 2:]
        b = model.forward_map(x[:, :, 2:, 2:])[0]
    torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
