"""``microdl ddd ...``: 2D discrete dislocation dynamics of pillar compression."""

from __future__ import annotations

from pathlib import Path

import typer

from microdl.cli._common import JSON_OPTION, info, report

app = typer.Typer(help="2D discrete dislocation dynamics of compressed pillars.", no_args_is_help=True)


@app.command()
def simulate(
    width: float = typer.Option(0.125, "--width", help="Pillar width (um), 0.01 ... 20; e.g. 0.0625 ... 2."),
    slip: str = typer.Option("two", "--slip", help="Slip systems: 'one' (+30 deg) or 'two' (+-30 deg)."),
    prior: float = typer.Option(1.0, "--prior", help="Prior strain (percent), e.g. 0.1, 1, 10."),
    reload: float = typer.Option(1.0, "--reload", help="Reload (test) strain (percent), e.g. 0.1 or 1."),
    aspect: float = typer.Option(4.0, "--aspect", help="Height / width, 0.5 ... 10."),
    seed: int = typer.Option(0, "--seed", help="Seed for sources and obstacles: same seed, same arrays."),
    out: Path = typer.Option(..., "--out", help="Output directory."),
    pixel: float = typer.Option(2.0, "--pixel",
                                help="Strain-profile pixel size (nm); at most 50 million pixels per image."),
    figures: bool = typer.Option(True, "--figures/--no-figures", help="Write PNG figures."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar on stderr."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Run one load / unload-to-zero-force / reload simulation and save its outputs.

    Writes result.npz (all arrays), config.json (config, seed, stats, environment),
    strain_profile_reload*.png/.npy (one per snapshot: 0.1 % and the reload strain),
    stress_strain.csv and, unless --no-figures, fig_stress_strain.png and
    fig_strain_profile.png.
    """
    from microdl.workflows.ddd_simulate import simulate as run

    summary, text = run(out, width=width, slip=slip, prior=prior, reload=reload, aspect=aspect, seed=seed,
                        pixel=pixel, figures=figures, progress=progress and not as_json)
    if not as_json:
        info(f"done in {summary['seconds']:.1f} s")
    report(summary, as_json=as_json, human=text)


@app.command("size-effect")
def size_effect(
    out: Path = typer.Option(..., "--out", help="Output folder: results.json, results.md, size_effect.png."),
    work: Path = typer.Option(None, "--work", help="Folder of the simulations (default OUT/samples; reruns resume)."),
    widths: str = typer.Option("0.25,0.5,1,2", "--widths", help="Pillar widths (um), comma-separated."),
    slips: str = typer.Option("two", "--slips", help="Slip types, comma-separated: two, one or two,one."),
    samples: int = typer.Option(8, "--samples", help="Samples (seeds) per (width, slip)."),
    strain: float = typer.Option(3.0, "--strain", help="Final compression strain (percent), e.g. 3 to 5."),
    workers: int = typer.Option(None, "--workers", help="Local processes (default: one per core)."),
    scheduler: str = typer.Option(None, "--scheduler", help="Dask scheduler address or scheduler file."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar with time left on stderr."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Size effect: compress pillars of several widths, fit median stresses as sigma ~ w^-alpha.

    Each (width, slip, sample) is one monotonic compression written to WORK/<key>.npz
    (resumable: a rerun skips finished samples). Reports per width the Kaplan-Meier median
    0.2 % offset yield stress (pillars that never yield are censored at their highest
    stress) and the median flow stress (mean over the last half of the strain range) with
    95 % bootstrap intervals, and the exponents through the medians, global and between
    neighbouring widths, with bootstrap intervals.
    """
    from microdl.cli.ddd_dataset import parse_numbers
    from microdl.workflows.size_effect import size_effect as run

    summary, text = run(out, work=work, widths_um=parse_numbers("--widths", "um", widths),
                        slips=[s.strip() for s in slips.split(",") if s.strip()], samples=samples,
                        strain_percent=strain, workers=workers, scheduler=scheduler,
                        progress=progress and not as_json)
    report(summary, as_json=as_json, human=text)
    if summary["n_failed"]:
        raise typer.Exit(1)
