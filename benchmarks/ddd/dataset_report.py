"""Per-sample cost and contents of a DDD dataset folder (finished or partial).

Reads the runner's per-sample records of a folder written by ``microdl ddd dataset`` and
writes ``<name>.json`` / ``<name>.md``: per (width, slip, prior) the samples done, seconds
per sample (mean, max), 0.2 % yield stress, final dislocation count; the core-seconds of
one complete round (one sample of every cell) and what N samples per cell would take on
``--workers`` cores.

Usage::

    .venv/bin/python benchmarks/ddd/dataset_report.py microdl-work/ddd-cpu --name cpu_dataset
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path


HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dataset")
    ap.add_argument("--name", default="cpu_dataset")
    ap.add_argument("--out", default=str(HERE))
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)

    from microdl.data.jobs import status
    from microdl.io._atomic import write_json
    from microdl.provenance import environment
    from microdl.workflows.ddd_dataset import summary_table

    folder = Path(args.dataset)
    st = status(folder)
    rows = summary_table(folder)
    if not rows:
        print(f"no finished samples in {folder}", file=sys.stderr)
        return 2
    # one complete round = the mean cost of every (width, slip, prior) cell, summed
    round_s = float(sum(r["seconds_mean"] for r in rows))
    cells = len(rows)
    recs = []
    for key in st.done:
        rec = json.loads((folder / f"{key}.json").read_text())
        recs.append(rec)
    total_s = float(sum(float(r.get("seconds") or 0.0) for r in recs))
    per_prior = {}
    for r in rows:
        per_prior.setdefault(r["prior_strain"], []).append(r["seconds_mean"])
    result = {
        "command": "python benchmarks/ddd/dataset_report.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
        "dataset": str(folder), "n_done": len(st.done), "n_total": st.n_total, "n_failed": len(st.failed),
        "cells_with_data": cells, "core_seconds_done": total_s,
        "core_seconds_per_round": round_s,
        "hours_per_sample_index_on_workers": round_s / args.workers / 3600,
        "share_by_prior": {f"{100 * p:g} %": float(sum(v) / round_s) for p, v in sorted(per_prior.items())},
        "workers": args.workers, "rows": rows, "environment": environment(),
    }
    out = Path(args.out)
    write_json(out / f"{args.name}.json", result)
    lines = [f"# DDD dataset: cost and contents ({folder.name})", "", f"Command: `{result['command']}`", "",
             f"{len(st.done)} of {st.n_total} samples done ({len(st.failed)} failed). Seconds are wall time of one "
             f"simulation while {args.workers} ran side by side on the 2-core machine.", "",
             "| width (um) | slip | prior (%) | done | s/sample mean | s/sample max | yield (MPa) | yielded "
             "| N final | image (px) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ys = "-" if r["yield_stress_mpa_mean"] is None else f"{r['yield_stress_mpa_mean']:.0f}"
        shape = "x".join(str(v) for v in (r["profile_shape"] or []))
        lines.append(f"| {r['width_um']:g} | {r['slip']} | {100 * r['prior_strain']:g} | {r['n_done']} "
                     f"| {r['seconds_mean']:.0f} | {r['seconds_max']:.0f} | {ys} | {r['n_yielded']} "
                     f"| {r['n_dislocations_final_mean']:.1f} | {shape} |")
    shares = ", ".join(f"prior {k}: {100 * v:.0f} %" for k, v in result["share_by_prior"].items())
    lines += ["", f"One sample of each of the {cells} cells costs {round_s:.0f} core-seconds "
              f"({shares}), i.e. {result['hours_per_sample_index_on_workers']:.2f} h per sample index on "
              f"{args.workers} workers; 10 samples per cell would take "
              f"{10 * result['hours_per_sample_index_on_workers']:.1f} h.", ""]
    (out / f"{args.name}.md").write_text("\n".join(lines))
    print(json.dumps({k: result[k] for k in ("n_done", "core_seconds_per_round",
                                             "hours_per_sample_index_on_workers")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
