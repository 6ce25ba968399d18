"""2D DDD speed before and after issue 9 item 8, in one run, plus the paired mechanics check.

Writes ``benchmarks/ddd/speed.json`` and ``benchmarks/ddd/speed.md`` (with the exact command).

Usage::

    .venv/bin/python benchmarks/ddd/bench_before_after.py               # everything (~45 min)
    .venv/bin/python benchmarks/ddd/bench_before_after.py --cases step1000 pairs --seeds 4

"Old" is commit ``--old-ref`` (default 9627b9d, the code before the speed work), checked
out as a detached ``git worktree`` in ``/tmp/ddd-old-<ref>`` (created if missing) and
imported in a subprocess with ``PYTHONPATH`` at its ``src``; "new" is this checkout's ``src``.
Every case runs in its own subprocess, one thread (``NUMBA_NUM_THREADS=1``, BLAS limited to
one thread), old and new one after the other, with the load average recorded next to it.

Cases

* ``sample``: the 1 um, 0.1 % sample, ``simulate_pillar(PillarConfig(width_um=1.0,
  prior_strain=0.001, reload_strain=0.01, reload_snapshots=(0.001, 0.01)), seed=0)``.
* ``load10``: a 1 um pillar (default config, seed 0) compressed to 10 %, by the loop of
  :func:`simulate_loading` (``PillarModel.step`` at ``U = k dU``); stopped after
  ``--old-budget`` / ``--new-budget`` seconds, then reported as "> X s, stopped" with the
  strain reached.
* ``step1000``: one full :meth:`PillarModel.step` from a random state of 1000 dislocations
  (the "1.7 s per step" of the issue; an upper bound, see ``bench_speed.py``).
* ``pairs``: monotonic compression to 1 % (``simulate_loading``, two slip) at w = 0.25 and
  0.5 um over ``--seeds`` seeds, old and new: yield stress, flow stress (mean over 0.5--1 %)
  and final N, with the mean paired difference and its standard error.

Timings are measurements on a shared machine, never test assertions.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


# ---------------------------------------------------------------- worker (runs old or new code)
def _worker(case: dict) -> dict:
    import numpy as np
    from threadpoolctl import threadpool_limits

    from microdl._rng import as_generator
    from microdl.simulate.ddd import PillarConfig, simulate_pillar
    from microdl.simulate.ddd.dynamics import PillarModel
    from microdl.simulate.ddd.protocol import simulate_loading

    kind = case["kind"]
    with threadpool_limits(limits=1):
        if kind == "warmup":  # compile (or load) the Numba caches outside the timings
            simulate_loading(PillarConfig(width_um=0.25), 0, 0.001)
            return {}
        if kind == "sample":
            cfg = PillarConfig(width_um=1.0, prior_strain=0.001, reload_strain=0.01, reload_snapshots=(0.001, 0.01))
            t0 = time.perf_counter()
            r = simulate_pillar(cfg, seed=0)
            sec = time.perf_counter() - t0
            st = r.stats
            return {"seconds": sec, "steps": st["steps"], "substeps": st["substeps"],
                    "local_substeps": st["local_substeps"], "n_final": st["n_dislocations_final"],
                    "max_n": int(r.curve["n_dislocations"].max()), "yield_stress_mpa": _mpa(st["yield_stress_pa"]),
                    "max_stress_mpa": _mpa(st["max_stress_pa"])}
        if kind == "load10":
            cfg = PillarConfig(width_um=1.0)
            model = PillarModel(cfg, as_generator(0))
            rate_dt = cfg.strain_rate_per_s * model.dt
            du = rate_dt * model.height
            n = int(round(case["max_strain"] / rate_dt))
            t0 = time.perf_counter()
            k = 0
            marks = []
            while k < n and time.perf_counter() - t0 < case["budget"]:
                k += 1
                model.step(k * du)
                if k % 1000 == 0:
                    marks.append({"strain": k * rate_dt, "seconds": time.perf_counter() - t0,
                                  "n": model.n_dislocations, "stress_mpa": model.force_per_m / model.width / 1e6})
            sec = time.perf_counter() - t0
            return {"seconds": sec, "finished": k == n, "steps": k, "strain_reached": k * rate_dt,
                    "n_final": model.n_dislocations, "stress_mpa": model.force_per_m / model.width / 1e6,
                    "substeps": model.stats.substeps, "local_substeps": model.stats.local_substeps, "marks": marks}
        if kind == "step1000":
            cfg = PillarConfig(width_um=1.0, source_density_per_um2=0.0, min_sources=0, obstacle_density_per_um2=100.0)
            model = PillarModel(cfg, np.random.default_rng(0))
            rng = np.random.default_rng(1000)
            plane, xi = model.planes.random_points(rng, 1000, 2, 2 * model.le)
            model._add(plane, xi, rng.choice([-1.0, 1.0], 1000))
            state = model.get_state()
            times = []
            for _ in range(3):
                model.set_state(state)
                model.stats.substeps = model.stats.local_substeps = 0
                t0 = time.perf_counter()
                model.step(0.002 * model.height)
                times.append(time.perf_counter() - t0)
            return {"seconds": float(np.median(times)), "substeps": model.stats.substeps,
                    "local_substeps": model.stats.local_substeps}
        if kind == "pair":
            t0 = time.perf_counter()
            r = simulate_loading(PillarConfig(width_um=case["width_um"]), case["seed"], 0.01)
            st = r.stats
            return {"seconds": time.perf_counter() - t0, "yield_stress_mpa": _mpa(st["yield_stress_pa"]),
                    "flow_stress_mpa": _mpa(st["flow_stress_pa"]), "n_final": st["n_dislocations_final"]}
    raise ValueError(kind)


def _mpa(v):
    return None if v is None else float(v) / 1e6


# ---------------------------------------------------------------- driver
def _old_src(ref: str) -> Path:
    path = Path(f"/tmp/ddd-old-{ref}")
    if not (path / "src").is_dir():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), ref], check=True,
                       stdout=subprocess.DEVNULL)
    return path / "src"


def _run(src: Path, case: dict, timeout: float) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src), NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1",
               OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    load0 = os.getloadavg()
    try:
        out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(case)], env=env, cwd="/tmp",
                             capture_output=True, text=True, timeout=timeout, check=True)
        res = json.loads(out.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        res = {"seconds": None, "timed_out_after_s": timeout}
    res["loadavg_before"] = [round(v, 2) for v in load0]
    res["loadavg_after"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps({"case": case, **{k: v for k, v in res.items() if k != "marks"}}), file=sys.stderr, flush=True)
    return res


def _paired(rows_old: list[dict], rows_new: list[dict], key: str) -> dict:
    d = [b[key] - a[key] for a, b in zip(rows_old, rows_new, strict=True) if a[key] is not None and b[key] is not None]
    old = [a[key] for a in rows_old if a[key] is not None]
    n = len(d)
    mean = sum(d) / n if n else math.nan
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1)) if n > 1 else math.nan
    mo = sum(old) / len(old) if old else math.nan
    sdo = math.sqrt(sum((x - mo) ** 2 for x in old) / (len(old) - 1)) if len(old) > 1 else math.nan
    return {"n_pairs": n, "mean_old": mo, "sd_old": sdo, "mean_diff": mean, "se_diff": sd / math.sqrt(n) if n else math.nan}


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--worker":
        print(json.dumps(_worker(json.loads(sys.argv[2]))))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-ref", default="9627b9d")
    ap.add_argument("--old-budget", type=float, default=900.0, help="seconds for the old code's 10 %% run")
    ap.add_argument("--new-budget", type=float, default=1200.0, help="seconds for the new code's 10 %% run")
    ap.add_argument("--seeds", type=int, default=8)
    ap.add_argument("--widths", type=float, nargs="+", default=[0.25, 0.5])
    ap.add_argument("--cases", nargs="+", default=["step1000", "sample", "load10", "pairs"],
                    choices=["step1000", "sample", "load10", "pairs"])
    ap.add_argument("--out", type=Path, default=HERE / "speed.json")
    args = ap.parse_args()
    command = " ".join([".venv/bin/python", "benchmarks/ddd/bench_before_after.py", *sys.argv[1:]])
    srcs = {"old": _old_src(args.old_ref), "new": ROOT / "src"}
    t_start = time.time()
    for v in srcs.values():
        _run(v, {"kind": "warmup"}, 600)
    res: dict = {"command": command, "old_ref": args.old_ref,
                 "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "gpu": "none",
                             "loadavg_at_start": [round(v, 2) for v in os.getloadavg()]},
                 "cases": {}}
    for case in ("step1000", "sample"):
        if case in args.cases:
            res["cases"][case] = {v: _run(s, {"kind": case}, 7200) for v, s in srcs.items()}
    pairs = {}
    for w in args.widths if "pairs" in args.cases else []:
        rows = {v: [] for v in srcs}
        for seed in range(args.seeds):
            for v, s in srcs.items():
                rows[v].append({"seed": seed, **_run(s, {"kind": "pair", "width_um": w, "seed": seed}, 1800)})
        pairs[str(w)] = {"rows": rows, **{k: _paired(rows["old"], rows["new"], k)
                                          for k in ("yield_stress_mpa", "flow_stress_mpa", "n_final", "seconds")}}
    res["pairs"] = pairs
    if "load10" in args.cases:
        res["cases"]["load10"] = {
            v: _run(s, {"kind": "load10", "max_strain": 0.10, "budget": b}, b + 600)
            for (v, s), b in zip(srcs.items(), (args.old_budget, args.new_budget), strict=True)}
    res["machine"]["loadavg_at_end"] = [round(v, 2) for v in os.getloadavg()]
    res["wall_minutes"] = (time.time() - t_start) / 60
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(_markdown(res))
    print(json.dumps({"out": str(args.out), "minutes": round(res["wall_minutes"], 1)}))


def _fmt(v, nd=1):
    return "n/a" if v is None else f"{v:.{nd}f}"


def _markdown(res: dict) -> str:
    m = res["machine"]
    c = res["cases"]
    lines = ["# 2D DDD speed: before and after (issue 9, item 8)", "", f"Command: `{res['command']}`", "",
             f"Old: commit {res['old_ref']} (git worktree in /tmp); new: this checkout. Machine: {m['platform']}, "
             f"{m['cpu_count']} cores, no GPU, shared with another job on the other core. Every case ran alone in a "
             f"subprocess, single-threaded (Numba and BLAS); load average (1, 5, 15 min) at start "
             f"{m['loadavg_at_start']}, at end {m['loadavg_at_end']}; wall time {res['wall_minutes']:.0f} min.", "",
             "| case | old (s) | new (s) | speed-up | old detail | new detail | load avg before (old / new) |",
             "|---|---|---|---|---|---|---|"]

    def secs(r):
        s = r.get("seconds")
        done = r.get("finished", True) and s is not None
        return done, _fmt(s) if done else f"> {_fmt(s or r.get('timed_out_after_s'), 0)}, stopped"

    def row(name, key, detail):
        o, n = c[key]["old"], c[key]["new"]
        (ok_o, old_s), (ok_n, new_s) = secs(o), secs(n)
        sp = f"{o['seconds'] / n['seconds']:.1f}x" if ok_o and ok_n else "see below"
        lines.append(f"| {name} | {old_s} | {new_s} | {sp} | {detail(o)} | {detail(n)} | "
                     f"{o['loadavg_before'][0]} / {n['loadavg_before'][0]} |")

    if "step1000" in c:
        row("one step from a random state, N = 1000", "step1000",
            lambda r: f"{r.get('substeps')} global / {r.get('local_substeps')} local sub-steps")
    if "sample" in c:
        row("1 um, 0.1 % prior + 1 % reload (seed 0)", "sample",
            lambda r: f"{r.get('steps')} steps, {r.get('local_substeps')} local sub-steps, max N {r.get('max_n')}, "
                      f"yield {_fmt(r.get('yield_stress_mpa'))} MPa")
    if "load10" in c:
        row("1 um to 10 % (seed 0)", "load10",
            lambda r: f"strain {100 * r.get('strain_reached', 0):.2f} %, {r.get('steps')} steps, N {r.get('n_final')}, "
                      f"stress {_fmt(r.get('stress_mpa'))} MPa")
        lines += ["", "Progress of the 10 % runs (strain %: seconds, N):", ""]
        marks = {v: c["load10"][v].get("marks", []) for v in ("old", "new")}
        for v in ("old", "new"):
            lines.append(f"* {v}: " + "; ".join(f"{100 * k['strain']:.1f}: {k['seconds']:.0f} s, {k['n']}"
                                                 for k in marks[v][1::2]))
        common = min(len(marks["old"]), len(marks["new"]))
        if common:
            mo, mn = marks["old"][common - 1], marks["new"][common - 1]
            lines += ["", f"At the largest strain both reached ({100 * mo['strain']:.1f} %): old {mo['seconds']:.0f} s "
                          f"(N {mo['n']}), new {mn['seconds']:.0f} s (N {mn['n']}), {mo['seconds'] / mn['seconds']:.1f}x."]
    lines += ["", "## Mechanics unchanged: paired old/new comparison", "",
              "Monotonic compression to 1 % (`simulate_loading`, two slip, default config), the same seeds for "
              "both codes. Mean of the old code (sd over seeds), mean paired difference new - old and its "
              "standard error. Trajectories diverge chaotically after the first floating-point difference, so "
              "single pairs differ by up to the scatter; a systematic change would show as a mean difference "
              "of several standard errors.", "",
              "| width (um) | quantity | pairs | old mean (sd) | new - old (se) |", "|---|---|---|---|---|"]
    for w, p in res["pairs"].items():
        for k, name in (("yield_stress_mpa", "yield stress (MPa)"), ("flow_stress_mpa", "flow stress 0.5-1 % (MPa)"),
                        ("n_final", "final N"), ("seconds", "seconds")):
            s = p[k]
            lines.append(f"| {w} | {name} | {s['n_pairs']} | {s['mean_old']:.2f} ({s['sd_old']:.2f}) | "
                         f"{s['mean_diff']:+.2f} ({s['se_diff']:.2f}) |")
    history = HERE / "speed_history.md"
    if history.exists():  # the measurements before this comparison, one heading level down
        lines += ["", *("#" + ln if ln.startswith("#") else ln for ln in history.read_text().splitlines())]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
