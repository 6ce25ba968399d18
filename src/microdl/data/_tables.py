"""The microdl database schema: tables on one :data:`metadata`, versioned per component.

A *component* (the catalog; later e.g. an image-and-annotation store) owns some tables
and a schema version of its own, kept in the ``schema_version`` table. To add one, define
its tables on :data:`metadata` (foreign keys to ``entries.id`` are fine), describe it with
a :class:`Component` and pass it to :func:`register` when its module is imported; every
:class:`~microdl.data.catalog.Catalog` then creates or migrates it on first use, once per
process and database; read and write them through ``Catalog.transaction()``. Columns use
portable types only (text, integers, floats; JSON as text, times as ISO text or epoch
seconds) so SQLite and PostgreSQL behave the same. See ``docs/catalog.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    inspect,
    select,
    text,
)

from microdl.exceptions import DataFileError

metadata = MetaData()

schema_version = Table(
    "schema_version",
    metadata,
    Column("component", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
)

entries = Table(
    "entries",
    metadata,
    Column("id", Text, primary_key=True),
    Column("kind", Text, nullable=False),  # 'dataset' or 'run'
    Column("name", Text, nullable=False),  # e.g. 'gnd-lines', 'train:unet'
    Column("created_utc", Text, nullable=False),  # ISO 8601, seconds
    Column("status", Text, nullable=False),  # 'running', 'done', 'failed', ...
    Column("seed", BigInteger),
    Column("path", Text),  # resolved
    Column("checksum", Text),
    Column("config", Text, nullable=False),  # JSON
    Column("metrics", Text, nullable=False),  # JSON
    Column("environment", Text, nullable=False),  # JSON: versions, git commit, platform
    # version 2
    Column("seq", BigInteger),  # ordering tie-break: time.time_ns() of the last write (legacy: rowid)
    Column("host", Text),  # host and pid of the process that wrote the entry
    Column("pid", Integer),
    Column("heartbeat", Float),  # epoch seconds of the last sign of life
)

Migration = Callable[[Connection], None]


@dataclass(frozen=True)
class Component:
    """A set of tables with one schema version.

    Parameters
    ----------
    name
        Key in ``schema_version``.
    version
        Version this code writes; databases at a lower version are migrated up to it.
    tables
        Tables created (on :data:`metadata`) when the component is new.
    migrations
        ``{v: step}``: ``step(conn)`` turns version ``v - 1`` into ``v``; one per version
        above the first. Steps run in one transaction under a database-wide lock.
    legacy_version
        For a database without this component's ``schema_version`` row: the version
        of tables already present (e.g. written before versioning existed), or 0 for none.
    """

    name: str
    version: int
    tables: tuple[Table, ...]
    migrations: Mapping[int, Migration] = field(default_factory=dict)
    legacy_version: Callable[[Connection], int] = lambda conn: 0


def add_column(conn: Connection, table: Table, name: str) -> None:
    """``ALTER TABLE ... ADD COLUMN`` for a column already declared on ``table``."""
    col = table.c[name]
    ddl = col.type.compile(dialect=conn.dialect)
    conn.exec_driver_sql(f"ALTER TABLE {table.name} ADD COLUMN {name} {ddl}")


def _entries_v2(conn: Connection) -> None:
    for name in ("seq", "host", "pid", "heartbeat"):
        add_column(conn, entries, name)
    if conn.dialect.name == "sqlite":  # keep the old insertion order as tie-break
        conn.exec_driver_sql("UPDATE entries SET seq = rowid")


CATALOG = Component(
    name="catalog",
    version=2,
    tables=(entries,),
    migrations={2: _entries_v2},
    # version 1: the unversioned SQLite 'entries' table of microdl <= 0.1
    legacy_version=lambda conn: 1 if inspect(conn).has_table("entries") else 0,
)

COMPONENTS: list[Component] = [CATALOG]


def register(component: Component) -> None:
    """Have every catalog create and migrate ``component`` from now on (idempotent)."""
    if all(c.name != component.name for c in COMPONENTS):
        COMPONENTS.append(component)


def installed_versions(conn: Connection) -> dict[str, int]:
    """``{component: version}`` recorded in the database (empty for a new or legacy one)."""
    if not inspect(conn).has_table(schema_version.name):
        return {}
    return {c: v for c, v in conn.execute(select(schema_version.c.component, schema_version.c.version))}


def _check_not_newer(found: int | None, component: Component, where: str) -> None:
    if found is not None and found > component.version:
        raise DataFileError(
            f"the catalog {where} has schema version {found} of {component.name!r}, newer than this "
            f"microdl understands ({component.version}); upgrade microdl or set MICRODL_CATALOG elsewhere"
        )


def ensure_schema(read: Engine, write: Engine, components: list[Component], where: str) -> None:
    """Create or migrate ``components`` in the database of the engines.

    Parameters
    ----------
    read, write
        Engines of one database. For SQLite, transactions of ``write`` must begin with
        ``BEGIN IMMEDIATE``, so the check-and-migrate below holds the write lock.
    components
        What to bring up to date, in order (a component may reference earlier ones).
    where
        The database as shown in messages (password masked).

    Raises
    ------
    DataFileError
        If the database was written by a newer microdl.

    Notes
    -----
    One plain read returns at once when every schema is current. Otherwise the work runs
    in one transaction under a lock (SQLite's write lock; a PostgreSQL transaction-level
    advisory lock) and the versions are read again inside it, so two processes opening
    a fresh database at the same moment migrate it exactly once.
    """
    with read.connect() as conn:
        found = installed_versions(conn)
        conn.rollback()
    for comp in components:
        _check_not_newer(found.get(comp.name), comp, where)
    todo = [c for c in components if found.get(c.name) != c.version]
    if not todo:
        return
    with write.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(7305146296721240473)"))  # 'microdl schema'
        schema_version.create(conn, checkfirst=True)
        found = installed_versions(conn)
        for comp in todo:
            _migrate(conn, comp, found.get(comp.name), where)


def _migrate(conn: Connection, comp: Component, found: int | None, where: str) -> None:
    _check_not_newer(found, comp, where)
    version = found if found is not None else comp.legacy_version(conn)
    if version == 0:
        metadata.create_all(conn, tables=list(comp.tables))
        version = comp.version
    while version < comp.version:
        version += 1
        comp.migrations[version](conn)
    if found is None:
        conn.execute(schema_version.insert().values(component=comp.name, version=version))
    elif found != version:
        conn.execute(schema_version.update().where(schema_version.c.component == comp.name)
                     .values(version=version))
