"""EBSD jobs: GND densities of a map file, written to an output folder."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["ebsd_gnd_files"]


def ebsd_gnd_files(
    path: str | os.PathLike,
    out: str | os.PathLike | None,
    *,
    phase_id: int | None = None,
    lattice: str | None = None,
    method: str = "l1",
    boundary_deg: float = 5.0,
    quality: tuple[str, float] | None = None,
    figure: bool = True,
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
    res = ebsd_gnd(m, phase_id=phase_id, lattice=lattice, method=method, boundary_deg=boundary_deg,
                   quality=quality)
    result: dict[str, Any] = {**res.stats(), "shape": list(m.shape), "seconds": time.perf_counter() - t0,
                              "microdl_version": __version__}
    files: dict[str, str] = {}
    if out is not None:
        out = check_output_folder(out)
        files["gnd_total"] = str(save_npy(out / "gnd_total.npy", res.total.astype(np.float32)))
        files["gnd_types"] = str(save_npz(out / "gnd_types.npz", {
            "rho": res.rho.astype(np.float32), "burgers_m": res.types.burgers, "line": res.types.line,
            "family": np.array(res.types.family)}))
        if figure:
            files["gnd_map"] = str(plot_gnd_map(res, out / "gnd_map.png"))
        result["files"] = files
        write_json(out / "gnd_stats.json", result)
        files["gnd_stats"] = str(Path(out) / "gnd_stats.json")
    result["files"] = files
    return result
