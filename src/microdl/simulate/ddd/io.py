"""Save and load a :class:`~microdl.simulate.ddd.protocol.PillarResult`.

One result is two files in a directory, both written atomically (temporary file,
then rename):

* ``result.npz`` -- every array: ``curve/<column>``, ``profiles``, ``snapshot_strains``,
  ``u_unloaded``, ``u_snapshots``, ``dislocations/<field>``, ``sources/<field>``,
  ``obstacles/<field>``, ``surface_steps`` and the unloaded checkpoint
  (``checkpoint/...``);
* ``config.json`` -- ``{"config": ..., "seed": ..., "stats": ..., "pixel_size_m": ...,
  "unload_displacement_m": ..., "environment": ...}``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from microdl.exceptions import DataFileError
from microdl.provenance import environment, write_json
from microdl.simulate.ddd.config import PillarConfig
from microdl.simulate.ddd.protocol import PillarResult

RESULT_NPZ = "result.npz"
CONFIG_JSON = "config.json"


def _flatten(result: PillarResult) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {
        "profiles": result.profiles,
        "snapshot_strains": np.asarray(result.snapshot_strains, dtype=float),
        "u_unloaded": result.u_unloaded,
        "u_snapshots": result.u_snapshots,
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
    """Write ``result.npz`` and ``config.json`` into ``out_dir`` (created); return the directory."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (RESULT_NPZ + ".tmp.npz")
    np.savez_compressed(tmp, **_flatten(result))
    os.replace(tmp, out / RESULT_NPZ)
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


def load_result(out_dir: str | os.PathLike) -> PillarResult:
    """Read a result written by :func:`save_result`."""
    out = Path(out_dir)
    npz, cfg = out / RESULT_NPZ, out / CONFIG_JSON
    if not npz.is_file() or not cfg.is_file():
        raise DataFileError(f"expected {RESULT_NPZ} and {CONFIG_JSON} in {out}, found neither or one")
    meta: dict[str, Any] = json.loads(cfg.read_text())
    with np.load(npz) as z:
        arrays = {k: z[k] for k in z.files}

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
    )
