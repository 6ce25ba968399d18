"""Speed of the periodic microstructure generators (structure-property linkage issue).

Times :func:`microdl.simulate.microstructure.gaussian_random_field` for one 51^3 two-phase
sample and for a batch of 100, and :func:`~microdl.simulate.microstructure.particles` at 51^3
(volume fraction 0.3, radius 4, hard spheres), each the median of ``--repeats`` runs after one
warm-up (wall time), with torch on one intra-op thread and on its default number. Writes
``microstructure_speed.json`` beside this script. Timings never become test assertions.

Usage::

    .venv/bin/python benchmarks/linkage/bench_microstructure.py
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

from microdl.io._atomic import write_json
from microdl.simulate.microstructure import gaussian_random_field, particles_with_centres

HERE = Path(__file__).resolve().parent
SHAPE = (51, 51, 51)


def median_time(fn, repeats: int) -> tuple[float, list[float]]:
    fn()  # warm-up (FFT plans, allocator)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), [round(x, 5) for x in times]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=HERE / "microstructure_speed.json")
    args = parser.parse_args(argv)

    default_threads = torch.get_num_threads()
    load_start = list(os.getloadavg())
    packing = particles_with_centres(SHAPE, 0.3, 4.0, seed=0)
    cases = {
        "gaussian_random_field 51^3, one sample (fraction 0.5, correlation length 4)":
            lambda: gaussian_random_field(SHAPE, 0.5, 4.0, seed=0, device="cpu"),
        "gaussian_random_field 51^3, batch n=100":
            lambda: gaussian_random_field(SHAPE, 0.5, 4.0, n=100, seed=0, device="cpu"),
        "gaussian_random_field 51^3, one sample, 3 phases, anisotropic (8, 2, 2), rotated":
            lambda: gaussian_random_field(SHAPE, (0.3, 0.3, 0.4), (8, 2, 2), angles=(30, 45, 0), seed=0,
                                          device="cpu"),
        "particles 51^3, volume fraction 0.3, radius 4, hard spheres":
            lambda: particles_with_centres(SHAPE, 0.3, 4.0, seed=0),
    }
    rows = []
    for name, fn in cases.items():
        row: dict = {"case": name}
        for label, threads in (("one_thread", 1), ("default_threads", default_threads)):
            torch.set_num_threads(threads)
            row[f"{label}_median_s"], row[f"{label}_runs_s"] = median_time(fn, args.repeats)
        torch.set_num_threads(default_threads)
        rows.append(row)
    result = {
        "command": " ".join([".venv/bin/python benchmarks/linkage/bench_microstructure.py",
                             *(argv if argv is not None else sys.argv[1:])]).strip(),
        "statistic": f"median of {args.repeats} runs after one warm-up, wall time (perf_counter)",
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "gpu": torch.cuda.is_available(),
                    "torch": torch.__version__, "numpy": np.__version__,
                    "torch_default_threads": default_threads, "torch_threads_timed": [1, default_threads]},
        "load_average_1_5_15_min": {"start": load_start, "end": list(os.getloadavg())},
        "note": "torch runs the FFTs only (float32, device cpu); the noise (NumPy) and the quantile cut "
                "(NumPy partition) and the particle placement (NumPy) are single-threaded. A load average "
                "near or above the core count means other jobs shared the cores: times are then upper bounds.",
        "particles_reference_run": {"n_particles": len(packing.centres),
                                    "volume_fraction_reached": packing.volume_fraction},
        "rows": rows,
    }
    write_json(args.out, result)
    return result


if __name__ == "__main__":
    res = main()
    for r in res["rows"]:
        print(f"{r['case']}: {r['one_thread_median_s']:.4f} s (1 thread), "
              f"{r['default_threads_median_s']:.4f} s (default threads)")
