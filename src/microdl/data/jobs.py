"""Resumable runner for grids of long, independent jobs (simulations).

A *job* is one call ``fn(params, out_path)`` that writes one file. The runner
runs a grid of them on local processes or on a Dask cluster and makes the grid
resumable through the file system alone:

``out_dir/<key><suffix>``
    The job's output. ``fn`` writes it to a temporary name in ``out_dir``
    (``<key>.tmp-<pid>-<random><suffix>``); the runner renames it only after
    ``fn`` returned, so a half-written file never has the final name.
``out_dir/<key>.json``
    Written (atomically) after the output: the job's params, the summary ``fn``
    returned, host, pid and timing. A job is *done* when both files exist.
``out_dir/<key>.error.json``
    Type, message and traceback of the last failure; removed on success.
``out_dir/manifest.json``
    Every job key and its params, written at start, so :func:`status` can tell
    done, failed and pending jobs apart without running anything.

A rerun skips done jobs, retries failed and pending ones and removes temporary
files left by a killed run. A crash (even ``kill -9``) therefore loses at most
the jobs in flight. Only one runner may use an ``out_dir`` at a time; a lock
file (``out_dir/.jobs.lock``, released by the kernel when the runner dies)
enforces it where the file system supports ``flock``.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as _dt
import json
import multiprocessing
import os
import pickle
import re
import shutil
import socket
import sys
import time
import traceback
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from microdl import __version__
from microdl.exceptions import DataFileError, InvalidParameterError
from microdl.provenance import environment, to_jsonable

__all__ = ["Job", "JobsReport", "JobsStatus", "run_jobs", "status"]

MANIFEST_NAME = "manifest.json"
LOCK_NAME = ".jobs.lock"
_TMP_MARK = ".tmp-"
_KEY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+=-]*")
_SUFFIX_RE = re.compile(r"(\.[A-Za-z0-9_-]+)+")
_MANIFEST_FORMAT = "microdl.jobs/1"

JobFn = Callable[[dict, Path], "dict | None"]


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
        if self.key == "manifest" or self.key.endswith(".error") or _TMP_MARK in self.key:
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
            or _TMP_MARK in self.suffix
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
    """

    n_total: int
    n_done_before: int
    n_ran: int
    n_failed: int
    failed: tuple[str, ...]
    seconds: float

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
        Keys whose output and summary exist.
    failed
        Key -> ``"ErrorType: message"`` of jobs whose last attempt failed.
    pending
        Keys neither done nor failed (never run, or in flight / interrupted).
    """

    n_total: int
    done: tuple[str, ...]
    failed: dict[str, str]
    pending: tuple[str, ...]


# ----------------------------------------------------------------------------- files


def _summary_path(out_dir: Path, key: str) -> Path:
    return out_dir / f"{key}.json"


def _error_path(out_dir: Path, key: str) -> Path:
    return out_dir / f"{key}.error.json"


def _now_utc() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds")


def _fsync(path: Path) -> None:
    if path.is_file():
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _write_json_atomic(path: Path, obj: Any) -> None:
    """Write JSON under a unique temporary name, fsync, then rename over ``path``."""
    tmp = path.with_name(f"{path.name}{_TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "w") as fh:
            fh.write(json.dumps(to_jsonable(obj), indent=2) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _is_done(out_dir: Path, job: Job) -> bool:
    return _summary_path(out_dir, job.key).is_file() and job.output_path(out_dir).exists()


def _error_record(job_key: str, params: dict, exc_type: str, message: str, tb: str,
                  started_utc: str | None, seconds: float | None) -> dict[str, Any]:
    return {
        "key": job_key,
        "ok": False,
        "params": params,
        "error": {"type": exc_type, "message": message, "traceback": tb},
        "started_utc": started_utc,
        "failed_utc": _now_utc(),
        "seconds": seconds,
        "host": socket.gethostname(),
        "pid": os.getpid(),
    }


def _write_error(out_dir: Path, record: dict[str, Any]) -> None:
    try:
        _write_json_atomic(_error_path(out_dir, record["key"]), record)
    except OSError:  # pragma: no cover - the error is still returned to the runner
        pass


# ----------------------------------------------------------------------------- worker side


def _execute(fn: JobFn, key: str, params: dict, out_dir: str, suffix: str) -> dict[str, Any]:
    """Run one job where it is scheduled: temporary file, ``fn``, atomic renames.

    Returns a small record (``ok``, timing, summary or error); never raises for
    an exception of ``fn``, which is written to ``<key>.error.json`` instead.
    """
    out = Path(out_dir)
    tmp = out / f"{key}{_TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}"
    final = out / f"{key}{suffix}"
    started = _now_utc()
    t0 = time.perf_counter()
    try:
        summary = fn(dict(params), tmp)
        if summary is None:
            summary = {}
        if not isinstance(summary, dict):
            raise TypeError(f"job function must return a dict or None, got {type(summary).__name__}")
        summary = to_jsonable(summary)
        json.dumps(summary)
        if not tmp.exists():
            raise DataFileError(f"job function returned without writing its out_path {tmp.name!r}")
        _fsync(tmp)
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)  # stale directory output of an unfinished earlier run
        os.replace(tmp, final)
        seconds = time.perf_counter() - t0
        record = {
            "key": key,
            "ok": True,
            "params": to_jsonable(params),
            "summary": summary,
            "output": final.name,
            "started_utc": started,
            "finished_utc": _now_utc(),
            "seconds": seconds,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "microdl_version": __version__,
        }
        _write_json_atomic(_summary_path(out, key), record)
        _error_path(out, key).unlink(missing_ok=True)
        return {"key": key, "ok": True, "seconds": seconds}
    except Exception as exc:  # noqa: BLE001 - any failure of fn is recorded, not raised
        record = _error_record(key, to_jsonable(params), type(exc).__name__, str(exc),
                               traceback.format_exc(), started, time.perf_counter() - t0)
        _write_error(out, record)
        return {"key": key, "ok": False, "error": record["error"]}
    finally:
        _remove(tmp)


def _worker_init(parent_pid: int) -> None:
    """Make a local worker process die with the runner (Linux), even on ``kill -9``."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            pr_set_pdeathsig = 1
            libc.prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - best effort
            pass
    if os.getppid() != parent_pid:  # the runner died before prctl took effect
        os._exit(1)


# ----------------------------------------------------------------------------- runner side


class _Tracker:
    """Counts results, decides on retries and drives the progress bar."""

    def __init__(self, n_total: int, n_before: int, retries: int, progress: bool) -> None:
        from tqdm import tqdm

        self.retries = retries
        self.attempts: Counter[str] = Counter()
        self.n_ran = 0
        self.failed: list[str] = []
        self.bar = tqdm(total=n_total, initial=n_before, unit="job", desc="jobs",
                        file=sys.stderr, disable=not progress, dynamic_ncols=True)

    def handle(self, job: Job, result: dict[str, Any]) -> bool:
        """Account for one finished attempt; return True if the job should run again."""
        self.attempts[job.key] += 1
        if not result["ok"] and self.attempts[job.key] <= self.retries:
            return True
        self.n_ran += 1
        if not result["ok"]:
            self.failed.append(job.key)
            self.bar.set_postfix(failed=len(self.failed), refresh=False)
        self.bar.update(1)
        return False

    def close(self) -> None:
        self.bar.close()


def _runner_side_error(out_dir: Path, job: Job, exc_type: str, message: str,
                       tb: str = "") -> dict[str, Any]:
    """Record a failure the worker could not record itself (crash, lost worker)."""
    record = _error_record(job.key, to_jsonable(job.params), exc_type, message, tb, None, None)
    _write_error(out_dir, record)
    return {"key": job.key, "ok": False, "error": record["error"]}


def _stop_local_pool(pool: cf.ProcessPoolExecutor) -> None:
    """Cancel queued work and terminate the workers now (after Ctrl-C)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # private, best effort
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        try:
            proc.terminate()
        except (OSError, AttributeError):  # pragma: no cover
            pass


def _run_local(fn: JobFn, pending: list[Job], out_dir: Path, workers: int,
               tracker: _Tracker) -> None:
    """Run on a local process pool, at most ``workers`` jobs in flight.

    A worker that dies (segfault, out of memory) breaks the whole pool. The
    jobs then in flight become suspects and run again one at a time in a fresh
    pool; a job that breaks the pool while alone in flight is the culprit and
    counts as failed (or is retried). Innocent jobs are never charged.
    """
    ctx = multiprocessing.get_context("spawn")  # safe with threads, numba, torch and CUDA

    def new_pool() -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                      initializer=_worker_init, initargs=(os.getpid(),))

    pool = new_pool()
    queue: deque[Job] = deque(pending)
    suspects: deque[Job] = deque()  # waiting to run alone
    suspect_keys: set[str] = set()  # waiting or running alone
    in_flight: dict[cf.Future, Job] = {}
    out = str(out_dir)

    def account(job: Job, result: dict[str, Any]) -> None:
        if tracker.handle(job, result):
            (suspects if job.key in suspect_keys else queue).appendleft(job)
        else:
            suspect_keys.discard(job.key)

    def finish(fut: cf.Future, job: Job, broken: list[Job]) -> None:
        try:
            result = fut.result()
        except cf.process.BrokenProcessPool:
            broken.append(job)
            return
        except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be unpickled
            result = _runner_side_error(out_dir, job, type(exc).__name__, str(exc),
                                        "".join(traceback.format_exception(exc)))
        account(job, result)

    try:
        while queue or suspects or in_flight:
            # Fill the pool; while suspects are about, run them one at a time.
            pool_broke = False
            while True:
                if suspects or any(j.key in suspect_keys for j in in_flight.values()):
                    if in_flight:
                        break
                    job = suspects.popleft()
                elif queue and len(in_flight) < workers:
                    job = queue.popleft()
                else:
                    break
                try:
                    fut = pool.submit(_execute, fn, job.key, job.params, out, job.suffix)
                except cf.process.BrokenProcessPool:
                    (suspects if job.key in suspect_keys else queue).appendleft(job)
                    pool_broke = True
                    break
                in_flight[fut] = job
            if not in_flight:
                if not pool_broke:  # pragma: no cover - would be a bug in the loop above
                    raise RuntimeError("job runner has work left but nothing to submit")
                pool.shutdown(wait=True)  # broke before taking any work: start afresh
                pool = new_pool()
                continue
            done, _ = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
            broken: list[Job] = []
            for fut in done:
                finish(fut, in_flight.pop(fut), broken)
            if not broken:
                continue
            # Every other future of a broken pool ends too: collect them all.
            rest, _ = cf.wait(list(in_flight))
            for fut in rest:
                finish(fut, in_flight.pop(fut), broken)
            pool.shutdown(wait=True)
            pool = new_pool()
            if len(broken) == 1:  # it was alone in flight: the culprit
                job = broken[0]
                suspect_keys.add(job.key)
                account(job, _runner_side_error(
                    out_dir, job, "WorkerCrashed",
                    "the worker process died while running this job alone "
                    "(segfault, out of memory or killed by a signal)"))
            else:
                suspects.extend(broken)
                suspect_keys.update(j.key for j in broken)
    except KeyboardInterrupt:
        _stop_local_pool(pool)
        raise
    pool.shutdown(wait=True)


def _run_dask(fn: JobFn, pending: list[Job], out_dir: Path, client: Any,
              tracker: _Tracker) -> None:
    """Submit every job to a Dask client and collect results as they complete."""
    from distributed import as_completed

    out = str(out_dir)

    def submit(job: Job) -> Any:
        return client.submit(_execute, fn, job.key, job.params, out, job.suffix,
                             key=f"microdl-job-{job.key}-{uuid.uuid4().hex[:8]}", pure=False)

    futures = {submit(job): job for job in pending}
    completed = as_completed(list(futures))
    try:
        for fut in completed:
            job = futures.pop(fut)
            try:
                result = fut.result()
            except Exception as exc:  # noqa: BLE001 - KilledWorker, lost data, ...
                result = _runner_side_error(out_dir, job, type(exc).__name__, str(exc),
                                            "".join(traceback.format_exception(exc)))
            fut.release()
            if tracker.handle(job, result):
                new = submit(job)
                futures[new] = job
                completed.add(new)
    except KeyboardInterrupt:
        client.cancel(list(futures))
        raise


def _connect(scheduler: str | os.PathLike | None, cluster: Any) -> Any:
    """Return a ``distributed.Client`` for ``scheduler`` (address or file) or ``cluster``."""
    try:
        from distributed import Client
    except ImportError as exc:
        raise InvalidParameterError(
            "running on a Dask cluster (scheduler= or cluster=) needs the 'distributed' package; "
            "install it with: pip install 'microdl[cluster]'"
        ) from exc
    if cluster is not None:
        return Client(cluster)
    where = os.fspath(scheduler)
    try:
        if where.endswith(".json") and Path(where).is_file():
            return Client(scheduler_file=where)
        return Client(where)
    except (OSError, ValueError, TypeError) as exc:
        raise InvalidParameterError(
            f"scheduler must be the address of a running Dask scheduler (e.g. "
            f"'tcp://10.0.0.1:8786') or a scheduler file, could not connect to {where!r}: {exc}"
        ) from exc


def _lock(out_dir: Path) -> Any:
    """Hold an exclusive lock on ``out_dir`` for one runner; None if unsupported."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return None
    fh = open(out_dir / LOCK_NAME, "a+")
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        fh.close()
        raise InvalidParameterError(
            f"out_dir {os.fspath(out_dir)!r} is in use by another running run_jobs; "
            "wait for it or use another out_dir"
        ) from exc
    except OSError:  # pragma: no cover - file system without locks
        pass
    return fh


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


def _clean_temporaries(out_dir: Path) -> int:
    n = 0
    for path in out_dir.iterdir():
        if _TMP_MARK in path.name:
            _remove(path)
            n += 1
    return n


def _split_done(out_dir: Path, jobs: list[Job]) -> tuple[int, list[Job]]:
    """Count done jobs (checking their params) and return the others in order."""
    n_done, pending = 0, []
    for job in jobs:
        if not _is_done(out_dir, job):
            pending.append(job)
            continue
        stored = _read_json(_summary_path(out_dir, job.key))
        if not isinstance(stored, dict):  # unreadable summary: run again
            pending.append(job)
            continue
        wanted = json.loads(json.dumps(to_jsonable(job.params)))
        if stored.get("params") != wanted:
            raise InvalidParameterError(
                f"job {job.key!r} is already done in {os.fspath(out_dir)!r} with params "
                f"{stored.get('params')!r}, but this grid asks for {wanted!r}; use another "
                "out_dir or delete its files to recompute")
        n_done += 1
    return n_done, pending


def _default_workers() -> int:
    counter = getattr(os, "process_cpu_count", None)  # Python >= 3.13
    if counter is not None:
        return counter() or 1
    if hasattr(os, "sched_getaffinity"):  # honours SLURM / taskset CPU sets
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


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

    Returns
    -------
    JobsReport
        Counts, failed keys and wall time.

    Raises
    ------
    InvalidParameterError
        Bad jobs or options, ``fn`` not importable, ``out_dir`` in use by
        another runner, a job already done with different params, an
        unreachable scheduler, or ``distributed`` not installed.
    KeyboardInterrupt
        Re-raised after cancelling queued jobs and stopping local workers;
        finished files stay and a rerun resumes.

    Notes
    -----
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
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise InvalidParameterError(f"retries must be an integer >= 0, got {retries!r}")
    if scheduler is not None and cluster is not None:
        raise InvalidParameterError("give scheduler or cluster, not both")
    distributed_run = scheduler is not None or cluster is not None
    if workers is not None:
        if distributed_run:
            raise InvalidParameterError(
                f"workers applies to local runs only, got workers={workers!r} with a Dask "
                "scheduler/cluster (size the cluster instead)")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InvalidParameterError(f"workers must be an integer >= 1, got {workers!r}")
    n_workers = workers or _default_workers()

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataFileError(f"out_dir {os.fspath(out)!r} cannot be created: {exc}") from exc
    lock = _lock(out)
    try:
        _clean_temporaries(out)
        n_before, pending = _split_done(out, jobs)
        _write_json_atomic(out / MANIFEST_NAME, {
            "format": _MANIFEST_FORMAT,
            "fn": fn_name,
            "written_utc": _now_utc(),
            "environment": environment(),
            "jobs": [{"key": j.key, "suffix": j.suffix, "params": j.params} for j in jobs],
        })
        tracker = _Tracker(len(jobs), n_before, retries, progress)
        try:
            if pending and distributed_run:
                client = _connect(scheduler, cluster)
                try:
                    _run_dask(fn, pending, out, client, tracker)
                finally:
                    client.close()
            elif pending:
                _run_local(fn, pending, out, min(n_workers, len(pending)), tracker)
        finally:
            tracker.close()
    finally:
        if lock is not None:
            lock.close()
    return JobsReport(
        n_total=len(jobs),
        n_done_before=n_before,
        n_ran=tracker.n_ran,
        n_failed=len(tracker.failed),
        failed=tuple(tracker.failed),
        seconds=time.perf_counter() - t0,
    )


def status(out_dir: str | os.PathLike) -> JobsStatus:
    """Tell which jobs of the grid in ``out_dir`` are done, failed or pending.

    Reads ``out_dir/manifest.json`` and the jobs' files; runs nothing.

    Parameters
    ----------
    out_dir
        Folder previously given to :func:`run_jobs`.

    Returns
    -------
    JobsStatus

    Raises
    ------
    DataFileError
        ``out_dir`` holds no readable manifest.
    """
    out = Path(out_dir)
    manifest = _read_json(out / MANIFEST_NAME)
    if not isinstance(manifest, dict) or manifest.get("format") != _MANIFEST_FORMAT:
        raise DataFileError(
            f"out_dir must hold a {MANIFEST_NAME} written by run_jobs, none readable in "
            f"{os.fspath(out)!r}")
    done: list[str] = []
    failed: dict[str, str] = {}
    pending: list[str] = []
    for entry in manifest["jobs"]:
        job = Job(entry["key"], entry["params"], entry["suffix"])
        if _is_done(out, job):
            done.append(job.key)
        elif (err := _read_json(_error_path(out, job.key))) is not None:
            info = err.get("error", {}) if isinstance(err, dict) else {}
            failed[job.key] = f"{info.get('type', 'Error')}: {info.get('message', '')}"
        else:
            pending.append(job.key)
    return JobsStatus(n_total=len(manifest["jobs"]), done=tuple(done), failed=failed,
                      pending=tuple(pending))
