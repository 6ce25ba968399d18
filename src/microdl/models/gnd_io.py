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
    meta = dict(extra or {})
    meta["scaling"] = {
        "rho_unit_per_m2": float(model.rho_unit_per_m2),
        "input_transform": model.input_transform,
        "target": "z = log(1 + rho_t / rho_unit_per_m2)",
        "input": "windows (n, 3, 7, 7) in m^-2, channels [screw, edge, |rho_GND|]",
    }
    return save_model(model, path, extra=to_jsonable(meta))


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
    model, extra = load_model(path, device=device)
    if not isinstance(model, GNDModel):
        raise DataFileError(
            f"model file {str(path)!r} must hold a GND model, got {type(model).__name__}"
        )
    model.export_extra = extra
    return model
