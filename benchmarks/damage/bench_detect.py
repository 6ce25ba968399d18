"""Benchmark of issue 14, item 2: candidate detection speed, DBSCAN vs components, recall.

Parts (each writes into ``--out``/results.json and results.md; finished parts are kept):

1. ``real``: the real SEM image of deformed DP steel (``../shared/data/sem``): sites found with
   the authors' settings and a small grid of thresholds / minimum areas / smoothing, scored
   against ``sem_voids_by_eye.csv`` (13 voids marked by eye on 2x zoomed quarters of the image;
   a site within 15 px of a marked void is a hit, other sites are false). The grid is measured
   on this one image, so a setting chosen from it is tuned on its own test; it shows how
   sensitive recall is, it does not validate a new default.
2. ``dbscan``: scikit-learn ``DBSCAN(eps=1, min_samples=5)`` on the dark pixels against our
   morphological equivalent (identical labels checked) and plain connected components, on the
   real image and on synthetic crops of growing size.
3. ``panorama``: a synthetic 20,000 x 20,000 DP-steel panorama (``microdl.simulate.dp_steel``,
   for tests and demos only) written tile by tile to a tiled TIFF, then detected band by band
   with both methods, each in a fresh process (wall time, peak resident memory); recall and
   false sites against the generator's known sites.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/damage/bench_detect.py --out benchmarks/damage \\
        --work microdl-work/damage-bench [--side 20000] [--parts real dbscan panorama]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
SEM = REPO.parent / "shared" / "data" / "sem" / "dp_steel_deformed_unlabelled.tif"


def _match(found: list[dict], truth: np.ndarray, tol: float) -> tuple[int, int]:
    """(hits among the truth, false sites among the found) with a ``tol`` px radius."""
    if not found or not len(truth):
        return 0, len(found)
    xy = np.array([[s["x"], s["y"]] for s in found])
    d = np.hypot(xy[:, None, 0] - truth[None, :, 0], xy[:, None, 1] - truth[None, :, 1])
    return int((d.min(axis=0) < tol).sum()), int((d.min(axis=1) >= tol).sum())


def part_real() -> dict:
    from microdl.analysis.damage_candidates import DetectConfig, detect_sites
    from microdl.io.panorama import open_panorama

    rows = list(csv.DictReader(open(HERE / "sem_voids_by_eye.csv")))
    truth = np.array([[float(r["x"]), float(r["y"])] for r in rows])
    pano = open_panorama(SEM)
    grid = []
    for method in ("components", "dbscan"):
        for smooth in (0.0, 1.0):
            for threshold in (20, 30, 40, 50):
                for min_area in (20, 10, 5):
                    cfg = DetectConfig(method=method, smooth_px=smooth, threshold=threshold, min_area_px=min_area)
                    t0 = time.perf_counter()
                    sites = detect_sites(pano, cfg)
                    wall = time.perf_counter() - t0
                    hits, false = _match(sites, truth, 15.0)
                    grid.append({"method": method, "smooth_px": smooth, "threshold": threshold,
                                 "min_area_px": min_area, "n_sites": len(sites), "hits": hits, "false": false,
                                 "recall": hits / len(truth), "wall_time_s": wall})
    return {"image": "../shared/data/sem/dp_steel_deformed_unlabelled.tif", "shape": list(pano.shape),
            "n_marked": len(truth), "tolerance_px": 15.0, "grid": grid}


def part_dbscan() -> dict:
    from microdl.analysis.damage_candidates import dark_clusters, dbscan_reference
    from microdl.io.panorama import open_panorama
    from microdl.simulate.dp_steel import DPSteelConfig, synthetic_dp_steel

    cases = [("real SEM image", open_panorama(SEM).read(0, 0, 768, 1024))]
    for side in (1024, 2048, 4096):
        img, _ = synthetic_dp_steel(DPSteelConfig(height_px=side, width_px=side), rng=side)
        cases.append((f"synthetic {side} x {side}", img))
    rows = []
    dbscan_reference(cases[0][1][:64, :64])  # import scikit-learn before timing
    for name, img in cases:
        t0 = time.perf_counter()
        ref, n_ref = dbscan_reference(img)
        t_ref = time.perf_counter() - t0
        t0 = time.perf_counter()
        ours, n = dark_clusters(img, method="dbscan")
        t_ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        _, n_cc = dark_clusters(img, method="components")
        t_cc = time.perf_counter() - t0
        rows.append({"case": name, "pixels": int(img.size), "dark_pixels": int((img < 20).sum()),
                     "sklearn_s": t_ref, "morphological_s": t_ours, "components_s": t_cc,
                     "clusters_sklearn": n_ref, "clusters_morphological": n, "clusters_components": n_cc,
                     "identical_labels": bool(np.array_equal(ref, ours))})
    return {"rows": rows}


def _write_panorama(path: Path, side: int, seed: int) -> dict:
    import tifffile

    from microdl.simulate.dp_steel import DPSteelConfig, iter_tiles, plan_scene

    t0 = time.perf_counter()
    scene = plan_scene(DPSteelConfig(height_px=side, width_px=side), rng=seed)
    t_plan = time.perf_counter() - t0
    tile = 1024
    tmp = path.with_suffix(".part.tif")
    t0 = time.perf_counter()
    tifffile.imwrite(tmp, iter_tiles(scene, tile), shape=(side, side), dtype=np.uint8, tile=(tile, tile),
                     compression="zlib", compressionargs={"level": 1}, bigtiff=True,
                     resolution=(1e4 / scene.config.pixel_size_um,) * 2, resolutionunit="CENTIMETER")
    os.replace(tmp, path)
    sites = [{"x": s["x"], "y": s["y"], "label": s["label"]} for s in scene.sites]
    (path.with_suffix(".sites.json")).write_text(json.dumps(sites))
    return {"plan_s": t_plan, "render_write_s": time.perf_counter() - t0, "n_sites": len(sites),
            "file_mb": path.stat().st_size / 2**20}


def _detect_child(path: str, method: str) -> None:
    """Run in a fresh process: detect, print one JSON line with time and peak memory."""
    from microdl.analysis.damage_candidates import DetectConfig, detect_sites
    from microdl.io.panorama import open_panorama

    t0 = time.perf_counter()
    with open_panorama(path) as pano:
        sites = detect_sites(pano, DetectConfig(method=method), progress=True)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux: KiB)
    print(json.dumps({"wall_time_s": wall, "peak_rss_mib": peak,
                      "sites": [[s["x"], s["y"]] for s in sites]}))


def part_panorama(work: Path, side: int) -> dict:
    path = work / f"synthetic_{side}.tif"
    gen_file = path.with_suffix(".gen.json")
    if not path.is_file():
        gen_file.write_text(json.dumps(_write_panorama(path, side, seed=14)))
    gen = json.loads(gen_file.read_text()) if gen_file.is_file() else None
    truth_rows = json.loads(path.with_suffix(".sites.json").read_text())
    truth = np.array([[s["x"], s["y"]] for s in truth_rows])
    out = {"side": side, "tile": 1024, "compression": "zlib level 1", "generation": gen,
           "n_true_sites": len(truth), "methods": {}}
    for method in ("components", "dbscan"):
        res = subprocess.run([sys.executable, __file__, "--child", str(path), method], capture_output=True,
                             text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        child = json.loads(res.stdout.strip().splitlines()[-1])
        found = [{"x": x, "y": y} for x, y in child.pop("sites")]
        hits, false = _match(found, truth, 15.0)
        out["methods"][method] = {**child, "n_sites": len(found), "recall": hits / len(truth), "false": false}
    return out


def _markdown(res: dict) -> str:
    lines = ["# Damage-site candidate detection (issue 14, item 2)", "",
             f"Command: `{res['command']}`", "",
             f"Machine: {res['machine']}; load average at the start {res['load_average']}.", ""]
    if "dbscan" in res:
        lines += ["## DBSCAN (eps 1, min_samples 5) is a morphological operation", "",
                  "| case | pixels | dark | scikit-learn (s) | ours, exact DBSCAN (s) | components (s) | "
                  "clusters sklearn / ours / components | identical labels |", "|---|---|---|---|---|---|---|---|"]
        for r in res["dbscan"]["rows"]:
            lines.append(f"| {r['case']} | {r['pixels']:,} | {r['dark_pixels']:,} | {r['sklearn_s']:.2f} | "
                         f"{r['morphological_s']:.3f} | {r['components_s']:.3f} | {r['clusters_sklearn']} / "
                         f"{r['clusters_morphological']} / {r['clusters_components']} | {r['identical_labels']} |")
        lines.append("")
    if "panorama" in res:
        p = res["panorama"]
        g = p["generation"]
        lines += [f"## A synthetic {p['side']:,} x {p['side']:,} panorama (tiled TIFF, {p['compression']})", ""]
        if g:
            lines += [f"Generated in {g['plan_s']:.0f} s (scene) + {g['render_write_s']:.0f} s (render and write), "
                      f"{g['file_mb']:.0f} MB, {g['n_sites']} sites.", ""]
        lines += ["| method | wall time (s) | peak memory (MiB) | sites found | recall | false sites |",
                  "|---|---|---|---|---|---|"]
        for m, r in p["methods"].items():
            lines.append(f"| {m} | {r['wall_time_s']:.0f} | {r['peak_rss_mib']:.0f} | {r['n_sites']} | "
                         f"{r['recall']:.3f} | {r['false']} |")
        lines.append("")
    if "real" in res:
        r = res["real"]
        lines += ["## The real SEM image against 13 voids marked by eye", "",
                  "Hits: a site within 15 px of a marked void. The grid is measured on this one image: it shows "
                  "sensitivity, it does not validate a setting.", "",
                  "| method | smoothing (px) | threshold | min area (px) | sites | hits / 13 | false |",
                  "|---|---|---|---|---|---|---|"]
        for g in r["grid"]:
            lines.append(f"| {g['method']} | {g['smooth_px']:g} | {g['threshold']} | {g['min_area_px']} | "
                         f"{g['n_sites']} | {g['hits']} | {g['false']} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(HERE))
    ap.add_argument("--work", default=str(REPO / "microdl-work" / "damage-bench"))
    ap.add_argument("--side", type=int, default=20000)
    ap.add_argument("--parts", nargs="+", default=["real", "dbscan", "panorama"])
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _detect_child(*args.child)
        return 0
    import platform

    out, work = Path(args.out), Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    res = json.loads(path.read_text()) if path.is_file() else {}
    res.update(command="python benchmarks/damage/bench_detect.py " + " ".join(argv or sys.argv[1:]),
               machine=f"{platform.platform()}, {os.cpu_count()} cores, no GPU",
               load_average=[round(v, 2) for v in os.getloadavg()])
    for part in args.parts:
        print(f"part {part} ...", file=sys.stderr)
        res[part] = {"real": part_real, "dbscan": part_dbscan}[part]() if part != "panorama" else \
            part_panorama(work, args.side)
        path.write_text(json.dumps(res, indent=1))
        (out / "results.md").write_text(_markdown(res))
    print(_markdown(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
