"""Job functions for ``test_jobs.py``; a module of its own so worker processes can import it."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path


def _log(params: dict, event: str) -> None:
    if params.get("log"):
        line = json.dumps({"key": params["key"], "event": event, "pid": os.getpid(),
                           "t": time.time()})
        with open(params["log"], "a") as fh:  # O_APPEND: one short line per write
            fh.write(line + "\n")


def square(params: dict, out_path: Path) -> dict:
    """Write ``x**2`` as text after ``sleep_s``; fail, crash or flake on request."""
    _log(params, "start")
    with open(out_path, "w") as fh:
        fh.write("partial\n")  # a killed job leaves this half-written temporary file
        fh.flush()
        time.sleep(params.get("sleep_s", 0.0))
        if params.get("fail"):
            raise ValueError(f"boom in {params['key']}")
        if params.get("crash"):
            os.kill(os.getpid(), signal.SIGKILL)
        flaky = params.get("fail_first_n")
        if flaky:
            counter = Path(params["counter"])
            n = len(counter.read_text()) if counter.exists() else 0
            counter.write_text("x" * (n + 1))
            if n < flaky:
                raise RuntimeError(f"flaky failure {n + 1}")
        fh.write(f"{params['x'] ** 2}\ncomplete\n")
    _log(params, "end")
    return {"y": params["x"] ** 2}


def log_lines(path: Path) -> list[dict]:
    """Events written by :func:`square` (``[]`` if none)."""
    if not Path(path).exists():
        return []
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line]


def grid(n: int, *, log: Path | str | None = None, sleep_s: float | list = 0.0) -> list:
    """``n`` jobs of :func:`square` with keys ``j000``, ``j001``, ...; ``sleep_s`` per job or one."""
    from microdl.data.jobs import Job

    sleeps = sleep_s if isinstance(sleep_s, list) else [sleep_s] * n
    return [Job(f"j{i:03d}", {"key": f"j{i:03d}", "x": i, "sleep_s": sleeps[i],
                              "log": None if log is None else str(log)}, suffix=".txt")
            for i in range(n)]


def require_complete(path: Path) -> None:
    """A ``validate`` for :func:`square` outputs: the text must end with ``complete``."""
    if not Path(path).read_text().endswith("complete\n"):
        raise ValueError(f"{Path(path).name} is incomplete")


def write_folder(params: dict, out_path: Path) -> dict:
    """A job whose output is a directory (as Zarr stores are)."""
    Path(out_path).mkdir()
    (Path(out_path) / "x.txt").write_text(str(params["x"]))
    return {}
