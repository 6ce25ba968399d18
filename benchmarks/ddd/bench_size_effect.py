"""Size-effect benchmark of the 2D DDD pillar simulator: median stresses against width, sigma ~ w^-alpha.

Monotonic compression of pillars of several widths (default 0.25, 0.5, 1 and 2 um) to
``--strain`` (default 3 %), ``--samples`` independent samples per (width, slip). Per width:
the Kaplan-Meier median 0.2 %-offset yield stress (a pillar that never reaches the offset
is right-censored at its highest stress) and the median flow stress (mean over the last
half of the curve), with 95 % bootstrap intervals; the exponent of a power law through
those medians with a bootstrap interval, and the local exponents between neighbouring
widths (power law or step?) (:mod:`microdl.analysis.size_effect`). The old least-squares
fit over individual samples is reported beside it.

Writes ``results.json`` (``size_effect_exponent`` = alpha of the median flow stress of the
first slip type, ``yield_stress_exponent`` beside it, each with its definition and
interval; per-width medians, fits, the command), ``results.md`` and ``size_effect.png`` to
``--out``. The simulations go to ``--work`` through the resumable job runner: rerun the
same command after an interruption and finished samples are kept; ``--report-only``
rewrites the report from what ``--work`` holds. Same as ``microdl ddd size-effect``.

Usage::

    .venv/bin/python benchmarks/ddd/bench_size_effect.py --workers 2
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--widths", type=float, nargs="+", default=[0.25, 0.5, 1.0, 2.0], help="pillar widths (um)")
    ap.add_argument("--slips", nargs="+", default=["two"], choices=["one", "two"])
    ap.add_argument("--samples", type=int, default=8, help="samples per (width, slip)")
    ap.add_argument("--strain", type=float, default=0.03, help="final strain (fraction)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--boot", type=int, default=2000, help="bootstrap replicates")
    ap.add_argument("--work", default=None, help="folder of the simulations, one final strain per folder "
                    "(default microdl-work/ddd-size-effect-<strain in percent>pct)")
    ap.add_argument("--out", default=str(HERE))
    ap.add_argument("--report-only", action="store_true", help="summarise what --work holds, run nothing")
    args = ap.parse_args(argv)
    if args.work is None:
        args.work = f"microdl-work/ddd-size-effect-{100 * args.strain:g}pct"

    from microdl.workflows.size_effect import run_size_effect, write_report

    t0 = time.perf_counter()
    report = None
    if not args.report_only:
        report = run_size_effect(args.work, args.widths, args.slips, args.samples, args.strain,
                                 workers=args.workers)
    wall = time.perf_counter() - t0
    given = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--report-only"]
    command = "python benchmarks/ddd/bench_size_effect.py " + " ".join(shlex.quote(a) for a in given)
    jobs = None if report is None else {"done_before": report.n_done_before, "ran": report.n_ran,
                                        "failed": report.n_failed}
    result = write_report(args.work, args.out, widths_um=args.widths, slips=args.slips, n_seeds=args.samples,
                          max_strain=args.strain, command=command,
                          extra={"wall_seconds_this_call": wall, "jobs": jobs, "report_only": args.report_only},
                          n_boot=args.boot)
    keys = ("size_effect_exponent", "size_effect_exponent_ci95", "yield_stress_exponent",
            "yield_stress_exponent_ci95", "n_samples", "n_censored")
    print(json.dumps({**{k: result[k] for k in keys}, "wall_seconds": round(wall, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
