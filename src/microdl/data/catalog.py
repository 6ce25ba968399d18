"""The catalog: a record of every dataset generated and every run, in SQLite or PostgreSQL.

Location: the ``path`` argument, else the environment variable ``MICRODL_CATALOG``, else
``$XDG_DATA_HOME/microdl/catalog.sqlite`` (``~/.local/share/microdl/catalog.sqlite``): a file
path or ``sqlite:///FILE`` (SQLite in WAL mode), or ``postgresql://USER:PASSWORD@HOST/DB``
(a shared server, through psycopg 3). See ``docs/catalog.md``.

Each entry keeps its config, seed, package version, git commit, metrics, file paths and
checksum, so any figure can be traced back to what made it; running entries also keep host,
pid and a heartbeat, so a run that died reads as ``"interrupted"``.
"""

from __future__ import annotations

import datetime as _dt
import json
import operator
import os
import re
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, Text, create_engine, event, func, select, update
from sqlalchemy.dialects.postgresql import insert as _pg_insert
from sqlalchemy.dialects.sqlite import insert as _sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, SQLAlchemyError

from microdl.data._tables import COMPONENTS, ensure_schema, entries
from microdl.exceptions import DataFileError, InvalidParameterError, check_positive
from microdl.io._atomic import write_text
from microdl.provenance import environment, to_jsonable

ENV_VAR = "MICRODL_CATALOG"
KINDS = ("dataset", "run")
_HINT = f"set {ENV_VAR} to a writable file or to a reachable postgresql://USER@HOST/DB URL"
_FORMS = "use a file path, sqlite:///FILE or postgresql://USER@HOST/DB"
_BUSY_TIMEOUT_S = 30.0


def default_catalog_path() -> Path:
    """The SQLite file used when no location is given (see module docstring).

    Raises InvalidParameterError if ``MICRODL_CATALOG`` is a server URL (see ``Catalog().url``).
    """
    env = os.environ.get(ENV_VAR)
    if not env:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
        return base / "microdl" / "catalog.sqlite"
    url, path = _parse_location(env)
    if path is None:
        raise InvalidParameterError(f"{ENV_VAR} is a server URL ({url}), not a file; use Catalog().url")
    return path


@dataclass(frozen=True)
class Entry:
    """One catalog row, decoded.

    ``status`` reads ``"interrupted"`` for a ``"running"`` entry whose process is gone or whose
    heartbeat is stale (the row itself is unchanged). ``host``, ``pid``, ``heartbeat_utc``:
    the last process that wrote it (``None`` for entries from before schema version 2).
    """

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
    host: str | None = None
    pid: int | None = None
    heartbeat_utc: str | None = None


class Catalog:
    """Record and list datasets and runs in one SQLite file or PostgreSQL database.

    Parameters
    ----------
    path
        A file path, ``sqlite:///FILE`` or ``postgresql[+psycopg]://...`` URL; ``None`` uses
        ``MICRODL_CATALOG`` or the default file. A SQLite file is created with its folder on
        first use; a PostgreSQL database must exist.
    stale_after
        Seconds without a heartbeat after which a running entry reads as ``"interrupted"``;
        ``None`` uses :attr:`STALE_AFTER`, ``math.inf`` disables it.

    Raises
    ------
    InvalidParameterError
        If the location is a malformed or unsupported URL.

    Notes
    -----
    Nothing is opened until the first call. Engines are shared per URL within a process;
    schemas are created or migrated on first use. Failing to reach, create or write the
    database raises :class:`~microdl.exceptions.DataFileError` naming the location.
    ``path`` is the SQLite file (``None`` for PostgreSQL).
    """

    STALE_AFTER: float = 600.0

    def __init__(self, path: str | os.PathLike | None = None, *, stale_after: float | None = None) -> None:
        loc = os.fspath(path) if path is not None else os.environ.get(ENV_VAR) or default_catalog_path()
        self._url, self.path = _parse_location(os.fspath(loc))
        if stale_after is not None:
            check_positive("stale_after", stale_after)
            self.STALE_AFTER = float(stale_after)

    @property
    def url(self) -> URL:
        """The catalog's SQLAlchemy URL; its ``str`` and ``repr`` mask the password."""
        return self._url

    def __repr__(self) -> str:
        return f"Catalog({str(self._url)!r})"

    @contextmanager
    def transaction(self, write: bool = False) -> Iterator[Connection]:
        """A connection inside a transaction, committed at the end (rolled back on error).

        For stores that add tables to :data:`microdl.data._tables.metadata`. The schema of
        every registered component is current; database errors become
        :class:`~microdl.exceptions.DataFileError`. ``write=True`` takes SQLite's write
        lock at once, so a read-then-write transaction cannot deadlock.
        """
        key = (os.getpid(), self._url.render_as_string(hide_password=False))
        try:
            read, wr = _engines(key, self._url)
        except OSError as exc:  # the SQLite folder cannot be created
            raise DataFileError(self._explain(exc)) from None
        try:
            pending = [c for c in COMPONENTS if (key, c.name) not in _READY]
            if pending:
                ensure_schema(read, wr, pending, self._where())
                _READY.update((key, c.name) for c in pending)
            with (wr if write else read).begin() as conn:
                yield conn
        except IntegrityError as exc:  # e.g. a foreign key naming no row: the caller's values
            raise InvalidParameterError(f"the catalog {self._where()} refused the change: "
                                        f"{self._reason(exc)}") from None
        except (SQLAlchemyError, sqlite3.Error) as exc:
            raise DataFileError(self._explain(exc)) from None

    def check_writable(self) -> None:
        """Open the catalog and try a write (rolled back); DataFileError if that fails.

        Call it before producing big files, so a bad location fails early.
        """
        with self.transaction(write=True) as conn:
            probe = conn.begin_nested()
            _upsert(conn, self._row("run", "probe", "probe-" + uuid.uuid4().hex, config={}, env={}))
            probe.rollback()

    def record(self, kind: str, name: str, *, config: Any, seed: int | None = None,
               path: str | os.PathLike | None = None, checksum: str | None = None,
               metrics: dict[str, Any] | None = None, status: str = "done",
               entry_id: str | None = None) -> str:
        """Insert (or replace, when ``entry_id`` exists) an entry and return its id.

        The entry also records this host, process id and a fresh heartbeat.
        """
        if kind not in KINDS:
            raise InvalidParameterError(f"kind must be 'dataset' or 'run', got {kind!r}")
        if seed is not None:
            try:
                seed = int(seed) if isinstance(seed, float) and seed.is_integer() else operator.index(seed)
            except TypeError:
                raise InvalidParameterError(f"seed must be an integer, got {seed!r}") from None
            if not -(2**63) <= seed < 2**63:
                raise InvalidParameterError(f"seed must fit in 64 bits to be recorded, got {seed}")
        eid = entry_id or uuid.uuid4().hex[:12]
        row = self._row(kind, name, eid, config=config, seed=seed, path=path, checksum=checksum,
                        metrics=metrics, status=status, env=environment())
        with self.transaction(write=True) as conn:
            _upsert(conn, row)
        return eid

    def update(self, entry_id: str, *, status: str | None = None,
               metrics: dict[str, Any] | None = None, checksum: str | None = None) -> None:
        """Change the status, metrics or checksum of an existing entry (and its heartbeat)."""
        values = {k: v for k, v in (("status", status), ("checksum", checksum)) if v is not None}
        if metrics is not None:
            values["metrics"] = json.dumps(to_jsonable(metrics))
        if values:  # an update is a sign of life too
            self._update(entry_id, {**values, "heartbeat": time.time()})

    def heartbeat(self, entry_id: str) -> None:
        """Mark a running entry as alive now; call it every few minutes from long runs."""
        self._update(entry_id, {"heartbeat": time.time()})

    @contextmanager
    def keep_alive(self, entry_id: str, *, every: float = 60.0) -> Iterator[None]:
        """Heartbeat ``entry_id`` from a background thread while the block runs.

        For long jobs whose steps can outlast :attr:`STALE_AFTER` (a grid of simulations
        waiting on its workers): the entry reads ``"running"`` as long as this process
        lives, and ``"interrupted"`` soon after it dies. Catalog errors in the thread
        are ignored; the block's own outcome is what counts.
        """
        check_positive("every", every)
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(every):
                try:
                    self.heartbeat(entry_id)
                except Exception:  # noqa: BLE001  a catalog hiccup must not end a long job
                    pass

        thread = threading.Thread(target=beat, name=f"microdl-heartbeat-{entry_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)

    def claim(self, folder: str | os.PathLike, kind: str, name: str, *, config: Any,
              seed: int | None = None, status: str = "running", metrics: dict[str, Any] | None = None) -> str:
        """Record the run or output in ``folder``, reusing the entry named in ``folder/catalog_id``.

        The stored id is reused only if that entry exists here and its path is this
        folder's resolved path; a copied folder gets an entry of its own. The id is then
        written atomically to ``folder/catalog_id`` and returned.
        """
        folder = Path(folder).resolve()
        id_file = folder / "catalog_id"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            stored = id_file.read_text().strip() if id_file.is_file() else ""
        except (OSError, UnicodeDecodeError) as exc:
            raise DataFileError(f"cannot use the folder {folder}: {exc}") from None
        reuse = None
        if stored:
            with self.transaction() as conn:
                found = conn.execute(select(entries.c.path).where(entries.c.id == stored)).first()
            if found is not None and found.path == os.fspath(folder):
                reuse = stored
        eid = self.record(kind, name, config=config, seed=seed, path=folder, metrics=metrics,
                          status=status, entry_id=reuse)
        try:
            write_text(id_file, eid + "\n")  # unique temporary name, then rename
        except OSError as exc:
            raise DataFileError(f"cannot write {id_file}: {exc.strerror or exc}") from None
        return eid

    def list(self, kind: str | None = None) -> list[Entry]:
        """All entries (of one ``kind`` if given), newest first."""
        q = select(entries).order_by(entries.c.created_utc.desc(), func.coalesce(entries.c.seq, 0).desc())
        if kind is not None:
            q = q.where(entries.c.kind == kind)
        with self.transaction() as conn:
            rows = conn.execute(q).all()
        now = time.time()
        return [self._decode(r, now) for r in rows]

    def get(self, entry_id: str) -> Entry:
        """The entry whose id is (or, if unique, starts with) ``entry_id``."""
        if not entry_id:
            raise InvalidParameterError("catalog entry id must not be empty")
        prefix = func.lower(entries.c.id, type_=Text).startswith(entry_id.lower(), autoescape=True)
        with self.transaction() as conn:
            rows = conn.execute(select(entries).where(prefix).order_by(entries.c.id)).all()
        rows = [r for r in rows if r.id == entry_id] or rows  # an exact id wins
        if not rows:
            raise InvalidParameterError(f"no catalog entry with id {entry_id!r} in {self._where()}")
        if len(rows) > 1:
            some = ", ".join(r.id for r in rows[:5]) + (", ..." if len(rows) > 5 else "")
            raise InvalidParameterError(f"id prefix {entry_id!r} is ambiguous ({len(rows)} entries: {some})")
        return self._decode(rows[0], time.time())

    @staticmethod
    def _row(kind: str, name: str, eid: str, *, config: Any, env: dict[str, Any], seed: int | None = None,
             path: str | os.PathLike | None = None, checksum: str | None = None,
             metrics: dict[str, Any] | None = None, status: str = "done") -> dict[str, Any]:
        now = time.time()
        return {
            "id": eid, "kind": kind, "name": name, "created_utc": env.get("created_utc") or _iso(now),
            "status": status, "seed": seed, "checksum": checksum,
            "path": os.fspath(Path(path).resolve()) if path is not None else None,
            "config": json.dumps(to_jsonable(config)), "metrics": json.dumps(to_jsonable(metrics or {})),
            "environment": json.dumps(to_jsonable(env)),
            "seq": time.time_ns(), "host": socket.gethostname(), "pid": os.getpid(), "heartbeat": now,
        }

    def _update(self, entry_id: str, values: dict[str, Any]) -> None:
        with self.transaction(write=True) as conn:
            n = conn.execute(update(entries).where(entries.c.id == entry_id).values(**values)).rowcount
        if n == 0:
            raise InvalidParameterError(f"no catalog entry with id {entry_id!r} in {self._where()}")

    def _decode(self, row: Any, now: float) -> Entry:
        status = row.status
        if status == "running" and self._interrupted(row, now):
            status = "interrupted"
        return Entry(
            id=row.id, kind=row.kind, name=row.name, created_utc=row.created_utc, status=status,
            seed=row.seed, path=row.path, checksum=row.checksum, config=json.loads(row.config),
            metrics=json.loads(row.metrics), environment=json.loads(row.environment), host=row.host,
            pid=row.pid, heartbeat_utc=_iso(row.heartbeat) if row.heartbeat is not None else None,
        )

    def _interrupted(self, row: Any, now: float) -> bool:
        """True if the process of a running entry is gone or its heartbeat is stale."""
        if row.host == socket.gethostname() and row.pid is not None and not _pid_alive(row.pid):
            return True
        beat = row.heartbeat
        if beat is None:  # entries from before heartbeats: age since creation
            try:
                beat = _dt.datetime.fromisoformat(row.created_utc).timestamp()
            except (TypeError, ValueError):
                return False
        return now - beat > self.STALE_AFTER

    def _where(self) -> str:
        return os.fspath(self.path) if self.path is not None else str(self._url)

    def _reason(self, exc: BaseException) -> str:
        """The driver's message on one line, password masked."""
        if isinstance(exc, DBAPIError) and exc.orig is not None:
            reason = str(exc.orig)
        elif isinstance(exc, OSError) and exc.strerror:
            reason = f"cannot create or open it ({exc.strerror}: {exc.filename or '?'})"
        else:
            reason = str(exc)
        reason = " ".join(reason.split()) or type(exc).__name__
        return reason.replace(str(self._url.password), "***") if self._url.password else reason

    def _explain(self, exc: BaseException) -> str:
        return f"cannot use the catalog {self._where()}: {self._reason(exc)}; {_HINT}"


_ENGINES: dict[tuple[int, str], tuple[Engine, Engine]] = {}
_READY: set[tuple[tuple[int, str], str]] = set()
_LOCK = threading.Lock()


def _parse_location(loc: str) -> tuple[URL, Path | None]:
    """``(url, sqlite_file_or_None)`` for a path or URL; InvalidParameterError if malformed."""
    if "://" not in loc:
        path = Path(loc).expanduser()
        return URL.create("sqlite", database=os.fspath(path.absolute())), path
    shown = re.sub(r"(://[^/:@]*:)[^@/]*@", r"\1***@", loc)
    try:
        url = make_url(loc)
    except (ArgumentError, ValueError):
        raise InvalidParameterError(f"catalog location {shown!r} is not a valid URL; {_FORMS}") from None
    if url.drivername in ("postgresql", "postgres", "postgresql+psycopg"):
        if "password" in url.query:  # keep it where the URL masks it
            url = url.set(password=url.query["password"]).difference_update_query(["password"])
        if not url.database:
            raise InvalidParameterError(f"catalog URL {url} names no database; use postgresql://USER@HOST/DB")
        return url.set(drivername="postgresql+psycopg"), None
    if url.drivername == "sqlite":
        if not url.database or url.database == ":memory:" or url.database.startswith("file:"):
            raise InvalidParameterError(f"catalog URL {shown!r} names no file; use sqlite:///PATH/FILE")
        return _parse_location(url.database)
    raise InvalidParameterError(f"catalog URL scheme {url.drivername!r} is not supported; {_FORMS}")


def _engines(key: tuple[int, str], url: URL) -> tuple[Engine, Engine]:
    """The (read, write) engines of ``url`` for ``key = (pid, url)``, created on first use.

    The pid in the key keeps a forked child off its parent's pooled connections.
    """
    with _LOCK:
        if key not in _ENGINES:
            _ENGINES[key] = _create_engines(url)
        return _ENGINES[key]


def _create_engines(url: URL) -> tuple[Engine, Engine]:
    if url.get_backend_name() == "postgresql":
        args = {k: v for k, v in (("connect_timeout", 10), ("application_name", "microdl"))
                if k not in url.query}
        engine = create_engine(url, pool_pre_ping=True, connect_args=args)
        return engine, engine
    Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": _BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_con: sqlite3.Connection, _record: Any) -> None:
        dbapi_con.isolation_level = None  # we emit BEGIN ourselves, below
        dbapi_con.execute(f"PRAGMA busy_timeout = {int(_BUSY_TIMEOUT_S * 1000)}")
        deadline = time.monotonic() + _BUSY_TIMEOUT_S
        while dbapi_con.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            try:  # persistent once set; the switch ignores the busy timeout, so retry it
                dbapi_con.execute("PRAGMA journal_mode = WAL")
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
        dbapi_con.execute("PRAGMA synchronous = NORMAL")  # safe with WAL: a crash loses no commit
        dbapi_con.execute("PRAGMA foreign_keys = ON")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("microdl_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine, engine.execution_options(microdl_write=True)


def dispose_engines() -> None:
    """Close every pooled catalog connection of this process (e.g. in tests or before forking)."""
    with _LOCK:
        for (pid, _url), (read, _write) in _ENGINES.items():
            read.dispose(close=pid == os.getpid())  # never close a parent's connections after fork
        _ENGINES.clear()
        _READY.clear()


def _upsert(conn: Connection, row: dict[str, Any]) -> None:
    insert = _pg_insert if conn.dialect.name == "postgresql" else _sqlite_insert
    stmt = insert(entries).values(**row)
    conn.execute(stmt.on_conflict_do_update(index_elements=[entries.c.id],
                                            set_={k: stmt.excluded[k] for k in row if k != "id"}))


def _pid_alive(pid: int) -> bool:
    if pid <= 0 or os.name == "nt":  # os.kill(pid, 0) would terminate it on Windows
        return pid > 0
    try:
        os.kill(pid, 0)  # PermissionError (another user's process) still means alive
    except ProcessLookupError:
        return False
    except OSError:
        pass
    return True


def _iso(epoch: float) -> str:
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc).isoformat(timespec="seconds")
