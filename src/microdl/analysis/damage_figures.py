"""Figures of damage sites: positions over the panorama, example crops, counts per class."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["CLASS_COLOURS", "sites_overlay", "crops_grid", "class_counts_bar"]

# one colour per damage class (colour-blind safe, Okabe-Ito), grey for anything else
CLASS_COLOURS = {"inclusion": "#E69F00", "martensite": "#56B4E9", "interface": "#009E73", "notch": "#D55E00",
                 "shadow": "#CC79A7", "uncertain": "#999999", None: "#F0E442"}


def sites_overlay(ax: Any, thumb: np.ndarray, factor: int, sites: Sequence[dict], *,
                  labels: Sequence[str | None] | None = None, pixel_size_um: float | None = None,
                  title: str | None = None) -> Any:
    """Draw the overview ``thumb`` (block factor ``factor``) with a circle per site, coloured by label."""
    ax.imshow(thumb, cmap="gray", interpolation="nearest")
    labels = list(labels) if labels is not None else [None] * len(sites)
    for lab in dict.fromkeys(labels):
        pick = [s for s, la in zip(sites, labels, strict=True) if la == lab]
        xs = np.array([s["x"] for s in pick]) / factor
        ys = np.array([s["y"] for s in pick]) / factor
        ax.scatter(xs, ys, s=40, facecolors="none", edgecolors=CLASS_COLOURS.get(lab, "#0072B2"), linewidths=1.2,
                   label=f"{lab or 'candidate'} ({len(pick)})")
    if sites:
        ax.legend(loc="upper right", fontsize=7, framealpha=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    if pixel_size_um:
        h, w = thumb.shape
        ax.set_xlabel(f"{w * factor * pixel_size_um:.0f} µm x {h * factor * pixel_size_um:.0f} µm")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def crops_grid(fig: Any, crops: np.ndarray, titles: Sequence[str], *, ncols: int = 8) -> Any:
    """A grid of crops (``(n, s, s)``) with a title each, on a Figure; returns it."""
    n = len(crops)
    nrows = max(1, -(-n // ncols))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i < n:
            ax.imshow(crops[i], cmap="gray", interpolation="nearest")
            ax.set_title(titles[i], fontsize=7)
    return fig


def class_counts_bar(ax: Any, counts: dict[str, float], *, ylabel: str, title: str | None = None) -> Any:
    """Bars of a value per class (e.g. sites per mm²), in the classes' colours."""
    names = list(counts)
    ax.bar(range(len(names)), [counts[n] for n in names], color=[CLASS_COLOURS.get(n, "#0072B2") for n in names])
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=9)
    return ax
