"""Speed of the 2D DDD pillar simulator: per-step cost against N, and per-sample times.

Writes ``benchmarks/ddd/speed_kernels.json`` and ``.md`` with the exact command (the before/after
comparison of issue 9, ``speed.json`` / ``speed.md``, comes from ``bench_before_after.py``).

Usage::

    .venv/bin/python benchmarks/ddd/bench_speed.py                # kernels + default samples
    .venv/bin/python benchmarks/ddd/bench_speed.py --samples none # kernels only
    .venv/bin/python benchmarks/ddd/bench_speed.py --widths 0.0625 0.125 --priors 0.1 1 10

Per-step parts at N dislocations (random positions and signs on the slip planes of a
w = 1 um, h = 4 um two-slip pillar, 32 x 128 FE mesh):

* ``pair_ms``: the O(N^2) resolved-shear kernel (:func:`kernels.pair_resolved_shear`);
* ``plain_loop_ms``: reference plain Numba double loop (same-plane-frame edge sigma_xy, no
  rotation), the "about 7 ms at N = 1000" of the spec;
* ``boundary_ms``: sigma~ at the ~1150 boundary Gauss points and u~ at the 66 clamped nodes;
* ``substep_ms``: one sub-step without local sub-cycling (fields, FE solve, sampling,
  implicit glide, events);
* ``step_ms``: one full time step of :meth:`PillarModel.step` from this random state, with
  its global (fast-glide) and local (stiff-pair) sub-steps counted in
  ``global_substeps`` / ``local_substeps``. A random configuration has far more close
  pairs and fast dislocations than a relaxed one, so this is an upper bound.
Timings are medians of repeated calls on one core; they never become test assertions.
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
from numba import njit
from threadpoolctl import threadpool_limits

from microdl.simulate.ddd import PillarConfig, simulate_pillar
from microdl.simulate.ddd import kernels
from microdl.simulate.ddd.dynamics import PillarModel

HERE = Path(__file__).resolve().parent


@njit(cache=True)
def plain_pair_loop(x, y, b, dcoef):
    """Reference: plain double loop of sigma_xy of edge dislocations (one slip system)."""
    n = x.shape[0]
    out = np.zeros(n)
    for i in range(n):
        acc = 0.0
        for j in range(n):
            if i == j:
                continue
            dx = x[i] - x[j]
            dy = y[i] - y[j]
            r2 = dx * dx + dy * dy
            acc += dcoef * b[j] * dx * (dx * dx - dy * dy) / (r2 * r2)
        out[i] = acc
    return out


def _median_time(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _bench_one(cfg: PillarConfig, n: int) -> dict:
    model = PillarModel(cfg, np.random.default_rng(0))
    rng = np.random.default_rng(n)
    plane, xi = model.planes.random_points(rng, n, 2, 2 * model.le)
    model._add(plane, xi, rng.choice([-1.0, 1.0], n))
    x, y, b, c, s = model.dislocation_arrays()
    u = 0.002 * model.height
    repeat = 20 if n <= 100 else 7
    pair = _median_time(
        lambda: kernels.pair_resolved_shear(x, y, b, c, s, model.d_plane, model.dcoef, model.rc2), repeat
    )
    plain = _median_time(lambda: plain_pair_loop(x, y, b, model.dcoef), repeat)

    def boundary():
        kernels.stress_at_points(model._bnd_x, model._bnd_y, x, y, b, c, s, model.dcoef, model.rc2)
        kernels.displacement_at_points(model._tb_x, model._tb_y, x, y, b, c, s, model.nu, *model._step_arrays())

    bnd = _median_time(boundary, repeat)
    state = model.get_state()

    def substep():
        model.set_state(state)
        tau, _ = model.solve_fields(u)
        model._glide(tau, model.dt)

    def full_step():
        model.set_state(state)
        model.step(u)

    sub = _median_time(substep, repeat)
    full = _median_time(full_step, repeat)
    model.set_state(state)
    _, r2min = model.solve_fields(u)
    model.stats.substeps = model.stats.local_substeps = 0
    model.step(u)
    return {
        "n": n, "pair_ms": 1e3 * pair, "plain_loop_ms": 1e3 * plain, "boundary_ms": 1e3 * bnd,
        "substep_ms": 1e3 * sub, "step_ms": 1e3 * full, "steps_per_second": 1.0 / full,
        "global_substeps": model.stats.substeps, "local_substeps": model.stats.local_substeps,
    }


def _single_thread(fn, *args):
    with threadpool_limits(limits=1, user_api="blas"):
        return fn(*args)


def bench_kernels(counts: list[int]) -> list[dict]:
    cfg = PillarConfig(width_um=1.0, slip="two", source_density_per_um2=0.0, min_sources=0,
                       obstacle_density_per_um2=100.0, max_substeps=32)
    rows = []
    for n in counts:
        rows.append(_bench_one(cfg, n))
        print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def bench_samples(widths: list[float], priors: list[float], reload_pct: float, seed: int) -> list[dict]:
    rows = []
    for w in widths:
        for p in priors:
            cfg = PillarConfig(width_um=w, slip="two", prior_strain=p / 100, reload_strain=reload_pct / 100,
                               reload_snapshots=(0.001, reload_pct / 100))
            t0 = time.perf_counter()
            r = simulate_pillar(cfg, seed)
            sec = time.perf_counter() - t0
            st = r.stats
            rows.append({
                "width_um": w, "prior_percent": p, "reload_percent": reload_pct, "seed": seed,
                "seconds": sec, "steps": st["steps"], "substeps": st["substeps"],
                "local_substeps": st["local_substeps"],
                "ms_per_step": 1e3 * sec / max(st["steps"], 1),
                "sources": st["n_sources"], "nucleated": st["nucleated"],
                "max_dislocations": int(r.curve["n_dislocations"].max()),
                "final_dislocations": st["n_dislocations_final"],
            })
            print(json.dumps(rows[-1]), file=sys.stderr)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--counts", type=int, nargs="+", default=[10, 100, 1000])
    ap.add_argument("--widths", type=float, nargs="+", default=[0.0625, 0.125, 0.25, 0.5])
    ap.add_argument("--priors", type=float, nargs="+", default=[0.1, 1.0])
    ap.add_argument("--reload", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--samples", choices=["run", "none"], default="run")
    ap.add_argument("--out", type=Path, default=HERE / "speed_kernels.json")
    args = ap.parse_args()
    command = " ".join([".venv/bin/python", "benchmarks/ddd/bench_speed.py", *sys.argv[1:]])
    result = {
        "command": command,
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                    "loadavg_at_start": os.getloadavg()},
        "kernels": _single_thread(bench_kernels, args.counts),
        "samples": bench_samples(args.widths, args.priors, args.reload, args.seed) if args.samples == "run" else [],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# 2D DDD speed", "", f"Command: `{command}`", "",
        f"Machine: {result['machine']['platform']}, {result['machine']['cpu_count']} cores, load average "
        f"at start {', '.join(f'{v:.1f}' for v in result['machine']['loadavg_at_start'])} (shared machine).", "",
        "| N | pair kernel (ms) | plain Numba loop (ms) | boundary fields (ms) | one sub-step (ms) "
        "| full step (ms) | global / local sub-steps | steps/s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in result["kernels"]:
        lines.append(f"| {r['n']} | {r['pair_ms']:.2f} | {r['plain_loop_ms']:.2f} | {r['boundary_ms']:.2f} | "
                     f"{r['substep_ms']:.2f} | {r['step_ms']:.2f} | {r['global_substeps']} / "
                     f"{r['local_substeps']} | {r['steps_per_second']:.1f} |")
    lines += ["", "The full-step column starts from random positions and signs (GPa pair stresses, every "
              "dislocation mobile), so its sub-step counts are an upper bound; realistic costs per step are "
              "in the per-sample table (ms/step)."]
    if result["samples"]:
        lines += ["", "| width (um) | prior (%) | reload (%) | seconds | steps | sub-steps | ms/step | sources "
                  "| max N |", "|---|---|---|---|---|---|---|---|---|"]
        for r in result["samples"]:
            lines.append(f"| {r['width_um']} | {r['prior_percent']} | {r['reload_percent']} | {r['seconds']:.1f} | "
                         f"{r['steps']} | {r['substeps']} | {r['ms_per_step']:.2f} | {r['sources']} | "
                         f"{r['max_dislocations']} |")
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(json.dumps({"out": str(args.out), "n_kernels": len(result["kernels"]),
                      "n_samples": len(result["samples"])}))


if __name__ == "__main__":
    main()
