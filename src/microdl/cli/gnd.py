"""``microdl gnd ...``: total dislocation density from GND maps (Zhang & Ngan 2019)."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from microdl.cli._common import JSON_OPTION, info, report
from microdl.exceptions import InvalidParameterError

app = typer.Typer(help="Total dislocation density and line count from GND density maps (Zhang & Ngan 2019).",
                  no_args_is_help=True)

_PROGRESS = typer.Option(True, "--progress/--no-progress", help="Progress bars on stderr.")


def _positive(name: str, value: int | float) -> None:
    if value <= 0:
        raise InvalidParameterError(f"{name} must be > 0, got {value}")


@app.command()
def generate(
    out: Path = typer.Option(..., "--out", help="Output HDF5 file."),
    per_class: int = typer.Option(2000, "--per-class", help="Windows per line count N = 1..5."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives identical arrays."),
    progress: bool = _PROGRESS,
    as_json: bool = JSON_OPTION,
) -> None:
    """Generate balanced 7 x 7 GND windows with their true rho_t and N labels."""
    _positive("--per-class", per_class)
    from microdl.data.gnd_dataset import make_gnd_dataset

    stats = make_gnd_dataset(out, per_class, seed=seed, progress=progress, reuse=False)
    human = (
        f"wrote {stats['n_windows']} windows to {stats['path']} "
        f"({stats['windows_per_second']:.0f} windows/s)\n"
        f"Pearson(N, rho_t) = {stats['pearson_n_rho_t']:.3f} (paper 0.898); "
        f"mean rho_t = {stats['rho_t_mean_per_m2']:.3g} m^-2 (paper ~1e15)\n"
        f"catalog id {stats['id']}"
    )
    report(stats, as_json=as_json, human=human)


@app.command()
def train(
    train_path: Path = typer.Option(..., "--train", help="Training windows (HDF5 from 'gnd generate')."),
    val_path: Path = typer.Option(..., "--val", help="Validation windows (early stopping)."),
    out: Path = typer.Option(..., "--out", help="Run folder: config, checkpoints, metrics, model.pt."),
    ratio: float = typer.Option(0.5, "--ratio", help="Loss = (1-ratio)*reg + ratio*CE, in [0, 1]."),
    reg: str = typer.Option("msle", "--reg", help="Regression loss: mse or msle."),
    epochs: int = typer.Option(30, "--epochs", help="Maximum number of epochs."),
    patience: int = typer.Option(5, "--patience", help="Early stopping patience (epochs) on val loss."),
    batch_size: int = typer.Option(64, "--batch-size"),
    lr: float = typer.Option(1e-3, "--lr", help="Adam learning rate."),
    model: str = typer.Option("zhang2019-gnd", "--model", help="Model name in the registry."),
    seed: int = typer.Option(0, "--seed"),
    accelerator: str = typer.Option("auto", "--accelerator", help="auto, cpu, gpu, ..."),
    devices: str = typer.Option("auto", "--devices", help="Number of devices or 'auto'."),
    num_nodes: int = typer.Option(1, "--num-nodes", help="Nodes for multi-node DDP."),
    strategy: str = typer.Option("auto", "--strategy", help="Lightning strategy: auto or ddp."),
    progress: bool = _PROGRESS,
    as_json: bool = JSON_OPTION,
) -> None:
    """Train a ConvNet; an interrupted run resumes from its last checkpoint when rerun."""
    from microdl.data.gnd_dataset import load_gnd_dataset
    from microdl.train.gnd import GNDTrainConfig, fit_gnd

    dev: int | str = int(devices) if devices.isdigit() else devices
    cfg = GNDTrainConfig(model=model, ratio=ratio, reg=reg, lr=lr, batch_size=batch_size,
                         max_epochs=epochs, patience=patience, seed=seed, accelerator=accelerator,
                         devices=dev, num_nodes=num_nodes, strategy=strategy)
    tr, va = load_gnd_dataset(train_path), load_gnd_dataset(val_path)
    t0 = time.perf_counter()
    result = fit_gnd(cfg, tr, va, out, resume=True, progress=progress)
    result = dict(result)
    result.update(run_dir=str(out), seconds=time.perf_counter() - t0,
                  id=(out / "catalog_id").read_text().strip() if (out / "catalog_id").is_file() else None)
    report(result, as_json=as_json)


@app.command()
def evaluate(
    data: Path = typer.Option(..., "--data", help="Test windows (HDF5 from 'gnd generate')."),
    model: str = typer.Option("default", "--model", help="'default' (shipped), a run folder or model.pt."),
    out: Path = typer.Option(None, "--out", help="Folder for the scatter and confusion-matrix figures."),
    batch_size: int = typer.Option(4096, "--batch-size"),
    device: str = typer.Option("auto", "--device"),
    as_json: bool = JSON_OPTION,
) -> None:
    """MAPE of rho_t, N accuracy and confusion matrix on labelled windows."""
    from microdl.analysis.gnd import evaluate_gnd
    from microdl.data.gnd_dataset import load_gnd_dataset
    from microdl.pretrained import resolve_model_path
    from microdl.models.gnd_io import load_gnd_model

    _positive("--batch-size", batch_size)
    net = load_gnd_model(resolve_model_path(model), device=None if device == "auto" else device)
    ds = load_gnd_dataset(data)
    metrics = evaluate_gnd(net, ds.gnd, ds.rho_t, ds.n_lines, batch_size=batch_size,
                           device=None if device == "auto" else device, figures_dir=out)
    report(metrics, as_json=as_json)


@app.command()
def predict(
    map_path: Path = typer.Argument(..., help="GND map (H x W x 2: screw, edge in m^-2) as .npy, .npz, .h5 or .csv."),
    out: Path = typer.Option(..., "--out", help="Output folder: rho_t.npy, n_lines.npy, prediction.png."),
    model: str = typer.Option("default", "--model", help="'default' (shipped), a run folder or model.pt."),
    key: str = typer.Option(None, "--key", help="Array name inside .npz/.h5 files."),
    border: str = typer.Option("reflect", "--border",
                               help="Border policy for pixels near the edge: reflect, edge or zero."),
    batch_size: int = typer.Option(4096, "--batch-size"),
    device: str = typer.Option("auto", "--device"),
    figure: bool = typer.Option(True, "--figure/--no-figure"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Predict rho_t and N for every pixel of a whole GND map."""
    import numpy as np

    from microdl.io.arrays import check_map, read_array
    from microdl.pretrained import resolve_model_path

    _positive("--batch-size", batch_size)
    gnd_map = check_map(read_array(map_path, key=key), channels=2, name=f"GND map {map_path}")
    model_path = resolve_model_path(model)
    from microdl.analysis.gnd import predict_map
    from microdl.models.gnd_io import load_gnd_model

    dev = None if device == "auto" else device
    net = load_gnd_model(model_path, device=dev)
    t0 = time.perf_counter()
    rho_t, n_lines = predict_map(net, gnd_map, border=border, batch_size=batch_size, device=dev)
    seconds = time.perf_counter() - t0
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / "rho_t.npy", rho_t)
    np.save(out / "n_lines.npy", n_lines)
    files = {"rho_t": str(out / "rho_t.npy"), "n_lines": str(out / "n_lines.npy")}
    if figure:
        from microdl.analysis.gnd_figures import plot_map_prediction

        files["figure"] = str(plot_map_prediction(gnd_map, rho_t, n_lines, out / "prediction.png",
                                                  title=f"{map_path.name}: zhang2019-gnd"))
    result = {
        "shape": list(rho_t.shape), "border": border, "seconds": seconds,
        "rho_t_mean_per_m2": float(rho_t.mean()), "rho_gnd_mean_per_m2": float(np.hypot(*gnd_map.transpose(2, 0, 1)).mean()),
        "n_lines_mean": float(n_lines.mean()), "files": files,
    }
    human = (f"{rho_t.shape[0]} x {rho_t.shape[1]} map in {seconds:.2f} s: mean rho_t = "
             f"{result['rho_t_mean_per_m2']:.3g} m^-2 (mean |rho_GND| {result['rho_gnd_mean_per_m2']:.3g}); "
             f"files in {out}")
    report(result, as_json=as_json, human=human)


@app.command()
def benchmark(
    preset: str = typer.Option("cpu", "--preset", help="cpu (< 45 min on 2 cores), paper (GPU) or smoke."),
    out: Path = typer.Option(Path("benchmarks/gnd"), "--out", help="Folder for results.json and results.md."),
    work: Path = typer.Option(Path("microdl-work/gnd-benchmark"), "--work",
                              help="Folder for datasets, checkpoints and run folders (large)."),
    accelerator: str = typer.Option("auto", "--accelerator"),
    devices: str = typer.Option("auto", "--devices"),
    num_nodes: int = typer.Option(1, "--num-nodes"),
    workers: int = typer.Option(0, "--workers",
                                help="Configurations trained at once (0: one per CPU core without a GPU, 1 with)."),
    progress: bool = _PROGRESS,
    as_json: bool = JSON_OPTION,
) -> None:
    """Reproduce Table 1 (ratio x MSE/MSLE) and the centre-pixel baseline; resumable."""
    from microdl.analysis.gnd_benchmark import get_preset, run_gnd_benchmark
    from microdl.data.catalog import Catalog

    p = get_preset(preset)  # fails fast on an unknown name
    if workers < 0:
        raise InvalidParameterError(f"--workers must be >= 0, got {workers}")
    if workers == 0:
        import os

        import torch

        workers = 1 if torch.cuda.is_available() else max(1, os.cpu_count() or 1)
    dev: int | str = int(devices) if devices.isdigit() else devices
    results = run_gnd_benchmark(p, out, work, progress=progress, accelerator=accelerator, devices=dev,
                                num_nodes=num_nodes, workers=workers)
    Catalog().record("run", f"benchmark:gnd:{preset}", config=results["preset"], seed=p.seed, path=out,
                     metrics={"configs": results["configs"], "baseline": results["baseline_centre_pixel"]})
    if as_json:
        report(results, as_json=True)
    else:
        report({}, as_json=False, human=(Path(out) / "results.md").read_text())


@app.command()
def demo(
    out: Path = typer.Option(Path("microdl-demo"), "--out", help="Folder for everything the demo writes."),
    seed: int = typer.Option(0, "--seed"),
    progress: bool = _PROGRESS,
    as_json: bool = JSON_OPTION,
) -> None:
    """End to end in a few minutes: generate, train briefly, evaluate, predict a whole map."""
    from microdl.analysis.gnd_demo import run_demo

    result = run_demo(out, seed=seed, progress=progress, log=info)
    human = "\n".join([f"{k}: {v}" for k, v in result["summary"].items()] +
                      ["", "figures:"] + [f"  {p}" for p in result["figures"]])
    report(result, as_json=as_json, human=human)
