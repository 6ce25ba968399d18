"""Execution back ends of :mod:`microdl.data.jobs`: a local process pool and a Dask cluster.

Both run ``execute(fn, key, params, out_dir, suffix)`` (the worker side of the
runner, :func:`microdl.data.jobs._execute`) for every pending job, hand each
result to a :class:`Tracker` that decides on retries, and record failures the
worker could not record itself (a crashed worker, a lost Dask task) through
``lost(job, type, message, traceback)``.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import sys
import traceback
import uuid
from collections import Counter, deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from microdl.exceptions import InvalidParameterError

__all__ = ["Tracker", "connect", "run_dask", "run_local"]

Execute = Callable[..., dict]
"""``execute(fn, key, params, out_dir, suffix) -> result record`` (top-level, picklable)."""
Lost = Callable[[Any, str, str, str], dict]
"""``lost(job, exc_type, message, traceback) -> result record`` for runner-side failures."""


class Tracker:
    """Counts results, decides on retries and drives the progress bar.

    Parameters
    ----------
    n_total
        Jobs in the grid.
    n_before
        Jobs already done (they count as done on the bar).
    retries
        Extra attempts per failing job.
    progress
        Show the bar on stderr.
    """

    def __init__(self, n_total: int, n_before: int, retries: int, progress: bool) -> None:
        from tqdm import tqdm

        self.retries = retries
        self.attempts: Counter[str] = Counter()
        self.n_ran = 0
        self.failed: list[str] = []
        self.bar = tqdm(total=n_total, initial=n_before, unit="job", desc="jobs",
                        file=sys.stderr, disable=not progress, dynamic_ncols=True)

    def handle(self, job: Any, result: dict[str, Any]) -> bool:
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
        """Close the progress bar."""
        self.bar.close()


def _format(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


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


def _stop_local_pool(pool: cf.ProcessPoolExecutor) -> None:
    """Cancel queued work and terminate the workers now (after Ctrl-C)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())  # private, best effort
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        try:
            proc.terminate()
        except (OSError, AttributeError):  # pragma: no cover
            pass


def run_local(execute: Execute, fn: Callable, pending: list, out_dir: Path, workers: int,
              tracker: Tracker, lost: Lost) -> None:
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
    queue: deque = deque(pending)
    suspects: deque = deque()  # waiting to run alone
    suspect_keys: set[str] = set()  # waiting or running alone
    in_flight: dict[cf.Future, Any] = {}
    out = str(out_dir)

    def account(job: Any, result: dict[str, Any]) -> None:
        if tracker.handle(job, result):
            (suspects if job.key in suspect_keys else queue).appendleft(job)
        else:
            suspect_keys.discard(job.key)

    def finish(fut: cf.Future, job: Any, broken: list) -> None:
        try:
            result = fut.result()
        except cf.process.BrokenProcessPool:
            broken.append(job)
            return
        except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be unpickled
            result = lost(job, type(exc).__name__, str(exc), _format(exc))
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
                    fut = pool.submit(execute, fn, job.key, job.params, out, job.suffix)
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
            broken: list = []
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
                account(job, lost(job, "WorkerCrashed",
                                  "the worker process died while running this job alone "
                                  "(segfault, out of memory or killed by a signal)", ""))
            else:
                suspects.extend(broken)
                suspect_keys.update(j.key for j in broken)
    except KeyboardInterrupt:
        _stop_local_pool(pool)
        raise
    pool.shutdown(wait=True)


def run_dask(execute: Execute, fn: Callable, pending: list, out_dir: Path, client: Any,
             tracker: Tracker, lost: Lost) -> None:
    """Submit every job to a Dask client and collect results as they complete."""
    from distributed import as_completed

    out = str(out_dir)

    def submit(job: Any) -> Any:
        return client.submit(execute, fn, job.key, job.params, out, job.suffix,
                             key=f"microdl-job-{job.key}-{uuid.uuid4().hex[:8]}", pure=False)

    futures = {submit(job): job for job in pending}
    completed = as_completed(list(futures))
    try:
        for fut in completed:
            job = futures.pop(fut)
            try:
                result = fut.result()
            except Exception as exc:  # noqa: BLE001 - KilledWorker, lost data, ...
                result = lost(job, type(exc).__name__, str(exc), _format(exc))
            fut.release()
            if tracker.handle(job, result):
                new = submit(job)
                futures[new] = job
                completed.add(new)
    except KeyboardInterrupt:
        client.cancel(list(futures))
        raise


def connect(scheduler: str | os.PathLike | None, cluster: Any) -> Any:
    """Return a ``distributed.Client`` for ``scheduler`` (address or file) or ``cluster``.

    Raises
    ------
    InvalidParameterError
        If ``distributed`` is not installed or the scheduler cannot be reached.
    """
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
