import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True)
def _one_openmp_thread():
    """HistGradientBoosting's OpenMP threads spin badly on a small shared CPU."""
    with threadpool_limits(limits=1):
        yield
