"""Fixtures for the data tests: a real PostgreSQL server and a catalog location on each backend."""

from __future__ import annotations

import atexit
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # worker processes inherit sys.path
    sys.path.insert(0, str(HERE))

from _pg import PostgresServer, unavailable_reason  # noqa: E402


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the session (skipped when it cannot run here)."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    server = PostgresServer()
    atexit.register(server.stop)  # even if pytest dies before the finalizer
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """URL of a fresh, empty catalog on the test server: its own schema, first on the search path."""
    from microdl.data.catalog import dispose_engines

    yield postgres_server.url(schema=postgres_server.create_schema())
    dispose_engines()  # close this test's pooled connections


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh catalog location: a SQLite file path, or a PostgreSQL database URL."""
    if request.param == "sqlite":
        return str(tmp_path / "catalog.sqlite")
    return request.getfixturevalue("postgres_url")
