"""Small pretrained weights shipped inside the package (no downloads at run time).

The files live in ``src/microdl/pretrained/`` (package data): ``<name>.pt`` (a
:func:`microdl.models.registry.save_model` export, loaded with
``weights_only=True``) and ``<name>.json`` beside it (commands, data, test
metrics). ``zhang2019-gnd.pt`` (the paper's Table A1 ConvNet) is the best
configuration of our own ``microdl gnd benchmark --preset cpu`` (exported with
``benchmarks/gnd/export_pretrained.py``, chosen by validation MAPE). ``gnd-fcn7.pt``
(microdl's fully convolutional model) was trained on 200,000 windows with ``microdl gnd
train``. ``gnd-anchored.pt`` is an ensemble
(:class:`~microdl.models.gnd_ensemble.GNDEnsemble`) of ``gnd-anchored`` models trained
with the benchmark's ``anchored`` recipe and different seeds; it is the ``default`` model,
used by ``microdl gnd predict`` unless told otherwise, chosen over the others by
validation MAPE, and it reports a per-pixel uncertainty (the members' spread, and the
typical error calibrated on validation windows). Its test metrics are in its JSON record.
It averages 2 members over 16 symmetries: a 200 x 200 map takes 10 s on 2 cores, where
``--model gnd-fcn7`` takes 0.2 s; ``--model zhang2019-gnd`` gives the paper's network.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from microdl._registry import Registry
from microdl.exceptions import DataFileError
from microdl.io._atomic import read_json

__all__ = ["PRETRAINED_DIR", "SHIPPED", "ALIASES", "DEFAULT", "resolve_model_path", "shipped_info"]

PRETRAINED_DIR = Path(__file__).resolve().parents[1] / "pretrained"
"""Folder of the shipped ``.pt`` and ``.json`` files."""

SHIPPED: Registry[str] = Registry("shipped model")
"""Shipped model name -> file name in :data:`PRETRAINED_DIR` (metadata: ``info`` file)."""
SHIPPED.add("zhang2019-gnd", "zhang2019-gnd.pt", info="zhang2019-gnd.json")
SHIPPED.add("gnd-fcn7", "gnd-fcn7.pt", info="gnd-fcn7.json")
SHIPPED.add("gnd-anchored", "gnd-anchored.pt", info="gnd-anchored.json")
SHIPPED.add("micrograph-uhcs", "micrograph-uhcs.pt", info="micrograph-uhcs.json")

DEFAULT = "gnd-anchored"
ALIASES = {"default": DEFAULT}
"""Other names of shipped models."""


def resolve_model_path(name_or_path: str | os.PathLike) -> Path:
    """Turn ``"default"``, a shipped model name, a run folder or a file into a ``model.pt`` path.

    Raises
    ------
    DataFileError
        If a shipped model is missing from this installation or the path does not exist.
    """
    key = ALIASES.get(str(name_or_path), str(name_or_path))
    if key in SHIPPED.names():
        path = PRETRAINED_DIR / SHIPPED.get(key)
        if not path.exists():
            raise DataFileError(
                f"the shipped model {key!r} is missing from this installation ({path}); "
                "train one ('microdl gnd train', 'microdl micrograph train') and pass --model RUN_DIR"
            )
        return path
    path = Path(name_or_path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.exists():
        raise DataFileError(
            f"model not found: {name_or_path} (give 'default', {SHIPPED.names()}, a run folder or a model.pt file)"
        )
    return path


def shipped_info(name: str = "zhang2019-gnd") -> dict[str, Any]:
    """Metadata (commands, data, ``test_metrics``) of a shipped model, or an empty dict."""
    key = ALIASES.get(name, name)
    if key not in SHIPPED.names():
        return {}
    meta = PRETRAINED_DIR / SHIPPED.metadata(key)["info"]
    return read_json(meta, missing_ok=True, what="shipped model record") or {}
