"""EBSD GND benchmark (issue 12): speed, and an independent cross-check of the Nye tensor.

Writes ``benchmarks/ebsd/results.json`` and ``results.md``.

Usage::

    .venv/bin/python benchmarks/ebsd/bench_ebsd.py            # DC06 + Mg + 1000 x 1000 synthetic map
    .venv/bin/python benchmarks/ebsd/bench_ebsd.py --size 300 # a smaller synthetic map

1. Speed: ``microdl.analysis.ebsd_gnd.ebsd_gnd`` (read + curvature + fit) on the real maps
   (``../shared/data/ebsd``) with the L1 and L2 fits, and on a synthetic ``size x size`` bcc
   map (random grains of 20-40 px with a smooth lattice rotation gradient plus 0.3 degree
   orientation noise). The L1 fit of the synthetic map is timed on a 100,000-point crop and
   extrapolated (stated as such).
2. Cross-check: the six measurable Nye numbers of DC06 recomputed with an independent code
   path (``scipy.spatial.transform.Rotation`` for the Euler angles, the misorientations and
   the symmetry reduction over the 24 cubic rotations, written here) against
   ``microdl.features.nye``: the relative difference of their norms at every used point.

Timings are measurements on a shared machine, never test assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DATA = ROOT / ".." / "shared" / "data" / "ebsd"


def _synthetic(size: int, seed: int = 0):
    from microdl.features.crystal import euler_to_matrix, rotation_matrix
    from microdl.io.ebsd import EBSDMap, EBSDPhase

    rng = np.random.default_rng(seed)
    n_grains = max(1, (size // 30) ** 2)
    seeds = rng.uniform(0, size, (n_grains, 2))
    yy, xx = np.mgrid[0:size, 0:size]
    from scipy.spatial import cKDTree

    _, grain = cKDTree(seeds).query(np.stack([yy.ravel(), xx.ravel()], 1))
    grain = grain.reshape(size, size)
    g0 = euler_to_matrix(rng.uniform(0, [2 * np.pi, np.pi, 2 * np.pi], (n_grains, 3)))[grain]
    axis = rng.normal(size=(n_grains, 3))[grain]
    rate = np.radians(0.1)  # per pixel
    bend = rotation_matrix(axis, rate * (xx + 0.5 * yy))
    noise = rotation_matrix(rng.normal(size=(size, size, 3)), np.radians(0.3) * rng.standard_normal((size, size)))
    g = np.swapaxes(noise @ bend @ np.swapaxes(g0, -1, -2), -1, -2)
    phi = np.arccos(np.clip(g[..., 2, 2], -1, 1))
    euler = np.stack([np.arctan2(g[..., 2, 0], -g[..., 2, 1]), phi, np.arctan2(g[..., 0, 2], g[..., 1, 2])], -1)
    fe = EBSDPhase(id=1, name="Iron (Alpha)", crystal_system="cubic", lattice=(2.8665,) * 3 + (90.0,) * 3)
    return EBSDMap(euler=euler, phase=np.ones((size, size), int), quality=np.ones((size, size)),
                   image_quality=np.ones((size, size)), step_um=(0.1, 0.1), phases=(fe,), source="synthetic.ang")


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def _independent_nye(m, boundary_deg=5.0):
    """Measurable Nye numbers with scipy's Rotation (independent of microdl.features)."""
    from scipy.spatial.transform import Rotation

    ny, nx = m.shape
    ok = m.indexed & (m.quality >= 0.1)
    # Bunge (passive, sample -> crystal): crystal axes in the sample frame are R = Rz(phi1) Rx(Phi) Rz(phi2)
    rot = Rotation.from_euler("ZXZ", np.nan_to_num(m.euler.reshape(-1, 3)))
    # cubic proper rotations: all signed permutation matrices with determinant +1
    import itertools

    mats = []
    for p in itertools.permutations(range(3)):
        for s in itertools.product((1, -1), repeat=3):
            mm = np.zeros((3, 3))
            mm[range(3), p] = s
            if np.linalg.det(mm) > 0:
                mats.append(mm)
    sym = Rotation.from_matrix(np.array(mats))
    grad = np.full((ny, nx, 3, 2), np.nan)
    for axis, (di, dj), step in ((0, (0, 1), m.step_um[0] * 1e-6), (1, (1, 0), m.step_um[1] * 1e-6)):
        fwd = np.full((ny, nx, 3), np.nan)
        i0, j0 = np.mgrid[0:ny - di, 0:nx - dj]
        a = (i0 * nx + j0).ravel()
        b = ((i0 + di) * nx + (j0 + dj)).ravel()
        best = None
        best_ang = np.full(len(a), np.inf)
        for k in range(len(sym)):
            # sample-frame rotation carrying crystal 1 to the symmetric variant of crystal 2
            d = rot[b] * sym[k] * rot[a].inv()
            ang = d.magnitude()
            better = ang < best_ang
            best_ang = np.where(better, ang, best_ang)
            rv = d.as_rotvec()
            best = rv if best is None else np.where(better[:, None], rv, best)
        good = ok.ravel()[a] & ok.ravel()[b] & (best_ang <= np.radians(boundary_deg))
        fwd_v = np.where(good[:, None], best / step, np.nan)
        fwd[i0.ravel(), j0.ravel()] = fwd_v
        # average of forward and backward differences
        back = np.full((ny, nx, 3), np.nan)
        back[i0.ravel() + di, j0.ravel() + dj] = fwd_v
        grad[..., axis] = np.nanmean(np.stack([fwd, back]), axis=0)
    grad[~ok] = np.nan
    k = grad
    return np.stack([k[..., 1, 0], k[..., 2, 0], k[..., 0, 1], k[..., 2, 1], -(k[..., 0, 0] + k[..., 1, 1]),
                     k[..., 0, 0] - k[..., 1, 1]], -1)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=1000)
    ap.add_argument("--out", default=str(HERE))
    args = ap.parse_args(argv)
    import warnings

    from microdl.analysis.ebsd_gnd import ebsd_gnd
    from microdl.features.crystal import euler_to_matrix, symmetry_operators
    from microdl.features.nye import lattice_curvature, nye_measurable
    from microdl.io.ebsd import read_ebsd

    warnings.filterwarnings("ignore", category=RuntimeWarning)
    rows, out = [], {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                                 "load_avg_start": list(os.getloadavg())},
                     "command": "python benchmarks/ebsd/bench_ebsd.py " + " ".join(argv or sys.argv[1:])}
    for name in ("DC06_2uniax.ang", "twins_Mg.ctf"):
        path = DATA / name
        if not path.is_file():
            rows.append({"case": name, "skipped": "file not available"})
            continue
        m, t_read = _timed(lambda p=path: read_ebsd(p))
        for method in ("l1", "l2"):
            res, t = _timed(lambda mm=m, me=method: ebsd_gnd(mm, method=me))
            s = res.stats()
            rows.append({"case": name, "points": int(m.phase.size), "method": method, "read_s": t_read, "gnd_s": t,
                         "rho_gnd_mean_per_m2": s["rho_gnd_mean_per_m2"], "fraction_used": s["fraction_used"]})
    # the independent cross-check on DC06
    path = DATA / "DC06_2uniax.ang"
    if path.is_file():
        m = read_ebsd(path)
        ours = nye_measurable(lattice_curvature(euler_to_matrix(np.where((m.quality >= 0.1)[..., None], m.euler,
                                                                          np.nan)),
                                                symmetry_operators("cubic"), (1e-6, 1e-6)))
        theirs = _independent_nye(m)
        both = np.all(np.isfinite(ours), -1) & np.all(np.isfinite(theirs), -1)
        # relative to each point's norm, floored at 1e-6 of the map's median norm (both vanish at some points)
        norm = np.linalg.norm(theirs[both], axis=-1)
        diff = np.linalg.norm(ours[both] - theirs[both], axis=-1) / np.maximum(norm, 1e-6 * np.median(norm))
        out["crosscheck_dc06"] = {"points_compared": int(both.sum()),
                                  "same_mask": bool(np.array_equal(np.all(np.isfinite(ours), -1),
                                                                   np.all(np.isfinite(theirs), -1))),
                                  "max_relative_difference": float(diff.max()),
                                  "median_relative_difference": float(np.median(diff))}
    # synthetic map
    m, t_make = _timed(lambda: _synthetic(args.size))
    res, t = _timed(lambda: ebsd_gnd(m, method="l2"))
    rows.append({"case": f"synthetic {args.size} x {args.size}", "points": int(m.phase.size), "method": "l2",
                 "gnd_s": t, "rho_gnd_mean_per_m2": res.stats()["rho_gnd_mean_per_m2"],
                 "fraction_used": res.stats()["fraction_used"]})
    crop = min(args.size, 316)
    mc = _synthetic(crop)
    res, t = _timed(lambda: ebsd_gnd(mc, method="l1"))
    rows.append({"case": f"synthetic {crop} x {crop} (crop)", "points": int(mc.phase.size), "method": "l1",
                 "gnd_s": t, "extrapolated_full_map_s": t * (args.size / crop) ** 2,
                 "rho_gnd_mean_per_m2": res.stats()["rho_gnd_mean_per_m2"]})
    out["rows"] = rows
    out["machine"]["load_avg_end"] = list(os.getloadavg())
    dest = Path(args.out)
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "results.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = ["# EBSD GND densities: speed and an independent cross-check (issue 12)", "",
             f"Command: `{out['command'].strip()}`. Machine: {out['machine']['platform']}, "
             f"{out['machine']['cpus']} cores, load average at start {out['machine']['load_avg_start']}, at end "
             f"{out['machine']['load_avg_end']} (shared with other jobs; single process).", "",
             "| case | points | fit | time (s) | mean GND (m^-2) | points used |", "|---|---|---|---|---|---|"]
    for r in rows:
        if "skipped" in r:
            lines.append(f"| {r['case']} | | | skipped: {r['skipped']} | | |")
            continue
        tt = f"{r['gnd_s']:.2f}" + (f" (full map ~{r['extrapolated_full_map_s']:.0f}, extrapolated)"
                                    if "extrapolated_full_map_s" in r else "")
        used = f"{100 * r['fraction_used']:.1f} %" if "fraction_used" in r else ""
        lines.append(f"| {r['case']} | {r['points']} | {r['method']} | {tt} | {r['rho_gnd_mean_per_m2']:.3g} | {used} |")
    if "crosscheck_dc06" in out:
        c = out["crosscheck_dc06"]
        lines += ["", "Cross-check on DC06 (scipy `Rotation`, written independently in this script): the six "
                  f"measurable Nye numbers at {c['points_compared']} points differ from microdl's by at most "
                  f"{c['max_relative_difference']:.2g} (median {c['median_relative_difference']:.2g}) relative; "
                  f"same set of points: {c['same_mask']}."]
    (dest / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
