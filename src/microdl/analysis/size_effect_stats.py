"""Censoring-aware medians per width, bootstrap intervals and power-law exponents of medians.

The size effect is the change of a *typical* strength with width. Per width it is the
median over samples, with a 95 % percentile bootstrap interval that resamples the
samples of that width. A sample may be *right-censored*: a pillar that never reaches
the 0.2 % offset within the strain range has a yield stress above the highest stress it
reached. Its median is the Kaplan--Meier median (:func:`km_median`, from
:func:`scipy.stats.ecdf` of :class:`scipy.stats.CensoredData`); without censoring it is
the ordinary sample median.

The exponent is the least-squares slope of ``log median`` against ``log w`` over widths
(:func:`fit_medians`), its interval from the same bootstrap (resample within each width,
recompute every median, refit). The *local* exponents between neighbouring widths,
``-d log median / d log w``, tell a power law (about constant) from a step (large at one
pair, about zero elsewhere).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from microdl._rng import RandomLike, as_generator
from microdl.exceptions import InvalidParameterError

__all__ = ["bootstrap_width_medians", "fit_medians", "fit_power_law_of_medians", "km_median", "percentile_interval"]

_HALF = 0.5
_TOL = 1e-9


def km_median(values: Sequence[float], censored: Sequence[bool] | None = None) -> float | None:
    """Kaplan--Meier median of ``values``, where ``censored`` ones are lower bounds (right-censored).

    The median is the smallest value at which the survival function drops to 0.5 or
    below; where it equals 0.5 exactly up to the next event, the midpoint of the two
    event values (so that without censoring it is :func:`numpy.median`). ``None`` when the
    survival function stays above 0.5 over the data (more than half the mass censored),
    or without values.
    """
    v = np.asarray(values, dtype=float)
    c = np.zeros(v.shape, bool) if censored is None else np.asarray(censored, dtype=bool)
    if v.ndim != 1 or c.shape != v.shape:
        raise InvalidParameterError(f"values and censored must be 1-D of one length, got {v.shape} and {c.shape}")
    if not len(v) or c.all():
        return None
    if not c.any():
        return float(np.median(v))
    sf = stats.ecdf(stats.CensoredData(uncensored=v[~c], right=v[c])).sf
    t, p = sf.quantiles, sf.probabilities
    below = np.flatnonzero(p <= _HALF + _TOL)
    if not len(below):
        return None
    i = below[0]
    if p[i] >= _HALF - _TOL:  # flat at exactly 0.5: midpoint to the next drop
        nxt = np.flatnonzero(p[i + 1:] < _HALF - _TOL)
        if len(nxt):
            return float(0.5 * (t[i] + t[i + 1 + nxt[0]]))
    return float(t[i])


def percentile_interval(replicates: np.ndarray, level: float = 0.95) -> list[float | None]:
    """Percentile interval of bootstrap replicates; ``inf`` (undefined) replicates count as above all.

    Returns ``[lo, hi]`` with ``None`` for an end that is undefined (``inf``); both
    ``None`` without replicates.
    """
    r = np.asarray(replicates, dtype=float)
    r = r[~np.isnan(r)]
    if not len(r):
        return [None, None]
    q = np.quantile(r, [(1 - level) / 2, (1 + level) / 2], method="inverted_cdf")
    return [float(x) if np.isfinite(x) else None for x in q]


def _check(widths: Sequence[float], values: Sequence[float],
           censored: Sequence[bool] | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    w = np.asarray(widths, dtype=float)
    v = np.asarray(values, dtype=float)
    c = np.zeros(v.shape, bool) if censored is None else np.asarray(censored, dtype=bool)
    if w.ndim != 1 or w.shape != v.shape or c.shape != v.shape:
        raise InvalidParameterError(
            f"widths, values and censored must be 1-D of one length, got {w.shape}, {v.shape}, {c.shape}")
    if not len(w) or np.any(w <= 0) or np.any(v <= 0) or not np.all(np.isfinite(w)) or not np.all(np.isfinite(v)):
        raise InvalidParameterError("widths and values must be positive and finite (and at least one)")
    return w, v, c


def bootstrap_width_medians(widths: Sequence[float], values: Sequence[float],
                            censored: Sequence[bool] | None = None, *, n_boot: int = 2000,
                            seed: RandomLike = 0) -> dict[str, Any]:
    """Per-width (KM) medians with 95 % percentile bootstrap intervals.

    Parameters
    ----------
    widths, values
        One entry per sample (width in um, stress in MPa, say; positive).
    censored
        Per sample: ``True`` when the value is only a lower bound. Default: none.
    n_boot
        Bootstrap replicates; each resamples, with replacement, the samples of every width.
    seed
        Seed or :class:`numpy.random.Generator` (no global state).

    Returns
    -------
    dict
        Lists over the sorted distinct widths: ``widths``, ``n``, ``n_censored``,
        ``median`` (:func:`km_median`; ``None`` when undefined), ``lower_bound`` (the
        median with censored values at their bound: the true sample median is at least
        this), ``ci95`` (``[lo, hi]``, ``None`` for an unbounded end); and
        ``replicates``, the ``(n_boot, n_widths)`` array of replicate medians (``inf``
        where undefined), for :func:`fit_medians`.
    """
    w, v, c = _check(widths, values, censored)
    if isinstance(n_boot, bool) or int(n_boot) < 1:
        raise InvalidParameterError(f"n_boot must be an integer >= 1, got {n_boot!r}")
    rng = as_generator(seed)
    levels = np.unique(w)
    out: dict[str, Any] = {"widths": [float(x) for x in levels], "n": [], "n_censored": [], "median": [],
                           "lower_bound": [], "ci95": []}
    reps = np.empty((int(n_boot), len(levels)))
    for j, lv in enumerate(levels):
        vj, cj = v[w == lv], c[w == lv]
        out["n"].append(int(len(vj)))
        out["n_censored"].append(int(cj.sum()))
        out["median"].append(km_median(vj, cj))
        out["lower_bound"].append(float(np.median(vj)))
        idx = rng.integers(0, len(vj), (int(n_boot), len(vj)))
        for b in range(int(n_boot)):
            m = km_median(vj[idx[b]], cj[idx[b]])
            reps[b, j] = np.inf if m is None else m
        out["ci95"].append(percentile_interval(reps[:, j]))
    out["replicates"] = reps
    return out


def _slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    b, a = np.polyfit(x, y, 1)
    return float(b), float(a)


def fit_medians(medians: dict[str, Any]) -> dict[str, Any] | None:
    """Power law ``median(w) = A w^-alpha`` through the medians of :func:`bootstrap_width_medians`.

    The fit uses the widths whose median is defined; ``None`` when fewer than two are.
    Returns ``alpha``, ``alpha_se`` (sd of the bootstrap replicates), ``alpha_ci95``,
    ``prefactor`` (median at w = 1), ``widths_used``, ``widths_left_out`` (median
    undefined: more than half censored), ``n_boot_used`` (replicates whose medians at the
    used widths are all defined) and ``local``: per neighbouring pair of widths
    ``{"widths": [w1, w2], "alpha": ..., "alpha_ci95": [...]}``, ``alpha`` ``None`` where a
    median is undefined.
    """
    w = np.asarray(medians["widths"], dtype=float)
    med = np.array([np.inf if m is None else m for m in medians["median"]])
    reps = np.asarray(medians["replicates"], dtype=float)
    ok = np.isfinite(med)
    if ok.sum() < 2:
        return None
    x = np.log(w[ok])
    b, a = _slope(x, np.log(med[ok]))
    good = np.all(np.isfinite(reps[:, ok]), axis=1)
    boots = np.array([-_slope(x, np.log(r))[0] for r in reps[good][:, ok]])
    local = []
    for j in range(len(w) - 1):
        dx = np.log(w[j + 1] / w[j])
        alpha = float(-np.log(med[j + 1] / med[j]) / dx) if ok[j] and ok[j + 1] else None
        pair = reps[:, j:j + 2]
        fine = np.all(np.isfinite(pair), axis=1)
        lb = -np.log(pair[fine, 1] / pair[fine, 0]) / dx
        local.append({"widths": [float(w[j]), float(w[j + 1])], "alpha": alpha,
                      "alpha_ci95": percentile_interval(lb) if alpha is not None else [None, None]})
    return {"alpha": -b, "alpha_se": float(boots.std(ddof=1)) if len(boots) > 1 else None,
            "alpha_ci95": percentile_interval(boots), "prefactor": float(np.exp(a)),
            "widths_used": [float(x) for x in w[ok]], "widths_left_out": [float(x) for x in w[~ok]],
            "n_boot": int(len(reps)), "n_boot_used": int(good.sum()), "local": local}


def fit_power_law_of_medians(widths: Sequence[float], values: Sequence[float],
                             censored: Sequence[bool] | None = None, *, n_boot: int = 2000,
                             seed: RandomLike = 0) -> dict[str, Any]:
    """:func:`fit_medians` of :func:`bootstrap_width_medians`; raises with fewer than two usable widths.

    The result also holds the per-width table under ``"per_width"`` (without the replicates).
    """
    med = bootstrap_width_medians(widths, values, censored, n_boot=n_boot, seed=seed)
    fit = fit_medians(med)
    if fit is None:
        raise InvalidParameterError(
            "a power-law fit of medians needs at least two widths whose median is defined "
            f"(got widths {med['widths']} with medians {med['median']})")
    fit["per_width"] = {k: v for k, v in med.items() if k != "replicates"}
    return fit
