"""Evaluating prior-deformation classifiers of strain profiles: probabilities, accuracy tables, figures.

* :func:`profile_probabilities`: the softmax of one or several models (an ensemble)
  averaged over each profile's 24 crops;
* :func:`accuracy_report`: overall accuracy, per width, per subset and width (the layout
  of Table 2 of Yang et al. 2020: rows reload strain x slip type, columns widths), the
  confusion matrix, all JSON-friendly;
* :func:`report_markdown`, :func:`accuracy_figure`: the tables as Markdown and a figure
  (confusion matrices and accuracy against width, one line per model).

References
----------
Yang, Z. et al. (2020). Sci. Rep. 10, 8262, Table 2 and Fig. 2.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from microdl.analysis import plots
from microdl.data.strain_crops import N_CROPS, strain_crops
from microdl.data.strain_profiles import CLASS_LABELS, StrainProfiles
from microdl.exceptions import InvalidParameterError, ShapeError

__all__ = ["profile_probabilities", "accuracy_report", "report_markdown", "accuracy_figure"]


def profile_probabilities(models: nn.Module | Sequence[nn.Module], profiles: StrainProfiles | Sequence[np.ndarray], *,
                          crop: int = 224, antialias: bool = False, round_uint8: bool = True,
                          batch_profiles: int = 8, progress: bool = False) -> np.ndarray:
    """Mean softmax over each profile's 24 crops, averaged over ``models`` (an ensemble).

    Parameters
    ----------
    models
        One classifier or several (their profile probabilities are averaged).
    profiles
        :class:`~microdl.data.strain_profiles.StrainProfiles` or a list of 2D arrays.
    crop, antialias, round_uint8
        The preprocessing the models were trained with (:func:`~microdl.data.strain_crops.strain_crops`).
    batch_profiles
        Profiles per forward pass (``24 * batch_profiles`` crops).
    progress
        Progress bar (stderr).

    Returns
    -------
    numpy.ndarray
        ``(n_profiles, n_classes)`` float64, rows summing to 1.
    """
    models = [models] if isinstance(models, nn.Module) else list(models)
    if not models:
        raise InvalidParameterError("models must hold at least one model")
    images = profiles.images if isinstance(profiles, StrainProfiles) else list(profiles)
    names = ([m["file"] for m in profiles.meta] if isinstance(profiles, StrainProfiles)
             else [f"profile {i}" for i in range(len(images))])
    if not len(images):
        raise InvalidParameterError("profiles must hold at least one profile")
    modes = [m.training for m in models]
    out = []
    starts = range(0, len(images), batch_profiles)
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="profiles", unit="batch")
    try:
        for m in models:
            m.eval()
        with torch.inference_mode():
            for s in starts:
                x = torch.cat([strain_crops(im, crop, antialias=antialias, round_uint8=round_uint8, name=str(n))
                               for im, n in zip(images[s:s + batch_profiles], names[s:s + batch_profiles],
                                                strict=True)])
                p = 0.0
                for m in models:
                    dev = next(m.parameters()).device
                    p = p + torch.softmax(m(x.to(dev)).float(), 1).cpu()
                p = (p / len(models)).reshape(-1, N_CROPS, p.shape[1]).mean(1)
                out.append(p.double().numpy())
    finally:
        for m, mode in zip(models, modes, strict=True):
            m.train(mode)
    return np.concatenate(out)


def _acc(correct: np.ndarray) -> float | None:
    return float(correct.mean()) if len(correct) else None


def accuracy_report(probabilities: np.ndarray, labels: np.ndarray,
                    meta: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Accuracy overall, per width and per (reload, slip) x width, and the confusion matrix.

    Parameters
    ----------
    probabilities
        ``(n, n_classes)`` class probabilities per profile.
    labels
        True class per profile.
    meta
        Per profile ``width_um``, ``slip``, ``reload_pct`` (``None`` where unknown).

    Returns
    -------
    dict
        ``n``, ``accuracy``, ``confusion`` (rows true, columns predicted), ``classes``,
        ``per_width`` ({width: {"n", "accuracy"}}), ``table`` (rows ``{"reload_pct", "slip",
        "width_um", "n", "accuracy"}``) and ``per_class_recall``.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels).astype(np.int64)
    if p.ndim != 2 or len(p) != len(y):
        raise ShapeError(f"probabilities must be (n, n_classes) with n = len(labels) = {len(y)}, got {p.shape}")
    meta = list(meta) if meta is not None else [{}] * len(y)
    if len(meta) != len(y):
        raise ShapeError(f"meta must have one entry per profile ({len(y)}), got {len(meta)}")
    k = p.shape[1]
    pred = p.argmax(1)
    ok = pred == y
    conf = np.zeros((k, k), dtype=np.int64)
    np.add.at(conf, (y, pred), 1)
    by_width: dict[float, list[int]] = defaultdict(list)
    by_cell: dict[tuple, list[int]] = defaultdict(list)
    for i, m in enumerate(meta):
        w = m.get("width_um")
        by_width[float(w) if w is not None else float("nan")].append(i)
        by_cell[(m.get("reload_pct"), m.get("slip"), w)].append(i)
    per_width = {f"{w:g}": {"n": len(ix), "accuracy": _acc(ok[ix])} for w, ix in sorted(by_width.items())}
    table = [{"reload_pct": r, "slip": s, "width_um": w, "n": len(ix), "accuracy": _acc(ok[ix])}
             for (r, s, w), ix in sorted(by_cell.items(), key=lambda t: tuple(str(v) for v in t[0]))]
    recall = {CLASS_LABELS[c] if k == len(CLASS_LABELS) else str(c): _acc(ok[y == c]) for c in range(k)}
    return {"n": int(len(y)), "accuracy": _acc(ok), "confusion": conf.tolist(),
            "classes": list(CLASS_LABELS) if k == len(CLASS_LABELS) else [str(c) for c in range(k)],
            "per_width": per_width, "table": table, "per_class_recall": recall}


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f}"


def report_markdown(reports: Mapping[str, Mapping[str, Any]], *, title: str = "Accuracy") -> str:
    """Markdown tables of several :func:`accuracy_report` results (one per model or baseline).

    First a summary (overall and per width, one row per model), then per model the
    Table 2 layout (rows reload x slip, columns widths) and the confusion matrix.
    """
    if not reports:
        raise InvalidParameterError("reports must hold at least one report")
    widths = sorted({w for r in reports.values() for w in r["per_width"]}, key=float)
    lines = [f"## {title}", "", "| model | n | overall % | " + " | ".join(f"{w} um %" for w in widths) + " |",
             "|---|---|---|" + "---|" * len(widths)]
    for name, r in reports.items():
        cells = [_pct(r["per_width"].get(w, {}).get("accuracy")) for w in widths]
        lines.append(f"| {name} | {r['n']} | {_pct(r['accuracy'])} | " + " | ".join(cells) + " |")
    for name, r in reports.items():
        lines += ["", f"### {name}: accuracy % per subset (n in brackets)", "",
                  "| reload % | slip | " + " | ".join(f"{w} um" for w in widths) + " |",
                  "|---|---|" + "---|" * len(widths)]
        rows: dict[tuple, dict[str, str]] = defaultdict(dict)
        for t in r["table"]:
            w = f"{float(t['width_um']):g}" if t["width_um"] is not None else "nan"
            rows[(t["reload_pct"], t["slip"])][w] = f"{_pct(t['accuracy'])} ({t['n']})"
        for (rel, slip), cells in sorted(rows.items(), key=lambda t: tuple(str(v) for v in t[0])):
            lines.append(f"| {'–' if rel is None else f'{rel:g}'} | {slip or '–'} | "
                         + " | ".join(cells.get(w, "–") for w in widths) + " |")
        classes = r["classes"]
        lines += ["", "Confusion matrix (rows true, columns predicted):", "",
                  "| true \\ predicted | " + " | ".join(f"{c} %" for c in classes) + " |",
                  "|---|" + "---|" * len(classes)]
        lines += [f"| {c} % | " + " | ".join(str(v) for v in row) + " |"
                  for c, row in zip(classes, r["confusion"], strict=True)]
    return "\n".join(lines) + "\n"


def accuracy_figure(reports: Mapping[str, Mapping[str, Any]]) -> Any:
    """Figure: accuracy against width (one line per model) and the confusion matrix of each model."""
    if not reports:
        raise InvalidParameterError("reports must hold at least one report")
    n = len(reports)
    fig, axes = plots.figure(1, n + 1, size=(3.6 * (n + 1), 3.4), squeeze=False)
    ax = axes[0, 0]
    for name, r in reports.items():
        ws = sorted((float(w), v["accuracy"]) for w, v in r["per_width"].items() if v["accuracy"] is not None)
        if ws:
            ax.plot([w for w, _ in ws], [100 * a for _, a in ws], "o-", label=name)
    ax.set_xscale("log")
    ax.set_xlabel("pillar width (um)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.axhline(100 / 3, color="0.6", lw=0.8, ls=":", label="chance")
    ax.legend(fontsize=7)
    for a, (name, r) in zip(axes[0, 1:], reports.items(), strict=True):
        plots.confusion_matrix(a, r["confusion"], class_names=[f"{c} %" for c in r["classes"]],
                               title=f"{name}: {_pct(r['accuracy'])} %", colorbar=False)
    return fig
