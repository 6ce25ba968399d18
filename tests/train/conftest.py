import numpy as np
import pytest


def make_windows(n: int, seed: int) -> dict:
    """Synthetic labelled GND windows with a learnable (rho_t, N) relation."""
    rng = np.random.default_rng(seed)
    n_lines = rng.integers(1, 6, n)
    scale = 2e14 * n_lines[:, None, None]
    screw = rng.normal(size=(n, 7, 7)) * scale
    edge = rng.normal(size=(n, 7, 7)) * scale
    gnd = np.stack([screw, edge, np.hypot(screw, edge)], -1).astype(np.float32)
    rho_t = 3e14 * n_lines * (1.0 + 0.1 * rng.random(n))
    return {"gnd": gnd, "rho_t": rho_t, "n_lines": n_lines.astype(np.int64)}


@pytest.fixture
def synth():
    return make_windows


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One intra-op thread: on a small shared CPU, thread spinning makes tiny
    convolutions several times slower (measured 85 vs 290 windows/s)."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
