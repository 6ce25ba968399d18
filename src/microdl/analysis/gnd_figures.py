"""Figures of total density from GND maps: true vs predicted rho_t, N confusion, whole maps.

Built on :mod:`microdl.analysis.plots` (Figure objects without pyplot, atomic
writes); the GND labels (class names, axis words) are arguments.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from microdl.analysis import plots

__all__ = ["plot_rho_scatter", "plot_confusion", "plot_map_prediction"]

_RHO = r"$\rho_t$ (m$^{-2}$)"


def plot_rho_scatter(rho_true: np.ndarray, rho_pred: np.ndarray, path: str | os.PathLike, *,
                     title: str | None = None, quantity: str = _RHO) -> Path:
    """Predicted vs true rho_t (m^-2) on log-log axes with the line y = x; writes a PNG.

    Non-positive predictions cannot be drawn on log axes and are counted in the
    title instead. ``quantity`` is the axis label after "true" / "predicted".
    """
    fig, ax = plots.figure(size=(4.5, 4.5), dpi=120)
    plots.scatter_true_pred(ax, rho_true, rho_pred, xlabel=f"true {quantity}", ylabel=f"predicted {quantity}",
                            log=True, title=title or "total density")
    return plots.save(fig, path)


def plot_confusion(confusion: Sequence[Sequence[int]] | np.ndarray, path: str | os.PathLike, *,
                   class_names: Sequence[str], label: str, title: str | None = None) -> Path:
    """Confusion matrix of a class label (rows true, columns predicted, row-normalised colour); PNG.

    Parameters
    ----------
    confusion
        ``(k, k)`` counts.
    path
        PNG file to write.
    class_names
        ``k`` tick labels, e.g. ``["1", ..., "5"]`` for the line count N.
    label
        Name of the label on the axes and in the default title (e.g. ``"N"``).
    title
        Title; default ``"<label> accuracy <trace / total>"``.
    """
    conf = np.asarray(confusion, dtype=np.int64)
    fig, ax = plots.figure(size=(4.5, 4), dpi=120)
    acc = np.trace(conf) / max(conf.sum(), 1) if conf.ndim == 2 else 0.0
    plots.confusion_matrix(ax, conf, class_names=class_names, xlabel=f"predicted {label}",
                           ylabel=f"true {label}", title=title or f"{label} accuracy {acc:.1%}")
    return plots.save(fig, path)


def plot_map_prediction(
    gnd_map: np.ndarray,
    rho_t: np.ndarray,
    n_lines: np.ndarray,
    path: str | os.PathLike,
    *,
    truth_rho_t: np.ndarray | None = None,
    truth_n_lines: np.ndarray | None = None,
    title: str | None = None,
    log_spread: np.ndarray | None = None,
) -> Path:
    """Save a figure of a GND map and the predicted rho_t and N maps.

    Parameters
    ----------
    gnd_map
        ``(H, W, 2)`` GND density [screw, edge] in m^-2: shown as |rho_GND| with
        arrows (subsampled to at most ~30 per side).
    rho_t, n_lines
        ``(H, W)`` predicted total density (m^-2, log colour scale) and line count.
    path
        PNG file to write.
    truth_rho_t, truth_n_lines
        Optional ground truth (e.g. for generated maps), shown in a second row.
    log_spread
        Optional ``(H, W)`` uncertainty of an ensemble (standard deviation of the members'
        ``ln rho_t``), shown as the factor ``exp(spread)`` in a fourth panel.
    """
    from matplotlib.colors import BoundaryNorm, ListedColormap, LogNorm

    has_truth = truth_rho_t is not None
    nrows = 2 if has_truth else 1
    ncols = 4 if log_spread is not None else 3
    fig, axes = plots.figure(nrows, ncols, size=(4.4 * ncols, 4.2 * nrows), dpi=110, squeeze=False)
    mag = np.hypot(gnd_map[..., 0], gnd_map[..., 1])
    positive = rho_t[rho_t > 0]
    lo = float(np.percentile(positive, 1)) if positive.size else 1e13
    hi = float(positive.max()) if positive.size else 1e16
    if has_truth:
        tpos = truth_rho_t[truth_rho_t > 0]
        if tpos.size:
            lo, hi = min(lo, float(np.percentile(tpos, 1))), max(hi, float(tpos.max()))
    rho_norm = LogNorm(vmin=max(lo, 1e10), vmax=max(hi, lo * 10))
    n_norm = BoundaryNorm(np.arange(-0.5, 6.5, 1.0), 6)
    n_cmap = ListedColormap(["#f0f0f0", "#1f77b4", "#2ca02c", "#ffbf00", "#ff7f0e", "#d62728"])
    # The networks were trained on pixels crossed by 1..5 lines: where the map has no GND
    # density at all, their output is an extrapolation, shown blank here.
    empty = mag == 0
    rho_shown = np.ma.masked_where(empty, rho_t)
    n_shown = np.ma.masked_where(empty, n_lines)

    ax = axes[0, 0]
    im = ax.imshow(mag, cmap="gray_r", origin="lower")
    h, w = mag.shape
    step = max(1, int(np.ceil(max(h, w) / 30)))
    yy, xx = np.mgrid[0:h:step, 0:w:step]
    ax.quiver(xx, yy, gnd_map[::step, ::step, 0], gnd_map[::step, ::step, 1], color="tab:red",
              angles="xy", pivot="mid", width=0.003)
    ax.set_title("input |rho_GND| (m$^{-2}$) and GND vectors")
    fig.colorbar(im, ax=ax, fraction=0.046)
    im = axes[0, 1].imshow(np.ma.clip(rho_shown, rho_norm.vmin, None), norm=rho_norm, cmap="viridis",
                           origin="lower")
    axes[0, 1].set_title("predicted rho_t (m$^{-2}$)" + (" (blank: no GND)" if empty.any() else ""))
    fig.colorbar(im, ax=axes[0, 1], fraction=0.046)
    im = axes[0, 2].imshow(n_shown, norm=n_norm, cmap=n_cmap, origin="lower")
    axes[0, 2].set_title("predicted N (lines per pixel)")
    fig.colorbar(im, ax=axes[0, 2], fraction=0.046, ticks=range(0, 6))
    if log_spread is not None:
        im = axes[0, 3].imshow(np.ma.masked_where(empty, np.exp(log_spread)), cmap="magma", origin="lower")
        axes[0, 3].set_title("ensemble uncertainty: factor exp(sd ln rho_t)")
        fig.colorbar(im, ax=axes[0, 3], fraction=0.046)
        if has_truth:
            axes[1, 3].axis("off")
    if has_truth:
        axes[1, 0].axis("off")
        truth_shown = np.ma.masked_where(truth_rho_t <= 0, np.clip(truth_rho_t, rho_norm.vmin, None))
        im = axes[1, 1].imshow(truth_shown, norm=rho_norm, cmap="viridis", origin="lower")
        axes[1, 1].set_title("true rho_t (m$^{-2}$)")
        fig.colorbar(im, ax=axes[1, 1], fraction=0.046)
        if truth_n_lines is not None:
            im = axes[1, 2].imshow(truth_n_lines, norm=n_norm, cmap=n_cmap, origin="lower")
            axes[1, 2].set_title("true N")
            fig.colorbar(im, ax=axes[1, 2], fraction=0.046, ticks=range(0, 6))
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title)
    return plots.save(fig, path, dpi=110)
