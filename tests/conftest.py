"""Fixtures shared by the whole test suite.

Every test records into a catalog of its own (``MICRODL_CATALOG`` in a temporary
folder), never the user's ``~/.local/share/microdl``, and Matplotlib draws with
the headless ``Agg`` backend, as the command line does.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["MPLBACKEND"] = "Agg"  # before any test imports matplotlib

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_catalog(tmp_path_factory, monkeypatch):
    """Every test records into its own catalog, never the user's."""
    folder = tmp_path_factory.mktemp("catalog")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("MICRODL_CATALOG", str(folder / "catalog.sqlite"))
    monkeypatch.setenv("XDG_DATA_HOME", str(folder / "xdg"))  # in case a test unsets MICRODL_CATALOG


@pytest.fixture
def shared_data() -> Path:
    """The real data folder ``../shared/data``; the test is skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture
def one_torch_thread():
    """One intra-op torch thread for the test (small CPU work only spins with more on a shared
    2-core machine); restored afterwards. Directories of small-model tests use it automatically."""
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
