"""Resumable runner for grids of long, independent jobs (simulations).

A *job* is one call ``fn(params, out_path)`` that writes one file. The runner
runs a grid of them on local processes or on a Dask cluster and makes the grid
resumable through the file system alone:

``out_dir/<key><suffix>``
    The job's output. ``fn`` writes it to a temporary name in ``out_dir``
    (:func:`microdl.io._atomic.temporary_name`, with ``.tmp-<pid>-<random>`` in
    it); the runner renames it only after ``fn`` returned, so a half-written
    file never has the final name.
``out_dir/<key>.json``
    Written (atomically) after the output: the job's params, the summary ``fn``
    returned, the output's size and SHA-256 (``output_size``,
    ``output_sha256``; directory outputs: ``output_kind`` only), host, pid and
    timing. A job is *done* when both files exist and the output still has the
    recorded size and checksum (and passes ``validate``, if given); otherwise a
    rerun removes the *corrupt* output and computes it again.
``out_dir/<key>.error.json``
    Type, message and traceback of the last failure; removed on success.
``out_dir/manifest.json``
    Every job key and its params, written at start, so :func:`status` can tell
    done, failed and pending jobs apart without running anything.

A rerun skips done jobs, retries failed and pending ones and removes temporary
files left by a killed run. A crash (even ``kill -9``) therefore loses at most
the jobs in flight. Only one runner may use an ``out_dir`` at a time; the lock
of :func:`microdl.io._atomic.acquire_lock` (``out_dir/.microdl.lock``, released
by the kernel when the runner dies) enforces it where the file system supports
``flock``.

The file protocol and the worker side of a job live in
:mod:`microdl.data._jobs_files`, the local process pool and the Dask back end
in :mod:`microdl.data._jobs_backends`.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from microdl.data import _jobs_backends as _backends
from microdl.data import _jobs_files as _files
from microdl.data._jobs_files import JobFn, Validator
from microdl.exceptions import DataFileError, InvalidParameterError
from microdl.io._atomic import (TMP_MARK, acquire_lock, check_output_folder, clean_temporaries, remove_path,
                                write_json)
from microdl.provenance import environment, to_jsonable

__all__ = ["Job", "JobsReport", "JobsStatus", "run_jobs", "status"]

MANIFEST_NAME = "manifest.json"
_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+=-]*")
_SUFFIX_RE = re.compile(r"(\.[A-Za-z0-9_-]+)+")
_MANIFEST_FORMAT = "microdl.jobs/1"



@dataclass(frozen=True)
class Job:
    """One job of a grid: a unique file name stem and the parameters for ``fn``.

    Parameters
    ----------
    key
        Unique, file-system-safe name of the job, used as the stem of its files,
        e.g. ``"w0.125_two_p1_r1_s0003"``. Letters, digits and ``_ . + = -``,
        starting with a letter or digit; not ``"manifest"``, not ending in
        ``".error"`` and not containing ``".tmp-"``.
    params
        JSON-serialisable parameters passed to ``fn`` (NumPy scalars are fine).
    suffix
        Extension of the output file, e.g. ``".npz"``, ``".h5"`` or ``".zarr"``
        (``fn`` may write a directory). The temporary path handed to ``fn``
        ends with it too, so writers that append an extension behave.
    """

    key: str
    params: dict[str, Any] = field(default_factory=dict)
    suffix: str = ".npz"

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not _KEY_RE.fullmatch(self.key):
            raise InvalidParameterError(
                "Job.key must be letters, digits and '_.+=-' starting with a letter or digit, "
                f"got {self.key!r}"
            )
        if self.key == "manifest" or self.key.endswith(".error") or TMP_MARK in self.key:
            raise InvalidParameterError(
                "Job.key must not be 'manifest', end in '.error' or contain '.tmp-' "
                f"(reserved file names), got {self.key!r}"
            )
        if not isinstance(self.params, dict):
            raise InvalidParameterError(
                f"Job.params must be a dict, got {type(self.params).__name__} for job {self.key!r}"
            )
        if (
            not isinstance(self.suffix, str)
            or not _SUFFIX_RE.fullmatch(self.suffix)
            or self.suffix.endswith(".json")
            or TMP_MARK in self.suffix
        ):
            raise InvalidParameterError(
                "Job.suffix must be an extension such as '.npz' or '.h5' and not end in '.json' "
                f"(reserved for summaries), got {self.suffix!r} for job {self.key!r}"
            )
        object.__setattr__(self, "params", dict(self.params))

    def output_path(self, out_dir: str | os.PathLike) -> Path:
        """Final path of this job's output in ``out_dir``."""
        return Path(out_dir) / f"{self.key}{self.suffix}"


@dataclass(frozen=True)
class JobsReport:
    """What one call of :func:`run_jobs` did.

    Attributes
    ----------
    n_total
        Jobs in the grid.
    n_done_before
        Jobs already done at start and skipped.
    n_ran
        Jobs run to an end (success or final failure) by this call.
    n_failed
        Of those, jobs that failed after all retries.
    failed
        Keys of the failed jobs; details in ``out_dir/<key>.error.json``.
    seconds
        Wall time of the call.
    corrupt
        Keys of jobs found done whose output had changed since it was written
        (size or checksum) or failed ``validate``: removed and run again.
    """

    n_total: int
    n_done_before: int
    n_ran: int
    n_failed: int
    failed: tuple[str, ...]
    seconds: float
    corrupt: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every job of the grid is done."""
        return self.n_failed == 0 and self.n_done_before + self.n_ran == self.n_total


@dataclass(frozen=True)
class JobsStatus:
    """State of a grid on disk, as told by :func:`status`.

    Attributes
    ----------
    n_total
        Jobs in the manifest.
    done
        Keys whose output and summary exist and whose output is intact.
    failed
        Key -> ``"ErrorType: message"`` of jobs whose last attempt failed.
    pending
        Keys neither done nor failed (never run, in flight / interrupted, or
        corrupt): a rerun runs them.
    corrupt
        Keys (also in ``pending``) whose finished output has changed since it
        was written or fails ``validate``.
    """

    n_total: int
    done: tuple[str, ...]
    failed: dict[str, str]
    pending: tuple[str, ...]
    corrupt: tuple[str, ...] = ()


def _check_fn(fn: Any) -> str:
    if not callable(fn):
        raise InvalidParameterError(f"fn must be a callable fn(params, out_path), got {fn!r}")
    name = f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
    if "<lambda>" in name or "<locals>" in name:
        raise InvalidParameterError(
            f"fn must be a top-level function that worker processes can import, got {name}")
    if getattr(fn, "__module__", None) == "__main__" and not hasattr(
        sys.modules.get("__main__"), "__file__"
    ):
        raise InvalidParameterError(
            f"fn must be importable by worker processes; {name} was defined interactively "
            "(notebook or REPL): move it into a module")
    try:
        pickle.dumps(fn)
    except Exception as exc:  # noqa: BLE001
        raise InvalidParameterError(f"fn must be picklable, {name} is not: {exc}") from exc
    return name


def _check_jobs(jobs: Iterable[Job]) -> list[Job]:
    jobs = list(jobs)
    seen: set[str] = set()
    for job in jobs:
        if not isinstance(job, Job):
            raise InvalidParameterError(f"jobs must hold Job objects, got {type(job).__name__}")
        if job.key in seen:
            raise InvalidParameterError(f"job keys must be unique, got {job.key!r} twice")
        seen.add(job.key)
        try:
            json.dumps(to_jsonable(job.params))
        except (TypeError, ValueError) as exc:
            raise InvalidParameterError(
                f"params of job {job.key!r} must be JSON-serialisable: {exc}") from exc
    return jobs


def _check_done(out_dir: Path, job: Job, validate: Validator | None) -> str:
    """``"done"``, ``"pending"`` or ``"corrupt"`` (finished once, output no longer valid).

    Raises
    ------
    InvalidParameterError
        If the job is done with other params than ``job.params``.
    """
    output = job.output_path(out_dir)
    if not output.exists():
        return "pending"
    stored = _files.read_json_or_none(_files.summary_path(out_dir, job.key))
    if not isinstance(stored, dict):  # no summary, or unreadable: run again
        return "pending"
    wanted = json.loads(json.dumps(to_jsonable(job.params)))
    if stored.get("params") != wanted:
        raise InvalidParameterError(
            f"job {job.key!r} is already done in {os.fspath(out_dir)!r} with params "
            f"{stored.get('params')!r}, but this grid asks for {wanted!r}; use another "
            "out_dir or delete its files to recompute")
    return "corrupt" if _files.integrity_problem(output, stored, validate) else "done"


def _split_done(out_dir: Path, jobs: list[Job],
                validate: Validator | None) -> tuple[int, list[Job], list[str]]:
    """Count valid done jobs; remove corrupt outputs; return the jobs to run, in order."""
    n_done, pending, corrupt = 0, [], []
    for job in jobs:
        state = _check_done(out_dir, job, validate)
        if state == "done":
            n_done += 1
            continue
        if state == "corrupt":
            corrupt.append(job.key)
            _files.summary_path(out_dir, job.key).unlink(missing_ok=True)  # summary first: never done
            remove_path(job.output_path(out_dir))
        pending.append(job)
    return n_done, pending, corrupt


def _check_manifest(out_dir: Path) -> None:
    """Refuse a folder whose ``manifest.json`` run_jobs did not write (never overwrite it)."""
    path = out_dir / MANIFEST_NAME
    if not path.exists():
        return
    manifest = _files.read_json_or_none(path)
    if not isinstance(manifest, dict) or manifest.get("format") != _MANIFEST_FORMAT:
        raise DataFileError(
            f"out_dir {os.fspath(out_dir)!r} holds a {MANIFEST_NAME} that is damaged or was not "
            "written by run_jobs; use another out_dir, or delete that file to start a grid there")


def _default_workers() -> int:
    counter = getattr(os, "process_cpu_count", None)  # Python >= 3.13
    if counter is not None:
        return counter() or 1
    if hasattr(os, "sched_getaffinity"):  # honours SLURM / taskset CPU sets
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


def _check_options(retries: Any, workers: Any, scheduler: Any, cluster: Any, validate: Any) -> None:
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InvalidParameterError(f"retries must be an integer >= 0, got {retries!r}")
    if scheduler is not None and cluster is not None:
        raise InvalidParameterError("give scheduler or cluster, not both")
    if validate is not None and not callable(validate):
        raise InvalidParameterError(f"validate must be None or a callable validate(path), got {validate!r}")
    if workers is not None:
        if scheduler is not None or cluster is not None:
            raise InvalidParameterError(
                f"workers applies to local runs only, got workers={workers!r} with a Dask "
                "scheduler/cluster (size the cluster instead)")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InvalidParameterError(f"workers must be an integer >= 1, got {workers!r}")


def run_jobs(
    fn: JobFn,
    jobs: Iterable[Job],
    out_dir: str | os.PathLike,
    *,
    workers: int | None = None,
    scheduler: str | os.PathLike | None = None,
    cluster: Any = None,
    progress: bool = True,
    retries: int = 0,
    validate: Validator | None = None,
) -> JobsReport:
    """Run a grid of jobs, one output file each, skipping those already done.

    Parameters
    ----------
    fn
        ``fn(params: dict, out_path: Path) -> dict | None``, a top-level
        (importable, picklable) function. It must write its result to
        ``out_path`` (a temporary path in ``out_dir`` ending in the job's
        suffix) and return a small JSON-serialisable summary. Exceptions it
        raises are recorded in ``out_dir/<key>.error.json``; the grid goes on.
    jobs
        The grid, as :class:`Job` objects with unique keys.
    out_dir
        Folder of the outputs (created if needed). On a cluster it must be on
        a file system shared by the workers and this process.
    workers
        Local processes (default: the CPUs available to this process). Only
        for local runs.
    scheduler
        Address of a running Dask scheduler (``"tcp://host:8786"``) or path of
        its scheduler file (``.json``); the jobs run on its workers. Connection
        timeout: Dask's ``distributed.comm.timeouts.connect``.
    cluster
        A Dask cluster object (``distributed.LocalCluster``, a dask-jobqueue
        ``SLURMCluster``, ...) to run on instead; it is not closed.
    progress
        Show a progress bar on stderr (count, rate, time left; jobs done
        before count as done).
    retries
        Extra attempts for a job that fails, within this call. A later call
        retries failed jobs in any case.
    validate
        Optional ``validate(output_path)``, called in this process on the
        output of every job found done (after its size and checksum were
        verified); raising any exception marks the output corrupt. Use it to
        accept outputs of older versions, whose summaries hold no checksum.

    Returns
    -------
    JobsReport
        Counts, failed and corrupt keys and wall time.

    Raises
    ------
    InvalidParameterError
        Bad jobs or options, ``fn`` not importable, ``out_dir`` in use by
        another runner, a job already done with different params, an
        unreachable scheduler, or ``distributed`` not installed.
    DataFileError
        ``out_dir`` is a file or cannot be created or written, or holds a
        ``manifest.json`` that is damaged or not run_jobs' (it is never overwritten).
    KeyboardInterrupt
        Re-raised after cancelling queued jobs and stopping local workers;
        finished files stay and a rerun resumes.

    Notes
    -----
    A done job whose output changed since it was written (truncated, edited,
    deleted) or fails ``validate`` is *corrupt*: its output and summary are
    removed, it runs again and its key is listed in ``JobsReport.corrupt``.

    Local workers are started with the ``spawn`` method (safe with numba,
    torch and threads), so a script calling this function needs the usual
    ``if __name__ == "__main__":`` guard. On Linux they are killed together
    with the runner. Set ``OMP_NUM_THREADS=1`` when each job uses NumPy/BLAS
    threads and ``workers`` equals the number of cores.

    Examples
    --------
    >>> from microdl.data.jobs import Job, run_jobs  # doctest: +SKIP
    >>> jobs = [Job(f"s{seed:04d}", {"seed": seed}) for seed in range(100)]  # doctest: +SKIP
    >>> report = run_jobs(simulate_one, jobs, "runs/grid", workers=8)  # doctest: +SKIP
    >>> report.failed  # doctest: +SKIP
    ()
    """
    t0 = time.perf_counter()
    fn_name = _check_fn(fn)
    jobs = _check_jobs(jobs)
    _check_options(retries, workers, scheduler, cluster, validate)
    distributed_run = scheduler is not None or cluster is not None
    n_workers = workers or _default_workers()

    out = check_output_folder(out_dir, option="out_dir")
    lock = acquire_lock(out, folder=True, what=f"out_dir {os.fspath(out)!r} (run_jobs)")
    try:
        _check_manifest(out)
        clean_temporaries(out)
        n_before, pending, corrupt = _split_done(out, jobs, validate)
        write_json(out / MANIFEST_NAME, {
            "format": _MANIFEST_FORMAT,
            "fn": fn_name,
            "written_utc": _files.now_utc(),
            "environment": environment(),
            "jobs": [{"key": j.key, "suffix": j.suffix, "params": j.params} for j in jobs],
        })
        tracker = _backends.Tracker(len(jobs), n_before, retries, progress)

        def lost(job: Job, exc_type: str, message: str, tb: str) -> dict[str, Any]:
            return _files.runner_side_error(out, job, exc_type, message, tb)

        try:
            if pending and distributed_run:
                client = _backends.connect(scheduler, cluster)
                try:
                    _backends.run_dask(_files.execute, fn, pending, out, client, tracker, lost)
                finally:
                    client.close()
            elif pending:
                _backends.run_local(_files.execute, fn, pending, out, min(n_workers, len(pending)),
                                    tracker, lost)
        finally:
            tracker.close()
    finally:
        lock.release()
    return JobsReport(
        n_total=len(jobs),
        n_done_before=n_before,
        n_ran=tracker.n_ran,
        n_failed=len(tracker.failed),
        failed=tuple(tracker.failed),
        seconds=time.perf_counter() - t0,
        corrupt=tuple(corrupt),
    )


def status(out_dir: str | os.PathLike, *, validate: Validator | None = None) -> JobsStatus:
    """Tell which jobs of the grid in ``out_dir`` are done, failed or pending.

    Reads ``out_dir/manifest.json`` and the jobs' files, verifies the size and
    checksum of every done output (and calls ``validate`` on it); runs and
    changes nothing.

    Parameters
    ----------
    out_dir
        Folder previously given to :func:`run_jobs`.
    validate
        Optional ``validate(output_path)``; raising marks the output corrupt
        (see :func:`run_jobs`).

    Returns
    -------
    JobsStatus
        Corrupt outputs are listed in ``corrupt`` and, as they will run again,
        in ``pending``.

    Raises
    ------
    DataFileError
        ``out_dir`` holds no readable manifest.
    """
    out = Path(out_dir)
    manifest = _files.read_json_or_none(out / MANIFEST_NAME)
    if not isinstance(manifest, dict) or manifest.get("format") != _MANIFEST_FORMAT:
        raise DataFileError(
            f"out_dir must hold a {MANIFEST_NAME} written by run_jobs, none readable in "
            f"{os.fspath(out)!r}")
    done: list[str] = []
    failed: dict[str, str] = {}
    pending: list[str] = []
    corrupt: list[str] = []
    try:
        entries = [Job(e["key"], e["params"], e["suffix"]) for e in manifest["jobs"]]
    except (KeyError, TypeError, InvalidParameterError) as exc:
        raise DataFileError(
            f"{MANIFEST_NAME} in {os.fspath(out)!r} is damaged (bad job entry: {exc})") from exc
    for job in entries:
        try:
            state = _check_done(out, job, validate)
        except InvalidParameterError:  # done with other params than the manifest's: not this grid's
            state = "corrupt"
        if state == "done":
            done.append(job.key)
            continue
        if state == "corrupt":
            corrupt.append(job.key)
        elif (err := _files.read_json_or_none(_files.error_path(out, job.key))) is not None:
            info = err.get("error", {}) if isinstance(err, dict) else {}
            failed[job.key] = f"{info.get('type', 'Error')}: {info.get('message', '')}"
            continue
        pending.append(job.key)
    return JobsStatus(n_total=len(entries), done=tuple(done), failed=failed,
                      pending=tuple(pending), corrupt=tuple(corrupt))
