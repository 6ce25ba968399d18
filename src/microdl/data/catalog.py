"""The catalog: an embedded SQLite record of every dataset generated and every run.

Location: the environment variable ``MICRODL_CATALOG`` if set, else
``$XDG_DATA_HOME/microdl/catalog.sqlite`` (``~/.local/share/microdl/catalog.sqlite``).

Each entry keeps its config, seed, package version, git commit, metrics, file
paths and checksum, so any figure can be traced back to what made it.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from microdl.exceptions import InvalidParameterError
from microdl.provenance import environment, to_jsonable

ENV_VAR = "MICRODL_CATALOG"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,            -- 'dataset' or 'run'
    name TEXT NOT NULL,            -- e.g. 'gnd-lines', 'zhang2019-gnd'
    created_utc TEXT NOT NULL,
    status TEXT NOT NULL,          -- 'running', 'done', 'failed'
    seed INTEGER,
    path TEXT,
    checksum TEXT,
    config TEXT NOT NULL,          -- JSON
    metrics TEXT NOT NULL,         -- JSON
    environment TEXT NOT NULL      -- JSON: version, git commit, platform
);
"""


def default_catalog_path() -> Path:
    """Where the catalog lives unless told otherwise (see module docstring)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / "microdl" / "catalog.sqlite"


@dataclass(frozen=True)
class Entry:
    """One catalog row, decoded."""

    id: str
    kind: str
    name: str
    created_utc: str
    status: str
    seed: int | None
    path: str | None
    checksum: str | None
    config: dict[str, Any]
    metrics: dict[str, Any]
    environment: dict[str, Any]


class Catalog:
    """Record and list datasets and runs in one SQLite file.

    Parameters
    ----------
    path
        SQLite file; created with its folder on first use. ``None`` uses
        :func:`default_catalog_path`.
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path) if path is not None else default_catalog_path()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=30)
        con.execute(_SCHEMA)
        return con

    def record(
        self,
        kind: str,
        name: str,
        *,
        config: Any,
        seed: int | None = None,
        path: str | os.PathLike | None = None,
        checksum: str | None = None,
        metrics: dict[str, Any] | None = None,
        status: str = "done",
        entry_id: str | None = None,
    ) -> str:
        """Insert (or replace, when ``entry_id`` exists) an entry and return its id."""
        if kind not in ("dataset", "run"):
            raise InvalidParameterError(f"kind must be 'dataset' or 'run', got {kind!r}")
        env = environment()
        eid = entry_id or uuid.uuid4().hex[:12]
        row = (
            eid,
            kind,
            name,
            env["created_utc"],
            status,
            seed,
            os.fspath(Path(path).resolve()) if path is not None else None,
            checksum,
            json.dumps(to_jsonable(config)),
            json.dumps(to_jsonable(metrics or {})),
            json.dumps(env),
        )
        with self._connect() as con:
            con.execute("INSERT OR REPLACE INTO entries VALUES (?,?,?,?,?,?,?,?,?,?,?)", row)
        return eid

    def update(self, entry_id: str, *, status: str | None = None,
               metrics: dict[str, Any] | None = None, checksum: str | None = None) -> None:
        """Change the status, metrics or checksum of an existing entry."""
        sets, args = [], []
        if status is not None:
            sets.append("status=?")
            args.append(status)
        if metrics is not None:
            sets.append("metrics=?")
            args.append(json.dumps(to_jsonable(metrics)))
        if checksum is not None:
            sets.append("checksum=?")
            args.append(checksum)
        if not sets:
            return
        with self._connect() as con:
            cur = con.execute(f"UPDATE entries SET {', '.join(sets)} WHERE id=?", (*args, entry_id))
            if cur.rowcount == 0:
                raise InvalidParameterError(f"no catalog entry with id {entry_id!r}")

    def list(self, kind: str | None = None) -> list[Entry]:
        """All entries (of one ``kind`` if given), newest first."""
        q = "SELECT * FROM entries"
        args: tuple = ()
        if kind is not None:
            q += " WHERE kind=?"
            args = (kind,)
        q += " ORDER BY created_utc DESC, rowid DESC"
        with self._connect() as con:
            return [_decode(r) for r in con.execute(q, args).fetchall()]

    def get(self, entry_id: str) -> Entry:
        """The entry whose id is (or, if unique, starts with) ``entry_id``."""
        with self._connect() as con:
            rows = con.execute("SELECT * FROM entries WHERE id LIKE ?", (entry_id + "%",)).fetchall()
        if not rows:
            raise InvalidParameterError(f"no catalog entry with id {entry_id!r} in {self.path}")
        if len(rows) > 1:
            raise InvalidParameterError(f"id prefix {entry_id!r} is ambiguous ({len(rows)} entries)")
        return _decode(rows[0])


def _decode(row: tuple) -> Entry:
    return Entry(
        id=row[0], kind=row[1], name=row[2], created_utc=row[3], status=row[4], seed=row[5],
        path=row[6], checksum=row[7], config=json.loads(row[8]), metrics=json.loads(row[9]),
        environment=json.loads(row[10]),
    )
