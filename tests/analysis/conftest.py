import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    """Every analysis test runs with one torch thread (:func:`tests.conftest.one_torch_thread`)."""


@pytest.fixture(scope="module")
def gnd_model():
    """A randomly initialised GND model whose output depends on its input.

    With default initialisation and untouched batch-norm statistics the signal
    fades through the 20 layers and every window gives the same output to
    ~1e-6, which would let border and translation tests pass vacuously. The
    batch-norm statistics are therefore calibrated on random windows.
    """
    import numpy as np
    import torch

    from microdl.models import create_model

    torch.manual_seed(0)  # test fixture only; the library never seeds
    model = create_model("zhang2019-gnd")
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    rng = np.random.default_rng(0)
    screw_edge = rng.normal(size=(512, 2, 7, 7)) * 5e14
    x = np.concatenate([screw_edge, np.hypot(screw_edge[:, :1], screw_edge[:, 1:])], 1)
    model.train()
    with torch.no_grad():
        model(torch.as_tensor(x, dtype=torch.float32))
    return model.eval()
