"""Size effect of compressed pillars: yield and flow stress against width, sigma ~ w^-alpha.

Measures of one monotonic compression (:func:`~microdl.simulate.ddd.protocol.simulate_loading`
to ``max_strain``; stresses in MPa in the sample summaries):

``yield_stress_mpa``
    0.2 %-offset yield stress: the first recorded point whose plastic strain
    ``strain - stress / E_pillar`` reaches 0.002 (``E_pillar`` = the pillar's elastic
    slope with clamped ends, measured at frozen dislocations).
``flow_stress_mpa``
    Mean stress over the last half of the strain range (``max_strain / 2`` to
    ``max_strain``).
``flow_noise``
    Standard deviation of the stress over that window about its least-squares line,
    divided by the flow stress (:func:`flow_noise`): the relative size of stress drops.
``n_at_<strain>``
    Dislocation count at a few total strains along the curve (:func:`count_at`).

:func:`fit_power_law` fits ``log sigma = log A - alpha log w`` by least squares over every
sample (not over per-width means), and reports alpha with its standard error and a
bootstrap interval over samples; :func:`summarise` gives per-width statistics and every
fit; :func:`size_effect_figure` and :func:`markdown_report` present them.

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

from microdl.analysis.plots import figure
from microdl.exceptions import InvalidParameterError

__all__ = [
    "COUNT_STRAINS",
    "PAPER_EXPONENT",
    "count_at",
    "fit_power_law",
    "fit_power_law_of_means",
    "flow_noise",
    "markdown_report",
    "size_effect_figure",
    "summarise",
]

#: Total strains (fractions) at which the dislocation count is reported.
COUNT_STRAINS = (0.001, 0.002, 0.005, 0.01)
#: The exponent of sigma_y ~ w^-alpha quoted by Yang et al. (2020).
PAPER_EXPONENT = 0.55
_COLORS = {"two": "C0", "one": "C1"}
_STRESSES = (("yield", "yield_stress_mpa"), ("flow", "flow_stress_mpa"))


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

    Returns ``alpha``, its standard error ``alpha_se``, a 95 % bootstrap interval over
    samples ``alpha_ci95``, ``prefactor`` (sigma at w = 1 in the units given), ``r2``,
    ``n`` and ``n_widths``. Raises :class:`InvalidParameterError` with fewer than two
    distinct widths or non-positive values.
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

    def slope(xx: np.ndarray, yy: np.ndarray) -> tuple[float, float]:
        b, a = np.polyfit(xx, yy, 1)
        return float(b), float(a)

    b, a = slope(x, y)
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
            boots.append(-slope(x[idx], y[idx])[0])
    ci = [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))] if boots else None
    return {"alpha": -b, "alpha_se": se, "alpha_ci95": ci, "prefactor": float(math.exp(a)), "r2": r2,
            "n": n, "n_widths": int(len(np.unique(w)))}


def fit_power_law_of_means(widths: Sequence[float], stresses: Sequence[float], n_boot: int = 2000,
                           seed: int = 0) -> dict[str, Any]:
    """Fit ``mean sigma(w) = A w^-alpha`` to the per-width arithmetic means.

    The log--log fit over individual samples (:func:`fit_power_law`) follows the
    geometric mean, which a heavy upper tail (the strong, source-starved small pillars)
    pulls far below the arithmetic mean; size-effect plots usually show the latter. The
    95 % interval resamples the samples within each width. Returns the keys of
    :func:`fit_power_law` (``n`` = number of samples, ``alpha_se`` from the bootstrap).
    """
    w = np.asarray(widths, dtype=float)
    s = np.asarray(stresses, dtype=float)
    if w.shape != s.shape or w.ndim != 1 or np.any(w <= 0) or np.any(s <= 0):
        raise InvalidParameterError("widths and stresses must be 1-D, of one length and positive")
    levels = np.unique(w)
    if len(levels) < 2:
        raise InvalidParameterError("a power-law fit needs at least two distinct widths")
    groups = [s[w == lv] for lv in levels]
    x = np.log(levels)
    b, a = np.polyfit(x, np.log([g.mean() for g in groups]), 1)
    rng = np.random.default_rng(seed)
    boots = np.array([-np.polyfit(x, np.log([rng.choice(g, len(g)).mean() for g in groups]), 1)[0]
                      for _ in range(n_boot)])
    return {"alpha": float(-b), "alpha_se": float(boots.std(ddof=1)),
            "alpha_ci95": [float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))],
            "prefactor": float(np.exp(a)), "n": int(len(s)), "n_widths": int(len(levels))}


def _stats(values: list[float]) -> dict[str, Any]:
    v = np.asarray([x for x in values if x is not None], dtype=float)
    if not len(v):
        return {"n": 0}
    return {"n": int(len(v)), "mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "median": float(np.median(v)), "min": float(v.min()), "max": float(v.max()),
            "cv": float(v.std(ddof=1) / v.mean()) if len(v) > 1 and v.mean() else 0.0}


def summarise(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Per (slip, width) statistics and power-law fits of yield and flow stress.

    Returns ``{"per_width": [...], "fits": {slip: {"yield": fit, "flow": fit,
    "yield_of_means": fit, "flow_of_means": fit}}}`` (:func:`fit_power_law` over samples,
    :func:`fit_power_law_of_means` over per-width means); a fit is ``None`` where fewer
    than two widths have values. Samples that never reached the
    0.2 % offset are counted (``n_no_yield``) and left out of the yield fit.
    """
    per_width, fits = [], {}
    for slip in sorted({r["slip"] for r in samples}):
        rows = [r for r in samples if r["slip"] == slip]
        for w in sorted({r["width_um"] for r in rows}):
            rw = [r for r in rows if r["width_um"] == w]
            entry = {"slip": slip, "width_um": w, "n_samples": len(rw),
                     "n_no_yield": sum(r["yield_stress_mpa"] is None for r in rw)}
            for key in ("yield_stress_mpa", "flow_stress_mpa", "max_stress_mpa", "flow_noise", "n_sources",
                        "n_dislocations_final", "n_dislocations_mean", "n_surface_steps", "seconds",
                        *[f"n_at_{e * 100:g}pct" for e in COUNT_STRAINS]):
                entry[key] = _stats([r.get(key) for r in rw])
            per_width.append(entry)
        fits[slip] = {}
        for name, key in _STRESSES:
            ok = [r for r in rows if r[key] is not None and r[key] > 0]
            for suffix, fit in (("", fit_power_law), ("_of_means", fit_power_law_of_means)):
                try:
                    fits[slip][name + suffix] = fit([r["width_um"] for r in ok], [r[key] for r in ok])
                except InvalidParameterError:
                    fits[slip][name + suffix] = None
    return {"per_width": per_width, "fits": fits}


def _fit_line(ax: Any, fit: dict[str, Any] | None, ws: list[float], color: str, style: str, label: str) -> None:
    if fit:
        xx = np.geomspace(min(ws), max(ws), 50)
        ax.plot(xx, fit["prefactor"] * xx ** -fit["alpha"], style, color=color,
                label=f"{label}: alpha = {fit['alpha']:.2f} +- {fit['alpha_se']:.2f}")


def size_effect_figure(samples: list[dict[str, Any]], summary: dict[str, Any],
                       curves: dict[str, dict[str, np.ndarray]] | None = None) -> Any:
    """Log--log yield and flow stress (MPa) against width (um) with the fits, and example curves.

    Parameters
    ----------
    samples
        Sample summaries (``width_um``, ``slip``, ``yield_stress_mpa``, ``flow_stress_mpa``).
    summary
        :func:`summarise` of ``samples``.
    curves
        Optional label -> ``{"strain", "stress_pa"}`` curves drawn in a third panel.

    Returns
    -------
    matplotlib.figure.Figure
        Write it with :func:`microdl.analysis.plots.save`.
    """
    ncol = 3 if curves else 2
    fig, axes = figure(1, ncol, size=(5 * ncol, 4.2))
    ws: list[float] = []
    for ax, (name, key) in zip(axes, _STRESSES, strict=False):
        for slip, fit in summary["fits"].items():
            color = _COLORS.get(slip, "k")
            rows = [r for r in samples if r["slip"] == slip and r[key]]
            w = np.array([r["width_um"] for r in rows])
            s = np.array([r[key] for r in rows])
            jitter = np.exp(np.random.default_rng(0).uniform(-0.04, 0.04, len(w)))
            ax.scatter(w * jitter, s, s=12, alpha=0.5, color=color)
            ws = sorted(set(w))
            ax.plot(ws, [np.mean(s[w == x]) for x in ws], "o", ms=7, mfc="none", color=color)
            _fit_line(ax, fit.get(name) if fit else None, ws, color, "-", f"{slip} slip, samples")
            _fit_line(ax, fit.get(name + "_of_means") if fit else None, ws, color, "--", f"{slip} slip, means (o)")
        if ws:
            xx = np.geomspace(min(ws), max(ws), 50)
            ref = np.exp(np.mean(np.log([r[key] for r in samples if r[key]])))
            ax.plot(xx, ref * (xx / np.exp(np.mean(np.log(ws)))) ** -PAPER_EXPONENT, "k:", lw=1,
                    label=f"slope -{PAPER_EXPONENT} (paper)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("width w (um)")
        ax.set_ylabel(f"{name} stress (MPa)")
        ax.set_title("0.2 % offset yield stress" if name == "yield" else "flow stress (mean, last half)")
        ax.legend(fontsize=8)
    if curves:
        ax = axes[2]
        for i, (label, c) in enumerate(curves.items()):
            ax.plot(100 * c["strain"], c["stress_pa"] / 1e6, lw=0.8, color=f"C{i}", label=label)
        ax.set_xlabel("strain (%)")
        ax.set_ylabel("stress (MPa)")
        ax.set_title("one curve per width (sample 0)")
        ax.legend(fontsize=8)
    return fig


def _fmt(st: dict[str, Any], scale: float = 1.0, digits: int = 0) -> str:
    if not st.get("n"):
        return "-"
    return f"{st['mean'] * scale:.{digits}f} +- {st['sd'] * scale:.{digits}f}"


def markdown_report(summary: dict[str, Any], *, n_samples: int, max_strain: float, command: str,
                    figure_name: str) -> str:
    """``results.md`` of a size-effect study: the per-width table and every fit (stresses in MPa)."""
    lines = [
        "# 2D DDD size effect", "",
        f"Command: `{command}`", "",
        f"{n_samples} samples, monotonic compression to {100 * max_strain:g} % strain at 1e4 /s, Al preset, "
        "aspect 1:4, clamped ends. Stresses in MPa, mean +- sd over samples; yield = 0.2 % offset (samples that "
        f"never reach it are counted under 'no yield' and left out); flow = mean stress from {50 * max_strain:g} "
        f"to {100 * max_strain:g} % strain; flow noise = sd of the stress about a straight line over that window "
        "/ flow stress; N = dislocations inside the pillar.", "",
        "| slip | width (um) | samples | sources | yield (0.2 %) | no yield | flow | flow noise (%) "
        "| N at 0.2 % | N at 1 % | s/sample |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in summary["per_width"]:
        lines.append(
            f"| {e['slip']} | {e['width_um']:g} | {e['n_samples']} | {_fmt(e['n_sources'], digits=1)} "
            f"| {_fmt(e['yield_stress_mpa'])} | {e['n_no_yield']} | {_fmt(e['flow_stress_mpa'])} "
            f"| {_fmt(e['flow_noise'], 100, 1)} | {_fmt(e['n_at_0.2pct'], digits=1)} "
            f"| {_fmt(e['n_at_1pct'], digits=1)} | {_fmt(e['seconds'])} |")
    lines += ["", "Fits sigma = A w^-alpha with 95 % bootstrap intervals: over samples (least squares in "
              "log-log, i.e. through the geometric means) and over the per-width arithmetic means:", ""]
    for slip, sfits in summary["fits"].items():
        for name, f in sfits.items():
            if f:
                ci = f["alpha_ci95"]
                how = "per-width means" if name.endswith("_of_means") else "samples"
                r2 = f" R^2 = {f['r2']:.2f}," if "r2" in f else ""
                lines.append(f"- {slip} slip, {name.replace('_of_means', '')} stress, fit over {how}: alpha = "
                             f"{f['alpha']:.3f} +- {f['alpha_se']:.3f} (95 % CI {ci[0]:.2f} to {ci[1]:.2f}),{r2} "
                             f"n = {f['n']}")
    lines += ["", f"Figure: `{figure_name}`.", ""]
    return "\n".join(lines)
