"""``microdl ddd dataset`` and ``microdl ddd status``: resumable grids of DDD simulations.

The functions are registered on the ``ddd`` typer app in :mod:`microdl.cli.ddd`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from microdl.cli._common import JSON_OPTION, info, report
from microdl.exceptions import InvalidParameterError


def _parse_numbers(option: str, unit: str, text: str | None) -> list[float] | None:
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
    from microdl.simulate.ddd.dataset import get_preset, grid_jobs, run_dataset

    if workers is not None and workers < 1:
        raise InvalidParameterError(f"--workers must be >= 1, got {workers}")
    if workers is not None and scheduler is not None:
        raise InvalidParameterError("--workers applies to local runs; with --scheduler size the Dask cluster instead")
    if samples is not None and samples < 1:
        raise InvalidParameterError(f"--samples must be >= 1, got {samples}")
    if retries < 0:
        raise InvalidParameterError(f"--retries must be >= 0, got {retries}")
    base = get_preset(preset)
    prior_pct = _parse_numbers("--priors", "percent", priors)
    changes = {"widths_um": _parse_numbers("--widths", "um", widths), "n_samples": samples,
               "priors": None if prior_pct is None else tuple(p / 100.0 for p in prior_pct)}
    grid = base.replace(**{k: v for k, v in changes.items() if v is not None})
    n_jobs = len(grid_jobs(grid))
    if not as_json:
        where = f"Dask scheduler {scheduler}" if scheduler else f"{workers or 'all'} local worker(s)"
        info(f"ddd dataset '{grid.name}': {n_jobs} simulations ({len(grid.reload_snapshots)} images each) "
             f"in {out} on {where}")
    rep = run_dataset(grid, out, workers=workers, scheduler=scheduler, progress=progress and not as_json,
                      retries=retries)
    result = {
        "out": str(out),
        "preset": grid.name,
        "widths_um": list(grid.widths_um),
        "priors_percent": [100 * p for p in grid.priors],
        "samples": grid.n_samples,
        "n_total": rep.n_total,
        "n_done_before": rep.n_done_before,
        "n_ran": rep.n_ran,
        "n_failed": rep.n_failed,
        "failed": list(rep.failed),
        "ok": rep.ok,
        "seconds": rep.seconds,
        "dataset_json": str(out / "dataset.json"),
    }
    human = (f"{rep.n_done_before + rep.n_ran - rep.n_failed}/{rep.n_total} samples done "
             f"({rep.n_done_before} before, {rep.n_ran} run now, {rep.n_failed} failed) in {rep.seconds:.1f} s; "
             f"see {out / 'dataset.json'}")
    if rep.failed:
        human += f"\nfailed: {', '.join(rep.failed[:10])}{' ...' if len(rep.failed) > 10 else ''} " \
                 f"(details in OUT/<key>.error.json; rerun to retry)"
    report(result, as_json=as_json, human=human)
    if rep.n_failed:
        raise typer.Exit(1)


def status(
    out: Path = typer.Argument(..., help="Output folder of 'microdl ddd dataset'."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Show how many samples of a dataset folder are done, failed and pending (runs nothing)."""
    from microdl.data.jobs import status as jobs_status

    st = jobs_status(out)
    result = {
        "out": str(out),
        "n_total": st.n_total,
        "n_done": len(st.done),
        "n_failed": len(st.failed),
        "n_pending": len(st.pending),
        "failed": st.failed,
        "pending": list(st.pending),
    }
    human = f"{out}: {len(st.done)}/{st.n_total} done, {len(st.failed)} failed, {len(st.pending)} pending"
    for key, msg in list(st.failed.items())[:10]:
        human += f"\n  failed {key}: {msg}"
    report(result, as_json=as_json, human=human)


def export(
    dataset: Path = typer.Argument(..., help="Output folder of 'microdl ddd dataset'."),
    out: Path = typer.Option(..., "--out", help="Folder for the PNGs, index.csv, curves.npz and index.json."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Export a dataset's strain profiles as 8-bit PNGs (the published format), with an index and the curves.

    A compact copy for learning benchmarks and sharing: labels, seeds and the strain
    scale of every image in index.csv, every stress-strain curve in curves.npz.
    """
    from microdl.simulate.ddd.dataset import export_images

    res = export_images(dataset, out)
    report({"out": str(out), "n_images": res["n_images"], "n_samples": res["n_samples"]}, as_json=as_json,
           human=f"{res['n_images']} images of {res['n_samples']} samples written to {out} (index.csv, curves.npz)")
