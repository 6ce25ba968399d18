"""EBSD jobs: GND densities of a map file, written to an output folder."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ebsd_density_files", "ebsd_gnd_files"]


def ebsd_gnd_files(
    path: str | os.PathLike,
    out: str | os.PathLike | None,
    *,
    phase_id: int | None = None,
    lattice: str | None = None,
    method: str = "l1",
    boundary_deg: float = 5.0,
    quality: tuple[str, float] | None = None,
    hex_convention: str = "a*",
    figure: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """Read an EBSD map (.ang / .ctf), compute its GND densities and write them.

    Writes to ``out`` (if given): ``gnd_total.npy`` (``(ny, nx)``, m^-2, NaN where not used),
    ``gnd_types.npz`` (``rho`` per type, ``(ny, nx, n_types)`` m^-2, with the types'
    ``burgers``, ``line`` and ``family``), ``gnd_stats.json`` and ``gnd_map.png``.
    Arguments as :func:`microdl.analysis.ebsd_gnd.ebsd_gnd`.

    Returns
    -------
    dict
        :meth:`~microdl.analysis.ebsd_gnd.EBSDGND.stats` plus ``shape``, ``seconds`` and ``files``.
    """
    from microdl import __version__
    from microdl.analysis.ebsd_gnd import ebsd_gnd, plot_gnd_map
    from microdl.io._atomic import check_output_folder, save_npy, save_npz, write_json
    from microdl.io.ebsd import read_ebsd

    if out is not None:
        check_output_folder(out, create=False)  # fail before the work
    t0 = time.perf_counter()
    m = read_ebsd(path)
    res = ebsd_gnd(
        m,
        phase_id=phase_id,
        lattice=lattice,
        method=method,
        boundary_deg=boundary_deg,
        quality=quality,
        hex_convention=hex_convention,
        progress=progress,
    )
    result: dict[str, Any] = {
        **res.stats(),
        "shape": list(m.shape),
        "seconds": time.perf_counter() - t0,
        "microdl_version": __version__,
    }
    files: dict[str, str] = {}
    if out is not None:
        out = check_output_folder(out)
        files["gnd_total"] = str(save_npy(out / "gnd_total.npy", res.total.astype(np.float32)))
        files["gnd_types"] = str(
            save_npz(
                out / "gnd_types.npz",
                {
                    "rho": res.rho.astype(np.float32),
                    "burgers_m": res.types.burgers,
                    "line": res.types.line,
                    "family": np.array(res.types.family),
                },
            )
        )
        if figure:
            files["gnd_map"] = str(plot_gnd_map(res, out / "gnd_map.png"))
        result["files"] = files
        write_json(out / "gnd_stats.json", result)
        files["gnd_stats"] = str(Path(out) / "gnd_stats.json")
    result["files"] = files
    return result


def ebsd_density_files(
    path: str | os.PathLike,
    out: str | os.PathLike | None,
    *,
    model: str | os.PathLike = "zhang2019-gnd",
    material: str = "alpha-Fe",
    div_threshold: float = 2e11,
    step_policy: str = "rescale",
    method: str = "l1",
    boundary_deg: float = 5.0,
    quality: tuple[str, float] | None = None,
    taylor_overrides: dict[str, float | None] | None = None,
    device: str | None = None,
    figure: bool = True,
    progress: bool = False,
) -> dict[str, Any]:
    """GND densities of an EBSD map, the divergence-free 7 x 7 windows, the network's total density
    and the Taylor flow-stress contribution (Zhang & Ngan 2019, section 4).

    ``rho_t_mean_per_m2`` is the mean of the predicted ``rho_t`` over the kept (window, slip
    system) pairs, as in the paper; ``taylor_stress_mpa`` is ``M alpha' mu b sqrt(rho_t)`` and
    ``taylor_stress_gnd_mpa`` the same from the mean GND density. Writes ``density.json``,
    ``slip_systems.npz`` (per slip system the [screw, edge] GND map, ``(ny, nx, S, 2)`` m^-2, and the
    systems' names), ``windows.npz`` and ``windows.png`` (the window centres on the GND map, the paper's Fig. 5)
    to ``out`` if given. Raises if no window passes the filter, with the thresholds that would
    keep 1 % and 10 % of the candidates.
    """
    from microdl import __version__
    from microdl.analysis.ebsd_density import (
        TRAINING_WINDOW_MEAN_UNITS,
        gnd_windows,
        step_factor,
        training_range_fraction,
    )
    from microdl.analysis.ebsd_gnd import ebsd_gnd
    from microdl.analysis.gnd import predict_windows
    from microdl.exceptions import InvalidParameterError
    from microdl.features.taylor import get_material, taylor_stress
    from microdl.io._atomic import check_output_folder, save_npz, write_json
    from microdl.io.ebsd import read_ebsd
    from microdl.models.gnd_io import load_gnd_model
    from microdl.models.pretrained import resolve_model_path
    from microdl.simulate.gnd_config import GNDLineConfig, rho_unit

    mat = get_material(material, **(taylor_overrides or {}))
    if out is not None:
        check_output_folder(out, create=False)
    t0 = time.perf_counter()
    m = read_ebsd(path)
    model_step = GNDLineConfig().pixel_size_um
    step = float(np.sqrt(m.step_um[0] * m.step_um[1]))
    factor = step_factor(step, model_step, step_policy)  # before any work: "refuse" fails fast
    res = ebsd_gnd(m, method=method, boundary_deg=boundary_deg, quality=quality, progress=progress)
    win = gnd_windows(m, res, threshold=div_threshold)
    summary = win.summary()
    if summary["n_windows"] == 0:
        pct = summary["div_sum_percentiles_per_m2"]
        raise InvalidParameterError(
            f"no 7 x 7 window of {res.settings['source']} passes the divergence filter (sum |div rho| < "
            f"{div_threshold:.3g} m^-2 per step) among {summary['n_candidates']} candidates; thresholds of "
            f"{pct.get('1', float('nan')):.3g} and {pct.get('10', float('nan')):.3g} would keep 1 % and 10 % "
            "(--div-threshold)"
        )
    net = load_gnd_model(resolve_model_path(model), device=device)
    pred = predict_windows(net, win.windows * factor, device=device)
    rho_t = np.asarray(pred.rho_t, dtype=float) / factor
    unit = rho_unit()
    in_range, median_units = training_range_fraction(win.windows, factor, unit)
    warnings = []
    if in_range < 0.5:
        lo, hi = TRAINING_WINDOW_MEAN_UNITS
        warnings.append(
            f"only {100 * in_range:.0f} % of the windows lie in the network's training range (mean density "
            f"{lo:g}-{hi:g} line-lengths per pixel, {lo * unit:.2g}-{hi * unit:.2g} m^-2 at its {model_step:.3g} µm "
            f"pixels); their median is {median_units:.3g}: rho_t is an extrapolation, not a measurement"
        )
    gnd_stats = res.stats()
    rho_t_mean = float(np.mean(rho_t))
    result: dict[str, Any] = {
        **gnd_stats,
        **summary,
        "rho_t_mean_per_m2": rho_t_mean,
        "rho_t_median_per_m2": float(np.median(rho_t)),
        "rho_gnd_window_centre_mean_per_m2": float(np.mean(win.windows[:, 3, 3, 2])),
        "taylor_stress_mpa": taylor_stress(rho_t_mean, mat) / 1e6,
        "taylor_stress_gnd_mpa": taylor_stress(gnd_stats["rho_gnd_mean_per_m2"], mat) / 1e6,
        "material": {
            "name": mat.name,
            "M": mat.M,
            "alpha": mat.alpha,
            "mu_pa": mat.mu_pa,
            "b_m": mat.b_m,
            "source": mat.source,
        },
        "model": str(model),
        "model_step_um": model_step,
        "map_step_um": step,
        "step_policy": step_policy,
        "density_factor": factor,
        "fraction_in_training_range": in_range,
        "window_mean_line_lengths_per_pixel_median": median_units,
        "warnings": warnings,
        "shape": list(m.shape),
        "seconds": time.perf_counter() - t0,
        "microdl_version": __version__,
    }
    files: dict[str, str] = {}
    if out is not None:
        out = check_output_folder(out)
        files["slip_systems"] = str(
            save_npz(
                out / "slip_systems.npz", {"channels": win.channels.astype(np.float32), "names": np.array(win.names)}
            )
        )
        files["windows"] = str(
            save_npz(
                out / "windows.npz",
                {
                    "windows": win.windows.astype(np.float32),
                    "centre": win.centre,
                    "system": win.system,
                    "rho_t": rho_t.astype(np.float32),
                    "n_lines": np.asarray(pred.n_lines),
                },
            )
        )
        if figure:
            from microdl.analysis.ebsd_gnd import plot_gnd_map

            files["windows_png"] = str(
                plot_gnd_map(
                    res, out / "windows.png", centres=win.centre, title=f"{summary['n_windows']} windows kept"
                )
            )
        result["files"] = files
        write_json(out / "density.json", result)
        files["density"] = str(Path(out) / "density.json")
    result["files"] = files
    return result
