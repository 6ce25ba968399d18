"""Image force near the free faces: FE alone (before) against analytic images + FE (after).

For the simulation mesh (``fe_nx = 32`` columns, rows refined at the clamped ends) at each
width, the glide force on one dislocation (slip direction at 60 degrees to x) at distance
``d`` from the left face, at three positions across an element row, divided by Head's
half-plane force times the strip factor of the pillar (the reference of
``tests/simulate/ddd/test_image_force.py``). Also times one factorisation (building
``PillarFE``), one solve, and the images' extra cost per step for ``N`` dislocations inside
the band (image stress at the boundary Gauss points and at the N dislocations, image
displacement at the top/bottom nodes).

Writes ``image_force.json`` and ``image_force.md`` next to this file (or to ``--out``).

Usage::

    .venv/bin/python benchmarks/ddd/image_force.py
"""

from __future__ import annotations

import argparse
import importlib.util
import shlex
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
_TESTS = HERE.parents[1] / "tests" / "simulate" / "ddd"
sys.path.insert(0, str(_TESTS))  # the test module's own helper (_fe_helpers)
_spec = importlib.util.spec_from_file_location("test_image_force", _TESTS / "test_image_force.py")
T = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(T)

from bench_speed import _median_time  # noqa: E402  (this folder; one timing helper for the benchmarks)


def measure(width_um: float) -> dict:
    from microdl.simulate.ddd.fem import IMAGE_BAND_ELEMENTS, PillarFE

    w = width_um * 1e-6

    def build(band):
        return PillarFE.pillar(w, 4 * w, 32, T.E, T.NU, end_dy_m=0.4e-9, image_band=band)

    fes = {"fe": build(None), "analytic": build(IMAGE_BAND_ELEMENTS)}
    fe = fes["analytic"]
    j = len(fe.ys) // 2
    dy = fe.ys[j + 1] - fe.ys[j]
    rows = []
    for d in (5e-9, 10e-9, 20e-9, 50e-9, w / 8, w / 4):
        if d > w / 4:
            continue
        ref = T._head_glide(d) * np.interp(d / w, *T.STRIP_FACTOR)
        row = {"d_nm": d * 1e9}
        for name, model in fes.items():
            r = [float(T._glide_force(model, d, fe.ys[j] + ph * dy) / ref) for ph in (0.0, 0.25, 0.5)]
            row[name] = [min(r), max(r)]
        rows.append(row)
    rng = np.random.default_rng(0)
    m = len(fe.left_pts)
    args = ((rng.normal(size=m), rng.normal(size=m)), (rng.normal(size=m), rng.normal(size=m)),
            (np.zeros(fe.nx + 1), np.zeros(fe.nx + 1)), (np.zeros(fe.nx + 1), np.zeros(fe.nx + 1)), 1e-9)
    bnd = np.vstack([fe.left_pts, fe.right_pts, fe.top_pts])
    nodes = np.vstack([fe.bottom_nodes, fe.top_nodes])
    image_ms = {}
    for n in (1, 10, 100):
        x = rng.uniform(0, 3 * w / 32, n)  # all inside the band of the left face
        y = rng.uniform(0, 4 * w, n)
        th = rng.choice([np.pi / 3, 2 * np.pi / 3], n)
        dis = (x, y, T.B * np.ones(n), np.cos(th), np.sin(th))

        def images(dis=dis):
            fe.images_at(bnd[:, 0], bnd[:, 1], *dis)
            fe.images_at(nodes[:, 0], nodes[:, 1], *dis, displacement=True)
            fe.images_at(dis[0], dis[1], *dis)

        image_ms[str(n)] = 1e3 * _median_time(images, 20)
    return {
        "width_um": width_um, "mesh": f"{fe.nx} x {fe.ny}", "n_dof": fe.n_dof,
        "n_boundary_points": len(bnd), "ratio_vs_d": rows,
        "factorisation_ms": 1e3 * _median_time(lambda: build(None), 3),
        "solve_ms": 1e3 * _median_time(lambda: fe.solve(*args), 50),
        "images_ms_per_step_by_n_near": image_ms,
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--widths", type=float, nargs="+", default=[0.25, 1.0, 2.0])
    ap.add_argument("--out", type=Path, default=HERE)
    a = ap.parse_args(argv)
    from microdl.io._atomic import atomic_path, write_json

    results = [measure(wu) for wu in a.widths]
    command = "python benchmarks/ddd/image_force.py " + shlex.join(sys.argv[1:])
    write_json(a.out / "image_force.json", {"command": command, "results": results})
    lines = ["# Image force near the free faces: FE alone (before) and analytic images + FE (after)", "",
             f"Command: `{command}`. Glide force / (Head x strip factor) at three positions across a row "
             "(min-max); 1 is exact. Mesh: 32 columns, rows refined at the ends (unchanged).", ""]
    for r in results:
        lines += [f"## w = {r['width_um']:g} um (mesh {r['mesh']}, {r['n_dof']} DOF)", "",
                  "| d (nm) | FE alone (before) | images + FE (after) |", "|---|---|---|"]
        lines += [f"| {row['d_nm']:.1f} | {row['fe'][0]:.3f}-{row['fe'][1]:.3f} | "
                  f"{row['analytic'][0]:.3f}-{row['analytic'][1]:.3f} |" for row in r["ratio_vs_d"]]
        im = r["images_ms_per_step_by_n_near"]
        lines += ["", f"Factorisation {r['factorisation_ms']:.0f} ms, solve {r['solve_ms']:.2f} ms (both unchanged "
                  f"by the images); images per step ({r['n_boundary_points']} boundary points): "
                  + ", ".join(f"{v:.2f} ms for {k} near-face dislocation(s)" for k, v in im.items()) + ".", ""]
    with atomic_path(a.out / "image_force.md") as tmp:
        Path(tmp).write_text("\n".join(lines))


if __name__ == "__main__":
    main()
