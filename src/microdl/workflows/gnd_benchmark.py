"""Reproduce Zhang & Ngan 2019, Table 1, on correctly labelled generated data, and beat it.

For each regression loss (MSE, MSLE) and loss ratio (0, 0.25, 0.5, 0.75, 1) a
``zhang2019-gnd`` ConvNet is trained and evaluated on a held-out test set. Beside them,
on the same test set: microdl's training recipes (:data:`RECIPES`: the fully convolutional
``gnd-fcn7``, and the centre-anchored, symmetry-averaged ``gnd-anchored`` trained on fresh
windows every epoch with a MAPE loss and selected on validation MAPE) and the baselines
(:mod:`microdl.workflows.gnd_baselines`: centre pixel and whole window, gradient boosting).

Every predictor also gets a density scale fitted on the *validation* set
(:func:`microdl.analysis.gnd_stats.mape_scale`; baked into the weights of models that
carry one) and bootstrap intervals on the test set. Every run lives in its own folder and a
rerun skips finished runs and resumes interrupted ones from their last checkpoint.

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
from dataclasses import asdict, dataclass, replace
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
    recipes: tuple[str, ...] = ("fcn7", "paper-dropout-last", "anchored")
    stream_per_class: int = 20_000
    stream_epochs: int = 40
    baseline_per_class: int = 20_000
    bootstrap: int = 1000


#: microdl's training recipes beside the paper's grid: GNDTrainConfig fields. ``stream: True``
#: trains on fresh windows every epoch (preset's ``stream_per_class`` x ``stream_epochs``).
RECIPES: Registry[dict[str, Any]] = Registry("training recipe")
RECIPES.add("fcn7", {"model": "gnd-fcn7", "reg": "msle", "ratio": 0.5},
            description="gnd-fcn7 with the paper's loss, data and budget")
RECIPES.add("paper-dropout-last", {"model": "zhang2019-gnd-dropout-last", "reg": "msle", "ratio": 0.5},
            description="Table A1 without the dropout in front of Conv_20's batch norm, the paper's loss and budget")
RECIPES.add("anchored", {"model": "gnd-anchored", "model_cfg": {"centre_table": 64}, "reg": "mape", "ratio": 0.5,
                         "augment": True, "stream": True, "monitor": "val_mape_pct", "lr_schedule": "onecycle",
                         "lr": 2e-3, "batch_size": 256},
            description="gnd-anchored with a 64 x 64 centre table: fresh windows every epoch, symmetry augmentation, "
                        "MAPE loss, one-cycle schedule to 2e-3, best epoch by validation MAPE")

PRESETS: Registry[GNDBenchmarkPreset] = Registry("benchmark preset")
PRESETS.add("paper", GNDBenchmarkPreset("paper", 100_000, 20_000, 20_000, max_epochs=100, patience=10,
                                        stream_per_class=100_000, stream_epochs=100, baseline_per_class=100_000),
            description="the paper: 5e5 / 1e5 / 1e5 windows, batch 64, early stopping; for a GPU")
PRESETS.add("cpu", GNDBenchmarkPreset("cpu", 4_000, 1_000, 4_000, max_epochs=10, patience=3, batch_size=64),
            description="about an hour on 2 CPU cores (twelve trainings plus baselines)")
PRESETS.add("smoke", GNDBenchmarkPreset("smoke", 60, 20, 40, max_epochs=1, patience=1, batch_size=64,
                                        ratios=(0.0, 0.5, 1.0), regs=("msle",), stream_per_class=40, stream_epochs=2,
                                        baseline_per_class=60, bootstrap=20),
            description="seconds: for tests of the pipeline only; its numbers mean nothing")


def get_preset(name: str) -> GNDBenchmarkPreset:
    """The named preset; :class:`UnknownNameError` lists the known names otherwise."""
    try:
        return PRESETS.get(name)
    except UnknownNameError:
        raise UnknownNameError(
            f"unknown benchmark preset {name!r}; choose one of {PRESETS.names()}") from None


def with_rows(preset: GNDBenchmarkPreset, rows: str) -> GNDBenchmarkPreset:
    """The preset restricted to some trained rows (the baselines always run).

    ``rows`` is ``"all"`` or a comma-separated list of ``table1`` (the paper's grid) and
    :data:`RECIPES` names, e.g. ``"anchored"`` to reproduce the headline with another seed
    without the nine Table 1 trainings.
    """
    if rows.strip().lower() == "all":
        return preset
    names = [r.strip().lower() for r in rows.split(",") if r.strip()]
    unknown = [r for r in names if r != "table1" and r not in RECIPES.names()]
    if not names or unknown:
        raise InvalidParameterError(
            f"rows must be 'all' or a comma-separated list of {['table1', *RECIPES.names()]}, got {rows!r}")
    return replace(preset, regs=preset.regs if "table1" in names else (),
                   recipes=tuple(r for r in RECIPES.names() if r in names))


def default_workers() -> int:
    """Configurations trained at once by default: 1 with a GPU, else one per CPU core."""
    import torch

    return 1 if torch.cuda.is_available() else max(1, os.cpu_count() or 1)


def _configs(preset: GNDBenchmarkPreset) -> list[dict[str, Any]]:
    """Training jobs: the paper's grid for Table A1, then the preset's :data:`RECIPES`.

    Each is ``{"key", "model", "reg", "ratio", "train_cfg"}`` (``train_cfg``: further
    :class:`~microdl.train.tasks.gnd.GNDTrainConfig` fields).
    """
    out: list[dict[str, Any]] = []
    for reg in preset.regs:
        for ratio in preset.ratios:
            if ratio == 1.0 and any(c["ratio"] == 1.0 for c in out):
                continue  # pure cross-entropy: the regression loss plays no part, train once
            out.append({"key": _job_key("zhang2019-gnd", reg, ratio), "model": "zhang2019-gnd", "reg": reg,
                        "ratio": float(ratio), "recipe": "paper", "train_cfg": {}})
    for name in preset.recipes:
        recipe = dict(RECIPES.get(name))
        model, reg, ratio = recipe.pop("model"), recipe.pop("reg"), float(recipe.pop("ratio"))
        if recipe.pop("stream", False):
            recipe.update(stream_per_class=preset.stream_per_class, max_epochs=preset.stream_epochs,
                          patience=preset.stream_epochs)
        key = _job_key(model, reg, ratio) if name == "fcn7" else f"{name}_{model}"
        out.append({"key": key, "model": model, "reg": reg, "ratio": ratio, "recipe": name, "train_cfg": recipe})
    return out


def _job_key(model: str, reg: str, ratio: float) -> str:
    return f"{model}_{reg}_ratio{ratio:g}"


def _train_and_evaluate(params: dict[str, Any], out_path: Path) -> dict[str, Any]:
    """One benchmark job: train a configuration, fit its validation scale, evaluate it on the test split.

    Writes the exported model to ``out_path`` and returns the test metrics.
    Top-level so that worker processes can import it.
    """
    import shutil

    import numpy as np
    import torch

    from microdl.analysis.gnd import evaluate_gnd, predict_windows
    from microdl.analysis.gnd_stats import mape_scale
    from microdl.data.gnd_dataset import load_gnd_dataset
    from microdl.models.gnd_io import export_gnd_model, load_gnd_model
    from microdl.train.tasks.gnd import GNDTrainConfig, fit_gnd

    data = Path(params["data_dir"])
    run_dir = Path(params["run_dir"])
    base = {"model": params["model"], "ratio": params["ratio"], "reg": params["reg"],
            "batch_size": params["batch_size"], "max_epochs": params["max_epochs"], "patience": params["patience"],
            "seed": params["seed"], "accelerator": params["accelerator"], "devices": params["devices"],
            "num_nodes": params["num_nodes"], "num_threads": params["num_threads"]}
    cfg = GNDTrainConfig(**{**base, **params.get("train_cfg", {})})
    val = load_gnd_dataset(data / "val.h5")
    t0 = time.perf_counter()
    train = None if cfg.stream_per_class else load_gnd_dataset(data / "train.h5")
    fit = fit_gnd(cfg, train, val, run_dir, resume=True, progress=params["progress"])
    train_seconds = time.perf_counter() - t0
    if params["num_threads"]:
        torch.set_num_threads(params["num_threads"])
    model = load_gnd_model(fit["model_path"], device="cpu")
    scale = None
    if params["ratio"] < 1.0:
        scale = mape_scale(val.rho_t, predict_windows(model, val.gnd).rho_t)
        if hasattr(model, "log_scale"):  # bake the validation scale into the shipped weights
            with torch.no_grad():
                model.log_scale += float(np.log(scale))
            export_gnd_model(model, fit["model_path"], extra={**model.export_extra, "val_mape_scale": scale})
    test = load_gnd_dataset(data / "test.h5")
    baked = hasattr(model, "log_scale")
    metrics = evaluate_gnd(model, test.gnd, test.rho_t, test.n_lines, figures_dir=run_dir / "figures",
                           bootstrap=params.get("bootstrap", 0), scale=None if (baked or scale is None) else scale)
    shutil.copyfile(fit["model_path"], out_path)
    ratio = params["ratio"]
    paper_mape, paper_acc = PAPER_TABLE1.get((params["reg"], ratio), (None, None)) \
        if params["model"] == "zhang2019-gnd" else (None, None)
    epochs = fit.get("epochs_completed")
    n_train = (cfg.stream_per_class * 5 * (epochs or 0)) if cfg.stream_per_class else len(train)
    return {
        "model": params["model"], "reg": params["reg"], "ratio": ratio, "recipe": params.get("recipe", "paper"),
        "mape_rho_t": metrics["mape_rho_t"] if ratio < 1.0 else None,
        "median_ape_rho_t": metrics.get("median_ape_rho_t") if ratio < 1.0 else None,
        "n_accuracy": metrics["n_accuracy"] if ratio > 0.0 else None,
        "mape_rho_t_by_n": metrics.get("mape_rho_t_by_n"),
        "confusion": metrics.get("confusion"),
        "val_scale": scale, "scale_in_weights": baked and scale is not None,
        "scaled": metrics.get("scaled") if ratio < 1.0 else None,
        "intervals": metrics.get("intervals"),
        "paper_mape_rho_t": paper_mape, "paper_n_accuracy_percent": paper_acc,
        "epochs": epochs, "stopped_early": fit.get("stopped_early"),
        "best_monitored": fit.get(f"best_{cfg.monitor}"), "monitor": cfg.monitor,
        "train_windows_seen": n_train, "train_seconds": train_seconds,
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
    walk: str = "random",
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
    walk
        Line rule of every data set and stream (:class:`~microdl.simulate.gnd_lines.GNDLineConfig`):
        ``"random"`` (default) or ``"self-avoiding"`` (the authors' statistics).
    catalog
        Where the benchmark (``benchmark:gnd:<preset>``) and its data sets are
        recorded; ``None``: the default catalog. The training runs inside the jobs
        record into the default catalog of their process.

    Returns
    -------
    dict
        The content of ``results.json``.
    """
    from microdl.data.catalog import Catalog
    from microdl.data.gnd_dataset import load_gnd_dataset, make_gnd_dataset
    from microdl.data.jobs import Job, run_jobs
    from microdl.io._atomic import check_output_folder
    from microdl.simulate.gnd_lines import GNDLineConfig
    from microdl.workflows.gnd_baselines import score_baselines
    from microdl.workflows.gnd_report import results_markdown

    if isinstance(preset, str):
        preset = get_preset(preset)
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise InvalidParameterError(f"workers must be an integer >= 0, got {workers!r}")
    workers = workers or default_workers()
    line_config = GNDLineConfig(walk=walk)  # fails fast on an unknown walk
    catalog = catalog if catalog is not None else Catalog()
    catalog.check_writable()
    results_dir = check_output_folder(results_dir, option="results_dir")
    work_dir = check_output_folder(work_dir, option="work_dir")
    command = command or " ".join(shlex.quote(a) for a in ["microdl", *sys.argv[1:]])
    t_start = time.perf_counter()

    data_dir = work_dir / "data"
    data_stats = {}
    for split, n, offset in (("train", preset.train_per_class, 0), ("val", preset.val_per_class, 1),
                             ("test", preset.test_per_class, 2), ("baseline_train", preset.baseline_per_class, 3)):
        data_stats[split] = make_gnd_dataset(data_dir / f"{split}.h5", n,
                                             seed=preset.seed * 1000 + offset, progress=progress,
                                             catalog=catalog, config=line_config)

    threads = max(1, (os.cpu_count() or 1) // workers)
    jobs = [
        Job(c["key"], {
            "model": c["model"], "reg": c["reg"], "ratio": c["ratio"], "recipe": c["recipe"],
            "train_cfg": {**c["train_cfg"], "walk": walk} if c["train_cfg"].get("stream_per_class") else c["train_cfg"],
            "batch_size": preset.batch_size,
            "max_epochs": preset.max_epochs, "patience": preset.patience, "seed": preset.seed,
            "accelerator": accelerator, "devices": devices, "num_nodes": num_nodes,
            "num_threads": threads, "progress": progress and workers == 1, "bootstrap": preset.bootstrap,
            "data_dir": str(data_dir.resolve()),
            "run_dir": str((work_dir / "runs" / c["key"]).resolve()),
        }, suffix=".pt")
        for c in _configs(preset)
    ]
    report = run_jobs(_train_and_evaluate, jobs, work_dir / "results", workers=workers, progress=progress)
    rows = []
    for job in jobs:
        summary_path = work_dir / "results" / f"{job.key}.json"
        if summary_path.exists():
            row = dict(read_json(summary_path, what="job summary")["summary"])
            row["run_dir"] = os.path.relpath(row["run_dir"])  # results files carry no machine's absolute paths
            rows.append(row)

    sets = {name: load_gnd_dataset(data_dir / f"{name}.h5") for name in ("train", "baseline_train", "val", "test")}
    baselines = score_baselines(sets, seed=preset.seed, bootstrap=preset.bootstrap)

    results = {
        "benchmark": "zhang2019-gnd Table 1",
        "preset": asdict(preset),
        "walk": walk,
        "command": command,
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "accelerator": accelerator, "workers": workers, "threads_per_worker": threads},
        "environment": environment(),
        "datasets": data_stats,
        "units": {"mape_rho_t": "percent", "n_accuracy": "fraction (0-1)"},
        "protocol": "every row is scored on the same test windows; val_scale is fitted on the validation "
                    "windows only; intervals are percentile bootstrap intervals over test windows "
                    "(of the scaled predictions where a scale is not in the weights)",
        "configs": rows,
        "failed_configs": list(report.failed),
        "baselines": baselines,
        "seconds_total_this_call": time.perf_counter() - t_start,
    }
    write_json(results_dir / "results.json", results)
    write_text(results_dir / "results.md", results_markdown(results))
    catalog.record("run", f"benchmark:gnd:{preset.name}", config=results["preset"], seed=preset.seed,
                   path=results_dir, metrics={"configs": rows, "baseline": baselines})
    return results


