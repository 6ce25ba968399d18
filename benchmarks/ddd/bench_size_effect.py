"""Size-effect benchmark of the 2D DDD pillar simulator: sigma ~ w^-alpha.

Monotonic compression of pillars of several widths to ``--strain`` (default 1 %),
``--samples`` independent samples per (width, slip); 0.2 %-offset yield stress and flow
stress (mean over the last half of the curve) per sample, fitted as sigma = A w^-alpha
over individual samples (:mod:`microdl.simulate.ddd.size_effect`). Also: the relative
stress noise of the flow part (serrations) and the dislocation count at 0.1, 0.2, 0.5
and 1 % strain per width.

Writes ``results.json`` (``size_effect_exponent`` = alpha of the yield stress of the first
slip type, per-width statistics, fits, the command), ``results.md`` and ``size_effect.png``
to ``--out``. The simulations go to ``--work`` through the resumable job runner: rerun the
same command after an interruption and finished samples are kept.

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


def _fmt(st: dict, scale: float = 1.0, digits: int = 0) -> str:
    if not st.get("n"):
        return "-"
    return f"{st['mean'] * scale:.{digits}f} +- {st['sd'] * scale:.{digits}f}"


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

    from microdl.provenance import environment, git_commit, write_json
    from microdl.simulate.ddd.size_effect import (
        load_curve,
        load_samples,
        plot_size_effect,
        run_size_effect,
        size_effect_jobs,
        summarise,
    )

    t0 = time.perf_counter()
    report = None
    if not args.report_only:
        report = run_size_effect(args.work, args.widths, args.slips, args.samples, args.strain,
                                 workers=args.workers)
    wall = time.perf_counter() - t0
    samples = [r for r in load_samples(args.work) if r["width_um"] in args.widths and r["slip"] in args.slips
               and (r.get("index") or 0) < args.samples]
    summary = summarise(samples)
    first = args.slips[0]
    fit_y = (summary["fits"].get(first) or {}).get("yield")
    command = "python benchmarks/ddd/bench_size_effect.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    curves = {}
    for w in sorted(args.widths):
        p = Path(args.work) / f"{size_effect_jobs([w], [first], 1, args.strain)[0].key}.npz"
        if p.exists():
            curves[f"w = {w:g} um"] = load_curve(p)
    fig = plot_size_effect(samples, summary, out, curves)
    result = {
        "size_effect_exponent": None if fit_y is None else fit_y["alpha"],
        "size_effect_exponent_definition": (
            f"alpha of sigma_y = A w^-alpha, least squares in log-log over every {first}-slip sample; "
            "sigma_y = 0.2 % offset yield stress of a monotonic compression"),
        "paper_exponent": 0.55,
        "fits": summary["fits"],
        "per_width": summary["per_width"],
        "n_samples": len(samples),
        "max_strain": args.strain,
        "command": command,
        "wall_seconds_this_call": wall,
        "jobs": None if report is None else {"done_before": report.n_done_before, "ran": report.n_ran,
                                             "failed": report.n_failed},
        "work_dir": args.work,
        "git_commit": git_commit(HERE),
        "environment": environment(),
    }
    write_json(out / "results.json", result)

    lines = [
        "# 2D DDD size effect", "",
        f"Command: `{command}`", "",
        f"{len(samples)} samples, monotonic compression to {100 * args.strain:g} % strain at 1e4 /s, "
        "Al preset, aspect 1:4, clamped ends. Stresses in MPa (mean +- sd over samples).", "",
        "| slip | width (um) | samples | sources | yield (0.2 %) | no yield | flow | flow noise (%) "
        "| N at 0.2 % | N at 1 % | s/sample |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in summary["per_width"]:
        lines.append(
            f"| {e['slip']} | {e['width_um']:g} | {e['n_samples']} | {_fmt(e['n_sources'], digits=1)} "
            f"| {_fmt(e['yield_stress_mpa'])} | {e['n_no_yield']} | {_fmt(e['flow_stress_mpa'])} "
            f"| {_fmt(e['flow_noise'], 100, 1)} | {_fmt(e['n_at_0.2pct'], digits=1)} "
            f"| {_fmt(e['n_at_1pct'], digits=1)} | {_fmt(e['seconds'])} |")
    lines += ["", "Fits sigma = A w^-alpha (least squares in log-log over samples; 95 % bootstrap interval):", ""]
    for slip, fits in summary["fits"].items():
        for name, f in fits.items():
            if f:
                ci = f["alpha_ci95"]
                lines.append(f"- {slip} slip, {name}: alpha = {f['alpha']:.3f} +- {f['alpha_se']:.3f} "
                             f"(95 % CI {ci[0]:.2f}-{ci[1]:.2f}), R^2 = {f['r2']:.2f}, n = {f['n']}")
    lines += ["", f"Figure: `{fig.name}`.", ""]
    (out / "results.md").write_text("\n".join(lines))
    print(json.dumps({"size_effect_exponent": result["size_effect_exponent"], "n_samples": len(samples),
                      "wall_seconds": round(wall, 1)}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
