"""The files of :mod:`microdl.data.jobs` and the worker side of a job.

Names (``<key>.json`` summary, ``<key>.error.json``), the summary and error
records, the output's fingerprint (size and SHA-256) and its verification, and
:func:`execute`, which runs one job where it is scheduled (a local worker
process or a Dask worker) and must therefore stay importable on its own.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from microdl import __version__
from microdl.exceptions import DataFileError
from microdl.io._atomic import atomic_path, read_json, remove_path, write_json
from microdl.provenance import sha256_file, to_jsonable

__all__ = ["execute", "fingerprint", "integrity_problem", "runner_side_error"]

JobFn = Callable[[dict, Path], "dict | None"]
Validator = Callable[[Path], None]


# ----------------------------------------------------------------------------- files


def summary_path(out_dir: Path, key: str) -> Path:
    """``out_dir/<key>.json``, written when the job finished."""
    return out_dir / f"{key}.json"


def error_path(out_dir: Path, key: str) -> Path:
    """``out_dir/<key>.error.json``, the last failure of the job."""
    return out_dir / f"{key}.error.json"


def now_utc() -> str:
    """The time now in UTC, ISO 8601 with milliseconds."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def read_json_or_none(path: Path) -> Any:
    """The JSON in ``path``, or None if it is missing or unreadable (then the job reruns)."""
    try:
        return read_json(path, missing_ok=True)
    except DataFileError:
        return None


def fingerprint(path: Path) -> dict[str, Any]:
    """Size and SHA-256 of a file output; a directory output is only marked as one."""
    if path.is_dir():
        return {"output_kind": "directory"}
    return {"output_kind": "file", "output_size": path.stat().st_size,
            "output_sha256": sha256_file(path)}


def integrity_problem(output: Path, record: dict[str, Any], validate: Validator | None) -> str | None:
    """Why a done job's output cannot be trusted, or None when it is fine.

    Checks the size and checksum recorded in the summary (summaries of older
    versions have none), then calls ``validate``.

    Parameters
    ----------
    output
        The job's output file or directory.
    record
        The job's summary (``<key>.json``).
    validate
        Optional ``validate(output)``; any exception it raises makes the output corrupt.

    Returns
    -------
    str or None
        One line saying what is wrong, or None.
    """
    kind = record.get("output_kind")
    if kind == "directory":
        if not output.is_dir():
            return "the output directory is missing"
    elif kind == "file" or "output_sha256" in record:
        if not output.is_file():
            return "the output file is missing"
        size = output.stat().st_size
        if record.get("output_size") is not None and size != record["output_size"]:
            return f"the output has {size} bytes, {record['output_size']} were written"
        if record.get("output_sha256") and sha256_file(output) != record["output_sha256"]:
            return "the output's SHA-256 differs from the one recorded when it was written"
    if validate is not None:
        try:
            validate(output)
        except Exception as exc:  # noqa: BLE001 - any complaint of the validator means corrupt
            return f"validate({output.name}) raised {type(exc).__name__}: {exc}"
    return None


def error_record(job_key: str, params: dict, exc_type: str, message: str, tb: str,
                 started_utc: str | None, seconds: float | None) -> dict[str, Any]:
    """The content of ``<key>.error.json``."""
    return {
        "key": job_key,
        "ok": False,
        "params": params,
        "error": {"type": exc_type, "message": message, "traceback": tb},
        "started_utc": started_utc,
        "failed_utc": now_utc(),
        "seconds": seconds,
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }


def write_error(out_dir: Path, record: dict[str, Any]) -> None:
    """Write ``<key>.error.json`` (best effort: the error also goes back to the runner)."""
    try:
        write_json(error_path(out_dir, record["key"]), record)
    except OSError:  # pragma: no cover - the error is still returned to the runner
        pass


# ----------------------------------------------------------------------------- worker side


def execute(fn: JobFn, key: str, params: dict, out_dir: str, suffix: str) -> dict[str, Any]:
    """Run one job where it is scheduled: temporary file, ``fn``, atomic renames.

    ``fn`` writes to a temporary name from :func:`microdl.io._atomic.atomic_path`,
    which renames it over ``<key><suffix>`` only after ``fn`` returned and the
    output's size and checksum were taken; the summary follows. Returns a small
    record (``ok``, timing or error); never raises for an exception of ``fn``,
    which is written to ``<key>.error.json`` instead.
    """
    out = Path(out_dir)
    final = out / f"{key}{suffix}"
    started = now_utc()
    t0 = time.perf_counter()
    try:
        if final.is_dir() and not final.is_symlink():
            remove_path(final)  # stale directory output of an unfinished earlier run
        with atomic_path(final) as tmp:
            summary = fn(dict(params), tmp)
            if summary is None:
                summary = {}
            if not isinstance(summary, dict):
                raise TypeError(f"job function must return a dict or None, got {type(summary).__name__}")
            summary = to_jsonable(summary)
            json.dumps(summary)
            if not tmp.exists():
                raise DataFileError(f"job function returned without writing its out_path {tmp.name!r}")
            marks = fingerprint(tmp)
        seconds = time.perf_counter() - t0
        record = {
            "key": key,
            "ok": True,
            "params": to_jsonable(params),
            "summary": summary,
            "output": final.name,
            **marks,
            "started_utc": started,
            "finished_utc": now_utc(),
            "seconds": seconds,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "microdl_version": __version__,
        }
        write_json(summary_path(out, key), record)
        error_path(out, key).unlink(missing_ok=True)
        return {"key": key, "ok": True, "seconds": seconds}
    except Exception as exc:  # noqa: BLE001 - any failure of fn is recorded, not raised
        record = error_record(key, to_jsonable(params), type(exc).__name__, str(exc),
                              traceback.format_exc(), started, time.perf_counter() - t0)
        write_error(out, record)
        return {"key": key, "ok": False, "error": record["error"]}


# ----------------------------------------------------------------------------- runner side


def runner_side_error(out_dir: Path, job: Any, exc_type: str, message: str,
                      tb: str = "") -> dict[str, Any]:
    """Record a failure the worker could not record itself (crash, lost worker)."""
    record = error_record(job.key, to_jsonable(job.params), exc_type, message, tb, None, None)
    write_error(out_dir, record)
    return {"key": job.key, "ok": False, "error": record["error"]}
