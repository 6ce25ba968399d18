"""Files of one DDD pillar simulation (:class:`~microdl.simulate.ddd.protocol.PillarResult`).

One result is a folder, every file written atomically (:mod:`microdl.io._atomic`):

* ``result.npz`` -- every array: ``curve/<column>``, ``profiles``, ``snapshot_strains``,
  ``u_unloaded``, ``u_snapshots``, ``jump_unloaded``, ``jump_snapshots`` (the exact
  slip-jump corrections of :func:`~microdl.simulate.ddd.profile.jump_correction`), ``dislocations/<field>``, ``sources/<field>``,
  ``obstacles/<field>``, ``surface_steps`` and the unloaded checkpoint
  (``checkpoint/...``); lengths in m, stresses in Pa, strains as fractions;
* ``config.json`` -- ``{"config": ..., "seed": ..., "stats": ..., "pixel_size_m": ...,
  "unload_displacement_m": ..., "environment": ...}``;
* ``strain_profile_<tag>.png`` / ``.npy`` -- each reload snapshot as an 8-bit image and as
  float64 ``eps_yy`` (:func:`save_profile_images`);
* ``stress_strain.csv`` -- the stress--strain curve (:func:`save_curve_csv`).
"""

from __future__ import annotations

import io
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from microdl.exceptions import DataFileError
from microdl.io._atomic import read_json, save_npy, save_npz, save_png, write_json, write_text
from microdl.provenance import environment
from microdl.simulate.ddd.config import PillarConfig
from microdl.simulate.ddd.profile import render_uint8
from microdl.simulate.ddd.protocol import PillarResult

__all__ = ["RESULT_NPZ", "CONFIG_JSON", "read_npz", "save_result", "load_result", "snapshot_tag", "save_profile_images",
           "save_curve_csv"]

RESULT_NPZ = "result.npz"
CONFIG_JSON = "config.json"
_CURVE_COLUMNS = ("stage", "step", "time_s", "displacement_m", "strain", "stress_pa", "n_dislocations",
                  "n_surface_steps", "reload_strain")
_CURVE_FORMATS = ("%d", "%d", "%.9e", "%.9e", "%.9e", "%.9e", "%d", "%d", "%.9e")


def _flatten(result: PillarResult) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {
        "profiles": result.profiles,
        "snapshot_strains": np.asarray(result.snapshot_strains, dtype=float),
        "u_unloaded": result.u_unloaded,
        "u_snapshots": result.u_snapshots,
        "jump_unloaded": result.jump_unloaded,
        "jump_snapshots": result.jump_snapshots,
        "surface_steps": result.surface_steps,
    }
    for group in ("curve", "dislocations", "sources", "obstacles"):
        for key, val in getattr(result, group).items():
            arrays[f"{group}/{key}"] = np.asarray(val)
    ck = result.unloaded_checkpoint
    if ck:
        for key, val in ck["state"].items():
            arrays[f"checkpoint/state/{key}"] = np.asarray(val)
        arrays["checkpoint/u0"] = np.asarray(ck["u0"], dtype=float)
        arrays["checkpoint/u_ref"] = np.asarray(ck["u_ref"])
        arrays["checkpoint/time_s"] = np.asarray(ck["time_s"], dtype=float)
        arrays["checkpoint/curve_rows"] = np.asarray(ck["curve_rows"])
    return arrays


def save_result(result: PillarResult, out_dir: str | os.PathLike) -> Path:
    """Write ``result.npz`` and ``config.json`` into ``out_dir`` (created); return the folder.

    Raises
    ------
    DataFileError
        If ``out_dir`` cannot be created or written.
    """
    out = Path(out_dir)
    save_npz(out / RESULT_NPZ, _flatten(result))
    meta = {
        "config": result.config.to_dict(),
        "seed": result.seed,
        "pixel_size_m": list(result.pixel_size_m),
        "unload_displacement_m": result.unload_displacement_m,
        "stats": result.stats,
        "checkpoint_stats": (result.unloaded_checkpoint or {}).get("stats"),
        "environment": environment(),
    }
    write_json(out / CONFIG_JSON, meta)
    return out


def read_npz(path: str | os.PathLike, *, what: str = ".npz file",
             keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` file (no pickled objects): all, or only ``keys``.

    Raises
    ------
    DataFileError
        One line naming the file if it is missing, truncated or not an ``.npz`` archive.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in (z.files if keys is None else keys)}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise DataFileError(f"{what} {os.fspath(path)!r} is not readable ({reason})") from exc


def load_result(out_dir: str | os.PathLike) -> PillarResult:
    """Read a result written by :func:`save_result`.

    Raises
    ------
    DataFileError
        If ``result.npz`` or ``config.json`` is missing or unreadable.
    """
    out = Path(out_dir)
    npz, cfg = out / RESULT_NPZ, out / CONFIG_JSON
    if not npz.is_file() or not cfg.is_file():
        raise DataFileError(f"expected {RESULT_NPZ} and {CONFIG_JSON} in {os.fspath(out)!r}, found neither or one")
    meta: dict[str, Any] = read_json(cfg, what="DDD result config")
    arrays = read_npz(npz, what="DDD result")

    def group(name: str) -> dict[str, np.ndarray]:
        p = name + "/"
        return {k[len(p):]: v for k, v in arrays.items() if k.startswith(p) and "/" not in k[len(p):]}

    checkpoint: dict[str, Any] = {}
    if "checkpoint/u0" in arrays:
        checkpoint = {
            "state": {k[len("checkpoint/state/"):]: v for k, v in arrays.items() if k.startswith("checkpoint/state/")},
            "u0": float(arrays["checkpoint/u0"]),
            "u_ref": arrays["checkpoint/u_ref"],
            "time_s": float(arrays["checkpoint/time_s"]),
            "curve_rows": arrays["checkpoint/curve_rows"],
            "stats": meta.get("checkpoint_stats") or {},
        }
    try:
        return PillarResult(
            config=PillarConfig.from_dict(meta["config"]),
            seed=int(meta["seed"]),
            curve=group("curve"),
            snapshot_strains=tuple(float(s) for s in arrays["snapshot_strains"]),
            profiles=arrays["profiles"],
            u_unloaded=arrays["u_unloaded"],
            u_snapshots=arrays["u_snapshots"],
            pixel_size_m=tuple(meta["pixel_size_m"]),
            unload_displacement_m=float(meta["unload_displacement_m"]),
            dislocations=group("dislocations"),
            sources=group("sources"),
            obstacles=group("obstacles"),
            surface_steps=arrays["surface_steps"],
            stats=meta["stats"],
            unloaded_checkpoint=checkpoint,
            # exact jump corrections of the profiles; results written before they existed lack them
            **{k: arrays[k] for k in ("jump_unloaded", "jump_snapshots") if k in arrays},
        )
    except KeyError as exc:
        raise DataFileError(f"DDD result in {os.fspath(out)!r} lacks {exc}") from exc


def snapshot_tag(strain: float) -> str:
    """File tag of a reload snapshot, e.g. ``0.001 -> 'reload0.10pct'``."""
    return f"reload{100 * strain:.2f}pct"


def save_profile_images(result: PillarResult, out_dir: str | os.PathLike) -> list[Path]:
    """Write each snapshot as ``strain_profile_<tag>.png`` (8-bit, :func:`~microdl.simulate.ddd.profile.render_uint8`)
    and ``strain_profile_<tag>.npy`` (float64 ``eps_yy``, ``[i_x, j_y]``); return the paths."""
    out = Path(out_dir)
    paths = []
    for strain, prof in zip(result.snapshot_strains, result.profiles, strict=True):
        tag = snapshot_tag(strain)
        paths.append(save_png(out / f"strain_profile_{tag}.png", render_uint8(prof)))
        paths.append(save_npy(out / f"strain_profile_{tag}.npy", prof))
    return paths


def save_curve_csv(result: PillarResult, out_dir: str | os.PathLike) -> Path:
    """Write the stress--strain curve as ``stress_strain.csv`` (strains as fractions, stress in Pa)."""
    c = result.curve
    data = np.column_stack([c[k] for k in _CURVE_COLUMNS])
    buf = io.StringIO()
    np.savetxt(buf, data, delimiter=",", header=",".join(_CURVE_COLUMNS), comments="", fmt=list(_CURVE_FORMATS))
    return write_text(Path(out_dir) / "stress_strain.csv", buf.getvalue())
