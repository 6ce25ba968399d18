"""Plasticity calibration of the 2D DDD pillar model (issue 9, item 2).

Runs a small grid of simulations for named parameter sets (source density and strength,
obstacle density and strength) and measures what the strain-profile data set needs:

* visible slip traces per 8-bit profile (:func:`microdl.analysis.ddd_traces.count_traces`,
  the same counter on the 10 published 125 nm profiles of Yang et al. 2020);
* pinning events, nucleations, exits, final dislocations;
* the fraction of samples whose reload profile shows slip (the exporter's own test:
  :func:`microdl.data.ddd_checks.slip_pixels` and ``can_show_slip``), per reload strain and
  reference (``full``: what image correlation of the reload sees; ``mean``: prior lines kept);
* yield (0.2 % offset) and peak stresses of the prior loading.

Every simulation writes one JSON file into ``--work`` (resumable: finished ones are
skipped); the summary of every simulation in ``--work`` (also those of earlier calls with
other grids) goes to ``benchmarks/ddd/calibration.{json,md}``.

Usage::

    .venv/bin/python benchmarks/ddd/calibrate.py --sets dnv2005 dense --widths 0.125 0.25 0.5 \\
        --priors 0.1 1 --seeds 3 --workers 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np
from PIL import Image
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from microdl.analysis.ddd_traces import count_traces
from microdl.data.ddd_checks import can_show_slip, reload_activity, slip_pixels
from microdl.io._atomic import read_json, save_npz, write_json, write_text
from microdl.simulate.ddd import PillarConfig, simulate_pillar
from microdl.simulate.ddd.profile import render_uint8

HERE = Path(__file__).resolve().parent
PUBLISHED = HERE.parents[1].parent / "shared" / "data" / "ddd-strain-profiles"

#: Named parameter sets: overrides of PillarConfig. ``dnv2005`` is the default before this
#: calibration (Deshpande, Needleman & Van der Giessen 2005: 55 sources/um^2 of 50 +- 10 MPa,
#: obstacles twice as dense, 150 MPa).
SETS: dict[str, dict] = {
    "dnv2005": {},
    "obst4x300": {"obstacle_density_per_um2": 220.0, "obstacle_strength_mpa": 300.0},
    "src2x_obst4x": {"source_density_per_um2": 110.0, "obstacle_density_per_um2": 440.0},
    "src2x_obst4x300": {"source_density_per_um2": 110.0, "obstacle_density_per_um2": 440.0,
                        "obstacle_strength_mpa": 300.0},
    "src3x_obst8x": {"source_density_per_um2": 165.0, "obstacle_density_per_um2": 880.0},
    "src2x_weak_obst4x": {"source_density_per_um2": 110.0, "source_strength_mean_mpa": 40.0,
                          "obstacle_density_per_um2": 440.0},
}
RELOADS = (0.001, 0.01)


def run_one(job: dict, image_path: Path) -> dict:
    """One simulation -> its measurements (JSON-able); its 8-bit profiles go to ``image_path`` (.npz)."""
    cfg = PillarConfig(width_um=job["width_um"], slip=job["slip"], prior_strain=job["prior"],
                       reload_strain=max(RELOADS), reload_snapshots=RELOADS, **SETS[job["set"]])
    with threadpool_limits(1):
        res = simulate_pillar(cfg, seed=job["seed"])
    st = res.stats
    out = {**job, "seconds": st["seconds"], "pinned": st["pinned"], "nucleated": st["nucleated"],
           "exited": st["exited"], "annihilated": st["annihilated"], "n_sources": st["n_sources"],
           "n_obstacles": st["n_obstacles"], "n_final": st["n_dislocations_final"],
           "n_pinned_final": int(np.sum(res.dislocations["pinned"])),
           "yield_mpa": None if st["yield_stress_pa"] is None else st["yield_stress_pa"] / 1e6,
           "max_mpa": st["max_stress_pa"] / 1e6, "profiles": {}}
    burgers = cfg.material.burgers_nm * 1e-9
    images = {}
    for strain in RELOADS:
        act = reload_activity(res.curve, strain)
        for mode in ("full", "mean"):
            prof = res.profile(strain, mode=mode)
            img = images[f"{strain * 100:g}/{mode}"] = render_uint8(prof)
            tr = count_traces(img)
            plastic = slip_pixels(prof, strain, res.pixel_size_m, burgers) > 0 and can_show_slip(act, mode)
            out["profiles"][f"{strain * 100:g}/{mode}"] = {
                "traces": tr.n_traces, "full": tr.n_full, "interior": tr.n_interior, "plastic": bool(plastic),
                "reload_events": act["events"], "nonzero": float(np.mean(img > 0))}
    save_npz(image_path, images)
    return out


def recount(result: dict, image_path: Path) -> dict:
    """Trace counts of a finished simulation from its saved images (after a change of the counter)."""
    with np.load(image_path) as z:
        for key, prof in result["profiles"].items():
            tr = count_traces(z[key])
            prof.update(traces=tr.n_traces, full=tr.n_full, interior=tr.n_interior)
    return result


def published_traces() -> list[dict]:
    rows = []
    for f in sorted(PUBLISHED.glob("*.png")):
        tr = count_traces(np.array(Image.open(f).convert("L")))
        rows.append({"file": f.name, "traces": tr.n_traces, "full": tr.n_full, "interior": tr.n_interior})
    return rows


def _med(v):
    return float(np.median(v)) if len(v) else None


def summarise(results: list[dict]) -> list[dict]:
    cells = {}
    for r in results:
        cells.setdefault((r["set"], r["width_um"], r["slip"], r["prior"]), []).append(r)
    rows = []
    for (name, w, slip, prior), rs in sorted(cells.items()):
        row = {"set": name, "width_um": w, "slip": slip, "prior_pct": prior * 100, "n": len(rs),
               "seconds_median": _med([r["seconds"] for r in rs]),
               "pinned_median": _med([r["pinned"] for r in rs]),
               "n_final_median": _med([r["n_final"] for r in rs]),
               "yield_mpa_median": _med([r["yield_mpa"] for r in rs if r["yield_mpa"] is not None]),
               "max_mpa_median": _med([r["max_mpa"] for r in rs])}
        for key in rs[0]["profiles"]:
            ps = [r["profiles"][key] for r in rs]
            row[f"traces {key}"] = [p["traces"] for p in ps]
            row[f"interior {key}"] = [p["interior"] for p in ps]
            row[f"plastic {key}"] = float(np.mean([p["plastic"] for p in ps]))
        rows.append(row)
    return rows


def write_report(rows: list[dict], pub: list[dict], command: str, path: Path) -> None:
    pt = [p["traces"] for p in pub]
    lines = ["# 2D DDD plasticity calibration (issue 9, item 2)", "", f"Command: `{command}`", "",
             f"Machine: {os.cpu_count()} cores, no GPU, {platform.python_version()}; load average at the end "
             f"{os.getloadavg()[0]:.1f}. Traces: `microdl.analysis.ddd_traces.count_traces` (threshold 3 gray "
             "levels above a 7 px top-hat background, traces at +-30 deg, at least a fifth of the width long).", "",
             f"Published (Yang et al. 2020, w = 0.125 um, two slip, 10 images): traces per image {pt} "
             f"(median {np.median(pt):g}); interior {[p['interior'] for p in pub]}.", "",
             "Per cell: traces per image of each sample at reload 0.1 % and 1 % (reference `mean`: prior slip "
             "kept, as Yang et al.; `full`: reload only), fraction of samples whose profile shows slip "
             "(the exporter's test), median pinning events, final dislocations, yield and peak stress of the prior "
             "loading, seconds per simulation.", "",
             "| set | w (um) | slip | prior % | n | traces r0.1 mean | traces r1 mean | interior r1 mean | "
             "plastic r0.1 full | plastic r1 full | pinned | N final | yield MPa | max MPa | s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['set']} | {r['width_um']:g} | {r['slip']} | {r['prior_pct']:g} | {r['n']} | "
            f"{r.get('traces 0.1/mean')} | {r.get('traces 1/mean')} | {r.get('interior 1/mean')} | "
            f"{r.get('plastic 0.1/full', 0):.2f} | "
            f"{r.get('plastic 1/full', 0):.2f} | {r['pinned_median']:g} | {r['n_final_median']:g} | "
            f"{'-' if r['yield_mpa_median'] is None else format(r['yield_mpa_median'], '.0f')} | "
            f"{r['max_mpa_median']:.0f} | {r['seconds_median']:.0f} |")
    write_text(path, "\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--widths", nargs="+", type=float, default=[0.125, 0.25, 0.5])
    ap.add_argument("--slips", nargs="+", default=["two"], choices=["one", "two"])
    ap.add_argument("--priors", nargs="+", type=float, default=[0.1, 1.0], help="percent")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--work", type=Path, default=Path("microdl-work/calibration"))
    ap.add_argument("--out", type=Path, default=HERE / "calibration")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    jobs = [{"set": s, "width_um": w, "slip": sl, "prior": p / 100, "seed": k}
            for s in a.sets for w in a.widths for sl in a.slips for p in a.priors for k in range(a.seeds)]

    def path(j):
        return a.work / f"{j['set']}_w{j['width_um']:g}_{j['slip']}_p{j['prior'] * 100:g}_s{j['seed']}.json"

    todo = [j for j in jobs if not path(j).exists()]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(a.workers) as pool:
        futs = {pool.submit(run_one, j, path(j).with_suffix(".npz")): j for j in todo}
        for f in tqdm(as_completed(futs), total=len(futs), desc="calibration", file=sys.stderr):
            write_json(path(futs[f]), f.result())
    # the report covers every simulation in --work, also those of earlier calls with other grids
    results = [recount(read_json(f), f.with_suffix(".npz")) for f in sorted(a.work.glob("*.json"))]
    rows = summarise(results)
    pub = published_traces() if PUBLISHED.is_dir() else []
    command = "python benchmarks/ddd/calibrate.py " + " ".join(sys.argv[1:])
    write_json(a.out.with_suffix(".json"), {"command": command, "wall_seconds_this_run": time.perf_counter() - t0,
                                            "published": pub, "cells": rows, "samples": results})
    write_report(rows, pub, command, a.out.with_suffix(".md"))
    print(json.dumps([{k: v for k, v in r.items() if "traces" in k or k in ("set", "width_um", "prior_pct")}
                      for r in rows]))


if __name__ == "__main__":
    main()
