"""Speed and statistics of the GND line-map window generator (Zhang & Ngan 2019, §2.2).

Run from the repository root::

    .venv/bin/python benchmarks/gnd/bench_generate.py            # paper preset, 700,000 windows
    .venv/bin/python benchmarks/gnd/bench_generate.py --total 100000

Writes ``generate_speed.json``, ``generate_stats.md`` and ``example_map.png`` next
to this file. The first call (Numba JIT compile, or loading the on-disk cache) is
timed separately and excluded from the throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from microdl.analysis import plots
from microdl.data.gnd import generate_windows
from microdl.provenance import environment
from microdl.simulate.gnd_lines import (
    PAPER_SPLITS,
    GNDLineConfig,
    density_per_pixel_length,
    generate_map,
)

HERE = Path(__file__).resolve().parent


def _figure(path: Path, config: GNDLineConfig, seed: int, n_lines: int) -> dict:
    from matplotlib import colormaps

    tab10 = colormaps["tab10"]
    m = generate_map(n_lines, config=config, rng=seed)
    g = config.grid_pixels
    fig, ax = plots.figure(size=(9, 9), dpi=110)
    im = ax.imshow(m.gnd[..., 2], origin="lower", extent=(0, g, 0, g), cmap="Greys",
                   vmin=0, vmax=float(np.percentile(m.gnd[..., 2], 99)) or 1.0)
    for k, line in enumerate(m.lines):
        ax.plot(line[:, 0], line[:, 1], lw=1.2, color=tab10(k % 10))
        ax.plot(*line[0], "o", ms=4, color=tab10(k % 10))
    yy, xx = np.mgrid[0:g, 0:g] + 0.5
    scale = density_per_pixel_length(config.pixel_size_um, config.plane_thickness_m)
    ax.quiver(xx, yy, m.gnd[..., 0] / scale, m.gnd[..., 1] / scale, color="tab:red",
              angles="xy", scale_units="xy", scale=2.0, width=0.003)
    for iy in range(g):
        for ix in range(g):
            if m.n_lines[iy, ix]:
                ax.text(ix + 0.12, iy + 0.12, str(m.n_lines[iy, ix]), fontsize=6, color="tab:blue")
    ax.set_xticks(range(0, g + 1, 3))
    ax.set_yticks(range(0, g + 1, 3))
    ax.grid(True, lw=0.3, color="0.7")
    ax.set_xlim(0, g)
    ax.set_ylim(0, g)
    ax.set_title(f"{n_lines} lines (seed {seed}); grey: |rho_GND|, red: rho_GND (x = screw, "
                 f"y = edge), blue: N; dots: line starts", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.046, label="|rho_GND| (m^-2)")
    plots.save(fig, path, dpi=110)
    return {"n_lines": n_lines, "seed": seed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=sum(PAPER_SPLITS.values()),
                        help="windows to generate (default: paper preset, 700000)")
    parser.add_argument("--seed", type=int, default=2019)
    args = parser.parse_args(argv)
    config = GNDLineConfig()
    n_classes = config.n_max - config.n_min + 1
    per_class = args.total // n_classes

    t0 = time.perf_counter()
    generate_windows(2, config=config, rng=0)
    compile_s = time.perf_counter() - t0

    load_before = os.getloadavg()
    t0, c0 = time.perf_counter(), time.process_time()
    ds = generate_windows(per_class, config=config, rng=args.seed)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    load_after = os.getloadavg()
    n = len(ds)

    rho, nl = ds.rho_t, ds.n_lines
    pearson = float(np.corrcoef(nl.astype(float), rho)[0, 1])
    pct = {p: float(v) for p, v in zip((1, 5, 25, 50, 75, 95, 99),
                                       np.percentile(rho, [1, 5, 25, 50, 75, 95, 99]), strict=True)}
    unit = density_per_pixel_length(config.pixel_size_um, config.plane_thickness_m)
    centre = ds.gnd[:, config.window // 2, config.window // 2, 2].astype(np.float64)
    per_class_stats = {}
    for c in range(config.n_min, config.n_max + 1):
        sel = nl == c
        per_class_stats[c] = {
            "count": int(sel.sum()),
            "rho_t_mean": float(rho[sel].mean()),
            "rho_t_min": float(rho[sel].min()),
            "rho_t_max": float(rho[sel].max()),
            "mean_length_per_line_px": float((rho[sel] / unit / c).mean()),
            "gnd_over_rho_t_mean": float((centre[sel] / rho[sel]).mean()),
        }

    cmd = " ".join(["cd /work/main &&", ".venv/bin/python benchmarks/gnd/bench_generate.py"]
                    + [a for a in (argv if argv is not None else sys.argv[1:])])
    speed = {
        "command": cmd,
        "windows": n,
        "n_per_class": per_class,
        "seed": args.seed,
        "config": {k: getattr(config, k) for k in config.__dataclass_fields__},
        "first_call_s": compile_s,
        "first_call_note": "JIT compile, or loading Numba's on-disk cache when warm",
        "wall_s": wall,
        "windows_per_s": n / wall,
        "process_cpu_s": cpu,
        "windows_per_cpu_s": n / cpu,
        "numba_threads": int(__import__("numba").get_num_threads()),
        "loadavg_1min_before_after": [load_before[0], load_after[0]],
        "environment": environment(),
    }
    (HERE / "generate_speed.json").write_text(json.dumps(speed, indent=2) + "\n")
    fig = _figure(HERE / "example_map.png", config, seed=7, n_lines=12)

    lines = [
        "# GND window generator: speed and data statistics",
        "",
        f"Command: `{cmd}` (seed {args.seed}, {n:,} windows, {per_class:,} per class, "
        f"default `GNDLineConfig`).",
        "",
        f"- First call (loads Numba's on-disk cache when warm): {compile_s:.1f} s; a cold "
        "compile (empty cache) took ~18 s when measured once during development.",
        f"- Generation: {wall:.1f} s wall = **{n / wall:,.0f} windows/s** "
        f"({n / cpu:,.0f} windows per process-CPU-second, {speed['numba_threads']} threads; "
        f"1-min load average {load_before[0]:.1f} -> {load_after[0]:.1f} on "
        f"{os.cpu_count()} cores"
        + ("; other jobs shared the machine)." if load_before[0] > 1.5 else ").") ,
        "",
        "## Statistics vs Zhang & Ngan (2019)",
        "",
        "| quantity | this generator | paper |",
        "|---|---|---|",
        f"| Pearson r(N, rho_t) | {pearson:.3f} | 0.898 |",
        f"| rho_t min (m^-2) | {rho.min():.3g} | ~1e13 |",
        f"| rho_t 1 / 5 / 50 / 95 / 99 % (m^-2) | {pct[1]:.3g} / {pct[5]:.3g} / {pct[50]:.3g} "
        f"/ {pct[95]:.3g} / {pct[99]:.3g} | range 1e13-1e16 |",
        f"| rho_t mean (m^-2) | {rho.mean():.3g} | ~1e15 |",
        f"| rho_t max (m^-2) | {rho.max():.3g} | ~1e16 |",
        "",
        "| N | windows | mean rho_t (m^-2) | min | max | mean line length per line in the "
        "centre pixel (pixels) | mean abs(rho_GND) / rho_t |",
        "|---|---|---|---|---|---|---|",
    ]
    for c, s in per_class_stats.items():
        lines.append(f"| {c} | {s['count']:,} | {s['rho_t_mean']:.3g} | {s['rho_t_min']:.3g} | "
                     f"{s['rho_t_max']:.3g} | {s['mean_length_per_line_px']:.2f} | "
                     f"{s['gnd_over_rho_t_mean']:.2f} |")
    lines += [
        "",
        "## Why the numbers differ from the paper",
        "",
        f"With the paper's own definition rho = l / (s^2 b), s = 3/7 µm and b = 3 Å, one "
        f"pixel-length of line in a pixel is 1 / (s b) = {unit:.3g} m^-2. A line crossing a "
        "pixel straight through gives 7.8e15 m^-2, diagonally 1.1e16 m^-2, so a pixel crossed "
        "by N lines has rho_t of order N x 1e16 m^-2 and the class-balanced mean must be "
        "~3e16 m^-2. The paper's mean of ~1e15 m^-2 would need ~0.13 pixel of line per pixel, "
        "i.e. ~0.04 pixel per line for the average N = 3, which no line crossing the pixel can "
        "give; the paper's values are therefore not consistent with its stated s and b (the "
        "seed notes report that the authors' code saves |rho_GND| as the label and uses a "
        "31 x 31 map over [-4.5, 4.5]^2, either of which changes the scale). Our values follow "
        "the stated definition exactly.",
        "",
        f"The minimum ({rho.min():.3g} m^-2, i.e. {rho.min() / unit:.2f} pixel of line) is far "
        "above 1e13 m^-2 because the paper's walk lives on pixel-edge midpoints: the B-spline "
        "control polygon never passes near a pixel corner, so a line never clips a corner "
        "by a tiny amount. Tiny pieces (and the paper's low tail) would need lines not tied "
        "to the pixel grid, as in the authors' code (walk lattice 16 x 16 on a 31 x 31 map).",
        "",
        "The correlation r(N, rho_t) is lower than 0.898 because the walk of the paper "
        "(uniform over the 5 neighbours, so 2 of 5 steps turn back into the pixel just left) "
        "makes curly lines: a line spends on average "
        f"{per_class_stats[config.n_min]['mean_length_per_line_px']:.2f} pixel lengths in a "
        "pixel it crosses, with a wide spread, so rho_t / N scatters. r depends on the choices "
        "the paper leaves open (walk-length limits, lines per map), documented in "
        "`microdl.simulate.gnd_lines`. The same curliness is why abs(rho_GND) / rho_t is "
        "only ~0.7 on average even for N = 1 (one line partly cancels itself inside a pixel).",
        "",
        f"Example map: `example_map.png` ({fig['n_lines']} lines, seed {fig['seed']}).",
        "",
    ]
    (HERE / "generate_stats.md").write_text("\n".join(lines))
    print(json.dumps({k: speed[k] for k in ("windows", "wall_s", "windows_per_s",
                                            "first_call_s")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
