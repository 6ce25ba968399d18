"""``microdl ddd ...``: 2D discrete dislocation dynamics of pillar compression."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from microdl.cli._common import JSON_OPTION, info, report
from microdl.exceptions import InvalidParameterError

app = typer.Typer(help="2D discrete dislocation dynamics of compressed pillars.", no_args_is_help=True)


@app.command()
def simulate(
    width: float = typer.Option(0.125, "--width", help="Pillar width (um), e.g. 0.0625 ... 2."),
    slip: str = typer.Option("two", "--slip", help="Slip systems: 'one' (+30 deg) or 'two' (+-30 deg)."),
    prior: float = typer.Option(1.0, "--prior", help="Prior strain (percent), e.g. 0.1, 1, 10."),
    reload: float = typer.Option(1.0, "--reload", help="Reload (test) strain (percent), e.g. 0.1 or 1."),
    aspect: float = typer.Option(4.0, "--aspect", help="Height / width."),
    seed: int = typer.Option(0, "--seed", help="Seed for sources and obstacles: same seed, same arrays."),
    out: Path = typer.Option(..., "--out", help="Output directory."),
    pixel: float = typer.Option(2.0, "--pixel", help="Strain-profile pixel size (nm)."),
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
    from microdl.simulate.ddd import PillarConfig, save_result, simulate_pillar
    from microdl.simulate.ddd.figures import save_curve_csv, save_figures, save_profile_images

    for name, value in (("--width", width), ("--reload", reload), ("--aspect", aspect), ("--pixel", pixel)):
        if not value > 0:
            raise InvalidParameterError(f"{name} must be > 0, got {value}")
    if not prior >= 0:
        raise InvalidParameterError(f"--prior must be >= 0 (percent), got {prior}")
    if seed < 0:
        raise InvalidParameterError(f"--seed must be >= 0, got {seed}")
    if prior > 50 or reload > 50:
        raise InvalidParameterError(f"--prior and --reload are percentages <= 50, got {prior} and {reload}")
    reload_frac = reload / 100.0
    snaps = tuple(s for s in (0.001, reload_frac) if s <= reload_frac * (1 + 1e-12))
    cfg = PillarConfig(width_um=width, aspect=aspect, slip=slip, prior_strain=prior / 100.0,
                       reload_strain=reload_frac, reload_snapshots=snaps, pixel_size_nm=pixel)
    t0 = time.perf_counter()
    result = simulate_pillar(cfg, seed, progress=progress and not as_json)
    seconds = time.perf_counter() - t0
    save_result(result, out)
    files = [out / "result.npz", out / "config.json"]
    files += save_profile_images(result, out)
    files.append(save_curve_csv(result, out))
    if figures:
        files += save_figures(result, out)
    st = result.stats
    ys = st.get("yield_stress_pa")
    summary = {
        "out": str(out),
        "width_um": width,
        "slip": slip,
        "prior_percent": prior,
        "reload_percent": reload,
        "seed": seed,
        "yield_stress_mpa": None if ys is None else ys / 1e6,
        "max_stress_mpa": st["max_stress_pa"] / 1e6,
        "final_dislocations": st["n_dislocations_final"],
        "surface_steps": st["n_surface_steps"],
        "sources": st["n_sources"],
        "obstacles": st["n_obstacles"],
        "nucleated": st["nucleated"],
        "steps": st["steps"],
        "substeps": st["substeps"],
        "seconds": seconds,
        "profile_shape": list(result.profiles.shape[1:]),
        "snapshots_percent": [100 * s for s in result.snapshot_strains],
        "files": [str(f) for f in files],
    }
    from microdl.data.catalog import Catalog
    from microdl.provenance import sha256_file

    summary["id"] = Catalog().record(
        "run", "ddd-simulate", config=cfg.to_dict(), seed=seed, path=out,
        checksum=sha256_file(out / "result.npz"),
        metrics={k: summary[k] for k in ("yield_stress_mpa", "max_stress_mpa", "final_dislocations",
                                          "steps", "seconds")})
    if not as_json:
        info(f"done in {seconds:.1f} s")
    human = (
        f"w = {width} um, {slip} slip, prior {prior} %, reload {reload} %, seed {seed}: "
        f"{st['steps']} steps in {seconds:.1f} s\n"
        f"yield stress {summary['yield_stress_mpa'] if ys is None else round(ys / 1e6, 1)} MPa, "
        f"max {summary['max_stress_mpa']:.1f} MPa, {st['n_dislocations_final']} dislocations at the end, "
        f"{st['n_surface_steps']} surface steps\n"
        f"wrote {len(files)} files to {out}"
    )
    report(summary, as_json=as_json, human=human)


@app.command("size-effect")
def size_effect(
    out: Path = typer.Option(..., "--out", help="Output folder: results.json, results.md, size_effect.png."),
    work: Path = typer.Option(None, "--work", help="Folder of the simulations (default OUT/samples; reruns resume)."),
    widths: str = typer.Option("0.0625,0.125,0.25,0.5,1", "--widths", help="Pillar widths (um), comma-separated."),
    slips: str = typer.Option("two", "--slips", help="Slip types, comma-separated: two, one or two,one."),
    samples: int = typer.Option(8, "--samples", help="Samples (seeds) per (width, slip)."),
    strain: float = typer.Option(1.0, "--strain", help="Final compression strain (percent)."),
    workers: int = typer.Option(None, "--workers", help="Local processes (default: one per core)."),
    scheduler: str = typer.Option(None, "--scheduler", help="Dask scheduler address or scheduler file."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Progress bar with time left on stderr."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Size effect: compress pillars of several widths, fit yield and flow stress as sigma ~ w^-alpha.

    Each (width, slip, sample) is one monotonic compression written to WORK/<key>.npz
    (resumable: a rerun skips finished samples). Reports the 0.2 % offset yield stress,
    the flow stress (mean over the last half of the strain range), the stress noise and
    dislocation counts per width, and the fitted exponents with bootstrap intervals.
    """
    import shlex

    from microdl.cli.ddd_dataset import _parse_numbers
    from microdl.simulate.ddd.size_effect import run_size_effect, write_report

    width_list = _parse_numbers("--widths", "um", widths)
    slip_list = [s.strip() for s in slips.split(",") if s.strip()]
    if samples < 1:
        raise InvalidParameterError(f"--samples must be >= 1, got {samples}")
    if workers is not None and workers < 1:
        raise InvalidParameterError(f"--workers must be >= 1, got {workers}")
    work_dir = work if work is not None else out / "samples"
    t0 = time.perf_counter()
    rep = run_size_effect(work_dir, width_list, slip_list, samples, strain / 100.0, workers=workers,
                          scheduler=scheduler, progress=progress and not as_json)
    command = (f"microdl ddd size-effect --out {shlex.quote(str(out))} --work {shlex.quote(str(work_dir))} "
               f"--widths {','.join(f'{w:g}' for w in width_list)} --slips {','.join(slip_list)} "
               f"--samples {samples} --strain {strain:g}")
    res = write_report(work_dir, out, widths_um=width_list, slips=slip_list, n_seeds=samples,
                       max_strain=strain / 100.0, command=command,
                       extra={"wall_seconds_this_call": time.perf_counter() - t0,
                              "jobs": {"done_before": rep.n_done_before, "ran": rep.n_ran,
                                       "failed": rep.n_failed}})
    flow = (res["fits"].get(slip_list[0]) or {}).get("flow")
    summary = {"out": str(out), "size_effect_exponent": res["size_effect_exponent"],
               "yield_stress_exponent": res["yield_stress_exponent"], "n_samples": res["n_samples"],
               "n_failed": rep.n_failed, "results_json": str(out / "results.json")}
    import hashlib

    from microdl.data.catalog import Catalog

    # one catalog entry per output folder, updated by reruns
    summary["id"] = Catalog().record(
        "run", "ddd-size-effect", path=out, status="done" if rep.ok else "failed",
        config={"widths_um": width_list, "slips": slip_list, "samples": samples, "max_strain": strain / 100.0,
                "work": str(work_dir)},
        metrics={k: summary[k] for k in ("size_effect_exponent", "yield_stress_exponent", "n_samples")},
        entry_id="ddd-size-" + hashlib.sha1(str(out.resolve()).encode()).hexdigest()[:12])
    if res["size_effect_exponent"] is None:
        human = f"{res['n_samples']} samples: too few widths to fit; see {out / 'results.md'}"
    else:
        human = (f"{res['n_samples']} samples; {slip_list[0]} slip, sigma ~ w^-alpha: flow stress alpha = "
                 f"{res['size_effect_exponent']:.2f}" + (f" +- {flow['alpha_se']:.2f}" if flow else ""))
        if res["yield_stress_exponent"] is not None:
            human += f", 0.2 % yield stress alpha = {res['yield_stress_exponent']:.2f}"
        human += f" (paper: 0.55); see {out / 'results.md'} and {out / 'size_effect.png'}"
    report(summary, as_json=as_json, human=human)
    if rep.n_failed:
        raise typer.Exit(1)
