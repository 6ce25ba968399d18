"""Small pretrained weights shipped inside the package (no downloads at run time).

``zhang2019-gnd.pt`` (the paper's Table A1 ConvNet) is the best configuration
of our own ``microdl gnd benchmark --preset cpu`` (exported with
``benchmarks/gnd/export_pretrained.py``). ``gnd-fcn7.pt`` (microdl's fully
convolutional model) was trained on 200,000 windows with ``microdl gnd train``.
The JSON file beside each records the commands, data and test metrics. The
``default`` model, used by ``microdl gnd predict`` unless told otherwise, is
``gnd-fcn7``: on the same test windows it is more accurate than the shipped
``zhang2019-gnd`` (MAPE 41.4 % vs 43.6 %, N accuracy 48.9 % vs 45.1 %) and
predicts a 200 x 200 map in well under a second; ``--model zhang2019-gnd``
gives the paper's network.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from microdl.exceptions import DataFileError

_HERE = Path(__file__).resolve().parent
SHIPPED = {"zhang2019-gnd": "zhang2019-gnd.pt", "gnd-fcn7": "gnd-fcn7.pt"}
ALIASES = {"default": "gnd-fcn7"}


def resolve_model_path(name_or_path: str | os.PathLike) -> Path:
    """Turn ``"default"``, a shipped model name, a run folder or a file into a ``model.pt`` path."""
    key = str(name_or_path)
    key = ALIASES.get(key, key)
    if key in SHIPPED:
        path = _HERE / SHIPPED[key]
        if not path.exists():
            raise DataFileError(
                f"the shipped model {key!r} is missing from this installation ({path}); "
                "train one with 'microdl gnd train' and pass --model RUN_DIR"
            )
        return path
    path = Path(name_or_path)
    if path.is_dir():
        path = path / "model.pt"
    if not path.exists():
        raise DataFileError(
            f"model not found: {name_or_path} (give 'default', {sorted(SHIPPED)}, a run folder or a model.pt file)"
        )
    return path


def shipped_info(name: str = "zhang2019-gnd") -> dict:
    """Metadata (command, metrics) of a shipped model, or an empty dict."""
    meta = _HERE / (ALIASES.get(name, name) + ".json")
    return json.loads(meta.read_text()) if meta.exists() else {}
