"""``microdl ddd dataset``, ``status`` and ``export``: resumable grids of DDD simulations.

The functions are registered on the ``ddd`` typer app in :mod:`microdl.cli`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from microdl.cli._common import JSON_OPTION, info, report
from microdl.exceptions import InvalidParameterError


def parse_numbers(option: str, unit: str, text: str | None) -> list[float] | None:
    """Comma- (or semicolon-) separated numbers of an option; ``None`` stays ``None``."""
    if text is None:
        return None
    items = [t.strip() for t in text.replace(";", ",").split(",") if t.strip()]
    try:
        values = [float(t) for t in items]
    except ValueError:
        raise InvalidParameterError(f"{option} must be comma-separated numbers ({unit}), got {text!r}") from None
    if not values:
        raise InvalidParameterError(f"{option} must list at least one value ({unit}), got {text!r}")
    return values



def dataset(
    preset: str = typer.Option("cpu", "--preset", help="Grid preset: cpu, paper or smoke."),
    out: Path = typer.Option(..., "--out", help="Output folder (one .npz per sample; reruns resume)."),
    workers: int = typer.Option(None, "--workers", help="Local processes, one simulation each (default: one per core)."),
    scheduler: str = typer.Option(None, "--scheduler", help="Dask scheduler address (tcp://host:8786) or scheduler file."),
    widths: str = typer.Option(None, "--widths", help="Override the preset's widths (um), comma-separated, e.g. 0.0625,0.125."),
    samples: int = typer.Option(None, "--samples", help="Override the samples per (width, slip, prior)."),
    priors: str = typer.Option(None, "--priors", help="Override the prior strains (percent), comma-separated, e.g. 0.1,1."),
    retries: int = typer.Option(0, "--retries", help="Extra attempts per failing sample in this run."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar with time left on stderr."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Run a grid of (width, slip, prior, seed) simulations, each recording the 0.1 % and 1 % reload images.

    One simulation per core locally, or on a Dask cluster with --scheduler (the output
    folder must then be shared). Each sample writes OUT/<key>.npz atomically; rerunning
    the same command skips finished samples, so an interrupted run loses at most the
    samples in flight. Writes OUT/dataset.json (preset, counts, summary table) and
    records the dataset in the catalog. Exit code 1 if some samples failed.
    """
    from microdl.workflows.ddd_dataset import build_dataset

    result, text = build_dataset(
        preset, out, widths_um=parse_numbers("--widths", "um", widths), samples=samples,
        priors_percent=parse_numbers("--priors", "percent", priors), workers=workers, scheduler=scheduler,
        retries=retries, progress=progress and not as_json, log=None if as_json else info)
    report(result, as_json=as_json, human=text)
    if result["n_failed"]:
        raise typer.Exit(1)


def status(
    out: Path = typer.Argument(..., help="Output folder of 'microdl ddd dataset'."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show how many samples of a dataset folder are done, failed and pending (runs nothing)."""
    from microdl.workflows.ddd_dataset import dataset_status

    result, text = dataset_status(out)
    report(result, as_json=as_json, human=text)


def export(
    dataset: Path = typer.Argument(..., help="Output folder of 'microdl ddd dataset'."),
    out: Path = typer.Option(..., "--out", help="Folder for the PNGs, index.csv, curves.npz and index.json."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Export a dataset's strain profiles as 8-bit PNGs (the published format), with an index and the curves.

    A compact copy for learning benchmarks and sharing: labels, seeds and the strain
    scale of every image in index.csv, every stress-strain curve in curves.npz.
    """
    from microdl.data.ddd_profiles import export_images

    res = export_images(dataset, out)
    report({"out": str(out), "n_images": res["n_images"], "n_samples": res["n_samples"]}, as_json=as_json,
           human=f"{res['n_images']} images of {res['n_samples']} samples written to {out} (index.csv, curves.npz)")
