"""``microdl ebsd``: GND densities (and, from them, total density and flow stress) of EBSD maps."""

from __future__ import annotations

from pathlib import Path

import typer

from microdl.cli._common import JSON_OPTION, report
from microdl.exceptions import InvalidParameterError

app = typer.Typer(help="EBSD maps (.ang, .ctf): GND densities from lattice curvature (Nye tensor).",
                  no_args_is_help=True)


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
    out: Path = typer.Option(None, "--out", help="Output folder: gnd_total.npy, gnd_types.npz, gnd_stats.json, "
                                                 "gnd_map.png (default: print the statistics only)."),
    phase: int = typer.Option(None, "--phase", help="Phase id (default: the phase with most indexed points)."),
    lattice: str = typer.Option(None, "--lattice", help="bcc, fcc or hcp (default: from the phase)."),
    method: str = typer.Option("l1", "--method", help="l1 (minimum line energy, as MTEX) or l2 (minimum norm, fast)."),
    boundary: float = typer.Option(5.0, "--boundary-deg", help="Misorientation (degrees) above which neighbours "
                                                              "are across a boundary, not curvature."),
    min_quality: float = typer.Option(None, "--min-quality", help="Keep points with quality >= this (.ang CI; "
                                                                  "default 0.1)."),
    max_quality: float = typer.Option(None, "--max-quality", help="Keep points with quality <= this (.ctf MAD, "
                                                                  "degrees; default 1.5)."),
    figure: bool = typer.Option(True, "--figure/--no-figure"),
    as_json: bool = JSON_OPTION,
) -> None:
    """GND densities of an EBSD map: sum over dislocation types of |rho| per point, with statistics."""
    from microdl.workflows.ebsd import ebsd_gnd_files

    if boundary <= 0:
        raise InvalidParameterError(f"--boundary-deg must be positive, got {boundary}")
    r = ebsd_gnd_files(path, out, phase_id=phase, lattice=lattice, method=method, boundary_deg=boundary,
                       quality=_quality(min_quality, max_quality), figure=figure)
    human = (f"{r['source']}: {r['phase']} ({r['lattice']}, {r['n_types']} types, {r['method']}), "
             f"{r['n_used']} of {r['n_points']} points used ({100 * r['fraction_used']:.1f} %): mean GND density "
             f"{r['rho_gnd_mean_per_m2']:.3g} m^-2 (median {r['rho_gnd_median_per_m2']:.3g}) in {r['seconds']:.1f} s"
             + (f"; files in {out}" if out is not None else ""))
    report(r, as_json=as_json, human=human)
