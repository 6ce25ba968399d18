"""Where the paper's density range comes from: the authors' pixel size and label, measured.

Zhang & Ngan (2019) report densities of 1e13-1e16 m^-2 with a mean of ~1e15. Their text gives
s = 3/7 um and b = 3 A, with which one pixel-length of line is 1/(s b) = 7.8e15 m^-2 and the true
rho_t is of order N x 1e16. Their public code uses s = 30/7 um and saves |rho_GND| of the centre
pixel as the label. This script generates 20,000 windows with each setting and writes the label
statistics to paper_units.json.

Run: .venv/bin/python benchmarks/gnd/paper_units.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from microdl.io._atomic import write_json
from microdl.simulate.gnd_lines import GNDLineConfig, rho_unit, sample_windows


def _stats(x: np.ndarray) -> dict[str, float]:
    return {"mean": float(x.mean()), "median": float(np.median(x)), "p1": float(np.percentile(x, 1)),
            "p99": float(np.percentile(x, 99)), "max": float(x.max())}


def main() -> None:
    out = {}
    for name, s_um in (("text_3_over_7_um", 3 / 7), ("code_30_over_7_um", 30 / 7)):
        cfg = GNDLineConfig(pixel_size_um=s_um)
        gnd, rho_t, _ = sample_windows(4000, config=cfg, rng=0)
        out[name] = {"pixel_size_um": s_um, "rho_unit_per_m2": rho_unit(cfg),
                     "true_rho_t_per_m2": _stats(rho_t), "abs_rho_gnd_centre_per_m2": _stats(gnd[:, 3, 3, 2].astype(float))}
    out["paper"] = "1e13-1e16 m^-2, mean ~1e15 (Zhang & Ngan 2019)"
    write_json(Path(__file__).with_name("paper_units.json"), out)
    for k in ("text_3_over_7_um", "code_30_over_7_um"):
        print(k, {q: f"{v:.3g}" for q, v in out[k]["abs_rho_gnd_centre_per_m2"].items()},
              "rho_t mean", f"{out[k]['true_rho_t_per_m2']['mean']:.3g}")


if __name__ == "__main__":
    main()
