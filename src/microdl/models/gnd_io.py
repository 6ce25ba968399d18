"""Save and load GND models as plain files (no Lightning needed to predict)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from microdl.exceptions import DataFileError
from microdl.models.registry import load_model, save_model
from microdl.models.zhang2019 import GNDModel
from microdl.provenance import to_jsonable

__all__ = ["export_gnd_model", "load_gnd_model"]


def export_gnd_model(model: GNDModel, path: str | os.PathLike,
                     extra: Mapping[str, Any] | None = None) -> Path:
    """Write ``model.pt``: state dict, model name and config, and the scaling.

    The scaling (``rho_unit_per_m2``, ``input_transform``) is also part of the
    model config; it is repeated under ``extra["scaling"]`` for readers without
    microdl. Load with :func:`load_gnd_model`.
    """
    _pin_units(model)
    meta = dict(extra or {})
    meta["scaling"] = {
        "rho_unit_per_m2": float(model.rho_unit_per_m2),
        "input_transform": model.input_transform,
        "target": "z = log(1 + rho_t / rho_unit_per_m2)",
        "input": "windows (n, 3, 7, 7) in m^-2, channels [screw, edge, |rho_GND|]",
    }
    return save_model(model, path, extra=to_jsonable(meta))


def _pin_units(model: GNDModel) -> None:
    """Write the density unit into the stored configuration (and each ensemble member's), so a
    later change of the default unit cannot change what a saved model computes."""
    cfg = getattr(model, "model_cfg", None)
    if cfg is None:
        return
    cfg.setdefault("rho_unit_per_m2", float(model.rho_unit_per_m2))
    if "members" in cfg and hasattr(model, "members"):
        cfg["members"] = [{"name": spec["name"], "cfg": {**dict(spec.get("cfg", {})),
                                                         "rho_unit_per_m2": float(member.rho_unit_per_m2)}}
                          for spec, member in zip(cfg["members"], model.members, strict=True)]


def _complete_units(name: str, cfg: dict, extra: dict) -> dict:
    """Older files stored no unit: use the one recorded in their ``scaling`` metadata."""
    unit = (extra.get("scaling") or {}).get("rho_unit_per_m2")
    if unit is None:
        return cfg
    cfg = dict(cfg)
    cfg.setdefault("rho_unit_per_m2", float(unit))
    if "members" in cfg:
        cfg["members"] = [{"name": m["name"], "cfg": {"rho_unit_per_m2": float(unit), **dict(m.get("cfg", {}))}}
                          for m in cfg["members"]]
    return cfg


def load_gnd_model(path: str | os.PathLike,
                   device: str | torch.device | None = None) -> GNDModel:
    """Load a ``model.pt`` written by :func:`microdl.train.tasks.gnd.fit_gnd` (no Lightning needed).

    Parameters
    ----------
    path
        The export file.
    device
        ``None``/``"auto"`` (GPU if present), ``"cpu"``, ``"cuda:0"``...

    Returns
    -------
    GNDModel
        The model in evaluation mode; its ``export_extra`` attribute holds the
        stored metadata (best validation loss, epoch, scaling).
    """
    model, extra = load_model(path, device=device, complete_cfg=_complete_units)
    if not isinstance(model, GNDModel):
        raise DataFileError(
            f"model file {str(path)!r} must hold a GND model, got {type(model).__name__}"
        )
    model.export_extra = extra
    return model
