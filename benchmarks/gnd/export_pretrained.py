"""Copy models trained by the cpu benchmark into the package as its pretrained defaults.

Run after ``microdl gnd benchmark --preset cpu``:

    .venv/bin/python benchmarks/gnd/export_pretrained.py [--work microdl-work/gnd-benchmark]

For each model named with ``--models`` (default ``zhang2019-gnd``) it takes the
configuration with the lowest test MAPE among those trained with both heads
(0 < ratio < 1) and writes ``src/microdl/pretrained/<name>.pt`` with a JSON file
of the command, configuration and test metrics beside it. The shipped
``gnd-fcn7`` was trained on more data than the benchmark's (see its JSON file), so
it is not exported from here unless asked for.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=REPO / "microdl-work" / "gnd-benchmark")
    ap.add_argument("--results", type=Path, default=REPO / "benchmarks" / "gnd" / "results.json")
    ap.add_argument("--models", nargs="+", default=["zhang2019-gnd"])
    args = ap.parse_args()
    results = json.loads(args.results.read_text())
    dest = REPO / "src" / "microdl" / "pretrained"
    for model in args.models:
        rows = [r for r in results["configs"] if r["model"] == model and 0 < r["ratio"] < 1]
        if not rows:
            print(f"no finished {model} configuration with 0 < ratio < 1; skipped")
            continue
        best = min(rows, key=lambda r: r["mape_rho_t"])
        key = f"{model}_{best['reg']}_ratio{best['ratio']:g}"
        shutil.copyfile(args.work / "results" / f"{key}.pt", dest / f"{model}.pt")
        meta = {
            "model": model,
            "trained_by": results["command"],
            "preset": results["preset"]["name"],
            "selected": f"lowest test MAPE among {len(rows)} configuration(s) with 0 < ratio < 1",
            "config": {"reg": best["reg"], "ratio": best["ratio"], "epochs": best["epochs"]},
            "test_metrics": {"mape_rho_t_percent": best["mape_rho_t"], "n_accuracy": best["n_accuracy"],
                             "median_ape_rho_t": best.get("median_ape_rho_t")},
            "test_windows": results["datasets"]["test"]["n_windows"],
            "microdl_git_commit": results["environment"].get("git_commit"),
        }
        (dest / f"{model}.json").write_text(json.dumps(meta, indent=2) + "\n")
        print(f"{model}: {key} -> {dest / (model + '.pt')} (MAPE {best['mape_rho_t']:.1f} %, "
              f"N accuracy {100 * best['n_accuracy']:.1f} %)")


if __name__ == "__main__":
    main()
