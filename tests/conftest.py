"""Fixtures shared by the whole test suite."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_catalog(tmp_path_factory, monkeypatch):
    """Every test records into its own catalog, never the user's."""
    monkeypatch.setenv("MICRODL_CATALOG", str(tmp_path_factory.mktemp("catalog") / "catalog.sqlite"))


@pytest.fixture
def shared_data() -> Path:
    """The real data folder ``../shared/data``; the test is skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available at {SHARED_DATA}")
    return SHARED_DATA
