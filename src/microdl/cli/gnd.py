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
_WALK = typer.Option("random", "--walk", help="Line rule: random (default) or self-avoiding (the authors' "
                     "statistics: Pearson(N, rho_t) 0.91 against 0.80).")


def _positive(name: str, value: int | float) -> None:
    if value <= 0:
        raise InvalidParameterError(f"{name} must be > 0, got {value}")


def _devices(value: str) -> int | str:
    if value == "auto":
        return value
    if not value.isdigit() or int(value) < 1:
        raise InvalidParameterError(f"--devices must be an integer >= 1 or 'auto', got {value!r}")
    return int(value)


def _device(value: str) -> str | None:
    """``--device``: None for auto, else a torch device string (checked)."""
    if value == "auto":
        return None
    import torch

    try:
        torch.device(value)
    except (RuntimeError, TypeError, ValueError):
        raise InvalidParameterError(
            f"--device must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps', got {value!r}") from None
    return value


@app.command()
def generate(
    out: Path = typer.Option(..., "--out", help="Output HDF5 file."),
    per_class: int = typer.Option(2000, "--per-class", help="Windows per line count N = 1..5."),
    seed: int = typer.Option(0, "--seed", help="Random seed: the same seed gives identical arrays."),
    walk: str = _WALK,
    progress: bool = _PROGRESS,
    as_json: bool = JSON_OPTION,
) -> None:
    """Generate balanced 7 x 7 GND windows with their true rho_t and N labels."""
    _positive("--per-class", per_class)
    from microdl.data.gnd_dataset import make_gnd_dataset
    from microdl.io._atomic import check_output_file
    from microdl.simulate.gnd_lines import GNDLineConfig

    config = GNDLineConfig(walk=walk)
    check_output_file(out, option="--out")
    stats = make_gnd_dataset(out, per_class, seed=seed, progress=progress, reuse=False, config=config)
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
    train_path: Path = typer.Option(None, "--train", help="Training windows (HDF5 from 'gnd generate'); not "
                                    "needed with --stream-per-class."),
    val_path: Path = typer.Option(..., "--val", help="Validation windows (early stopping, model selection)."),
    out: Path = typer.Option(..., "--out", help="Run folder: config, checkpoints, metrics, model.pt."),
    ratio: float = typer.Option(0.5, "--ratio", help="Loss = (1-ratio)*reg + ratio*CE, in [0, 1]."),
    reg: str = typer.Option("msle", "--reg", help="Regression loss: mse, msle (the paper's) or mape."),
    epochs: int = typer.Option(30, "--epochs", help="Maximum number of epochs."),
    patience: int = typer.Option(5, "--patience", help="Early stopping patience (epochs) on the monitored metric."),
    batch_size: int = typer.Option(64, "--batch-size"),
    lr: float = typer.Option(1e-3, "--lr", help="Adam learning rate."),
    model: str = typer.Option("zhang2019-gnd", "--model", help="Model name in the registry."),
    seed: int = typer.Option(0, "--seed"),
    stream_per_class: int = typer.Option(None, "--stream-per-class",
                                         help="Fresh generated windows every epoch, this many per N."),
    augment: bool = typer.Option(False, "--augment/--no-augment",
                                 help="Random line reversal, rotation and reflection of every training window."),
    monitor: str = typer.Option("val_loss", "--monitor", help="val_loss, val_mape_pct or val_n_acc."),
    lr_schedule: str = typer.Option("constant", "--lr-schedule", help="constant or cosine."),
    walk: str = _WALK,
    accelerator: str = typer.Option("auto", "--accelerator", help="auto, cpu, gpu, ..."),
    devices: str = typer.Option("auto", "--devices", help="Number of devices or 'auto'."),
    num_nodes: int = typer.Option(1, "--num-nodes", help="Nodes for multi-node DDP."),
    strategy: str = typer.Option("auto", "--strategy", help="Lightning strategy: auto or ddp."),
    progress: bool = _PROGRESS,
    as_json: bool = JSON_OPTION,
) -> None:
    """Train a ConvNet; an interrupted run resumes from its last checkpoint when rerun."""
    from microdl.io._atomic import check_output_folder
    from microdl.train.tasks.gnd import GNDTrainConfig, fit_gnd

    cfg = GNDTrainConfig(model=model, ratio=ratio, reg=reg, lr=lr, batch_size=batch_size,
                         max_epochs=epochs, patience=patience, seed=seed, accelerator=accelerator,
                         devices=_devices(devices), num_nodes=num_nodes, strategy=strategy,
                         stream_per_class=stream_per_class, augment=augment, monitor=monitor,
                         lr_schedule=lr_schedule, walk=walk)
    if train_path is None and stream_per_class is None:
        raise InvalidParameterError("give --train windows or --stream-per-class (fresh windows every epoch)")
    cfg.trainer_config().check_devices()  # before reading data: --devices 99 on a CPU fails at once
    check_output_folder(out, option="--out", create=False)  # created once the data have been read
    t0 = time.perf_counter()
    result = dict(fit_gnd(cfg, train_path, val_path, out, resume=True, progress=progress))
    result.update(run_dir=str(out), seconds=time.perf_counter() - t0, id=result.pop("catalog_id", None))
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
    from microdl.models.gnd_io import load_gnd_model
    from microdl.models.pretrained import resolve_model_path

    _positive("--batch-size", batch_size)
    dev = _device(device)
    net = load_gnd_model(resolve_model_path(model), device=dev)
    ds = load_gnd_dataset(data)
    metrics = evaluate_gnd(net, ds.gnd, ds.rho_t, ds.n_lines, batch_size=batch_size, device=dev,
                           figures_dir=out)
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
    from microdl.workflows.gnd_predict import predict_map_files

    _positive("--batch-size", batch_size)
    result = predict_map_files(map_path, out, model=model, key=key, border=border, batch_size=batch_size,
                               device=_device(device), figure=figure)
    rho_t_shape = result["shape"]
    human = (f"{rho_t_shape[0]} x {rho_t_shape[1]} map in {result['seconds']:.2f} s: mean rho_t = "
             f"{result['rho_t_mean_per_m2']:.3g} m^-2 (mean |rho_GND| {result['rho_gnd_mean_per_m2']:.3g}); "
             f"files in {out}")
    report(result, as_json=as_json, human=human)


@app.command()
def benchmark(
    preset: str = typer.Option("cpu", "--preset", help="cpu (about an hour on 2 cores), paper (GPU) or smoke."),
    out: Path = typer.Option(Path("benchmarks/gnd"), "--out", help="Folder for results.json and results.md."),
    work: Path = typer.Option(Path("microdl-work/gnd-benchmark"), "--work",
                              help="Folder for datasets, checkpoints and run folders (large)."),
    accelerator: str = typer.Option("auto", "--accelerator"),
    devices: str = typer.Option("auto", "--devices"),
    num_nodes: int = typer.Option(1, "--num-nodes"),
    workers: int = typer.Option(0, "--workers",
                                help="Configurations trained at once (0: one per CPU core without a GPU, 1 with)."),
    walk: str = _WALK,
    seed: int = typer.Option(None, "--seed", help="Another seed for every data set and training (default: the "
                             "preset's, 0); use a new --work folder."),
    rows: str = typer.Option("all", "--rows", help="Trained rows: all, or a comma list of table1 and recipes "
                             "(fcn7, paper-dropout-last, anchored); the baselines always run."),
    progress: bool = _PROGRESS,
    as_json: bool = JSON_OPTION,
) -> None:
    """Table 1 (ratio x MSE/MSLE), microdl's models and the baselines on one test set; resumable."""
    import dataclasses

    from microdl.workflows.gnd_benchmark import get_preset, run_gnd_benchmark, with_rows

    p = with_rows(get_preset(preset), rows)  # fails fast on an unknown name
    if seed is not None:
        if seed < 0:
            raise InvalidParameterError(f"--seed must be >= 0, got {seed}")
        p = dataclasses.replace(p, seed=seed)
    if workers < 0:
        raise InvalidParameterError(f"--workers must be >= 0, got {workers}")
    results = run_gnd_benchmark(p, out, work, progress=progress, accelerator=accelerator,
                                devices=_devices(devices), num_nodes=num_nodes, workers=workers, walk=walk)
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
    from microdl.workflows.gnd_demo import run_demo

    result = run_demo(out, seed=seed, progress=progress, log=info)
    human = "\n".join([f"{k}: {v}" for k, v in result["summary"].items()] +
                      ["", "figures:"] + [f"  {p}" for p in result["figures"]])
    report(result, as_json=as_json, human=human)
