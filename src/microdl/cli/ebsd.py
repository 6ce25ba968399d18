"""``microdl ebsd``: GND densities (and, from them, total density and flow stress) of EBSD maps."""

from __future__ import annotations

from pathlib import Path

import typer

from microdl.cli._common import JSON_OPTION, report
from microdl.exceptions import InvalidParameterError

_PROGRESS = typer.Option(
    True, "--progress/--no-progress", help="Progress bar on stderr (the L1 fit of large maps)."
)

app = typer.Typer(
    help="EBSD maps (.ang, .ctf): GND densities from lattice curvature (Nye tensor).", no_args_is_help=True
)


def _quality(min_quality: float | None, max_quality: float | None) -> tuple[str, float] | None:
    if min_quality is not None and max_quality is not None:
        raise InvalidParameterError("give --min-quality or --max-quality, not both")
    if min_quality is not None:
        return ("min", float(min_quality))
    if max_quality is not None:
        return ("max", float(max_quality))
    return None


@app.command()
def gnd(
    path: Path = typer.Argument(..., help="EBSD map: TSL .ang or Oxford .ctf (square grid)."),
    out: Path = typer.Option(
        None,
        "--out",
        help="Output folder: gnd_total.npy, gnd_types.npz, gnd_stats.json, "
        "gnd_map.png (default: print the statistics only).",
    ),
    phase: int = typer.Option(
        None, "--phase", help="Phase id (default: the phase with most indexed points)."
    ),
    lattice: str = typer.Option(None, "--lattice", help="bcc, fcc or hcp (default: from the phase)."),
    method: str = typer.Option(
        "l1", "--method", help="l1 (minimum line energy, as MTEX) or l2 (minimum norm, fast)."
    ),
    boundary: float = typer.Option(
        5.0,
        "--boundary-deg",
        help="Misorientation (degrees) above which neighbours are across a boundary, not curvature.",
    ),
    min_quality: float = typer.Option(
        None, "--min-quality", help="Keep points with quality >= this (.ang CI; default 0.1)."
    ),
    max_quality: float = typer.Option(
        None, "--max-quality", help="Keep points with quality <= this (.ctf MAD, degrees; default 1.5)."
    ),
    hex_convention: str = typer.Option(
        "a*", "--hex-convention", help="Hexagonal crystal frame: a* (x || a*, MTEX's Mg twins data) or a."
    ),
    figure: bool = typer.Option(True, "--figure/--no-figure"),
    progress: bool = _PROGRESS,
    as_json: bool = JSON_OPTION,
) -> None:
    """GND densities of an EBSD map: sum over dislocation types of |rho| per point, with statistics."""
    from microdl.workflows.ebsd import ebsd_gnd_files

    if boundary <= 0:
        raise InvalidParameterError(f"--boundary-deg must be positive, got {boundary}")
    r = ebsd_gnd_files(
        path,
        out,
        phase_id=phase,
        lattice=lattice,
        method=method,
        boundary_deg=boundary,
        quality=_quality(min_quality, max_quality),
        hex_convention=hex_convention,
        figure=figure,
        progress=progress,
    )
    human = (
        f"{r['source']}: {r['phase']} ({r['lattice']}, {r['n_types']} types, {r['method']}), "
        f"{r['n_used']} of {r['n_points']} points used ({100 * r['fraction_used']:.1f} %): mean GND density "
        f"{r['rho_gnd_mean_per_m2']:.3g} m^-2 (median {r['rho_gnd_median_per_m2']:.3g}) in {r['seconds']:.1f} s"
        + (f"; files in {out}" if out is not None else "")
    )
    report(r, as_json=as_json, human=human)


@app.command()
def density(
    path: Path = typer.Argument(..., help="EBSD map: TSL .ang or Oxford .ctf (square grid)."),
    out: Path = typer.Option(None, "--out", help="Output folder: density.json, windows.npz, windows.png."),
    model: str = typer.Option(
        "zhang2019-gnd", "--model", help="GND model: a shipped name, a run folder or model.pt."
    ),
    material: str = typer.Option("alpha-Fe", "--material", help="Taylor constants: alpha-Fe, Al or Cu."),
    taylor_m: float = typer.Option(None, "--taylor-M", help="Override the Taylor factor M."),
    alpha: float = typer.Option(None, "--alpha", help="Override alpha'."),
    mu: float = typer.Option(None, "--mu-gpa", help="Override the shear modulus (GPa)."),
    burgers: float = typer.Option(None, "--b-angstrom", help="Override the Burgers vector length (Å)."),
    div_threshold: float = typer.Option(
        2e11, "--div-threshold", help="Keep 7 x 7 windows with sum |div rho| below this (m^-2 per step)."
    ),
    step_policy: str = typer.Option(
        "rescale",
        "--step-policy",
        help="rescale (densities to the network's training step and back), refuse, "
        "or none (the paper's unit mix).",
    ),
    method: str = typer.Option("l1", "--method", help="GND fit: l1 or l2."),
    boundary: float = typer.Option(5.0, "--boundary-deg"),
    min_quality: float = typer.Option(None, "--min-quality"),
    max_quality: float = typer.Option(None, "--max-quality"),
    device: str = typer.Option("auto", "--device"),
    compare: Path = typer.Option(
        None,
        "--compare",
        help="A second map (e.g. the sample at another strain): "
        "also the Taylor stress change from this map to it.",
    ),
    figure: bool = typer.Option(True, "--figure/--no-figure"),
    progress: bool = _PROGRESS,
    as_json: bool = JSON_OPTION,
) -> None:
    """Total dislocation density from the GND windows of an EBSD map, and the Taylor flow stress."""
    from microdl.features.taylor import taylor_stress_change
    from microdl.workflows.ebsd import ebsd_density_files

    over = {
        "M": taylor_m,
        "alpha": alpha,
        "mu_pa": None if mu is None else mu * 1e9,
        "b_m": None if burgers is None else burgers * 1e-10,
    }
    kw = dict(
        model=model,
        material=material,
        div_threshold=div_threshold,
        step_policy=step_policy,
        method=method,
        boundary_deg=boundary,
        quality=_quality(min_quality, max_quality),
        taylor_overrides=over,
        device=None if device == "auto" else device,
        figure=figure,
        progress=progress,
    )
    r = ebsd_density_files(path, out, **kw)
    if compare is not None:
        from microdl.features.taylor import get_material

        r2 = ebsd_density_files(compare, None if out is None else out / "compare", **kw)
        mat = get_material(material, **over)
        r = {
            **r,
            "compare": r2,
            "delta_taylor_stress_mpa": taylor_stress_change(
                r["rho_t_mean_per_m2"], r2["rho_t_mean_per_m2"], mat
            )
            / 1e6,
            "delta_taylor_stress_gnd_mpa": taylor_stress_change(
                r["rho_gnd_mean_per_m2"], r2["rho_gnd_mean_per_m2"], mat
            )
            / 1e6,
        }
    human = (
        f"{r['source']}: {r['n_windows']} windows kept of {r['n_candidates']}; mean GND density "
        f"{r['rho_gnd_mean_per_m2']:.3g} m^-2, total density rho_t {r['rho_t_mean_per_m2']:.3g} m^-2 "
        f"({r['step_policy']}, step {r['map_step_um']:g} µm vs {r['model_step_um']:.3g} µm); Taylor stress "
        f"{r['taylor_stress_mpa']:.1f} MPa ({r['taylor_stress_gnd_mpa']:.1f} MPa from GND alone)"
        + "".join(f"\nwarning: {w}" for w in r["warnings"])
    )
    if compare is not None:
        c = r["compare"]
        human += (
            f"\n{c['source']}: rho_t {c['rho_t_mean_per_m2']:.3g} m^-2, GND {c['rho_gnd_mean_per_m2']:.3g} m^-2"
            f"\nstress change to {c['source']}: {r['delta_taylor_stress_mpa']:+.1f} MPa from rho_t, "
            f"{r['delta_taylor_stress_gnd_mpa']:+.1f} MPa from GND"
            + "".join(f"\nwarning: {w}" for w in c["warnings"])
        )
    report(r, as_json=as_json, human=human)


def taylor(
    rho: float = typer.Option(..., "--rho", help="Dislocation density (m^-2)."),
    rho2: float = typer.Option(
        None, "--rho2", help="A second density (m^-2): also the stress change 1 -> 2."
    ),
    material: str = typer.Option("alpha-Fe", "--material", help="alpha-Fe, Al or Cu."),
    taylor_m: float = typer.Option(None, "--taylor-M"),
    alpha: float = typer.Option(None, "--alpha"),
    mu: float = typer.Option(None, "--mu-gpa"),
    burgers: float = typer.Option(None, "--b-angstrom"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Taylor hardening: M alpha' mu b sqrt(rho), and the change between two densities."""
    from microdl.features.taylor import get_material, taylor_stress, taylor_stress_change

    mat = get_material(
        material,
        M=taylor_m,
        alpha=alpha,
        mu_pa=None if mu is None else mu * 1e9,
        b_m=None if burgers is None else burgers * 1e-10,
    )
    r = {
        "material": mat.name,
        "M": mat.M,
        "alpha": mat.alpha,
        "mu_pa": mat.mu_pa,
        "b_m": mat.b_m,
        "source": mat.source,
        "rho_per_m2": rho,
        "taylor_stress_mpa": taylor_stress(rho, mat) / 1e6,
    }
    human = f"{mat.name}: M alpha' mu b sqrt(rho) = {r['taylor_stress_mpa']:.1f} MPa at rho = {rho:.3g} m^-2"
    if rho2 is not None:
        r["rho2_per_m2"] = rho2
        r["taylor_stress2_mpa"] = taylor_stress(rho2, mat) / 1e6
        r["delta_stress_mpa"] = taylor_stress_change(rho, rho2, mat) / 1e6
        human += f"; {r['taylor_stress2_mpa']:.1f} MPa at {rho2:.3g}: change {r['delta_stress_mpa']:+.1f} MPa"
    report(r, as_json=as_json, human=human)
