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
