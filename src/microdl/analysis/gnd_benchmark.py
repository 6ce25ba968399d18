"""Reproduce Zhang & Ngan 2019, Table 1, on correctly labelled generated data.

For each regression loss (MSE, MSLE) and loss ratio (0, 0.25, 0.5, 0.75, 1) a
``zhang2019-gnd`` ConvNet is trained and evaluated on a held-out test set, next
to the centre-pixel baselines (which see only |rho_GND| of the pixel itself).
Every run lives in its own folder and a rerun skips finished runs and resumes
interrupted ones from their last checkpoint.

References
----------
Zhang, Z. & Ngan, A. H. W. (2019). Int. J. Plasticity, "Dislocation-density
dynamics ... / total dislocation density from GND maps via ConvNets", Table 1.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from microdl.exceptions import UnknownNameError
from microdl.provenance import environment, write_json

#: Table 1 of Zhang & Ngan (2019): (reg, ratio) -> (MAPE of rho_t in %, N accuracy in %).
PAPER_TABLE1: dict[tuple[str, float], tuple[float | None, float | None]] = {
    ("mse", 0.0): (44.3, None), ("mse", 0.25): (40.7, 61.0), ("mse", 0.5): (41.9, 62.0),
    ("mse", 0.75): (42.2, 62.6), ("mse", 1.0): (None, 62.7),
    ("msle", 0.0): (43.3, None), ("msle", 0.25): (40.8, 62.8), ("msle", 0.5): (40.4, 62.3),
    ("msle", 0.75): (41.2, 62.0), ("msle", 1.0): (None, 62.7),
}


@dataclass(frozen=True)
class GNDBenchmarkPreset:
    """Sizes and training budget of one benchmark preset (windows per class N)."""

    name: str
    train_per_class: int
    val_per_class: int
    test_per_class: int
    max_epochs: int
    patience: int
    batch_size: int = 64
    ratios: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
    regs: tuple[str, ...] = ("mse", "msle")
    seed: int = 0


PRESETS: dict[str, GNDBenchmarkPreset] = {
    # The paper: 5e5 / 1e5 / 1e5 windows, batch 64, early stopping. For a GPU.
    "paper": GNDBenchmarkPreset("paper", 100_000, 20_000, 20_000, max_epochs=100, patience=10),
    # Fits in under 45 minutes on 2 CPU cores (nine trainings plus baselines).
    "cpu": GNDBenchmarkPreset("cpu", 12_000, 2_000, 10_000, max_epochs=8, patience=3, batch_size=64),
    # Seconds: for tests of the pipeline only; its numbers mean nothing.
    "smoke": GNDBenchmarkPreset("smoke", 60, 20, 40, max_epochs=1, patience=1, batch_size=64,
                                ratios=(0.0, 0.5, 1.0), regs=("msle",)),
}


def get_preset(name: str) -> GNDBenchmarkPreset:
    """The named preset; :class:`UnknownNameError` lists the known names otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise UnknownNameError(f"unknown benchmark preset {name!r}; choose one of {sorted(PRESETS)}") from None


def _configs(preset: GNDBenchmarkPreset) -> list[tuple[str, float]]:
    out = []
    for reg in preset.regs:
        for ratio in preset.ratios:
            if ratio == 1.0 and any(r == 1.0 for _, r in out):
                continue  # pure cross-entropy: the regression loss plays no part, train once
            out.append((reg, float(ratio)))
    return out


def run_gnd_benchmark(
    preset: GNDBenchmarkPreset | str,
    results_dir: str | os.PathLike,
    work_dir: str | os.PathLike,
    *,
    progress: bool = True,
    accelerator: str = "auto",
    devices: int | str = "auto",
    num_nodes: int = 1,
    command: str | None = None,
) -> dict[str, Any]:
    """Run (or resume) the Table 1 benchmark and write ``results.json`` and ``results.md``.

    Parameters
    ----------
    preset
        A :class:`GNDBenchmarkPreset` or the name of one in :data:`PRESETS`.
    results_dir
        Where the small result files go (committed for the ``cpu`` preset).
    work_dir
        Where datasets, checkpoints and per-run folders go (large; not committed).
    progress
        Progress bars on stderr.
    accelerator, devices, num_nodes
        Passed to Lightning.
    command
        The command line recorded with the results (default: ``sys.argv``).

    Returns
    -------
    dict
        The content of ``results.json``.
    """
    from microdl.analysis.gnd import evaluate_gnd
    from microdl.data.gnd_dataset import load_gnd_dataset, make_gnd_dataset
    from microdl.features.centre_pixel import CentrePixelBaseline
    from microdl.train.gnd import GNDTrainConfig, fit_gnd, load_gnd_model

    if isinstance(preset, str):
        preset = get_preset(preset)
    results_dir, work_dir = Path(results_dir), Path(work_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    work_dir.mkdir(parents=True, exist_ok=True)
    command = command or " ".join(shlex.quote(a) for a in ["microdl", *sys.argv[1:]])
    t_start = time.perf_counter()

    data_stats = {}
    for split, n, offset in (("train", preset.train_per_class, 0), ("val", preset.val_per_class, 1),
                             ("test", preset.test_per_class, 2)):
        data_stats[split] = make_gnd_dataset(work_dir / "data" / f"{split}.h5", n,
                                             seed=preset.seed * 1000 + offset, progress=progress)
    train = load_gnd_dataset(work_dir / "data" / "train.h5")
    val = load_gnd_dataset(work_dir / "data" / "val.h5")
    test = load_gnd_dataset(work_dir / "data" / "test.h5")

    rows: list[dict[str, Any]] = []
    for reg, ratio in _configs(preset):
        run_dir = work_dir / "runs" / f"{reg}-ratio{ratio:g}"
        eval_path = run_dir / "eval.json"
        if eval_path.exists():
            rows.append(json.loads(eval_path.read_text()))
            continue
        cfg = GNDTrainConfig(ratio=ratio, reg=reg, batch_size=preset.batch_size,
                             max_epochs=preset.max_epochs, patience=preset.patience, seed=preset.seed,
                             accelerator=accelerator, devices=devices, num_nodes=num_nodes)
        t0 = time.perf_counter()
        fit = fit_gnd(cfg, train, val, run_dir, resume=True, progress=progress)
        train_seconds = time.perf_counter() - t0
        model = load_gnd_model(run_dir / "model.pt")
        metrics = evaluate_gnd(model, test.gnd, test.rho_t, test.n_lines)
        paper_mape, paper_acc = PAPER_TABLE1.get((reg, ratio), (None, None))
        row = {
            "reg": reg, "ratio": ratio,
            "mape_rho_t": metrics["mape_rho_t"] if ratio < 1.0 else None,
            "n_accuracy": metrics["n_accuracy"] if ratio > 0.0 else None,
            "confusion": metrics.get("confusion"),
            "paper_mape_rho_t": paper_mape, "paper_n_accuracy_percent": paper_acc,
            "epochs": fit.get("epochs"), "train_seconds": train_seconds, "run_dir": str(run_dir),
        }
        write_json(eval_path, row)
        rows.append(row)

    baselines = {}
    for method in ("isotonic", "gbdt"):
        t0 = time.perf_counter()
        base = CentrePixelBaseline(method=method).fit(train.gnd, train.rho_t, train.n_lines)
        rho_pred, n_pred = base.predict(test.gnd)
        from microdl.analysis.gnd import mape

        baselines[method] = {
            "mape_rho_t": float(mape(test.rho_t, rho_pred)),
            "n_accuracy": float((n_pred == test.n_lines).mean()),
            "seconds": time.perf_counter() - t0,
        }

    results = {
        "benchmark": "zhang2019-gnd Table 1",
        "preset": asdict(preset),
        "command": command,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "accelerator": accelerator},
        "environment": environment(),
        "datasets": data_stats,
        "units": {"mape_rho_t": "percent", "n_accuracy": "fraction (0-1)"},
        "configs": rows,
        "baseline_centre_pixel": baselines,
        "seconds_total_this_call": time.perf_counter() - t_start,
    }
    write_json(results_dir / "results.json", results)
    (results_dir / "results.md").write_text(results_markdown(results))
    return results


def _fmt(v: float | None, pct: bool = False) -> str:
    if v is None:
        return "-"
    return f"{100 * v:.1f} %" if pct else f"{v:.1f} %"


def results_markdown(results: dict[str, Any]) -> str:
    """Render benchmark results as a Markdown table with the paper's numbers beside ours."""
    lines = [
        f"# zhang2019-gnd: Table 1 reproduction (preset `{results['preset']['name']}`)",
        "",
        f"Command: `{results['command']}`",
        "",
        f"Machine: {results['machine']['cpu_count']} CPU cores, accelerator={results['machine']['accelerator']}; "
        f"microdl {results['environment'].get('microdl_version')} (git {results['environment'].get('git_commit')}).",
        "",
        "MAPE of rho_t on the test set (lower is better) and N accuracy (higher is better); paper values "
        "from Zhang & Ngan 2019, Table 1, in brackets.",
        "",
        "| reg | ratio | MAPE rho_t (ours) | MAPE (paper) | N accuracy (ours) | N acc. (paper) | epochs |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results["configs"]:
        lines.append(
            f"| {r['reg']} | {r['ratio']:g} | {_fmt(r['mape_rho_t'])} | {_fmt(r['paper_mape_rho_t'])} | "
            f"{_fmt(r['n_accuracy'], pct=True)} | {_fmt(r['paper_n_accuracy_percent'])} | {r.get('epochs')} |"
        )
    lines += ["", "Centre-pixel baselines (the pixel's own |rho_GND| only):", "",
              "| method | MAPE rho_t | N accuracy |", "|---|---|---|"]
    for name, b in results["baseline_centre_pixel"].items():
        lines.append(f"| {name} | {_fmt(b['mape_rho_t'])} | {_fmt(b['n_accuracy'], pct=True)} |")
    ds = results["datasets"]
    lines += ["", "Data: " + ", ".join(f"{k} {v['n_windows']} windows" for k, v in ds.items())
              + f"; Pearson(N, rho_t) = {ds['train']['pearson_n_rho_t']:.3f} (paper 0.898); "
              f"mean rho_t = {ds['train']['rho_t_mean_per_m2']:.3g} m^-2 (paper ~1e15).", ""]
    return "\n".join(lines)


def smaller(preset: GNDBenchmarkPreset, **changes: Any) -> GNDBenchmarkPreset:
    """A copy of ``preset`` with some fields changed (e.g. for tests)."""
    return replace(preset, **changes)
