"""``microdl strain ...``: prior deformation from 2D strain profiles (Yang et al. 2020)."""

from __future__ import annotations

from pathlib import Path

import typer

from microdl.cli._common import JSON_OPTION, report

app = typer.Typer(help="Prior deformation (0.1/1/10 % prior strain) from 2D strain profiles (Yang et al. 2020).",
                  no_args_is_help=True)


@app.command("import-keras")
def import_keras(
    keras_file: Path = typer.Argument(..., help="Keras 2 model.save() .hdf5 file of the yang2020-resnet family."),
    out: Path = typer.Option(..., "--out", help="Model folder to write (model.pt, config.json)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Import Keras weights (h5py only, no TensorFlow) into a microdl model folder."""
    from microdl.workflows.strain_predict import import_keras as run

    result = run(keras_file, out)
    human = (f"imported {result['architecture']} ({result['parameters']} parameters) from {keras_file} "
             f"into {result['model_dir']}\nsha256 {result['source_sha256']}; catalog id {result['id']}")
    report(result, as_json=as_json, human=human)


@app.command()
def predict(
    files: list[Path] = typer.Argument(..., help="Strain profiles: PNG/TIFF (8 or 16 bit) or .npy."),
    model: Path = typer.Option(..., "--model", help="Model folder from 'strain import-keras' or 'strain train'."),
    crop: int = typer.Option(None, "--crop", help="Crop side (default: the model's; 224 as in the paper)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Per file: class probabilities (mean softmax over the 24 crops) and the predicted prior strain."""
    from microdl.cli.gnd import _device
    from microdl.workflows.strain_predict import predict_strain_files

    result = predict_strain_files(model, files, crop=crop, device=_device(device))
    lines = [f"{Path(r['file']).name}: prior strain {r['prior_strain_percent']:g} %  ("
             + ", ".join(f"{k} {v:.3f}" for k, v in r["probabilities"].items()) + ")"
             for r in result["predictions"]]
    report(result, as_json=as_json, human="\n".join(lines))


_PROGRESS = typer.Option(True, "--progress/--no-progress", help="Progress bars on stderr.")


def _accuracy_line(name: str, r: dict, side: str) -> str:
    widths = ", ".join(f"{w} um {100 * v['accuracy']:.0f} %" for w, v in r["per_width"].items()
                       if v["accuracy"] is not None)
    which = "profiles" if side == "all" else f"{side} profiles"
    return f"{name}: {100 * r['accuracy']:.1f} % of {r['n']} {which} ({widths})"


@app.command()
def train(
    data: Path = typer.Argument(..., help="'microdl ddd export' folder (its splits.json), a CSV label file (file, "
                                          "prior_pct, optional sample, width_um, slip, reload_pct) or an HDF5 file "
                                          "(profiles, prior_pct, optional metadata)."),
    out: Path = typer.Option(..., "--out", help="Run folder: config, checkpoints, metrics, model.pt."),
    model: str = typer.Option("yang2020-resnet", "--model",
                              help="yang2020-resnet, yang2020-resnet-res4 or yang2020-resnet-res4-l2."),
    crop: int = typer.Option(224, "--crop", help="Crop side (paper 224; 64-112 on a CPU)."),
    mode: str = typer.Option("mean", "--mode", help="DDD reference: mean (paper) or full (DIC-like)."),
    epochs: int = typer.Option(200, "--epochs", help="Maximum number of epochs."),
    patience: int = typer.Option(20, "--patience", help="Early stopping patience (epochs) on val loss (paper 20)."),
    batch_size: int = typer.Option(72, "--batch-size", help="Crops per batch (paper 72)."),
    lr: float = typer.Option(1e-3, "--lr", help="Adam learning rate."),
    seed: int = typer.Option(0, "--seed", help="Seed of the weights and the shuffling."),
    split_seed: int = typer.Option(0, "--split-seed", help="Seed of the split of CSV data by sample."),
    threads: int = typer.Option(None, "--threads", help="Torch CPU threads (default: torch's; 1 is fastest on a "
                                                        "busy CPU, benchmarks/strain/train_throughput.md)."),
    precision: str = typer.Option("32-true", "--precision", help="Lightning precision: 32-true, or bf16-mixed "
                                                                "(about 3x faster on CPUs with AVX512-BF16)."),
    accelerator: str = typer.Option("auto", "--accelerator", help="auto (GPU if present), cpu, gpu, ..."),
    progress: bool = _PROGRESS,
    as_json: bool = JSON_OPTION,
) -> None:
    """Train on the train side, early stopping on val; an interrupted run resumes when rerun."""
    from microdl.io._atomic import check_output_folder
    from microdl.train.tasks.strain import StrainTrainConfig
    from microdl.workflows.strain_train import train_strain

    cfg = StrainTrainConfig(model=model, crop=crop, max_epochs=epochs, patience=patience, batch_size=batch_size,
                            lr=lr, seed=seed, num_threads=threads, accelerator=accelerator, precision=precision)
    check_output_folder(out, option="--out", create=False)
    result = train_strain(data, out, cfg, mode=mode, split_seed=split_seed, progress=progress)
    result["id"] = result.pop("catalog_id", None)
    human = (f"trained {model} in {result['wall_time_s']:.0f} s: {result['epochs_completed']} epochs, best val loss "
             f"{result['best_val_loss']:.4f} ({result['train_profiles']} train / {result['val_profiles']} val "
             f"profiles)\nmodel: {result['model_path']}")
    report(result, as_json=as_json, human=human)


@app.command()
def evaluate(
    data: Path = typer.Argument(..., help="'microdl ddd export' folder, CSV label file or HDF5 file (as for train)."),
    model: list[Path] = typer.Option([], "--model", help="Run or model folder; repeat for an ensemble."),
    side: str = typer.Option("test", "--side", help="test (once, for the table), val, or all (no split: "
                                                    "e.g. someone else's profiles, with --no-baseline)."),
    out: Path = typer.Option(None, "--out", help="Folder for results.json, results.md, accuracy.png."),
    mode: str = typer.Option(None, "--mode", help="DDD reference (default: the model's)."),
    baseline: bool = typer.Option(True, "--baseline/--no-baseline", help="Also the two-point baseline."),
    split_seed: int = typer.Option(0, "--split-seed", help="Seed of the split of CSV data by sample."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    progress: bool = _PROGRESS,
    as_json: bool = JSON_OPTION,
) -> None:
    """Accuracy overall, per width and per subset of models, their ensemble and the two-point baseline."""
    from microdl.cli.gnd import _device
    from microdl.workflows.strain_train import evaluate_strain

    result = evaluate_strain(model, data, side=side, out=out, mode=mode, split_seed=split_seed, baseline=baseline,
                             device=_device(device), progress=progress)
    lines = [_accuracy_line(name, r, side) for name, r in result["reports"].items()]
    if result["files"]:
        lines.append("wrote " + ", ".join(result["files"]))
    report(result, as_json=as_json, human="\n".join(lines))


@app.command()
def baseline(
    data: Path = typer.Argument(..., help="'microdl ddd export' folder, CSV label file or HDF5 file (as for train)."),
    side: str = typer.Option("test", "--side", help="test (once, for the table) or val."),
    out: Path = typer.Option(None, "--out", help="Folder for results.json, results.md, accuracy.png."),
    mode: str = typer.Option("mean", "--mode", help="DDD reference: mean (paper) or full."),
    split_seed: int = typer.Option(0, "--split-seed", help="Seed of the split of CSV data by sample."),
    seed: int = typer.Option(0, "--seed", help="Seed of the PCA solver and the random forest."),
    as_json: bool = JSON_OPTION,
) -> None:
    """The paper's baseline alone: two-point autocorrelation, PCA, random forest (fitted on train)."""
    from microdl.workflows.strain_train import evaluate_strain

    result = evaluate_strain([], data, side=side, out=out, mode=mode, split_seed=split_seed, baseline=True,
                             baseline_seed=seed, progress=False)
    human = "\n".join(_accuracy_line(name, r, side) for name, r in result["reports"].items())
    if result["files"]:
        human += "\nwrote " + ", ".join(result["files"])
    report(result, as_json=as_json, human=human)


@app.command()
def curves(
    data: Path = typer.Argument(..., help="'microdl ddd export' folder (split, profiles and curves.npz)."),
    model: Path = typer.Option(..., "--model", help="Trained or imported model folder."),
    side: str = typer.Option("test", "--side", help="test or val: whose 0.1 %-reload profiles are predicted."),
    profile: str = typer.Option(None, "--profile", help="Only this profile (file name in the export)."),
    k: list[int] = typer.Option([1, 5, 10], "--k", help="Neighbour counts; repeat (paper: 1, 5, 10)."),
    out: Path = typer.Option(None, "--out", help="Folder for curves.{json,md,png}, curve_errors.png, features_pca.png."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    progress: bool = _PROGRESS,
    as_json: bool = JSON_OPTION,
) -> None:
    """Reload stress-strain curves up to 1 % from the nearest training profiles in feature space."""
    from microdl.cli.gnd import _device
    from microdl.workflows.strain_analysis import predict_curves

    result = predict_curves(model, data, side=side, ks=k, profile=profile, out=out, device=_device(device),
                            progress=progress)
    lines = [f"{result['n_predicted']} {side} profiles (0.1 % reload), {result['n_train']} training profiles; "
             "RMSE of the reload curve to 1 %, median (mean), MPa:"]
    lines += [f"  {name}: {_num(s, 'rmse_mpa_median')} ({_num(s, 'rmse_mpa_mean')}); yield error median "
              f"{_num(s, 'yield_abs_error_mpa_median')}" for name, s in result["summary"].items()]
    if result["files"]:
        lines.append("wrote " + ", ".join(result["files"]))
    report(result, as_json=as_json, human="\n".join(lines))


def _num(summary: dict | None, key: str) -> str:
    value = (summary or {}).get(key)
    return "n/a" if value is None else f"{value:.1f}"


@app.command()
def explain(
    files: list[Path] = typer.Argument(None, help="Profiles to explain: PNG/TIFF (8 or 16 bit) or .npy."),
    model: Path = typer.Option(..., "--model", help="Trained or imported model folder."),
    out: Path = typer.Option(..., "--out", help="Folder for saliency_<name>.png and filters.png."),
    method: list[str] = typer.Option(["gradient", "guided"], "--method",
                                     help="gradient, guided or rectified (the paper's 'ReLU modifier'); repeat."),
    layer: str = typer.Option("stages.0.1.convs.2", "--layer", help="Layer whose filters are maximised; "
                                                                     "'none' for no filter figure."),
    steps: int = typer.Option(100, "--steps", help="Gradient-ascent steps from noise (paper 100)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the starting noise."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N or mps."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Saliency maps of profiles and the filters of one layer by activation maximisation."""
    from microdl.cli.gnd import _device
    from microdl.workflows.strain_analysis import explain_profiles

    result = explain_profiles(model, files or [], out, methods=method, layer=None if layer == "none" else layer,
                              steps=steps, seed=seed, device=_device(device))
    report(result, as_json=as_json, human="wrote " + ", ".join(result["files"]))
