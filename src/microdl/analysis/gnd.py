"""Evaluation and prediction for total density from GND maps (Zhang & Ngan 2019).

* :func:`mape_percent` - eqn (4), in percent;
* :func:`gnd_metrics` - MAPE of rho_t, N accuracy, confusion matrix, per-class MAPE;
* :func:`predict_windows` - batched inference on ``(n, 7, 7, 3)`` windows;
* :func:`evaluate_gnd` - :func:`predict_windows` + :func:`gnd_metrics` (+ figures);
* :func:`predict_map` - a prediction for every pixel of an ``H x W`` GND map;
* :func:`plot_rho_scatter`, :func:`plot_confusion` - PNG figures (from :mod:`microdl.analysis.gnd_figures`).

Densities are in m^-2 throughout.

References
----------
Zhang, Y. & Ngan, A. H. W. (2019). Extracting dislocation microstructures by deep learning. Int. J. Plasticity,
eqn (4), Table 1, Fig. 4.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from microdl.exceptions import InvalidParameterError, NonFiniteError, ShapeError
from microdl.data.gnd import N_CLASSES, WINDOW, windows_to_tensor
from microdl.analysis.gnd_figures import plot_confusion, plot_rho_scatter
from microdl.analysis.gnd_stats import bootstrap_intervals, pearson_log
from microdl.models.zhang2019 import target_to_rho
from microdl.simulate.gnd_config import RHO_UNIT_PER_M2

__all__ = [
    "WindowPredictions",
    "MapPredictions",
    "mape_percent",
    "gnd_metrics",
    "predict_windows",
    "evaluate_gnd",
    "predict_map",
    "plot_rho_scatter",
    "plot_confusion",
    "BorderMode",
]

BorderMode = Literal["reflect", "edge", "zero", "valid"]
_HALF = WINDOW // 2


class WindowPredictions(NamedTuple):
    """Predictions for ``n`` windows."""

    rho_t: np.ndarray
    """``(n,)`` float64 total density of the centre pixel, m^-2. Not clipped: an
    untrained or poor model can give values in ``(-rho_unit, 0)``."""
    n_lines: np.ndarray
    """``(n,)`` int64 most probable number of lines, 1..5."""
    proba: np.ndarray
    """``(n, 5)`` float32 probabilities of N = 1..5."""


class MapPredictions(NamedTuple):
    """Per-pixel predictions for an ``H x W`` map."""

    rho_t: np.ndarray
    """``(H, W)`` float64 total density in m^-2 (NaN where no prediction, ``border="valid"``)."""
    n_lines: np.ndarray
    """``(H, W)`` int64 number of lines 1..5 (0 where no prediction)."""
    log_spread: np.ndarray | None = None
    """``(H, W)`` float64 standard deviation of the members' ``ln rho_t`` for an ensemble
    (:class:`~microdl.models.gnd_ensemble.GNDEnsemble`; NaN where no prediction), else ``None``."""


def _check_positive_int(name: str, value: int) -> None:
    if not isinstance(value, (int, np.integer)) or value < 1:
        raise InvalidParameterError(f"{name} must be an integer >= 1, got {value!r}")


def mape_percent(rho_true: np.ndarray, rho_pred: np.ndarray) -> float:
    """Mean absolute percentage error, eqn (4) of Zhang & Ngan (2019), in percent.

    ``100 / m * sum(|rho_true - rho_pred| / rho_true)``.

    Parameters
    ----------
    rho_true
        True densities (any unit, > 0).
    rho_pred
        Predicted densities, same unit and shape.

    Returns
    -------
    float
        MAPE in percent (40.4 means 40.4 %).

    Examples
    --------
    >>> mape_percent([1e15, 2e15], [1.5e15, 1e15])
    50.0
    """
    t = np.asarray(rho_true, dtype=np.float64)
    p = np.asarray(rho_pred, dtype=np.float64)
    if t.shape != p.shape or t.size == 0:
        raise ShapeError(f"rho_true and rho_pred must have the same non-empty shape, "
                         f"got {t.shape} and {p.shape}")
    if not (np.isfinite(t).all() and np.isfinite(p).all()):
        raise NonFiniteError("rho_true and rho_pred must be finite")
    if (t <= 0).any():
        raise InvalidParameterError(f"rho_true must be > 0, got min {t.min()!r}")
    return float(np.mean(np.abs(t - p) / t) * 100.0)


def gnd_metrics(rho_true: np.ndarray, rho_pred: np.ndarray,
                n_true: np.ndarray, n_pred: np.ndarray) -> dict[str, Any]:
    """Table 1 metrics for any predictor (network or baseline).

    Parameters
    ----------
    rho_true, rho_pred
        ``(n,)`` densities in m^-2.
    n_true, n_pred
        ``(n,)`` line counts in 1..5.

    Returns
    -------
    dict
        ``n_windows``; ``mape_rho_t`` (percent); ``median_ape_rho_t`` (percent);
        ``n_accuracy`` (fraction); ``confusion`` (5 x 5 list of counts, row =
        true N - 1, column = predicted N - 1); ``mape_rho_t_by_n`` and
        ``n_accuracy_by_n`` (dicts keyed ``"1".."5"``, ``None`` for absent classes).
    """
    rho_true = np.asarray(rho_true, dtype=np.float64)
    rho_pred = np.asarray(rho_pred, dtype=np.float64)
    n_true = np.asarray(n_true).astype(np.int64)
    n_pred = np.asarray(n_pred).astype(np.int64)
    m = rho_true.shape[0] if rho_true.ndim == 1 else -1
    if m < 1 or rho_pred.shape != (m,) or n_true.shape != (m,) or n_pred.shape != (m,):
        raise ShapeError(
            f"rho_true, rho_pred, n_true, n_pred must be equal-length 1-D arrays, got "
            f"{rho_true.shape}, {rho_pred.shape}, {n_true.shape}, {n_pred.shape}"
        )
    for name, arr in (("n_true", n_true), ("n_pred", n_pred)):
        if arr.min() < 1 or arr.max() > N_CLASSES:
            raise InvalidParameterError(
                f"{name} must be in 1..{N_CLASSES}, got range {arr.min()}..{arr.max()}"
            )
    ape = np.abs(rho_true - rho_pred) / rho_true * 100.0
    conf = np.zeros((N_CLASSES, N_CLASSES), dtype=np.int64)
    np.add.at(conf, (n_true - 1, n_pred - 1), 1)
    by_n, acc_by_n = {}, {}
    for k in range(1, N_CLASSES + 1):
        sel = n_true == k
        by_n[str(k)] = float(ape[sel].mean()) if sel.any() else None
        acc_by_n[str(k)] = float((n_pred[sel] == k).mean()) if sel.any() else None
    return {
        "n_windows": int(m),
        "mape_rho_t": mape_percent(rho_true, rho_pred),
        "median_ape_rho_t": float(np.median(ape)),
        "n_accuracy": float((n_true == n_pred).mean()),
        "confusion": conf.tolist(),
        "mape_rho_t_by_n": by_n,
        "n_accuracy_by_n": acc_by_n,
    }


def _model_device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    if device is None:
        p = next(model.parameters(), None)
        return p.device if p is not None else torch.device("cpu")
    from microdl._device import auto_device

    return auto_device(device)


@torch.no_grad()
def _run(model: nn.Module, batches, device: torch.device, forward=None) -> WindowPredictions:
    was_training = model.training
    model.eval()
    model.to(device)
    unit = float(getattr(model, "rho_unit_per_m2", RHO_UNIT_PER_M2))
    rho, proba = [], []
    try:
        for x in batches:
            out = (forward or model)(x.to(device, non_blocking=True))
            rho.append(target_to_rho(out[:, N_CLASSES].double(), unit).cpu())
            proba.append(torch.softmax(out[:, :N_CLASSES].float(), dim=1).cpu())
    finally:
        model.train(was_training)
    rho_np = torch.cat(rho).numpy() if rho else np.zeros(0)
    proba_np = torch.cat(proba).numpy() if proba else np.zeros((0, N_CLASSES), np.float32)
    return WindowPredictions(rho_np, proba_np.argmax(1).astype(np.int64) + 1, proba_np)


def predict_windows(model: nn.Module, gnd: np.ndarray, batch_size: int = 4096,
                    device: str | torch.device | None = None) -> WindowPredictions:
    """Predict rho_t and N for GND windows (batched, no gradients, eval mode).

    Parameters
    ----------
    model
        A GND model (e.g. from :func:`microdl.models.gnd_io.load_gnd_model`).
    gnd
        ``(n, 7, 7, 3)`` windows in m^-2, channels ``[screw, edge, |rho_GND|]``.
    batch_size
        Windows per forward pass.
    device
        ``None`` keeps the model where it is; otherwise the model is moved there
        (``"auto"``: GPU if present).

    Returns
    -------
    WindowPredictions
        ``rho_t`` (m^-2), ``n_lines`` (argmax + 1) and ``proba`` (n, 5).

    Raises
    ------
    ShapeError, NonFiniteError
        For windows of the wrong shape or with NaN/inf.
    """
    _check_positive_int("batch_size", batch_size)
    x = windows_to_tensor(gnd)
    return _run(model, x.split(batch_size), _model_device(model, device))


def evaluate_gnd(
    model: nn.Module,
    gnd: np.ndarray,
    rho_t: np.ndarray,
    n_lines: np.ndarray,
    batch_size: int = 4096,
    device: str | torch.device | None = None,
    *,
    figures_dir: str | os.PathLike | None = None,
    scale: float | None = None,
    bootstrap: int = 0,
) -> dict[str, Any]:
    """Evaluate a model on labelled windows (Table 1 of Zhang & Ngan 2019).

    Parameters
    ----------
    model, gnd, batch_size, device
        As :func:`predict_windows`.
    rho_t
        ``(n,)`` true total densities in m^-2.
    n_lines
        ``(n,)`` true line counts 1..5.
    figures_dir
        If given, write ``rho_scatter.png`` and ``n_confusion.png`` there.
    scale
        A density factor fitted on validation data (:func:`microdl.analysis.gnd_stats.mape_scale`):
        adds ``scaled`` (``scale``, ``mape_rho_t``, ``median_ape_rho_t`` of ``scale * rho_pred``).
    bootstrap
        If > 0, add ``intervals`` (:func:`microdl.analysis.gnd_stats.bootstrap_intervals` with
        this many resamples) of the scaled predictions when ``scale`` is given, else of the raw ones.

    Returns
    -------
    dict
        :func:`gnd_metrics` (``mape_rho_t`` in percent, ``n_accuracy`` as a
        fraction, ``confusion`` 5 x 5, per-class values, ``pearson_log_rho_t``), plus
        ``figures`` (paths) when ``figures_dir`` is given, ``scaled`` and ``intervals``.
    """
    pred = predict_windows(model, gnd, batch_size=batch_size, device=device)
    result = gnd_metrics(rho_t, pred.rho_t, n_lines, pred.n_lines)
    result["pearson_log_rho_t"] = pearson_log(rho_t, np.maximum(pred.rho_t, 1e-300))
    headline = pred.rho_t
    if scale is not None:
        headline = scale * pred.rho_t
        ape = np.abs(headline - rho_t) / rho_t * 100.0
        result["scaled"] = {"scale": float(scale), "mape_rho_t": float(ape.mean()),
                            "median_ape_rho_t": float(np.median(ape))}
    if bootstrap:
        result["intervals"] = bootstrap_intervals(rho_t, headline, n_lines, pred.n_lines,
                                                  n_boot=bootstrap)
    if figures_dir is not None:
        figures_dir = Path(figures_dir)
        result["figures"] = {
            "rho_scatter": str(plot_rho_scatter(rho_t, pred.rho_t, figures_dir / "rho_scatter.png")),
            "n_confusion": str(plot_confusion(result["confusion"], figures_dir / "n_confusion.png",
                                              class_names=[str(k) for k in range(1, N_CLASSES + 1)],
                                              label="N")),
        }
    return result


def _map_with_magnitude(gnd_map: np.ndarray) -> np.ndarray:
    arr = np.asarray(gnd_map)
    if arr.ndim != 3 or arr.shape[2] != 2:
        raise ShapeError(f"gnd_map must have shape (H, W, 2) [screw, edge], got {arr.shape}")
    arr = arr.astype(np.float32, copy=False)
    if not np.isfinite(arr).all():
        raise NonFiniteError(
            f"gnd_map must be finite, got {int((~np.isfinite(arr)).sum())} NaN or infinite "
            "values (mask unindexed pixels before predicting)"
        )
    mag = np.hypot(arr[..., 0], arr[..., 1])
    return np.concatenate([arr, mag[..., None]], axis=2)


def predict_map(
    model: nn.Module,
    gnd_map: np.ndarray,
    *,
    border: BorderMode = "reflect",
    batch_size: int = 4096,
    device: str | torch.device | None = None,
) -> MapPredictions:
    """Predict rho_t and N at every pixel of a GND map from its 7 x 7 neighbourhood.

    The magnitude channel ``|rho_GND| = sqrt(screw^2 + edge^2)`` is built here;
    the window centred on each pixel is cut with :func:`torch.nn.functional.unfold`
    (a batch of rows at a time, no loop over pixels) and passed through the
    network exactly as :func:`predict_windows` would. A fully convolutional
    model (``model.fully_convolutional``, e.g. ``gnd-fcn7``) instead convolves
    strips of the padded map directly, which gives the same numbers as the
    window-by-window evaluation at a fraction of the cost.

    Parameters
    ----------
    model
        A GND model.
    gnd_map
        ``(H, W, 2)`` GND densities ``[screw, edge]`` in m^-2 (one slip system).
    border
        What the windows of the 3 outermost rows/columns see beyond the map:

        * ``"reflect"`` (default): the map mirrored about the edge pixel
          (``d c b | a b c d``). Dislocation lines that leave the map come back
          as their mirror images, so lines stay continuous and the density level
          and texture near the edge are those of the interior. The training
          windows were all cut from inside larger maps with continuous lines;
          this is the closest of the options to that situation. Needs
          ``H, W >= 4``.
        * ``"edge"``: the edge pixel repeated (lines continue straight out).
        * ``"zero"``: zeros, i.e. no dislocations outside the map. Lines then
          end at the border, which the network never saw in training, so
          border predictions are biased (usually low).
        * ``"valid"``: no padding; only pixels with a full 7 x 7 neighbourhood
          inside the map are predicted (Zhang & Ngan 2019, appendix A2). The
          output keeps the ``(H, W)`` grid; border pixels get ``rho_t = NaN``
          and ``n_lines = 0``.

        For quantitative averages over a map, prefer ``"valid"``; the padded
        modes are for complete maps and figures.
    batch_size
        Approximate number of windows per forward pass (whole rows are batched).
    device
        ``None`` keeps the model where it is; otherwise the model is moved there.

    Returns
    -------
    MapPredictions
        ``rho_t`` ``(H, W)`` in m^-2 and ``n_lines`` ``(H, W)``; ``log_spread`` ``(H, W)`` for
        a model with a ``spread`` method (an ensemble).

    Raises
    ------
    ShapeError
        If ``gnd_map`` is not ``(H, W, 2)`` or too small for ``border``.
    NonFiniteError
        If ``gnd_map`` holds NaN or inf (e.g. unindexed EBSD points).
    InvalidParameterError
        For an unknown ``border``.
    """
    if border not in ("reflect", "edge", "zero", "valid"):
        raise InvalidParameterError(
            f"border must be one of 'reflect', 'edge', 'zero', 'valid', got {border!r}"
        )
    _check_positive_int("batch_size", batch_size)
    full = _map_with_magnitude(gnd_map)
    h, w = full.shape[:2]
    min_side = {"reflect": _HALF + 1, "edge": 1, "zero": 1, "valid": WINDOW}[border]
    if h < min_side or w < min_side:
        raise ShapeError(
            f"gnd_map must be at least {min_side} x {min_side} pixels for border={border!r}, "
            f"got {h} x {w}"
        )
    x = torch.from_numpy(np.ascontiguousarray(full.transpose(2, 0, 1)))[None]  # (1, 3, H, W)
    if border != "valid":
        mode = {"reflect": "reflect", "edge": "replicate", "zero": "constant"}[border]
        x = F.pad(x, (_HALF, _HALF, _HALF, _HALF), mode=mode)
    out_h, out_w = x.shape[2] - 2 * _HALF, x.shape[3] - 2 * _HALF
    fully_conv = bool(getattr(model, "fully_convolutional", False))
    # A fully convolutional model shares work between neighbouring windows: give it big strips.
    rows_per_batch = max(1, (batch_size * (64 if fully_conv else 1)) // out_w)

    def batches():
        for r0 in range(0, out_h, rows_per_batch):
            r1 = min(out_h, r0 + rows_per_batch)
            if fully_conv:  # the model convolves the whole strip of rows at once
                yield x[:, :, r0:r1 + 2 * _HALF, :]
                continue
            cols = F.unfold(x[:, :, r0:r1 + 2 * _HALF, :], kernel_size=WINDOW)  # (1, 147, L)
            yield cols[0].T.reshape(-1, 3, WINDOW, WINDOW)

    def strip_forward(strip: torch.Tensor) -> torch.Tensor:  # (1, 6, rows, out_w) -> (rows*out_w, 6)
        return model.forward_map(strip).permute(0, 2, 3, 1).reshape(-1, N_CLASSES + 1)

    dev = _model_device(model, device)
    pred = _run(model, batches(), dev, strip_forward if fully_conv else None)
    rho = pred.rho_t.reshape(out_h, out_w)
    n = pred.n_lines.reshape(out_h, out_w)
    spread = None
    if hasattr(model, "spread"):
        spread = _spread(model, batches(), dev, fully_conv).reshape(out_h, out_w)
    if border == "valid":
        rho_full = np.full((h, w), np.nan)
        n_full = np.zeros((h, w), dtype=np.int64)
        rho_full[_HALF:h - _HALF, _HALF:w - _HALF] = rho
        n_full[_HALF:h - _HALF, _HALF:w - _HALF] = n
        spread_full = None
        if spread is not None:
            spread_full = np.full((h, w), np.nan)
            spread_full[_HALF:h - _HALF, _HALF:w - _HALF] = spread
        return MapPredictions(rho_full, n_full, spread_full)
    return MapPredictions(rho, n, spread)


@torch.no_grad()
def _spread(model: nn.Module, batches, device: torch.device, fully_conv: bool) -> np.ndarray:
    """The ensemble spread for the same batches as :func:`_run` (windows or strips of rows)."""
    was_training = model.training
    model.eval()
    out = []
    try:
        for x in batches:
            x = x.to(device)
            out.append((model.spread_map(x).reshape(-1) if fully_conv else model.spread(x)).double().cpu())
    finally:
        model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros(0)
