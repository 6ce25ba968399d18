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
    model: Path = typer.Option(..., "--model", help="Model folder from 'strain import-keras'."),
    crop: int = typer.Option(224, "--crop", help="Crop side (224 as in the paper)."),
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
