"""The catalog on both backends: SQLite (a file) and PostgreSQL (a real throwaway server).

Tests taking ``catalog_url`` run once per backend; the rest are about locations, URLs
and the SQLite file format.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import Column, Float, ForeignKey, Integer, Table, Text, select, update
from sqlalchemy.engine import make_url

import microdl.data.catalog as catalog_mod
from microdl.data._tables import COMPONENTS, Component, entries, metadata, register, schema_version
from microdl.data.catalog import Catalog, default_catalog_path
from microdl.exceptions import DataFileError, InvalidParameterError

# The 11-column table written by microdl 0.1 (before SQLAlchemy and schema versions).
LEGACY_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id TEXT PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, created_utc TEXT NOT NULL,
    status TEXT NOT NULL, seed INTEGER, path TEXT, checksum TEXT, config TEXT NOT NULL,
    metrics TEXT NOT NULL, environment TEXT NOT NULL
);
"""


# A later store (images and annotations of SEM damage sites) adds its tables to the same metadata.
SEM_IMAGES = Table("test_sem_images", metadata, Column("id", Text, primary_key=True),
                   Column("entry_id", Text, ForeignKey("entries.id"), nullable=False),
                   Column("pixel_size_nm", Float))
SEM_ANNOTATIONS = Table("test_sem_annotations", metadata, Column("id", Integer, primary_key=True),
                        Column("image_id", Text, ForeignKey("test_sem_images.id"), nullable=False),
                        Column("label", Text, nullable=False))


def _fast_environment() -> dict:
    """``provenance.environment()`` without importing torch (seconds per process)."""
    import datetime as dt

    return {"microdl_version": "test", "git_commit": None,
            "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


@pytest.fixture(autouse=True)
def _fast_env(monkeypatch):
    monkeypatch.setattr(catalog_mod, "environment", _fast_environment)


def _set(cat: Catalog, entry_id: str, **values) -> None:
    """Overwrite stored columns directly (to fake another process, host or time)."""
    with cat.transaction(write=True) as conn:
        conn.execute(update(entries).where(entries.c.id == entry_id).values(**values))


def _dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


# ------------------------------------------------------------------ both backends


def test_record_list_get_update(catalog_url, tmp_path):
    cat = Catalog(catalog_url)
    a = cat.record("dataset", "gnd-lines", config={"n": 1}, seed=0, path=tmp_path / "a.h5",
                   checksum="abc", metrics={"pearson": 0.9})
    b = cat.record("run", "train", config={"ratio": 0.5}, seed=2**40, status="running")
    assert [e.id for e in cat.list("dataset")] == [a]
    assert [e.id for e in cat.list()] == [b, a]  # newest first, even within one second
    e = cat.get(a[:6])
    assert e.config == {"n": 1} and e.metrics == {"pearson": 0.9} and e.checksum == "abc"
    assert e.path == str((tmp_path / "a.h5").resolve()) and e.seed == 0
    assert e.environment["microdl_version"] == "test" and e.pid == os.getpid()
    cat.update(b, status="done", metrics={"loss": 0.1})
    got = Catalog(catalog_url).get(b)
    assert got.status == "done" and got.metrics == {"loss": 0.1} and got.seed == 2**40


def test_record_with_existing_id_replaces_it(catalog_url):
    cat = Catalog(catalog_url)
    a = cat.record("run", "first", config={"v": 1}, entry_id="fixed-id", checksum="x")
    b = cat.record("run", "other", config={})
    assert cat.record("run", "second", config={"v": 2}, entry_id=a) == a
    got = cat.get("fixed-id")
    assert (got.name, got.config, got.checksum) == ("second", {"v": 2}, None)
    assert [e.id for e in cat.list()] == [a, b]  # the replaced entry is the newest


def test_get_by_prefix_ambiguous_and_missing(catalog_url):
    cat = Catalog(catalog_url)
    for eid in ("abc-1", "abc-2", "abc", "x%_y"):
        cat.record("run", "r", config={}, entry_id=eid)
    assert cat.get("abc-1").id == "abc-1" and cat.get("ABC-2").id == "abc-2"
    assert cat.get("abc").id == "abc"  # an exact id wins over longer ids it prefixes
    assert cat.get("x%").id == "x%_y"  # LIKE wildcards in the prefix are literal
    with pytest.raises(InvalidParameterError, match="ambiguous"):
        cat.get("abc-")
    with pytest.raises(InvalidParameterError, match="no catalog entry"):
        cat.get("ffff")
    with pytest.raises(InvalidParameterError, match="no catalog entry"):
        cat.get("x_")
    with pytest.raises(InvalidParameterError, match="kind"):
        cat.record("model", "x", config={})
    with pytest.raises(InvalidParameterError, match="no catalog entry"):
        cat.update("ffff", status="done")
    with pytest.raises(InvalidParameterError, match="no catalog entry"):
        cat.heartbeat("ffff")


def test_running_entries_whose_process_died_read_as_interrupted(catalog_url):
    cat = Catalog(catalog_url)
    live = cat.record("run", "live", config={}, status="running")
    dead = cat.record("run", "dead", config={}, status="running")
    stale = cat.record("run", "stale", config={}, status="running")
    remote = cat.record("run", "remote", config={}, status="running")
    done = cat.record("run", "done", config={}, status="done")
    _set(cat, dead, pid=_dead_pid())
    _set(cat, stale, heartbeat=time.time() - 3600)
    _set(cat, remote, host="another-host", pid=_dead_pid())  # cannot look at its pids: trust the heartbeat
    _set(cat, done, pid=_dead_pid())
    status = {e.name: e.status for e in cat.list()}
    assert status == {"live": "running", "dead": "interrupted", "stale": "interrupted",
                      "remote": "running", "done": "done"}
    assert cat.get(dead).status == "interrupted"
    with cat.transaction() as conn:  # reported, not rewritten
        assert conn.execute(select(entries.c.status).where(entries.c.id == dead)).scalar() == "running"

    cat.heartbeat(stale)
    assert cat.get(stale).status == "running"
    before = cat.get(live).heartbeat_utc
    _set(cat, live, heartbeat=time.time() - 120)
    assert cat.get(live).heartbeat_utc < before
    assert Catalog(catalog_url, stale_after=60).get(live).status == "interrupted"
    assert Catalog(catalog_url, stale_after=float("inf")).get(stale).status == "running"
    cat.update(live, metrics={"epoch": 3})  # an update is a sign of life too
    assert Catalog(catalog_url, stale_after=60).get(live).status == "running"


def test_keep_alive_beats_while_a_long_job_runs(catalog_url):
    cat = Catalog(catalog_url, stale_after=0.5)
    eid = cat.record("dataset", "grid", config={}, status="running")
    _set(cat, eid, heartbeat=time.time() - 3600)
    assert cat.get(eid).status == "interrupted"
    with cat.keep_alive(eid, every=0.05):
        time.sleep(0.3)
        assert cat.get(eid).status == "running"
    time.sleep(0.8)  # no more beats once the block is left
    assert cat.get(eid).status == "interrupted"


def test_claim_reuses_the_folders_entry_but_not_a_copy(catalog_url, tmp_path):
    cat = Catalog(catalog_url)
    run = tmp_path / "run"
    a = cat.claim(run, "run", "train:unet", config={"lr": 1e-3}, seed=1)
    assert (run / "catalog_id").read_text() == a + "\n"
    assert cat.get(a).path == str(run.resolve()) and cat.get(a).status == "running"
    assert cat.claim(run, "run", "train:unet", config={"lr": 1e-3}, seed=1, status="done") == a
    assert cat.get(a).status == "done" and len(cat.list()) == 1

    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    b = cat.claim(copy, "run", "train:unet", config={}, metrics={"x": 1})
    assert b != a and (copy / "catalog_id").read_text().strip() == b
    assert cat.get(a).path == str(run.resolve()) and cat.get(b).path == str(copy.resolve())
    assert (run / "catalog_id").read_text().strip() == a

    (run / "catalog_id").write_text("not-in-this-catalog\n")  # e.g. another catalog's id
    c = cat.claim(run, "run", "train:unet", config={})
    assert c not in (a, b, "not-in-this-catalog")
    assert sorted(p.name for p in run.iterdir()) == ["catalog_id"]  # no temporary files left


def test_check_writable_passes_and_leaves_nothing(catalog_url):
    cat = Catalog(catalog_url)
    cat.check_writable()
    assert cat.list() == []


def test_schema_is_versioned_and_a_newer_one_is_refused(catalog_url):
    cat = Catalog(catalog_url)
    cat.list()
    with cat.transaction() as conn:
        versions = dict(conn.execute(select(schema_version.c.component, schema_version.c.version)).all())
    assert versions["catalog"] == 2  # (other registered components, e.g. the damage store, have rows too)
    with cat.transaction(write=True) as conn:
        conn.execute(update(schema_version).values(version=99))
    catalog_mod.dispose_engines()  # forget that this process already checked the schema
    with pytest.raises(DataFileError, match="schema version 99.*upgrade microdl"):
        Catalog(catalog_url).list()


def test_a_later_store_adds_its_own_versioned_tables(catalog_url):
    cat = Catalog(catalog_url)
    eid = cat.record("dataset", "sem-damage", config={})
    sem = Component("test-sem", 1, (SEM_IMAGES, SEM_ANNOTATIONS))
    register(sem)
    try:
        with cat.transaction(write=True) as conn:  # the first use after register() creates the tables
            conn.execute(SEM_IMAGES.insert().values(id="img1", entry_id=eid, pixel_size_nm=2.5))
            conn.execute(SEM_ANNOTATIONS.insert(), [{"image_id": "img1", "label": "void"},
                                                    {"image_id": "img1", "label": "crack"}])
        with cat.transaction() as conn:
            assert conn.execute(select(SEM_ANNOTATIONS.c.id, SEM_ANNOTATIONS.c.label)).all() == [
                (1, "void"), (2, "crack")]
            versions = dict(conn.execute(select(schema_version.c.component, schema_version.c.version)).all())
            assert {k: versions[k] for k in ("catalog", "test-sem")} == {"catalog": 2, "test-sem": 1}
        with pytest.raises(InvalidParameterError, match="refused the change"):
            with cat.transaction(write=True) as conn:
                conn.execute(SEM_IMAGES.insert().values(id="img2", entry_id="no-such-entry"))
        with cat.transaction() as conn:  # the failed transaction was rolled back
            assert conn.execute(select(SEM_IMAGES.c.id)).scalars().all() == ["img1"]
    finally:
        COMPONENTS.remove(sem)


def _writer(url: str, tag: str, n: int, column: str, barrier) -> None:
    """Worker process: record ``n`` entries, then update one column of every entry."""
    catalog_mod.environment = _fast_environment
    cat = Catalog(url)
    barrier.wait(60)  # open the fresh catalog (and create its schema) at the same moment
    for i in range(n):
        cat.record("run", f"writer-{tag}", config={"i": i}, entry_id=f"{tag}-{i:03d}", status="running")
    barrier.wait(60)
    for eid in [f"{t}-{i:03d}" for t in "ab" for i in range(n)]:
        if column == "status":
            cat.update(eid, status="done")
        else:
            cat.update(eid, checksum=f"sum-{eid}")
            cat.heartbeat(eid)


def test_two_processes_write_at_once_and_lose_nothing(catalog_url):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_writer, args=(catalog_url, tag, 50, column, barrier))
             for tag, column in (("a", "status"), ("b", "checksum"))]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    got = Catalog(catalog_url).list()
    assert len(got) == 100 and len({e.id for e in got}) == 100
    assert all(e.status == "done" and e.checksum == f"sum-{e.id}" for e in got)
    assert sorted(e.config["i"] for e in got if e.name == "writer-a") == list(range(50))


# ------------------------------------------------------------------ locations and URLs


def test_catalog_location_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MICRODL_CATALOG", str(tmp_path / "c.sqlite"))
    assert default_catalog_path() == tmp_path / "c.sqlite"
    assert Catalog().path == tmp_path / "c.sqlite"
    monkeypatch.setenv("MICRODL_CATALOG", f"sqlite:///{tmp_path}/u.sqlite")
    assert default_catalog_path() == tmp_path / "u.sqlite" == Catalog().path
    monkeypatch.setenv("MICRODL_CATALOG", "postgresql://lab:pw@db.example/microdl")
    assert Catalog().path is None and Catalog().url.host == "db.example"
    with pytest.raises(InvalidParameterError, match="server URL"):
        default_catalog_path()
    monkeypatch.delenv("MICRODL_CATALOG")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_catalog_path() == tmp_path / "xdg" / "microdl" / "catalog.sqlite"
    assert Catalog().path == default_catalog_path()


def test_urls_are_normalised_and_passwords_masked(tmp_path, monkeypatch):
    pg = Catalog("postgresql://lab:s3cret@db.example:5433/microdl?sslmode=require")
    assert pg.url.drivername == "postgresql+psycopg" and pg.url.password == "s3cret"
    assert pg.url.port == 5433 and pg.url.query == {"sslmode": "require"}
    for shown in (str(pg.url), repr(pg.url), repr(pg), str(pg)):
        assert "s3cret" not in shown and "***" in shown
    q = Catalog("postgresql+psycopg://lab@db.example/microdl?password=s3cret")
    assert q.url.password == "s3cret" and "s3cret" not in str(q.url) and "password" not in q.url.query
    assert Catalog("postgres://db.example/microdl").url.drivername == "postgresql+psycopg"

    monkeypatch.chdir(tmp_path)
    assert Catalog("sqlite:///rel.sqlite").url.database == str(tmp_path / "rel.sqlite")
    assert Catalog(f"sqlite:///{tmp_path}/abs.sqlite").path == tmp_path / "abs.sqlite"
    assert Catalog(Path("p.sqlite")).url.database == str(tmp_path / "p.sqlite")

    bad = {"postgresql://lab:s3cret@host:port/db": "not a valid URL", "mysql://host/db": "not supported",
           "postgresql://lab:s3cret@host/": "names no database", "sqlite://": "names no file",
           "sqlite:///:memory:": "names no file", "postgresql+psycopg2://host/db": "not supported"}
    for url, why in bad.items():
        with pytest.raises(InvalidParameterError, match=why) as err:
            Catalog(url)
        assert "s3cret" not in str(err.value)


def test_unreachable_server_is_one_clear_line_without_the_password():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there
    cat = Catalog(f"postgresql://lab:s3cret@127.0.0.1:{port}/microdl")
    with pytest.raises(DataFileError) as err:
        cat.check_writable()
    msg = str(err.value)
    assert "s3cret" not in msg and f"lab:***@127.0.0.1:{port}/microdl" in msg
    assert "MICRODL_CATALOG" in msg and "\n" not in msg and "sqlalche.me" not in msg


def test_missing_database_error_masks_the_password(postgres_server):
    cat = Catalog(postgres_server.url("no_such_db", password="s3cret"))  # trust auth ignores it
    with pytest.raises(DataFileError, match="no_such_db.*does not exist") as err:
        cat.list()
    assert "s3cret" not in str(err.value) and "***" in str(err.value)


def test_postgres_role_privileges_match_the_docs(postgres_server, postgres_url, tmp_path):
    import uuid

    import psycopg

    Catalog(postgres_url).record("run", "by-owner", config={})  # the owner creates the tables
    schema = make_url(postgres_url).query["options"].split("=")[1]
    rw, ro = f"rw_{uuid.uuid4().hex[:8]}", f"ro_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres_server.url(), autocommit=True) as con:
        for role in (rw, ro):
            con.execute(f"CREATE ROLE {role} LOGIN")
            con.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")  # as PUBLIC has on schema public
        con.execute(f"GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA {schema} TO {rw}")
        con.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {ro}")

    def as_role(url: str, role: str) -> str:
        return url.replace("postgresql://postgres@", f"postgresql://{role}@")

    writer = Catalog(as_role(postgres_url, rw))
    writer.check_writable()
    eid = writer.claim(tmp_path / "run", "run", "by-member", config={})
    writer.update(eid, status="done")
    writer.heartbeat(eid)
    reader = Catalog(as_role(postgres_url, ro))
    assert [e.name for e in reader.list()] == ["by-member", "by-owner"]
    with pytest.raises(DataFileError, match="permission denied.*MICRODL_CATALOG"):
        reader.check_writable()
    fresh = postgres_server.create_schema()  # without CREATE on it, the role cannot make the tables
    with psycopg.connect(postgres_server.url(), autocommit=True) as con:
        con.execute(f"GRANT USAGE ON SCHEMA {fresh} TO {rw}")
    with pytest.raises(DataFileError, match="permission denied for schema"):
        Catalog(as_role(postgres_server.url(schema=fresh), rw)).list()


# ------------------------------------------------------------------ SQLite files


def test_uncreatable_location_fails_early(tmp_path):
    (tmp_path / "file.txt").write_text("a file, not a folder")
    where = tmp_path / "file.txt" / "catalog.sqlite"
    cat = Catalog(where)
    with pytest.raises(DataFileError) as err:
        cat.check_writable()
    assert str(where) in str(err.value) and "MICRODL_CATALOG" in str(err.value)
    with pytest.raises(DataFileError, match="cannot use the catalog"):
        cat.record("run", "x", config={})


def test_a_file_that_is_not_a_database_is_refused(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not sqlite at all " * 300)
    with pytest.raises(DataFileError, match="junk.sqlite.*not a database"):
        Catalog(junk).list()


def test_legacy_catalog_is_migrated_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.execute(LEGACY_SCHEMA)
    rows = [("aaa111", "dataset", "gnd-lines", "2024-01-01T10:00:00+00:00", "done", 0, "/d/a.h5", "c1",
             '{"n": 1}', '{"r": 0.9}', '{"microdl_version": "0.1.0"}'),
            ("bbb222", "run", "train", "2024-01-02T10:00:00+00:00", "running", 1, None, None, "{}", "{}",
             "{}"),
            ("ccc333", "run", "train", "2024-01-02T10:00:00+00:00", "failed", None, None, None, "{}", "{}",
             "{}")]
    old.executemany("INSERT OR REPLACE INTO entries VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    old.commit()
    old.close()

    cat = Catalog(path)
    got = cat.list()
    assert [e.id for e in got] == ["ccc333", "bbb222", "aaa111"]  # same second: later insert first
    a = cat.get("aaa")
    assert (a.config, a.metrics, a.checksum, a.path, a.seed) == ({"n": 1}, {"r": 0.9}, "c1", "/d/a.h5", 0)
    assert cat.get("bbb").status == "interrupted"  # running since 2024, no heartbeat
    new = cat.record("run", "new", config={})
    assert cat.list()[0].id == new
    cat.update("bbb222", status="failed")

    raw = sqlite3.connect(path)
    cols = [r[1] for r in raw.execute("PRAGMA table_info(entries)")]
    assert cols[:11] == ["id", "kind", "name", "created_utc", "status", "seed", "path", "checksum", "config",
                         "metrics", "environment"]
    assert set(cols[11:]) == {"seq", "host", "pid", "heartbeat"}
    assert ("catalog", 2) in raw.execute("SELECT component, version FROM schema_version").fetchall()
    assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    raw.close()


def _open_legacy(path: str, barrier) -> None:
    catalog_mod.environment = _fast_environment
    barrier.wait(60)
    Catalog(path).record("run", "after-migration", config={})


def test_two_processes_opening_a_legacy_file_migrate_it_once(tmp_path):
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.execute(LEGACY_SCHEMA)
    old.execute("INSERT INTO entries VALUES ('old1','run','x','2024-01-01T00:00:00+00:00','done',"
                "NULL,NULL,NULL,'{}','{}','{}')")
    old.commit()
    old.close()
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_open_legacy, args=(str(path), barrier)) for _ in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    assert [e.name for e in Catalog(path).list()] == ["after-migration", "after-migration", "x"]


def test_real_environment_is_recorded(tmp_path, monkeypatch):
    from microdl.provenance import environment

    monkeypatch.setattr(catalog_mod, "environment", environment)
    monkeypatch.setitem(sys.modules, "torch", None)  # skip its slow import; the rest is real
    cat = Catalog(tmp_path / "c.sqlite")
    env = cat.get(cat.record("run", "x", config={})).environment
    assert env["microdl_version"] and env["python"] and env["created_utc"]
