"""Reproduce Zhang & Ngan 2019, Table 1, on correctly labelled generated data.

For each regression loss (MSE, MSLE) and loss ratio (0, 0.25, 0.5, 0.75, 1) a
``zhang2019-gnd`` ConvNet is trained and evaluated on a held-out test set, next
to the centre-pixel baselines (which see only |rho_GND| of the pixel itself).
Every run lives in its own folder and a rerun skips finished runs and resumes
interrupted ones from their last checkpoint.

References
----------
Zhang, Y. & Ngan, A. H. W. (2019). Extracting dislocation microstructures by deep learning. Int. J. Plasticity,
Table 1.
"""

from __future__ import annotations

import os
import platform
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from microdl._registry import Registry
from microdl.exceptions import InvalidParameterError, UnknownNameError
from microdl.io._atomic import read_json, write_json, write_text
from microdl.provenance import environment

if TYPE_CHECKING:  # pragma: no cover
    from microdl.data.catalog import Catalog

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
    extra_models: tuple[str, ...] = ("gnd-fcn7",)


PRESETS: Registry[GNDBenchmarkPreset] = Registry("benchmark preset")
PRESETS.add("paper", GNDBenchmarkPreset("paper", 100_000, 20_000, 20_000, max_epochs=100, patience=10),
            description="the paper: 5e5 / 1e5 / 1e5 windows, batch 64, early stopping; for a GPU")
PRESETS.add("cpu", GNDBenchmarkPreset("cpu", 4_000, 1_000, 4_000, max_epochs=10, patience=3, batch_size=64),
            description="under 45 minutes on 2 CPU cores (nine trainings plus baselines)")
PRESETS.add("smoke", GNDBenchmarkPreset("smoke", 60, 20, 40, max_epochs=1, patience=1, batch_size=64,
                                        ratios=(0.0, 0.5, 1.0), regs=("msle",)),
            description="seconds: for tests of the pipeline only; its numbers mean nothing")


def get_preset(name: str) -> GNDBenchmarkPreset:
    """The named preset; :class:`UnknownNameError` lists the known names otherwise."""
    try:
        return PRESETS.get(name)
    except UnknownNameError:
        raise UnknownNameError(
            f"unknown benchmark preset {name!r}; choose one of {PRESETS.names()}") from None


def default_workers() -> int:
    """Configurations trained at once by default: 1 with a GPU, else one per CPU core."""
    import torch

    return 1 if torch.cuda.is_available() else max(1, os.cpu_count() or 1)


def _configs(preset: GNDBenchmarkPreset) -> list[tuple[str, str, float]]:
    """(model, reg, ratio) triples: the paper's grid for Table A1, plus our fully convolutional model."""
    out: list[tuple[str, str, float]] = []
    for reg in preset.regs:
        for ratio in preset.ratios:
            if ratio == 1.0 and any(r == 1.0 for _, _, r in out):
                continue  # pure cross-entropy: the regression loss plays no part, train once
            out.append(("zhang2019-gnd", reg, float(ratio)))
    for model in preset.extra_models:
        out.append((model, "msle", 0.5))
    return out


def _job_key(model: str, reg: str, ratio: float) -> str:
    return f"{model}_{reg}_ratio{ratio:g}"


def _train_and_evaluate(params: dict[str, Any], out_path: Path) -> dict[str, Any]:
    """One benchmark job: train a configuration, evaluate it on the test split.

    Writes the exported model to ``out_path`` and returns the test metrics.
    Top-level so that worker processes can import it.
    """
    import shutil

    from microdl.analysis.gnd import evaluate_gnd
    from microdl.data.gnd_dataset import load_gnd_dataset
    from microdl.models.gnd_io import load_gnd_model
    from microdl.train.tasks.gnd import GNDTrainConfig, fit_gnd

    data = Path(params["data_dir"])
    run_dir = Path(params["run_dir"])
    cfg = GNDTrainConfig(model=params["model"], ratio=params["ratio"], reg=params["reg"],
                         batch_size=params["batch_size"], max_epochs=params["max_epochs"],
                         patience=params["patience"], seed=params["seed"], accelerator=params["accelerator"],
                         devices=params["devices"], num_nodes=params["num_nodes"],
                         num_threads=params["num_threads"])
    t0 = time.perf_counter()
    fit = fit_gnd(cfg, load_gnd_dataset(data / "train.h5"), load_gnd_dataset(data / "val.h5"), run_dir,
                  resume=True, progress=params["progress"])
    train_seconds = time.perf_counter() - t0
    model = load_gnd_model(fit["model_path"], device="cpu")
    test = load_gnd_dataset(data / "test.h5")
    import torch

    if params["num_threads"]:
        torch.set_num_threads(params["num_threads"])
    metrics = evaluate_gnd(model, test.gnd, test.rho_t, test.n_lines, figures_dir=run_dir / "figures")
    shutil.copyfile(fit["model_path"], out_path)
    ratio = params["ratio"]
    paper_mape, paper_acc = PAPER_TABLE1.get((params["reg"], ratio), (None, None)) \
        if params["model"] == "zhang2019-gnd" else (None, None)
    return {
        "model": params["model"], "reg": params["reg"], "ratio": ratio,
        "mape_rho_t": metrics["mape_rho_t"] if ratio < 1.0 else None,
        "median_ape_rho_t": metrics.get("median_ape_rho_t") if ratio < 1.0 else None,
        "n_accuracy": metrics["n_accuracy"] if ratio > 0.0 else None,
        "mape_rho_t_by_n": metrics.get("mape_rho_t_by_n"),
        "confusion": metrics.get("confusion"),
        "paper_mape_rho_t": paper_mape, "paper_n_accuracy_percent": paper_acc,
        "epochs": fit.get("epochs_completed"), "stopped_early": fit.get("stopped_early"),
        "best_val_loss": fit.get("best_val_loss"), "train_seconds": train_seconds,
        "run_dir": str(run_dir),
    }


def run_gnd_benchmark(
    preset: GNDBenchmarkPreset | str,
    results_dir: str | os.PathLike,
    work_dir: str | os.PathLike,
    *,
    progress: bool = True,
    accelerator: str = "auto",
    devices: int | str = "auto",
    num_nodes: int = 1,
    workers: int = 1,
    command: str | None = None,
    catalog: Catalog | None = None,
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
    workers
        Configurations trained at once, each in its own process with
        ``cpu_count // workers`` threads (on a CPU machine 2 single-thread
        trainings beat one 2-thread training). Use 1 with a GPU; 0 chooses
        (:func:`default_workers`).
    command
        The command line recorded with the results (default: ``sys.argv``).
    catalog
        Where the benchmark (``benchmark:gnd:<preset>``) and its data sets are
        recorded; ``None``: the default catalog. The training runs inside the jobs
        record into the default catalog of their process.

    Returns
    -------
    dict
        The content of ``results.json``.
    """
    from microdl.analysis.gnd import mape_percent
    from microdl.data.gnd_dataset import load_gnd_dataset, make_gnd_dataset
    from microdl.data.catalog import Catalog
    from microdl.data.jobs import Job, run_jobs
    from microdl.features.centre_pixel import CentrePixelBaseline
    from microdl.io._atomic import check_output_folder

    if isinstance(preset, str):
        preset = get_preset(preset)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise InvalidParameterError(f"workers must be an integer >= 0, got {workers!r}")
    workers = workers or default_workers()
    catalog = catalog if catalog is not None else Catalog()
    catalog.check_writable()
    results_dir = check_output_folder(results_dir, option="results_dir")
    work_dir = check_output_folder(work_dir, option="work_dir")
    command = command or " ".join(shlex.quote(a) for a in ["microdl", *sys.argv[1:]])
    t_start = time.perf_counter()

    data_dir = work_dir / "data"
    data_stats = {}
    for split, n, offset in (("train", preset.train_per_class, 0), ("val", preset.val_per_class, 1),
                             ("test", preset.test_per_class, 2)):
        data_stats[split] = make_gnd_dataset(data_dir / f"{split}.h5", n,
                                             seed=preset.seed * 1000 + offset, progress=progress,
                                             catalog=catalog)

    threads = max(1, (os.cpu_count() or 1) // workers)
    jobs = [
        Job(_job_key(model, reg, ratio), {
            "model": model, "reg": reg, "ratio": ratio, "batch_size": preset.batch_size,
            "max_epochs": preset.max_epochs, "patience": preset.patience, "seed": preset.seed,
            "accelerator": accelerator, "devices": devices, "num_nodes": num_nodes,
            "num_threads": threads, "progress": progress and workers == 1,
            "data_dir": str(data_dir.resolve()),
            "run_dir": str((work_dir / "runs" / _job_key(model, reg, ratio)).resolve()),
        }, suffix=".pt")
        for model, reg, ratio in _configs(preset)
    ]
    report = run_jobs(_train_and_evaluate, jobs, work_dir / "results", workers=workers, progress=progress)
    rows = []
    for job in jobs:
        summary_path = work_dir / "results" / f"{job.key}.json"
        if summary_path.exists():
            row = dict(read_json(summary_path, what="job summary")["summary"])
            row["run_dir"] = os.path.relpath(row["run_dir"])  # results files carry no machine's absolute paths
            rows.append(row)

    train = load_gnd_dataset(data_dir / "train.h5")
    test = load_gnd_dataset(data_dir / "test.h5")
    baselines = {}
    for method in ("isotonic", "gbdt"):
        t0 = time.perf_counter()
        base = CentrePixelBaseline(method=method, random_state=preset.seed).fit(
            train.gnd, train.rho_t, train.n_lines)
        rho_pred, n_pred = base.predict(test.gnd)
        baselines[method] = {
            "mape_rho_t": float(mape_percent(test.rho_t, rho_pred)),
            "n_accuracy": float((n_pred == test.n_lines).mean()),
            "seconds": time.perf_counter() - t0,
        }

    results = {
        "benchmark": "zhang2019-gnd Table 1",
        "preset": asdict(preset),
        "command": command,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "accelerator": accelerator, "workers": workers, "threads_per_worker": threads},
        "environment": environment(),
        "datasets": data_stats,
        "units": {"mape_rho_t": "percent", "n_accuracy": "fraction (0-1)"},
        "configs": rows,
        "failed_configs": list(report.failed),
        "baseline_centre_pixel": baselines,
        "seconds_total_this_call": time.perf_counter() - t_start,
    }
    write_json(results_dir / "results.json", results)
    write_text(results_dir / "results.md", results_markdown(results))
    catalog.record("run", f"benchmark:gnd:{preset.name}", config=results["preset"], seed=preset.seed,
                   path=results_dir, metrics={"configs": rows, "baseline": baselines})
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
        "| model | reg | ratio | MAPE rho_t (ours) | MAPE (paper) | N accuracy (ours) | N acc. (paper) | epochs |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results["configs"]:
        lines.append(
            f"| {r['model']} | {r['reg']} | {r['ratio']:g} | {_fmt(r['mape_rho_t'])} | {_fmt(r['paper_mape_rho_t'])} | "
            f"{_fmt(r['n_accuracy'], pct=True)} | {_fmt(r['paper_n_accuracy_percent'])} | {r.get('epochs')} |"
        )
    lines += ["", "Centre-pixel baselines (the centre pixel's own GND values only: isotonic on |rho_GND|, "
              "gradient boosting on screw, edge and |rho_GND|):", "",
              "| method | MAPE rho_t | N accuracy |", "|---|---|---|"]
    for name, b in results["baseline_centre_pixel"].items():
        lines.append(f"| {name} | {_fmt(b['mape_rho_t'])} | {_fmt(b['n_accuracy'], pct=True)} |")
    ds = results["datasets"]
    lines += ["", "Data: " + ", ".join(f"{k} {v['n_windows']} windows" for k, v in ds.items())
              + f"; Pearson(N, rho_t) = {ds['train']['pearson_n_rho_t']:.3f} (paper 0.898); "
              f"mean rho_t = {ds['train']['rho_t_mean_per_m2']:.3g} m^-2 (paper ~1e15).", ""]
    return "\n".join(lines)

