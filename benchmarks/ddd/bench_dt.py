"""Time-step check of the 2D DDD simulator: Δt = 0.5 ns against Δt = 0.1 ns on the same samples.

The spec (``../shared/docs/ddd-spec.md``, "Do not simplify") asks for Δt <= 0.5 ns with
in-step event detection, validated on about 20 samples against Δt = 0.1 ns. Each sample
(width, slip, seed) is compressed monotonically to ``--strain`` at both time steps
(:func:`microdl.simulate.ddd.protocol.simulate_loading`); we compare the flow stress (mean
over the last half), the 0.2 % offset yield stress and the final dislocation count,
pairwise (same sources and obstacles) and on average. Trajectories with stress drops are
chaotic, so single pairs may differ by the size of a drop; what must agree is the mean.

Writes ``dt_check.json`` and ``dt_check.md`` (with the command) to ``--out``.

Usage::

    .venv/bin/python benchmarks/ddd/bench_dt.py --widths 0.125 0.25 --samples 10 --workers 1
"""

from __future__ import annotations

import argparse
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def run_one(params: dict, out_path: str) -> dict:
    """Job: one sample at one time step; writes its (strain, stress) curve as a .npy, returns the measures."""
    from microdl.simulate.ddd import PillarConfig
    from microdl.simulate.ddd.protocol import simulate_loading

    cfg = PillarConfig(width_um=params["width_um"], slip=params["slip"], dt_ns=params["dt_ns"],
                       record_every=max(1, int(round(5.0 / params["dt_ns"]))))  # a point every 2.5 ns
    res = simulate_loading(cfg, params["seed"], params["strain"])
    st = res.stats
    with open(out_path, "wb") as fh:
        np.save(fh, np.stack([res.curve["strain"], res.curve["stress_pa"]]))
    return {"flow_mpa": None if st["flow_stress_pa"] is None else st["flow_stress_pa"] / 1e6,
            "yield_mpa": None if st["yield_stress_pa"] is None else st["yield_stress_pa"] / 1e6,
            "n_final": st["n_dislocations_final"], "substeps": st["substeps"], "seconds": st["seconds"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--widths", type=float, nargs="+", default=[0.125, 0.25])
    ap.add_argument("--slips", nargs="+", default=["two"], choices=["one", "two"])
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--strain", type=float, default=0.01)
    ap.add_argument("--dts", type=float, nargs=2, default=[0.5, 0.1], help="coarse and fine time step (ns)")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--work", default="microdl-work/ddd-dt-check")
    ap.add_argument("--out", default=str(HERE))
    args = ap.parse_args(argv)

    from microdl.data.jobs import Job, run_jobs
    from microdl.io._atomic import write_json
    from microdl.provenance import environment, git_commit
    from microdl.data.ddd_profiles import format_number as _num
    from microdl.workflows.ddd_dataset import sample_seed

    jobs = []
    for i in range(args.samples):
        for w in args.widths:
            for slip in args.slips:
                seed = sample_seed(7, w, slip, 0.0, i)
                for dt in args.dts:
                    jobs.append(Job(f"w{_num(w)}_{slip}_i{i:04d}_dt{_num(dt)}",
                                    {"width_um": w, "slip": slip, "seed": seed, "dt_ns": dt, "strain": args.strain},
                                    suffix=".npy"))
    t0 = time.perf_counter()
    rep = run_jobs(run_one, jobs, args.work, workers=args.workers)
    import json

    done = {}
    for j in jobs:
        rec = Path(args.work) / f"{j.key}.json"
        if rec.is_file():
            done[j.key] = json.loads(rec.read_text())["summary"]
    coarse, fine = args.dts
    pairs = []
    for i in range(args.samples):
        for w in args.widths:
            for slip in args.slips:
                k = f"w{_num(w)}_{slip}_i{i:04d}_dt"
                a, b = done.get(k + _num(coarse)), done.get(k + _num(fine))
                if a and b:
                    pairs.append({"width_um": w, "slip": slip, "index": i, "coarse": a, "fine": b})

    def paired(name: str) -> dict:
        d = [(p["coarse"][name], p["fine"][name]) for p in pairs
             if p["coarse"][name] is not None and p["fine"][name] is not None]
        if not d:
            return {"n": 0}
        c, f = np.array(d, dtype=float).T
        ok = f != 0
        rel = (c[ok] - f[ok]) / f[ok]
        n = len(d)
        if not len(rel) or f.mean() == 0:
            return {"n": n, "mean_coarse": float(c.mean()), "mean_fine": float(f.mean())}
        return {"n": n, "mean_coarse": float(c.mean()), "mean_fine": float(f.mean()),
                "mean_difference_pct": float(100 * (c.mean() - f.mean()) / f.mean()),
                "paired_rel_diff_mean_pct": float(100 * rel.mean()),
                "paired_rel_diff_se_pct": float(100 * rel.std(ddof=1) / math.sqrt(len(rel))) if len(rel) > 1 else None,
                "paired_abs_rel_diff_median_pct": float(100 * np.median(np.abs(rel)))}

    result = {
        "command": "python benchmarks/ddd/bench_dt.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "dt_ns": {"coarse": coarse, "fine": fine}, "n_pairs": len(pairs), "strain": args.strain,
        "flow_stress": paired("flow_mpa"), "yield_stress": paired("yield_mpa"), "n_final": paired("n_final"),
        "seconds": {"coarse": float(sum(p["coarse"]["seconds"] for p in pairs)),
                    "fine": float(sum(p["fine"]["seconds"] for p in pairs))},
        "pairs": pairs, "wall_seconds": time.perf_counter() - t0, "failed": list(rep.failed),
        "git_commit": git_commit(HERE), "environment": environment(),
    }
    out = Path(args.out)
    write_json(out / "dt_check.json", result)
    lines = ["# 2D DDD time-step check", "", f"Command: `{result['command']}`", "",
             f"{len(pairs)} paired samples (widths {args.widths} um, {args.slips} slip), monotonic compression to "
             f"{100 * args.strain:g} %, Δt = {coarse} ns against {fine} ns (same sources and obstacles).", "",
             "| quantity | n | mean at coarse Δt | mean at fine Δt | difference of means (%) "
             "| paired relative difference (%, mean +- se) | median paired abs. difference (%) |",
             "|---|---|---|---|---|---|---|"]
    for name, label in (("flow_stress", "flow stress (MPa)"), ("yield_stress", "0.2 % yield stress (MPa)"),
                        ("n_final", "final dislocation count")):
        r = result[name]
        if r.get("n") and "mean_difference_pct" in r:
            se = r["paired_rel_diff_se_pct"]
            lines.append(f"| {label} | {r['n']} | {r['mean_coarse']:.1f} | {r['mean_fine']:.1f} "
                         f"| {r['mean_difference_pct']:+.1f} | {r['paired_rel_diff_mean_pct']:+.1f}"
                         f"{'' if se is None else f' +- {se:.1f}'} | {r['paired_abs_rel_diff_median_pct']:.1f} |")
    lines += ["", f"Simulation time: {result['seconds']['coarse']:.0f} s at Δt = {coarse} ns, "
              f"{result['seconds']['fine']:.0f} s at {fine} ns.", ""]
    (out / "dt_check.md").write_text("\n".join(lines))
    print(json.dumps({k: result[k] for k in ("n_pairs", "flow_stress", "yield_stress")}, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
