"""Size effect of compressed pillars: measures per sample, per-width medians, sigma ~ w^-alpha.

Measures of one monotonic compression (:func:`~microdl.simulate.ddd.protocol.simulate_loading`
to ``max_strain``; stresses in MPa in the sample summaries):

``yield_stress_mpa``
    0.2 %-offset yield stress: the first recorded point whose plastic strain
    ``strain - stress / E_pillar`` reaches 0.002 (``E_pillar`` = the pillar's elastic
    slope with clamped ends, measured at frozen dislocations). ``None`` when the offset is
    not reached within the strain range: the sample is *right-censored*, its yield stress
    taken to exceed ``max_stress_mpa``, the highest stress it reached.
``flow_stress_mpa``
    Mean stress over the last half of the strain range (``max_strain / 2`` to
    ``max_strain``).
``flow_noise``
    Standard deviation of the stress over that window about its least-squares line,
    divided by the flow stress (:func:`flow_noise`): the relative size of stress drops.
``n_at_<strain>``
    Dislocation count at a few total strains along the curve (:func:`count_at`).

:func:`summarise` gives, per slip type and width, the Kaplan--Meier median yield stress
and the median flow stress with 95 % bootstrap intervals, and per slip type the exponent
of a power law through those medians with its local (pairwise) values
(:mod:`microdl.analysis.size_effect_stats`); :func:`fit_power_law`, the older least-squares
fit over individual samples, is kept beside it for comparison. Figure and report text:
:mod:`microdl.analysis.size_effect_report`.

References
----------
Z. Yang et al., Sci. Rep. 10, 8262 (2020) (quoting sigma_y ~ w^-0.55);
S. Papanikolaou, H. Song and E. Van der Giessen, J. Mech. Phys. Solids 102, 17 (2017).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from microdl._rng import RandomLike, as_generator
from microdl.analysis.size_effect_stats import bootstrap_width_medians, fit_medians
from microdl.exceptions import InvalidParameterError

__all__ = [
    "COUNT_STRAINS",
    "PAPER_EXPONENT",
    "STRESSES",
    "count_at",
    "fit_power_law",
    "flow_noise",
    "stress_values",
    "summarise",
]

#: Total strains (fractions) at which the dislocation count is reported.
COUNT_STRAINS = (0.001, 0.002, 0.005, 0.01)
#: The exponent of sigma_y ~ w^-alpha quoted by Yang et al. (2020).
PAPER_EXPONENT = 0.55
#: The two stresses of the study: name -> sample key.
STRESSES = {"yield": "yield_stress_mpa", "flow": "flow_stress_mpa"}


def flow_noise(strain: np.ndarray, stress: np.ndarray, lo: float) -> float | None:
    """Relative stress noise above strain ``lo``: sd about the least-squares line / mean stress.

    ``None`` with fewer than three points or a non-positive mean.
    """
    m = strain >= lo
    if m.sum() < 3:
        return None
    coef = np.polyfit(strain[m], stress[m], 1)
    resid = stress[m] - np.polyval(coef, strain[m])
    mean = float(stress[m].mean())
    return float(resid.std() / mean) if mean > 0 else None


def count_at(strain: np.ndarray, counts: np.ndarray, eps: float) -> int | None:
    """The dislocation count at the first recorded strain >= ``eps``; ``None`` if never reached."""
    idx = np.flatnonzero(strain >= eps * (1 - 1e-9))
    return int(counts[idx[0]]) if len(idx) else None


def fit_power_law(widths: Sequence[float], stresses: Sequence[float], n_boot: int = 2000,
                  seed: int = 0) -> dict[str, Any]:
    """Least-squares fit of ``sigma = A w^-alpha`` in log--log over individual samples.

    The older fit, kept for comparison: it follows the per-width geometric means, weighs
    widths by their sample counts, and cannot use censored samples. Returns ``alpha``,
    its standard error ``alpha_se``, a 95 % bootstrap interval over samples
    ``alpha_ci95``, ``prefactor`` (sigma at w = 1 in the units given), ``r2``, ``n`` and
    ``n_widths``. Raises :class:`InvalidParameterError` with fewer than two distinct
    widths or non-positive values.
    """
    w = np.asarray(widths, dtype=float)
    s = np.asarray(stresses, dtype=float)
    if w.shape != s.shape or w.ndim != 1:
        raise InvalidParameterError(f"widths and stresses must be 1-D of one length, got {w.shape} and {s.shape}")
    if np.any(w <= 0) or np.any(s <= 0) or not np.all(np.isfinite(w)) or not np.all(np.isfinite(s)):
        raise InvalidParameterError("widths and stresses must be positive and finite for a log-log fit")
    if len(np.unique(w)) < 2:
        raise InvalidParameterError("a power-law fit needs at least two distinct widths")
    x, y = np.log(w), np.log(s)
    b, a = np.polyfit(x, y, 1)
    resid = y - (a + b * x)
    n = len(x)
    sxx = float(((x - x.mean()) ** 2).sum())
    se = float(math.sqrt(resid @ resid / (n - 2) / sxx)) if n > 2 else float("nan")
    ss_tot = float(((y - y.mean()) ** 2).sum())
    r2 = 1.0 - float(resid @ resid) / ss_tot if ss_tot > 0 else float("nan")
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, n, n)
        if len(np.unique(x[idx])) >= 2:
            boots.append(-float(np.polyfit(x[idx], y[idx], 1)[0]))
    ci = [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))] if boots else None
    return {"alpha": float(-b), "alpha_se": se, "alpha_ci95": ci, "prefactor": float(math.exp(a)), "r2": r2,
            "n": n, "n_widths": int(len(np.unique(w)))}


def stress_values(rows: list[dict[str, Any]], name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(widths, values, censored)`` of the ``"yield"`` or ``"flow"`` stress of sample summaries.

    Yield: a sample that never reached the 0.2 % offset enters at ``max_stress_mpa`` with
    ``censored`` True. Flow: samples without a flow stress are left out (never censored).
    """
    if name not in STRESSES:
        raise InvalidParameterError(f"stress must be one of {sorted(STRESSES)}, got {name!r}")
    key = STRESSES[name]
    w, v, c = [], [], []
    for r in rows:
        value, cens = r.get(key), False
        if value is None and name == "yield":
            value, cens = r.get("max_stress_mpa"), True
        if value is not None and value > 0:
            w.append(float(r["width_um"]))
            v.append(float(value))
            c.append(cens)
    return np.asarray(w, dtype=float), np.asarray(v, dtype=float), np.asarray(c, dtype=bool)


def _stats(values: list[float]) -> dict[str, Any]:
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if not len(v):
        return {"n": 0}
    return {"n": int(len(v)), "mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "median": float(np.median(v)), "min": float(v.min()), "max": float(v.max()),
            "cv": float(v.std(ddof=1) / v.mean()) if len(v) > 1 and v.mean() else 0.0}


def _median_entry(med: dict[str, Any] | None, width: float) -> dict[str, Any] | None:
    if med is None or width not in med["widths"]:
        return None
    j = med["widths"].index(width)
    return {k: med[k][j] for k in ("n", "n_censored", "median", "lower_bound", "ci95")}


def summarise(samples: list[dict[str, Any]], *, n_boot: int = 2000, seed: RandomLike = 0) -> dict[str, Any]:
    """Per (slip, width) medians with bootstrap intervals, and power-law exponents of the medians.

    Returns ``{"per_width": [...], "fits": {slip: {...}}, "n_boot": n_boot}``. A
    ``per_width`` entry holds ``slip``, ``width_um``, ``n_samples``, ``n_no_yield`` (the
    censored samples), ``yield`` and ``flow`` (``n``, ``n_censored``, ``median`` -- the
    Kaplan--Meier median for yield, ``None`` when more than half the samples are censored
    --, ``lower_bound``, ``ci95``: see :func:`~.size_effect_stats.bootstrap_width_medians`)
    and mean/sd/median statistics of every other measure. ``fits[slip]`` holds ``yield``
    and ``flow`` (:func:`~.size_effect_stats.fit_medians`: the exponent through the
    per-width medians, with local exponents) and ``yield_samples`` and ``flow_samples``
    (:func:`fit_power_law` over individual, uncensored samples); a fit is ``None`` where
    fewer than two widths have values.
    """
    rng = as_generator(seed)
    per_width, fits = [], {}
    for slip in sorted({r["slip"] for r in samples}):
        rows = [r for r in samples if r["slip"] == slip]
        meds: dict[str, dict[str, Any] | None] = {}
        fits[slip] = {}
        for name in STRESSES:
            w, v, c = stress_values(rows, name)
            meds[name] = bootstrap_width_medians(w, v, c, n_boot=n_boot, seed=rng) if len(w) else None
            fits[slip][name] = fit_medians(meds[name]) if meds[name] else None
            try:
                fits[slip][name + "_samples"] = fit_power_law(w[~c], v[~c], n_boot=n_boot)
            except InvalidParameterError:
                fits[slip][name + "_samples"] = None
        for width in sorted({r["width_um"] for r in rows}):
            rw = [r for r in rows if r["width_um"] == width]
            entry = {"slip": slip, "width_um": width, "n_samples": len(rw),
                     "n_no_yield": sum(r["yield_stress_mpa"] is None for r in rw),
                     **{name: _median_entry(meds[name], float(width)) for name in STRESSES}}
            for key in ("yield_stress_mpa", "flow_stress_mpa", "max_stress_mpa", "flow_noise", "n_sources",
                        "n_dislocations_final", "n_dislocations_mean", "n_surface_steps", "seconds",
                        *[f"n_at_{e * 100:g}pct" for e in COUNT_STRAINS]):
                entry[key] = _stats([r.get(key) for r in rw])
            per_width.append(entry)
    return {"per_width": per_width, "fits": fits, "n_boot": int(n_boot)}
