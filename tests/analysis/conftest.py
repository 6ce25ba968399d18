import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One intra-op thread keeps small CPU inference fast on a shared machine."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture(scope="module")
def gnd_model():
    """A randomly initialised GND model with non-trivial batch-norm statistics."""
    import torch

    from microdl.models import create_model

    torch.manual_seed(0)  # test fixture only; the library never seeds
    model = create_model("zhang2019-gnd")
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
    return model.eval()
