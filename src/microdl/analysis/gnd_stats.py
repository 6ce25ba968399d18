"""Error bars and calibration for total-density predictions (NumPy only).

* :func:`mape_scale` - the factor ``k`` minimising the MAPE of ``k * rho_pred``, exactly;
* :func:`bootstrap_intervals` - percentile bootstrap intervals of the Table 1 metrics
  (MAPE, median APE, MAPE per N, Pearson of ``ln rho_t``, N accuracy), resampling windows.

Why a scale: a model trained on a log-space loss (MSLE) estimates a geometric mean, which for
a skewed error distribution is biased low for the mean absolute percentage error. Fitting one
factor on *validation* data removes the bias without touching the test set.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from microdl.exceptions import InvalidParameterError, ShapeError

__all__ = ["bootstrap_intervals", "mape_scale", "pearson_log"]


def _pair(rho_true: object, rho_pred: object, positive_pred: bool = True) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(rho_true, dtype=np.float64)
    p = np.asarray(rho_pred, dtype=np.float64)
    if t.ndim != 1 or t.shape != p.shape or t.size == 0:
        raise ShapeError(f"rho_true and rho_pred must be equal-length 1-D arrays, got {t.shape} and {p.shape}")
    if not (np.isfinite(t).all() and np.isfinite(p).all()):
        raise InvalidParameterError("rho_true and rho_pred must be finite")
    if (t <= 0).any() or (positive_pred and (p <= 0).any()):
        raise InvalidParameterError("rho_true and rho_pred must be > 0" if positive_pred else "rho_true must be > 0")
    return t, p


def mape_scale(rho_true: object, rho_pred: object) -> float:
    """The factor ``k > 0`` that minimises ``mean(|k p - t| / t)``.

    ``sum |k p_i - t_i| / t_i = sum w_i |k - r_i|`` with ``r_i = t_i / p_i`` and weights
    ``w_i = p_i / t_i``, so the minimiser is the ``w``-weighted median of ``r`` (exact, no grid).
    A prediction ``p_i <= 0`` (a linear-output model can make one) adds ``1 + k |p_i| / t_i``,
    a constant pull towards smaller ``k`` that shifts the median.

    Parameters
    ----------
    rho_true, rho_pred
        ``(n,)`` densities (any one unit), e.g. on the validation set; ``rho_true > 0`` and at
        least one ``rho_pred > 0``.

    Returns
    -------
    float
        The factor (dimensionless).

    Examples
    --------
    >>> round(mape_scale([1.0, 1.0, 1.0], [2.0, 2.0, 2.0]), 6)
    0.5
    """
    t, p = _pair(rho_true, rho_pred, positive_pred=False)
    pos = p > 0
    if not pos.any():
        raise InvalidParameterError("rho_pred must hold at least one value > 0 to fit a scale")
    pull = float(np.sum(-p[~pos] / t[~pos]))
    r = t[pos] / p[pos]
    w = p[pos] / t[pos]
    order = np.argsort(r)
    cum = np.cumsum(w[order])
    # the slope in k is cum_le - (W - cum_le) + pull: the first r where it turns >= 0
    i = int(np.searchsorted(cum, 0.5 * (cum[-1] - pull)))
    return float(r[order][min(max(i, 0), len(r) - 1)])


def pearson_log(rho_true: object, rho_pred: object) -> float:
    """Pearson correlation of ``ln rho_true`` and ``ln rho_pred`` (NaN if either is constant)."""
    t, p = _pair(rho_true, rho_pred)
    a, b = np.log(t), np.log(p)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _metrics(t: np.ndarray, p: np.ndarray, nt: np.ndarray | None, npred: np.ndarray | None,
             classes: list[int]) -> dict[str, float]:
    ape = np.abs(p - t) / t * 100.0
    out = {"mape_rho_t": float(ape.mean()), "median_ape_rho_t": float(np.median(ape)),
           "pearson_log_rho_t": pearson_log(t, np.maximum(p, 1e-300))}
    if nt is not None:
        for k in classes:
            sel = nt == k
            out[f"mape_rho_t_n{k}"] = float(ape[sel].mean()) if sel.any() else float("nan")
        if npred is not None:
            out["n_accuracy"] = float(np.mean(nt == npred))
    return out


def bootstrap_intervals(rho_true: object, rho_pred: object, n_true: object = None, n_pred: object = None, *,
                        n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> dict[str, Any]:
    """Point values and percentile bootstrap intervals of the window metrics.

    Windows are resampled with replacement ``n_boot`` times; each metric's interval is the
    ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles of its bootstrap distribution. The
    interval says how much the number would move on another test set of the same size from
    the same generator (it does not cover training randomness: retrain with another seed for that).

    Parameters
    ----------
    rho_true, rho_pred
        ``(n,)`` densities, ``rho_true > 0`` (a prediction <= 0 enters the Pearson
        correlation of logarithms as 1e-300).
    n_true, n_pred
        ``(n,)`` line counts (optional; ``n_true`` alone gives the MAPE per N).
    n_boot, level, seed
        Resamples, coverage and the seed of the resampling.

    Returns
    -------
    dict
        ``{metric: {"value": v, "low": lo, "high": hi}}`` for ``mape_rho_t``,
        ``median_ape_rho_t``, ``pearson_log_rho_t``, ``mape_rho_t_n1..n5`` and ``n_accuracy``
        (percent for the APE metrics, fractions for the accuracy), plus ``n_boot`` and ``level``.
    """
    t, p = _pair(rho_true, rho_pred, positive_pred=False)
    nt = None if n_true is None else np.asarray(n_true, dtype=np.int64)
    npred = None if n_pred is None else np.asarray(n_pred, dtype=np.int64)
    for name, arr in (("n_true", nt), ("n_pred", npred)):
        if arr is not None and arr.shape != t.shape:
            raise ShapeError(f"{name} must have shape {t.shape}, got {arr.shape}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, int) or n_boot < 10:
        raise InvalidParameterError(f"n_boot must be an integer >= 10, got {n_boot!r}")
    if not 0.0 < level < 1.0:
        raise InvalidParameterError(f"level must be in (0, 1), got {level!r}")
    classes = sorted(set(nt.tolist())) if nt is not None else []
    point = _metrics(t, p, nt, npred, classes)
    rng = np.random.default_rng(seed)
    samples = {k: np.empty(n_boot) for k in point}
    for b in range(n_boot):
        idx = rng.integers(0, len(t), len(t))
        m = _metrics(t[idx], p[idx], None if nt is None else nt[idx], None if npred is None else npred[idx], classes)
        for k in point:
            samples[k][b] = m[k]
    q = ((1 - level) / 2 * 100, (1 + level) / 2 * 100)
    out: dict[str, Any] = {}
    for k, v in point.items():
        lo, hi = np.nanpercentile(samples[k], q)
        out[k] = {"value": v, "low": float(lo), "high": float(hi)}
    out["n_boot"] = n_boot
    out["level"] = level
    return out
