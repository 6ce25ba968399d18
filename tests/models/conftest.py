import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """One intra-op thread: tiny convolutions only spin with more on a small shared CPU."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
