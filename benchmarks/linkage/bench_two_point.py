"""Speed of the two-point statistics (structure-property linkage issue) against PyMKS on this machine.

Cases, each the median wall time of ``--repeats`` runs after one warm-up (timings never become test
assertions):

* ``2d_periodic``: 1000 periodic 64 x 64 two-phase fields, PyMKS's default auto + cross statistics
  (pairs (0, 0), (0, 1), cutoff 31 -> 63 x 63): :func:`microdl.features.correlations.correlations`
  from integer labels; the older 2D ``autocorrelation``; a plain torch float32 FFT autocorrelation of the
  1000 indicator fields (rfft2, |.|^2, irfft2, no window) as the issue's yardstick; and PyMKS 0.4.1's
  ``TwoPointCorrelation`` on the one-hot data, when a Python with PyMKS is given (``--pymks-python``,
  default ``/tmp/pymksenv/bin/python``: PyMKS is not a project dependency; see make_pymks_fixture.py).
* ``3d_periodic`` / ``3d_nonperiodic``: 100 two-phase 51^3 volumes, auto-correlations (0, 0), (1, 1),
  cutoff 12 (25^3 window), and PyMKS on the same.

Ours runs with torch on ``--threads`` intra-op threads (2 = the machine's cores) and on 1; PyMKS runs
with its defaults (dask's threaded scheduler). The largest difference between our float32 numbers and
PyMKS's float64 ones is recorded. Writes ``two_point_speed.json`` and ``two_point_speed.md`` here.

Usage::

    nice -n 5 .venv/bin/python benchmarks/linkage/bench_two_point.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CASES = {  # name: (n, spatial shape, periodic, cutoff, pairs)
    "2d_periodic": (1000, (64, 64), True, None, [(0, 0), (0, 1)]),
    "3d_periodic": (100, (51, 51, 51), True, 12, [(0, 0), (1, 1)]),
    "3d_nonperiodic": (100, (51, 51, 51), False, 12, [(0, 0), (1, 1)]),
}


def median_time(fn, repeats: int) -> tuple[float, list[float]]:
    fn()  # warm-up (FFT plans, allocator, page faults)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), [round(x, 4) for x in times]


def make_labels(case: str) -> np.ndarray:
    n, shape, *_ = CASES[case]
    return (np.random.default_rng(2).random((n, *shape)) < 0.45).astype(np.int64)


def pymks_worker(case: str, labels_path: str, out_path: str, repeats: int) -> None:
    """Runs under the PyMKS Python (no torch): time TwoPointCorrelation, save its output and times."""
    from importlib.metadata import version

    import pymks

    _, _, periodic, cutoff, pairs = CASES[case]
    labels = np.load(labels_path)
    onehot = np.asarray(pymks.PrimitiveTransformer(n_state=2, min_=0, max_=1).transform(labels))
    model = pymks.TwoPointCorrelation(periodic_boundary=periodic, cutoff=cutoff,
                                      correlations=[list(p) for p in pairs])
    # NumPy in -> PyMKS computes its dask graph and returns NumPy (np.asarray also computes a dask array)
    med, runs = median_time(lambda: np.asarray(model.transform(onehot)), repeats)
    out = np.asarray(model.transform(onehot))
    np.save(out_path, np.moveaxis(out, -1, 1))
    print(json.dumps({"median_s": med, "runs_s": runs, "pymks": version("pymks")}))


def run_pymks(python: str, case: str, labels: np.ndarray, repeats: int) -> tuple[dict, np.ndarray] | None:
    with tempfile.TemporaryDirectory() as tmp:
        lab, out = Path(tmp) / "labels.npy", Path(tmp) / "out.npy"
        np.save(lab, labels)
        cmd = [python, __file__, "--pymks-worker", case, str(lab), str(out), "--repeats", str(repeats)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(f"PyMKS run failed for {case}: {proc.stderr[-800:]}", file=sys.stderr)
            return None
        return json.loads(proc.stdout.strip().splitlines()[-1]), np.load(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=9)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--pymks-python", default="/tmp/pymksenv/bin/python")
    ap.add_argument("--pymks-worker", nargs=3, metavar=("CASE", "LABELS", "OUT"))
    args = ap.parse_args()
    if args.pymks_worker:
        pymks_worker(*args.pymks_worker, args.repeats)
        return

    import torch

    from microdl.features.correlations import correlations
    from microdl.features.two_point import autocorrelation

    have_pymks = Path(args.pymks_python).exists()
    load_before = os.getloadavg()
    results: dict[str, dict] = {}
    for case, (n, shape, periodic, cutoff, pairs) in CASES.items():
        labels = make_labels(case)
        small = case.startswith("2d")
        reps = args.repeats if small else max(3, args.repeats // 3)
        entry: dict = {"n": n, "shape": list(shape), "periodic": periodic, "cutoff": cutoff,
                       "pairs": [list(p) for p in pairs]}
        ours = None
        for threads in sorted({args.threads, 1}, reverse=True):
            torch.set_num_threads(threads)
            run = partial(correlations, labels, 2, pairs=pairs, periodic=periodic, cutoff=cutoff)
            med, runs = median_time(run, reps)
            entry[f"microdl_correlations_threads{threads}_s"], entry[f"runs_threads{threads}"] = med, runs
            if small:
                x = torch.from_numpy((labels == 0).astype(np.float32))

                def plain(x=x):
                    spec = torch.fft.rfft2(x)
                    return torch.fft.irfft2(spec.real.square() + spec.imag.square(), s=x.shape[1:])

                entry[f"plain_torch_fft_auto_threads{threads}_s"] = median_time(plain, reps)[0]
                entry[f"microdl_autocorrelation_2d_threads{threads}_s"] = median_time(
                    lambda x=x: autocorrelation(x, periodic=True, cutoff=31), reps)[0]
            print(case, threads, "threads:", {k: v for k, v in entry.items() if k.endswith("_s")}, flush=True)
        torch.set_num_threads(args.threads)
        ours = correlations(labels, 2, pairs=pairs, periodic=periodic, cutoff=cutoff)
        if have_pymks:
            got = run_pymks(args.pymks_python, case, labels, reps if small else 3)
            if got is not None:
                info, ref = got
                entry["pymks_s"], entry["pymks_runs_s"], entry["pymks_version"] = (
                    info["median_s"], info["runs_s"], info["pymks"])
                entry["max_abs_diff_vs_pymks"] = float(np.abs(ours.astype(np.float64) - ref).max())
                for threads in sorted({args.threads, 1}):
                    entry[f"speedup_vs_pymks_threads{threads}"] = round(
                        info["median_s"] / entry[f"microdl_correlations_threads{threads}_s"], 2)
                print(case, "pymks:", info["median_s"], "max diff", entry["max_abs_diff_vs_pymks"],
                      flush=True)
        results[case] = entry
    meta = {
        "machine": {"cpu_count": os.cpu_count(), "gpu": torch.cuda.is_available(),
                    "platform": platform.platform(),
                    "processor": platform.processor() or platform.machine(),
                    "load_average_before": [round(v, 2) for v in load_before],
                    "load_average_after": [round(v, 2) for v in os.getloadavg()],
                    "nice": os.nice(0)},
        "versions": {"python": platform.python_version(), "torch": torch.__version__,
                     "numpy": np.__version__},
        "torch_threads": args.threads, "repeats_2d": args.repeats, "repeats_3d": max(3, args.repeats // 3),
        "note": "shared 2-core machine (a nice-19 simulation and other jobs run beside); median wall times",
    }
    (HERE / "two_point_speed.json").write_text(json.dumps({"meta": meta, "cases": results}, indent=2) + "\n")
    write_markdown(meta, results)


NOTE = ("microdl's time includes building the phase indicators from integer labels; PyMKS's excludes "
        "its one-hot PrimitiveTransformer. Two torch threads are slower than one here: a nice-19 simulation "
        "keeps one core ~80 % busy and other jobs share the machine, so every parallel region waits for a "
        "time slice (the spread of the 2-thread runs in two_point_speed.json shows it). "
        "Speed-up = PyMKS / microdl.")


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def write_markdown(meta: dict, results: dict) -> None:
    t = meta["torch_threads"]
    lines = [
        "# Two-point statistics: speed (benchmarks/linkage/bench_two_point.py)",
        "",
        f"Machine: {meta['machine']['cpu_count']} cores, no GPU, torch {meta['versions']['torch']}, "
        f"load average {meta['machine']['load_average_before']} (shared). Median wall seconds.",
        "",
        f"| case | microdl ({t} threads) | microdl (1 thread) | PyMKS 0.4.1 | speed-up ({t} / 1 thr) "
        "| plain torch FFT (1 thr) | max abs diff vs PyMKS |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for case, e in results.items():
        pym = e.get("pymks_s")
        lines.append(
            f"| {case} ({e['n']} x {'x'.join(map(str, e['shape']))}, pairs {e['pairs']}) "
            f"| {e[f'microdl_correlations_threads{t}_s']:.3f} | {e['microdl_correlations_threads1_s']:.3f} "
            f"| {fmt(pym, '.3f')} "
            f"| {e.get(f'speedup_vs_pymks_threads{t}', '-')} / {e.get('speedup_vs_pymks_threads1', '-')} "
            f"| {fmt(e.get('plain_torch_fft_auto_threads1_s'), '.3f')} "
            f"| {fmt(e.get('max_abs_diff_vs_pymks'), '.1e')} |")
    lines += ["", NOTE]
    (HERE / "two_point_speed.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
