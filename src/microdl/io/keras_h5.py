"""Read a Keras 2 ``model.save`` HDF5 file with h5py only (no TensorFlow).

A Keras 2 full-model file holds the layer graph as JSON in the root attribute
``model_config`` and the weights under ``model_weights/<layer>/``, listed in the
layer group's ``weight_names`` attribute (``"<layer>/kernel:0"``...). This
module returns both as plain Python: the config dict and, per layer, its named
arrays in the stored order. Mapping them onto a network is the model layer's job
(:mod:`microdl.models.keras_import`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from microdl.exceptions import DataFileError

__all__ = ["KerasFile", "read_keras_h5", "sha256_file"]


@dataclass(frozen=True)
class KerasFile:
    """What a Keras HDF5 file holds.

    Attributes
    ----------
    path
        The file read.
    config
        The parsed ``model_config`` JSON (``{"class_name": ..., "config": {...}}``).
    weights
        Layer name -> {weight name without the ``:0`` suffix (``"kernel"``,
        ``"bias"``, ``"gamma"``, ``"beta"``, ``"moving_mean"``, ``"moving_variance"``)
        -> array}; layers without weights are absent.
    keras_version, backend
        As stored in the file attributes (``""`` if absent).
    """

    path: Path
    config: dict[str, Any]
    weights: dict[str, dict[str, np.ndarray]] = field(repr=False)
    keras_version: str = ""
    backend: str = ""


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes | np.bytes_) else str(value)


def sha256_file(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_keras_h5(path: str | os.PathLike) -> KerasFile:
    """Read the layer graph and the weights of a Keras 2 HDF5 model file.

    Raises
    ------
    DataFileError
        If the file is missing, not HDF5, or lacks ``model_config`` (a file from
        ``model.save_weights``: the graph is needed to map the weights) or
        ``model_weights``.
    """
    import h5py

    p = Path(path)
    if not p.is_file():
        raise DataFileError(f"Keras file not found: {p}")
    try:
        fh = h5py.File(p, "r")
    except (OSError, ValueError) as exc:
        raise DataFileError(f"{p} is not a readable HDF5 file ({' '.join(str(exc).split())})") from exc
    with fh:
        if "model_config" not in fh.attrs:
            raise DataFileError(
                f"{p} has no 'model_config' attribute: it is not a Keras model.save() file "
                "(a save_weights() file lacks the layer graph needed to map the weights)")
        try:
            config = json.loads(_text(fh.attrs["model_config"]))
        except json.JSONDecodeError as exc:
            raise DataFileError(f"{p}: 'model_config' is not valid JSON ({exc})") from exc
        group = fh["model_weights"] if "model_weights" in fh else fh
        if "layer_names" not in group.attrs:
            raise DataFileError(f"{p} has no Keras weights (no 'layer_names' attribute)")
        weights: dict[str, dict[str, np.ndarray]] = {}
        for layer in (_text(n) for n in group.attrs["layer_names"]):
            lg = group[layer]
            names = [_text(n) for n in lg.attrs.get("weight_names", [])]
            if names:
                weights[layer] = {n.split("/")[-1].split(":")[0]: np.asarray(lg[n][()]) for n in names}
        return KerasFile(path=p, config=config, weights=weights,
                         keras_version=_text(fh.attrs.get("keras_version", "")),
                         backend=_text(fh.attrs.get("backend", "")))
