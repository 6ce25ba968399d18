"""The CLI against a real PostgreSQL catalog: generate, train, list, and four concurrent writers.

Starts a throwaway server with the test suite's helper (``tests/data/_pg.py``: initdb + pg_ctl in a
temporary folder, as the ``postgres`` user when run as root), points ``MICRODL_CATALOG`` at it and
runs ``microdl gnd generate`` (x2), ``gnd train``, four ``gnd generate`` at once, ``data list`` and
``runs list``. From the repository root::

    .venv/bin/python benchmarks/platform/postgres_e2e.py

Measured for issue 8 (2 cores, no GPU): every command exits 0 and the four concurrent writers
leave four rows (six datasets in all).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "data"))

from _pg import PostgresServer, unavailable_reason  # noqa: E402

MICRODL = [sys.executable, "-m", "microdl"]


def main() -> int:
    reason = unavailable_reason()
    if reason:
        print(f"skipped: {reason}")
        return 0
    srv = PostgresServer()
    srv.start()
    work = Path(tempfile.mkdtemp(prefix="microdl-pg-"))
    try:
        env = dict(os.environ, MICRODL_CATALOG=srv.url(srv.create_database()))

        def run(*args: str) -> subprocess.CompletedProcess:
            t0 = time.perf_counter()
            r = subprocess.run([*MICRODL, *args], env=env, capture_output=True, text=True)
            print(f"microdl {' '.join(args[:2])} ... -> exit {r.returncode} in {time.perf_counter() - t0:.1f} s")
            if r.returncode:
                print(r.stderr[-800:])
            return r

        run("gnd", "generate", "--per-class", "200", "--seed", "1", "--out", str(work / "train.h5"), "--no-progress")
        run("gnd", "generate", "--per-class", "50", "--seed", "2", "--out", str(work / "val.h5"), "--no-progress")
        run("gnd", "train", "--train", str(work / "train.h5"), "--val", str(work / "val.h5"), "--out",
            str(work / "run"), "--epochs", "1", "--model", "gnd-fcn7", "--no-progress", "--json")
        procs = [subprocess.Popen([*MICRODL, "gnd", "generate", "--per-class", "20", "--seed", str(s), "--out",
                                   str(work / f"c{s}.h5"), "--no-progress"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for s in range(10, 14)]
        codes = [p.wait() for p in procs]
        print(f"4 concurrent gnd generate: exit codes {codes}")
        datasets = json.loads(run("data", "list", "--json").stdout)["entries"]
        runs = json.loads(run("runs", "list", "--json").stdout)["entries"]
        print(f"datasets recorded: {len(datasets)} (expected 6); runs recorded: {len(runs)} (expected 1)")
        return 0 if len(datasets) == 6 and len(runs) == 1 and codes == [0] * 4 else 1
    finally:
        srv.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
