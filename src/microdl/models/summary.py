"""One row per registered model: parameter counts (ours and the paper's), input contract, shipped metrics."""

from __future__ import annotations

from typing import Any

from microdl.models.pretrained import DEFAULT, shipped_info
from microdl.models.registry import create_model, list_models, model_info
from microdl.models.zhang2019 import count_parameters

__all__ = ["model_table"]


def model_table() -> list[dict[str, Any]]:
    """Rows of ``microdl models list``.

    Returns
    -------
    list of dict
        ``name``, ``parameters`` (trainable), ``parameters_keras_convention``,
        ``paper_parameters`` (as printed in the paper, or ``None``), ``summary``,
        ``default`` (the default shipped model), ``shipped_test_metrics``, and
        the registry metadata ``paper`` and ``input``.
    """
    rows = []
    for name in list_models():
        model = create_model(name)
        meta = model_info(name)
        rows.append({"name": name, "parameters": count_parameters(model),
                     "parameters_keras_convention": count_parameters(model, convention="keras"),
                     "paper_parameters": meta.get("paper_parameters"),
                     "summary": meta.get("summary") or (type(model).__doc__ or "").strip().splitlines()[0],
                     "default": DEFAULT == name,
                     "shipped_test_metrics": shipped_info(name).get("test_metrics"),
                     "paper": meta.get("paper"), "input": meta.get("input")})
    return rows
