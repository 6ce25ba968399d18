"""Size-effect benchmark of the 2D DDD pillar simulator: sigma ~ w^-alpha.

Monotonic compression of pillars of several widths to ``--strain`` (default 1 %),
``--samples`` independent samples per (width, slip); 0.2 %-offset yield stress and flow
stress (mean over the last half of the curve) per sample, fitted as sigma = A w^-alpha
over individual samples (:mod:`microdl.analysis.size_effect`). Also: the relative
stress noise of the flow part (serrations) and the dislocation count at 0.1, 0.2, 0.5
and 1 % strain per width.

Writes ``results.json`` (``size_effect_exponent`` = alpha of the flow stress of the first
slip type, the yield-stress exponent beside it, per-width statistics, fits, the command),
``results.md`` and ``size_effect.png`` to ``--out``. The simulations go to ``--work``
through the resumable job runner: rerun the same command after an interruption and
finished samples are kept. Same as ``microdl ddd size-effect``.

Usage::

    .venv/bin/python benchmarks/ddd/bench_size_effect.py \\
        --widths 0.0625 0.125 0.25 0.5 1 --slips two one --samples 8 --workers 2
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
    ap.add_argument("--widths", type=float, nargs="+", default=[0.0625, 0.125, 0.25, 0.5, 1.0])
    ap.add_argument("--slips", nargs="+", default=["two", "one"], choices=["one", "two"])
    ap.add_argument("--samples", type=int, default=8)
    ap.add_argument("--strain", type=float, default=0.01, help="final strain (fraction)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--work", default="microdl-work/ddd-size-effect")
    ap.add_argument("--out", default=str(HERE))
    ap.add_argument("--report-only", action="store_true", help="summarise what --work holds, run nothing")
    args = ap.parse_args(argv)

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
                          extra={"wall_seconds_this_call": wall, "jobs": jobs, "report_only": args.report_only})
    print(json.dumps({"size_effect_exponent": result["size_effect_exponent"],
                      "yield_stress_exponent": result["yield_stress_exponent"],
                      "n_samples": result["n_samples"], "wall_seconds": round(wall, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
