import pytest


@pytest.fixture(autouse=True)
def _one_torch_thread(one_torch_thread):
    """Every model test runs with one torch thread (:func:`tests.conftest.one_torch_thread`)."""
