"""One DDD pillar simulation with all its files: what ``microdl ddd simulate`` runs."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from microdl.analysis.ddd_figures import save_figures
from microdl.data.ddd_result import (
    CONFIG_JSON,
    RESULT_NPZ,
    save_curve_csv,
    save_profile_images,
    save_result,
)
from microdl.exceptions import InvalidParameterError
from microdl.io._atomic import check_output_folder
from microdl.provenance import sha256_file

__all__ = ["simulate"]

_METRICS = ("yield_stress_mpa", "max_stress_mpa", "final_dislocations", "steps", "seconds")


def _check_options(width: float, prior: float, reload: float, aspect: float, pixel: float, seed: int) -> None:
    for name, value in (("--width", width), ("--reload", reload), ("--aspect", aspect), ("--pixel", pixel)):
        if not value > 0:
            raise InvalidParameterError(f"{name} must be > 0, got {value}")
    if not prior >= 0:
        raise InvalidParameterError(f"--prior must be >= 0 (percent), got {prior}")
    if isinstance(seed, bool) or seed < 0:
        raise InvalidParameterError(f"--seed must be >= 0, got {seed}")
    if prior > 50 or reload > 50:
        raise InvalidParameterError(f"--prior and --reload are percentages <= 50, got {prior} and {reload}")


def simulate(out: str | os.PathLike, *, width: float = 0.125, slip: str = "two", prior: float = 1.0,
             reload: float = 1.0, aspect: float = 4.0, seed: int = 0, pixel: float = 2.0, figures: bool = True,
             progress: bool = True, catalog: Any = None) -> tuple[dict[str, Any], str]:
    """Run one load / unload-to-zero-force / reload simulation, write its files, record it.

    Parameters
    ----------
    out
        Output folder (created): ``result.npz``, ``config.json``, ``strain_profile_reload*.png``
        and ``.npy`` (0.1 % and the reload strain), ``stress_strain.csv`` and, with
        ``figures``, ``fig_stress_strain.png`` and ``fig_strain_profile.png``.
    width
        Pillar width (um), within :data:`~microdl.simulate.ddd.config.WIDTH_RANGE_UM`.
    slip
        ``"one"`` (+30 degrees) or ``"two"`` (+-30 degrees).
    prior, reload
        Prior and reload (test) strain, percent.
    aspect
        Height / width.
    seed
        Seed of sources and obstacles: same seed, same arrays.
    pixel
        Strain-profile pixel size (nm); the image must stay within
        :data:`~microdl.simulate.ddd.config.MAX_PROFILE_PIXELS`.
    figures, progress
        Write the PNG figures; progress bar on stderr.
    catalog
        A :class:`microdl.data.catalog.Catalog` (default: the default catalog); the run is
        recorded as kind ``"run"``, name ``"ddd-simulate"``.

    Returns
    -------
    summary : dict
        ``out``, the options, ``yield_stress_mpa``, ``max_stress_mpa``, ``final_dislocations``,
        ``surface_steps``, ``sources``, ``obstacles``, ``nucleated``, ``steps``, ``substeps``,
        ``seconds``, ``profile_shape``, ``snapshots_percent``, ``files`` and ``id`` (catalog).
    text : str
        The same in words.

    Raises
    ------
    InvalidParameterError
        An option out of range (before anything runs or is written).
    DataFileError
        ``out`` is a file or not writable, or the catalog cannot be written.
    """
    from microdl.data.catalog import Catalog
    from microdl.simulate.ddd import PillarConfig, simulate_pillar

    _check_options(width, prior, reload, aspect, pixel, seed)
    reload_frac = reload / 100.0
    snaps = tuple(s for s in (0.001, reload_frac) if s <= reload_frac * (1 + 1e-12))
    cfg = PillarConfig(width_um=width, aspect=aspect, slip=slip, prior_strain=prior / 100.0,
                       reload_strain=reload_frac, reload_snapshots=snaps, pixel_size_nm=pixel)
    out = check_output_folder(out)
    catalog = catalog or Catalog()
    catalog.check_writable()
    t0 = time.perf_counter()
    result = simulate_pillar(cfg, seed, progress=progress)
    seconds = time.perf_counter() - t0
    save_result(result, out)
    files = [out / RESULT_NPZ, out / CONFIG_JSON, *save_profile_images(result, out), save_curve_csv(result, out)]
    if figures:
        files += save_figures(result, out)
    st = result.stats
    ys = st.get("yield_stress_pa")
    summary = {
        "out": str(out), "width_um": width, "slip": slip, "prior_percent": prior, "reload_percent": reload,
        "seed": seed, "yield_stress_mpa": None if ys is None else ys / 1e6, "max_stress_mpa": st["max_stress_pa"] / 1e6,
        "final_dislocations": st["n_dislocations_final"], "surface_steps": st["n_surface_steps"],
        "sources": st["n_sources"], "obstacles": st["n_obstacles"], "nucleated": st["nucleated"],
        "steps": st["steps"], "substeps": st["substeps"], "seconds": seconds,
        "profile_shape": list(result.profiles.shape[1:]),
        "snapshots_percent": [100 * s for s in result.snapshot_strains],
        "files": [str(f) for f in files],
    }
    summary["id"] = catalog.record("run", "ddd-simulate", config=cfg.to_dict(), seed=seed, path=out,
                                   checksum=sha256_file(out / RESULT_NPZ), metrics={k: summary[k] for k in _METRICS})
    text = (
        f"w = {width} um, {slip} slip, prior {prior} %, reload {reload} %, seed {seed}: "
        f"{st['steps']} steps in {seconds:.1f} s\n"
        f"yield stress {summary['yield_stress_mpa'] if ys is None else round(ys / 1e6, 1)} MPa, "
        f"max {summary['max_stress_mpa']:.1f} MPa, {st['n_dislocations_final']} dislocations at the end, "
        f"{st['n_surface_steps']} surface steps\n"
        f"wrote {len(files)} files to {Path(out)}"
    )
    return summary, text
