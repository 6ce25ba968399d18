"""``microdl micrograph ...``: embeddings of micrographs, classification and similarity search (seed 004)."""

from __future__ import annotations

from pathlib import Path

import typer

from microdl.cli._common import JSON_OPTION, report

app = typer.Typer(help="Micrograph embeddings (Siamese, triplet, supervised, SimCLR): train, embed, evaluate, "
                       "find similar micrographs.", no_args_is_help=True)

_MODEL = typer.Option("micrograph-uhcs", "--model", help="Shipped model name (micrograph-uhcs), run folder or "
                                                          "model.pt.")
_PROGRESS = typer.Option(True, "--progress/--no-progress", help="Progress bars on stderr.")


@app.command()
def train(
    data: Path = typer.Argument(..., help="Folder with labels.csv (file, label, class_name) and micrographs/."),
    out: Path = typer.Option(..., "--out", help="Run folder: config, checkpoints, metrics, model.pt, split.json."),
    preset: str = typer.Option("siamese", "--preset", help="siamese (contrastive pairs), triplet, supervised or "
                                                           "simclr (labels only for the split and the SVM)."),
    folds: int = typer.Option(5, "--folds", help="Contiguous blocks per class; one is held out for testing."),
    fold: int = typer.Option(0, "--fold", help="Which block is the test set (0 .. folds-1)."),
    n_per_class: int = typer.Option(None, "--n-per-class", help="Train with only this many labelled images per "
                                                               "class (few-label study)."),
    downsample: int = typer.Option(2, "--downsample", help="Area-downscale the images by this integer factor."),
    crop: int = typer.Option(96, "--crop", help="Crop side in pixels (after downscaling)."),
    epochs: int = typer.Option(40, "--epochs", help="Maximum number of epochs."),
    patience: int = typer.Option(8, "--patience", help="Early stopping patience (epochs) on val loss."),
    batch_size: int = typer.Option(64, "--batch-size", help="Crops, pairs or view pairs per batch."),
    model: str = typer.Option("micrograph-resnet-small", "--arch", help="Encoder: micrograph-resnet-small or "
                                                                         "micrograph-resnet."),
    seed: int = typer.Option(0, "--seed", help="Seed of the weights, crops and pairs."),
    threads: int = typer.Option(None, "--threads", help="Torch CPU threads (1 is fastest on a busy CPU)."),
    precision: str = typer.Option("32-true", "--precision", help="Lightning precision: 32-true, or bf16-mixed (about "
                                                                "2x faster on CPUs with AVX512-BF16)."),
    accelerator: str = typer.Option("auto", "--accelerator", help="auto (GPU if present), cpu, gpu, ..."),
    progress: bool = _PROGRESS,
    as_json: bool = JSON_OPTION,
) -> None:
    """Train an encoder on one block split; an interrupted run resumes when rerun."""
    from microdl.io._atomic import check_output_folder
    from microdl.workflows.micrograph import train as run

    check_output_folder(out, option="--out", create=False)
    overrides = dict(model=model, crop=crop, max_epochs=epochs, patience=patience, batch_size=batch_size, seed=seed,
                     num_threads=threads, precision=precision, accelerator=accelerator)
    result = run(data, out, preset=preset, folds=folds, fold=fold, downsample=downsample, n_per_class=n_per_class,
                 overrides=overrides, progress=progress)
    human = (f"trained {preset} in {result['wall_time_s']:.0f} s: {result['epochs_completed']} epochs, best val "
             f"loss {result['best_val_loss']:.4f} ({result['n_train']} train / {result['n_val']} val / "
             f"{result['n_test']} test micrographs)\nmodel: {result['model_path']}")
    report(result, as_json=as_json, human=human)


@app.command()
def embed(
    data: Path = typer.Argument(..., help="Folder of micrographs (labels.csv optional)."),
    out: Path = typer.Option(..., "--out", help="Index folder to write (embeddings, names, labels)."),
    model: str = _MODEL,
    progress: bool = _PROGRESS,
    as_json: bool = JSON_OPTION,
) -> None:
    """Embed every micrograph of a folder into a similarity index (for 'micrograph similar')."""
    from microdl.io._atomic import check_output_folder
    from microdl.workflows.micrograph import embed as run

    check_output_folder(out, option="--out", create=False)
    result = run(data, out, model=model, progress=progress)
    human = f"embedded {result['n_images']} micrographs into {result['index']}"
    if result["skipped"]:
        human += f" ({len(result['skipped'])} unreadable file(s) skipped)"
    report(result, as_json=as_json, human=human)


@app.command()
def evaluate(
    data: Path = typer.Option(..., "--data", help="Labelled folder (labels.csv + micrographs/), classes among "
                                                  "the model's."),
    model: str = _MODEL,
    method: str = typer.Option("svm", "--method", help="svm or knn on the embeddings, fitted on the model's "
                                                       "reference set."),
    out: Path = typer.Option(None, "--out", help="Folder for evaluation.json, confusion.png, embedding_pca.png."),
    progress: bool = _PROGRESS,
    as_json: bool = JSON_OPTION,
) -> None:
    """Accuracy, confusion matrix and precision@5 of the model on a labelled folder."""
    from microdl.workflows.micrograph import evaluate as run

    result = run(data, model=model, method=method, out_dir=out, progress=progress)
    names = result["class_names"]
    rows = "\n".join(f"  {names[i]:>14}: " + " ".join(f"{c:4d}" for c in row)
                     for i, row in enumerate(result["confusion"]))
    human = (f"accuracy {100 * result['accuracy']:.1f} % of {result['n']} micrographs ({method}); "
             f"precision@5 {_num(result['precision_at_5'])}\nconfusion (rows true, columns predicted "
             f"{', '.join(names)}):\n{rows}")
    report(result, as_json=as_json, human=human)


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


@app.command()
def similar(
    query: Path = typer.Argument(..., help="The micrograph to look up (PNG, TIFF, JPEG)."),
    index: Path = typer.Option(..., "--index", help="Index folder from 'micrograph embed'."),
    k: int = typer.Option(5, "-k", "--k", help="Number of neighbours."),
    model: str = typer.Option(None, "--model", help="Encoder (default: the one that built the index)."),
    figure: Path = typer.Option(None, "--figure", help="PNG of the query and its neighbours."),
    as_json: bool = JSON_OPTION,
) -> None:
    """The k most similar micrographs of an index, with cosine distances."""
    from microdl.workflows.micrograph import similar as run

    result = run(index, query, k=k, model=model, figure_path=figure)
    lines = [f"{i + 1}. {h['file']}  distance {h['distance']:.4f}" + (f"  ({h['label']})" if h["label"] else "")
             for i, h in enumerate(result["neighbours"])]
    if result.get("figure"):
        lines.append(f"figure: {result['figure']}")
    report(result, as_json=as_json, human="\n".join(lines))
