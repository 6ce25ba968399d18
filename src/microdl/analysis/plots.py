"""Figure building blocks shared by every capability.

Functions here draw on a Matplotlib ``Axes`` they are given (and return it), or
build and return a ``Figure``; labels, titles and tick names are arguments, so
the same scatter or confusion matrix serves GND line counts, prior-deformation
classes and damage types. Figures are made with :class:`matplotlib.figure.Figure`
directly, not through ``pyplot``, so they need no GUI backend and the library
never calls ``matplotlib.use``. Write them with :func:`save` (atomic).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from microdl.exceptions import ShapeError
from microdl.io._atomic import save_figure

__all__ = ["figure", "save", "scatter_true_pred", "confusion_matrix", "curves"]


def figure(nrows: int = 1, ncols: int = 1, *, size: tuple[float, float] = (4.5, 4.5), dpi: int = 120,
           squeeze: bool = True) -> tuple[Any, Any]:
    """A new ``(Figure, axes)`` pair without pyplot (works on any headless machine)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=dpi)
    axes = fig.subplots(nrows, ncols, squeeze=squeeze)
    return fig, axes


def save(fig: Any, path: str | os.PathLike, *, dpi: int | None = None, tight: bool = True) -> Path:
    """Lay out and write ``fig`` atomically; the format follows the extension."""
    if tight:
        fig.tight_layout()
    return save_figure(fig, path, dpi=dpi)


def scatter_true_pred(ax: Any, true: np.ndarray, pred: np.ndarray, *, xlabel: str, ylabel: str,
                      log: bool = True, title: str | None = None) -> Any:
    """Predicted against true values with the line y = x.

    On log axes, non-positive values cannot be drawn; they are counted in the
    title instead.
    """
    t = np.asarray(true, dtype=np.float64).ravel()
    p = np.asarray(pred, dtype=np.float64).ravel()
    ok = np.isfinite(t) & np.isfinite(p)
    if log:
        ok &= (t > 0) & (p > 0)
    ax.scatter(t[ok], p[ok], s=3, alpha=0.3, lw=0)
    if ok.any():
        lo = min(t[ok].min(), p[ok].min())
        hi = max(t[ok].max(), p[ok].max())
        ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="y = x")
        ax.legend(loc="upper left")
    elif log:  # nothing drawable; keep a sensible empty log-log frame
        ax.set_xlim(1e12, 1e17)
        ax.set_ylim(1e12, 1e17)
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    text = title or ""
    if (~ok).any():
        text += f" ({int((~ok).sum())} {'non-positive ' if log else ''}not shown)"
    ax.set_title(text.strip(), fontsize=9)
    return ax


def confusion_matrix(ax: Any, confusion: np.ndarray | Sequence[Sequence[int]], *,
                     class_names: Sequence[str], xlabel: str = "predicted", ylabel: str = "true",
                     title: str | None = None, colorbar: bool = True) -> Any:
    """Counts of a confusion matrix (rows true, columns predicted) on row-normalised colour.

    The default title is the accuracy (trace over total).
    """
    conf = np.asarray(confusion, dtype=np.int64)
    if conf.ndim != 2 or conf.shape[0] != conf.shape[1]:
        raise ShapeError(f"confusion must be a square matrix, got shape {conf.shape}")
    k = conf.shape[0]
    if len(class_names) != k:
        raise ShapeError(f"class_names must have {k} entries, got {len(class_names)}")
    frac = conf / np.maximum(conf.sum(axis=1, keepdims=True), 1)
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(conf[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if frac[i, j] > 0.5 else "black")
    ax.set_xticks(range(k), list(class_names))
    ax.set_yticks(range(k), list(class_names))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    acc = np.trace(conf) / max(conf.sum(), 1)
    ax.set_title(title or f"accuracy {acc:.1%}", fontsize=9)
    if colorbar:
        ax.figure.colorbar(im, ax=ax, fraction=0.046, label="fraction of true class")
    return ax


def curves(ax: Any, xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], *, xlabel: str, ylabel: str,
           labels: Sequence[str] | None = None, title: str | None = None, **style: Any) -> Any:
    """Several ``y(x)`` curves on one Axes (e.g. stress–strain), with an optional legend."""
    if len(xs) != len(ys):
        raise ShapeError(f"xs and ys must have the same number of curves, got {len(xs)} and {len(ys)}")
    for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
        ax.plot(x, y, label=None if labels is None else labels[i], **style)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    if labels is not None:
        ax.legend(fontsize=8)
    return ax
