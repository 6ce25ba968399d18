"""Predict rho_t and N for every pixel of a GND map file and write the results (``gnd predict``)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np


def predict_map_files(
    map_path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    model: str | os.PathLike = "default",
    key: str | None = None,
    border: str = "reflect",
    batch_size: int = 4096,
    device: str | None = None,
    figure: bool = True,
) -> dict[str, Any]:
    """Read a GND map, predict every pixel, write ``rho_t.npy``, ``n_lines.npy`` (and ``prediction.png``).

    With an ensemble model (the shipped default is one) also ``rho_t_log_spread.npy``: the
    standard deviation of the members' ``ln rho_t`` per pixel, and per map the members' mean
    densities and their spread; if the ensemble's error is calibrated, ``rho_t_typical_log_error.npy``:
    the typical ``|ln(rho_pred / rho_true)|`` of such pixels, measured on validation windows
    (:meth:`~microdl.models.gnd_ensemble.GNDEnsemble.typical_error`), the error bar to quote.

    Parameters
    ----------
    map_path
        ``(H, W, 2)`` GND density ``[screw, edge]`` in m^-2 as ``.npy``, ``.npz``, ``.h5`` or ``.csv``.
    out
        Output folder (created; files written atomically).
    model
        ``"default"``, a shipped model name, a run folder or a ``model.pt`` file.
    key
        Array name inside ``.npz`` / ``.h5`` files.
    border, batch_size, device
        See :func:`microdl.analysis.gnd.predict_map` (``device=None``: automatic).
    figure
        Also write ``prediction.png``.

    Returns
    -------
    dict
        ``shape``, ``border``, ``seconds``, ``rho_t_mean_per_m2``,
        ``rho_gnd_mean_per_m2``, ``n_lines_mean`` and ``files`` (paths); for an ensemble
        also ``log_spread_median`` (per pixel) and ``rho_t_mean_members_per_m2`` with
        ``rho_t_mean_log_spread`` (the spread of the map mean over members).
    """
    from microdl.analysis.gnd import predict_map
    from microdl.io._atomic import check_output_folder, save_npy
    from microdl.io.arrays import check_map, read_array
    from microdl.models.gnd_io import load_gnd_model
    from microdl.models.pretrained import resolve_model_path

    map_path = Path(map_path)
    gnd_map = check_map(read_array(map_path, key=key), channels=2, name=f"GND map {map_path}")
    net = load_gnd_model(resolve_model_path(model), device=device)
    check_output_folder(out, create=False)  # fail before the work; create only once it succeeded
    t0 = time.perf_counter()
    rho_t, n_lines, spread = predict_map(net, gnd_map, border=border, batch_size=batch_size, device=device)
    extra: dict[str, Any] = {}
    if spread is not None:
        members = [float(np.nanmean(predict_map(m, gnd_map, border=border, batch_size=batch_size,
                                                device=device).rho_t)) for m in net.members]
        extra = {"log_spread_median": float(np.nanmedian(spread)), "rho_t_mean_members_per_m2": members,
                 "rho_t_mean_log_spread": float(np.std(np.log(np.maximum(members, 1e-300)), ddof=1))}
    seconds = time.perf_counter() - t0
    out = check_output_folder(out)
    files = {"rho_t": str(save_npy(out / "rho_t.npy", rho_t)),
             "n_lines": str(save_npy(out / "n_lines.npy", n_lines))}
    if spread is not None:
        files["rho_t_log_spread"] = str(save_npy(out / "rho_t_log_spread.npy", spread))
        if getattr(net, "error_calibrated", False):
            import torch

            typical = net.typical_error(torch.from_numpy(np.nan_to_num(spread))).numpy()
            typical[np.isnan(spread)] = np.nan
            files["rho_t_typical_log_error"] = str(save_npy(out / "rho_t_typical_log_error.npy", typical))
            extra["typical_log_error_median"] = float(np.nanmedian(typical))
    if figure:
        from microdl.analysis.gnd_figures import plot_map_prediction

        name = getattr(net, "model_name", "model")
        files["figure"] = str(plot_map_prediction(gnd_map, rho_t, n_lines, out / "prediction.png",
                                                  title=f"{map_path.name}: {name}", log_spread=spread))
    return {
        "shape": list(rho_t.shape), "border": border, "seconds": seconds,
        "rho_t_mean_per_m2": float(np.nanmean(rho_t)), **extra,
        "rho_gnd_mean_per_m2": float(np.hypot(gnd_map[..., 0], gnd_map[..., 1]).mean()),
        "n_lines_mean": float(n_lines[n_lines > 0].mean()) if (n_lines > 0).any() else 0.0, "files": files,
    }
