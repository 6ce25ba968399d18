"""``microdl ddd dataset``, ``status``, ``export``, ``check`` and ``split``: grids of DDD simulations, their images.

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
    skip_exported: Path = typer.Option(None, "--skip-exported", help="Export folder ('microdl ddd export'): its "
                                       "samples are not run again (continue a build in a later session)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Run a grid of (width, slip, prior, seed) simulations, each recording the 0.1 % and 1 % reload images.

    One simulation per core locally, or on a Dask cluster with --scheduler (the output
    folder must then be shared). Each sample writes OUT/<key>.npz atomically; rerunning
    the same command skips finished samples, so an interrupted run loses at most the
    samples in flight. Writes OUT/dataset.json (preset, counts, summary table) and
    records the dataset in the catalog. Exit code 1 if some samples failed. With
    --skip-exported EXPORT the samples EXPORT already holds are left out ("already
    exported: N"); merge the new ones with 'microdl ddd export OUT --out EXPORT --merge'.
    """
    from microdl.workflows.ddd_dataset import build_dataset

    result, text = build_dataset(
        preset, out, widths_um=parse_numbers("--widths", "um", widths), samples=samples,
        priors_percent=parse_numbers("--priors", "percent", priors), workers=workers, scheduler=scheduler,
        retries=retries, progress=progress and not as_json, skip_exported=skip_exported,
        log=None if as_json else info)
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
    out: Path = typer.Option(..., "--out", help="Folder for the PNGs, index.csv, curves.npz, splits.json, index.json."),
    elastic: str = typer.Option("drop", "--elastic", help="Profiles without visible slip: drop, or class (label "
                                "'elastic')."),
    duplicates: str = typer.Option("error", "--duplicates", help="Identical images with different labels: error "
                                   "(after writing), or drop."),
    rendering: str = typer.Option("reference", "--rendering", help="reference (undeformed grid) or deformed "
                                  "(columns on the deformed pillar: shorter at large prior)."),
    split_seed: int = typer.Option(0, "--split-seed", help="Seed of the train/val/test split (splits.json)."),
    merge: bool = typer.Option(False, "--merge", help="Merge into the export in --out (same options) instead of "
                               "overwriting it: its images stay, these samples are added or replaced."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Export a dataset's strain profiles as 8-bit PNGs (the published format), with an index, curves and a split.

    A compact copy for learning benchmarks and sharing: labels, seeds and the strain
    scale of every image in index.csv, every stress-strain curve in curves.npz, a
    train/val/test split by simulation in splits.json. Profiles without visible slip
    are dropped (or labelled 'elastic'); identical images with different labels or
    splits are an error (exit code 2, the files stay for inspection). With --merge, a
    data set built over several sessions grows one export; a simulation never changes
    side in the split.
    """
    from microdl.data.ddd_export import export_images

    res = export_images(dataset, out, elastic=elastic, duplicates=duplicates, rendering=rendering,
                        split_seed=split_seed, merge=merge)
    chk = res["check"]
    report({"out": str(out), "n_images": res["n_images"], "n_samples": res["n_samples"],
            "n_dropped_elastic": res["n_dropped_elastic"], "n_dropped_duplicates": res["n_dropped_duplicates"],
            "splits": res["splits"], "check": chk}, as_json=as_json,
           human=f"{res['n_images']} images of {res['n_samples']} samples written to {out} (index.csv, curves.npz, "
                 f"splits.json); dropped {res['n_dropped_elastic']} without visible slip and "
                 f"{res['n_dropped_duplicates']} identical across labels; {chk['n_duplicate_groups']} groups of "
                 f"identical images left ({chk['n_duplicate_images']} images, same label and split)")


def check(
    export_dir: Path = typer.Argument(..., help="Folder written by 'microdl ddd export'."),
    splits: Path = typer.Option(None, "--splits", help="Split file to check too (default: EXPORT_DIR/splits.json "
                                "if present)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Check an export for identical images: an error (exit code 2) across labels or splits, else counted."""
    from microdl.data.ddd_checks import check_export

    res = check_export(export_dir, splits)
    report(res, as_json=as_json, human=f"{export_dir}: {res['n_images']} images, {res['n_duplicate_groups']} groups "
                                       f"of identical images ({res['n_duplicate_images']} images, same label and "
                                       f"split); splits: {res['splits']}; ok")


def split(
    export_dir: Path = typer.Argument(..., help="Folder written by 'microdl ddd export'."),
    out: Path = typer.Option(None, "--out", help="Split file to write (default: EXPORT_DIR/splits.json)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the split."),
    test: float = typer.Option(0.25, "--test", help="Test fraction of each stratum (paper: 0.25)."),
    val: float = typer.Option(0.18, "--val", help="Validation fraction of the rest (paper: 0.18)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Split an export into train/val/test by simulation, stratified by width, slip, reload and label."""
    from microdl.data.ddd_splits import make_splits

    res = make_splits(export_dir, out, seed=seed, test_fraction=test, val_fraction=val)
    summary = {"out": res["out"], "seed": seed, "counts": res["counts"], "max_deviation": res["max_deviation"],
               "check": res["check"]}
    counts = ", ".join(f"{k} {v['simulations']} simulations / {v['images']} images" for k, v in res["counts"].items())
    report(summary, as_json=as_json, human=f"{res['out']}: {counts}; largest deviation from a stratum's target "
                                           f"{res['max_deviation']} image(s)")
