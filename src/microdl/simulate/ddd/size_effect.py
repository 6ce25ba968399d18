"""Size effect of compressed pillars: yield and flow stress against width, sigma ~ w^-alpha.

Each *sample* is a monotonic compression (:func:`~microdl.simulate.ddd.protocol.simulate_loading`)
of one (width, slip, seed) to ``max_strain``. From its curve:

``yield_stress_pa``
    0.2 %-offset yield stress: the first recorded point whose plastic strain
    ``strain - stress / E_pillar`` reaches 0.002 (``E_pillar`` = the pillar's elastic
    slope with clamped ends, measured at frozen dislocations).
``flow_stress_pa``
    Mean stress over the last half of the strain range (``max_strain / 2`` to
    ``max_strain``).
``flow_noise``
    Standard deviation of the stress over that window about its least-squares line,
    divided by the flow stress: the relative size of stress drops and serrations.
``n_at_<strain>``
    Dislocation count at a few total strains along the curve.

:func:`fit_power_law` fits ``log sigma = log A - alpha log w`` by least squares over every
sample (not over per-width means), and reports alpha with its standard error and a
bootstrap interval over samples.

The grid runs through :func:`microdl.data.jobs.run_jobs` (one ``.npz`` per sample,
resumable, local processes or Dask), like :mod:`.dataset`.

References
----------
Z. Yang et al., Sci. Rep. 10, 8262 (2020) (quoting sigma_y ~ w^-0.55);
S. Papanikolaou, H. Song and E. Van der Giessen, J. Mech. Phys. Solids 102, 17 (2017).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from microdl.data.jobs import Job, JobsReport, run_jobs
from microdl.exceptions import DataFileError, InvalidParameterError
from microdl.provenance import environment, to_jsonable

__all__ = [
    "COUNT_STRAINS",
    "fit_power_law",
    "fit_power_law_of_means",
    "load_samples",
    "run_loading_sample",
    "run_size_effect",
    "size_effect_jobs",
    "summarise",
    "write_report",
]

#: Total strains at which the dislocation count is reported.
COUNT_STRAINS = (0.001, 0.002, 0.005, 0.01)
_FORMAT = "microdl.ddd-loading/1"


def size_effect_jobs(widths_um: Sequence[float], slips: Sequence[str] = ("two",), n_seeds: int = 6,
                     max_strain: float = 0.01, overrides: dict[str, Any] | None = None,
                     base_seed: int = 0) -> list[Job]:
    """One job per (width, slip, sample index), widest pillars first.

    The seed of each sample is :func:`~microdl.simulate.ddd.dataset.sample_seed` of
    ``(base_seed, width, slip, prior 0, index)``: independent across widths (the same
    integer seed at two widths would draw the same first source strengths).
    """
    from microdl.simulate.ddd.dataset import _check_widths, _num, sample_seed

    widths = _check_widths(widths_um)
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, (int, np.integer)) or n_seeds < 1:
        raise InvalidParameterError(f"n_seeds must be an integer >= 1, got {n_seeds!r}")
    for s in slips:
        if s not in ("one", "two"):
            raise InvalidParameterError(f"slips must be 'one' and/or 'two', got {s!r}")
    if not 0.002 < float(max_strain) <= 0.5:
        raise InvalidParameterError(
            f"max_strain must exceed the 0.2 % offset (fraction in (0.002, 0.5]), got {max_strain!r}")
    jobs = []
    for i in range(int(n_seeds)):
        for w in sorted(widths, reverse=True):
            for slip in slips:
                params = {"width_um": w, "slip": slip, "index": i, "seed": sample_seed(base_seed, w, slip, 0.0, i),
                          "max_strain": float(max_strain), "overrides": dict(overrides or {})}
                jobs.append(Job(f"w{_num(w)}_{slip}_i{i:04d}", params, suffix=".npz"))
    return jobs


def _noise(strain: np.ndarray, stress: np.ndarray, lo: float) -> float | None:
    m = strain >= lo
    if m.sum() < 3:
        return None
    coef = np.polyfit(strain[m], stress[m], 1)
    resid = stress[m] - np.polyval(coef, strain[m])
    mean = float(stress[m].mean())
    return float(resid.std() / mean) if mean > 0 else None


def _count_at(strain: np.ndarray, counts: np.ndarray, eps: float) -> int | None:
    idx = np.flatnonzero(strain >= eps * (1 - 1e-9))
    return int(counts[idx[0]]) if len(idx) else None


def run_loading_sample(params: dict[str, Any], out_path: str | os.PathLike) -> dict[str, Any]:
    """Job function: compress one pillar, write its curve (``.npz``), return the stress measures (MPa)."""
    from microdl.simulate.ddd.config import PillarConfig
    from microdl.simulate.ddd.protocol import simulate_loading

    cfg = PillarConfig(width_um=float(params["width_um"]), slip=str(params["slip"]),
                       **dict(params.get("overrides") or {}))
    res = simulate_loading(cfg, int(params["seed"]), float(params["max_strain"]))
    c, st = res.curve, res.stats
    summary = {
        "width_um": cfg.width_um, "slip": cfg.slip, "index": params.get("index"), "seed": int(params["seed"]),
        "yield_stress_mpa": None if st["yield_stress_pa"] is None else st["yield_stress_pa"] / 1e6,
        "flow_stress_mpa": None if st["flow_stress_pa"] is None else st["flow_stress_pa"] / 1e6,
        "max_stress_mpa": st["max_stress_pa"] / 1e6,
        "flow_noise": _noise(c["strain"], c["stress_pa"], 0.5 * res.max_strain),
        "elastic_modulus_gpa": st["elastic_modulus_pa"] / 1e9,
        "n_sources": st["n_sources"], "n_obstacles": st["n_obstacles"],
        "n_dislocations_final": st["n_dislocations_final"], "n_dislocations_mean": st["n_dislocations_mean"],
        "n_surface_steps": st["n_surface_steps"],
        **{f"n_at_{e * 100:g}pct": _count_at(c["strain"], c["n_dislocations"], e) for e in COUNT_STRAINS},
        "steps": int(st["steps"]), "seconds": st["seconds"],
    }
    meta = {"format": _FORMAT, "config": cfg.to_dict(), "seed": int(params["seed"]),
            "max_strain": res.max_strain, "stats": st, "summary": summary, "environment": environment()}
    arrays = {f"curve/{k}": np.asarray(v) for k, v in c.items()}
    arrays["meta_json"] = np.asarray(json.dumps(to_jsonable(meta)))
    with open(out_path, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return summary


def run_size_effect(out_dir: str | os.PathLike, widths_um: Sequence[float], slips: Sequence[str] = ("two",),
                    n_seeds: int = 6, max_strain: float = 0.01, workers: int | None = None,
                    scheduler: str | None = None, progress: bool = True) -> JobsReport:
    """Run (or resume) the grid of :func:`size_effect_jobs` into ``out_dir``."""
    jobs = size_effect_jobs(widths_um, slips, n_seeds, max_strain)
    return run_jobs(run_loading_sample, jobs, out_dir, workers=workers, scheduler=scheduler, progress=progress)


def load_samples(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Summaries of the finished samples in ``out_dir`` (the runner's ``<key>.json``), sorted.

    Reads every finished sample file, not only the keys of the last run's manifest, so a
    report over a subset of widths still sees samples made by earlier, larger runs.
    """
    out = Path(out_dir)
    if not out.is_dir():
        raise DataFileError(f"no such folder: {out}")
    rows = []
    for p in sorted(out.glob("*.json")):
        if p.name == "manifest.json" or p.name.endswith(".error.json"):
            continue
        rec = json.loads(p.read_text())
        if isinstance(rec, dict) and isinstance(rec.get("summary"), dict) and "width_um" in rec["summary"]:
            if (out / f"{p.stem}.npz").exists():
                rows.append(rec["summary"])
    return sorted(rows, key=lambda r: (r["slip"], r["width_um"], r.get("index") or 0))


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
        for name, key in (("yield", "yield_stress_mpa"), ("flow", "flow_stress_mpa")):
            ok = [r for r in rows if r[key] is not None and r[key] > 0]
            for suffix, fit in (("", fit_power_law), ("_of_means", fit_power_law_of_means)):
                try:
                    fits[slip][name + suffix] = fit([r["width_um"] for r in ok], [r[key] for r in ok])
                except InvalidParameterError:
                    fits[slip][name + suffix] = None
    return {"per_width": per_width, "fits": fits}


def plot_size_effect(samples: list[dict[str, Any]], summary: dict[str, Any], out_dir: str | os.PathLike,
                     curves: dict[str, dict[str, np.ndarray]] | None = None) -> Path:
    """Log--log yield and flow stress against width with the fits, and example curves per width."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ncol = 3 if curves else 2
    fig, axes = plt.subplots(1, ncol, figsize=(5 * ncol, 4.2))
    colors = {"two": "C0", "one": "C1"}
    ws: list[float] = []
    for ax, (name, key) in zip(axes, (("yield", "yield_stress_mpa"), ("flow", "flow_stress_mpa")), strict=False):
        for slip, fit in summary["fits"].items():
            rows = [r for r in samples if r["slip"] == slip and r[key]]
            w = np.array([r["width_um"] for r in rows])
            s = np.array([r[key] for r in rows])
            jitter = np.exp(np.random.default_rng(0).uniform(-0.04, 0.04, len(w)))
            ax.scatter(w * jitter, s, s=12, alpha=0.5, color=colors.get(slip, "k"))
            ws = sorted(set(w))
            ax.plot(ws, [np.mean(s[w == x]) for x in ws], "o", ms=7, mfc="none", color=colors.get(slip, "k"))
            f = fit.get(name) if fit else None
            if f:
                xx = np.geomspace(min(ws), max(ws), 50)
                ax.plot(xx, f["prefactor"] * xx ** -f["alpha"], "-", color=colors.get(slip, "k"),
                        label=f"{slip} slip, samples: alpha = {f['alpha']:.2f} +- {f['alpha_se']:.2f}")
            fm = fit.get(name + "_of_means") if fit else None
            if fm:
                xx = np.geomspace(min(ws), max(ws), 50)
                ax.plot(xx, fm["prefactor"] * xx ** -fm["alpha"], "--", color=colors.get(slip, "k"),
                        label=f"{slip} slip, means (o): alpha = {fm['alpha']:.2f} +- {fm['alpha_se']:.2f}")
        if ws:
            xx = np.geomspace(min(ws), max(ws), 50)
            ref = np.exp(np.mean(np.log([r[key] for r in samples if r[key]])))
            ax.plot(xx, ref * (xx / np.exp(np.mean(np.log(ws)))) ** -0.55, "k:", lw=1, label="slope -0.55 (paper)")
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
    fig.tight_layout()
    path = Path(out_dir) / "size_effect.png"
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)
    return path


def load_curve(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The curve arrays of one sample file written by :func:`run_loading_sample`."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k.split("/", 1)[1]: z[k] for k in z.files if k.startswith("curve/")}
    except (OSError, ValueError) as exc:
        raise DataFileError(f"cannot read {path}: {exc}") from None


def _fmt(st: dict[str, Any], scale: float = 1.0, digits: int = 0) -> str:
    if not st.get("n"):
        return "-"
    return f"{st['mean'] * scale:.{digits}f} +- {st['sd'] * scale:.{digits}f}"


def write_report(work_dir: str | os.PathLike, out_dir: str | os.PathLike, *, widths_um: Sequence[float],
                 slips: Sequence[str], n_seeds: int, max_strain: float, command: str,
                 extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Summarise the finished samples of ``work_dir`` into ``out_dir``.

    Writes ``results.json`` (``size_effect_exponent``: alpha of the flow stress of the
    first slip type; every fit, per-width statistics, the command, environment),
    ``results.md`` (tables) and ``size_effect.png``; returns the ``results.json`` dict.
    Only samples of the requested widths, slips and first ``n_seeds`` indices count.
    """
    from microdl.provenance import git_commit, write_json

    widths = [float(w) for w in widths_um]
    samples = [r for r in load_samples(work_dir) if r["width_um"] in widths and r["slip"] in slips
               and (r.get("index") or 0) < n_seeds]
    if not samples:
        raise DataFileError(f"no finished size-effect samples in {work_dir} for widths {widths} and slips {list(slips)}")
    summary = summarise(samples)
    first = list(slips)[0]
    fits = summary["fits"].get(first) or {}
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    curves = {}
    for w in sorted(widths):
        path = Path(work_dir) / f"{size_effect_jobs([w], [first], 1, max_strain)[0].key}.npz"
        if path.exists():
            curves[f"w = {w:g} um"] = load_curve(path)
    fig = plot_size_effect(samples, summary, out, curves)
    flow, yld = fits.get("flow"), fits.get("yield")
    result = {
        "size_effect_exponent": None if flow is None else flow["alpha"],
        "size_effect_exponent_definition": (
            f"alpha of sigma_f = A w^-alpha, least squares in log-log over every {first}-slip sample; sigma_f = "
            f"flow stress, the mean stress between {50 * max_strain:g} % and {100 * max_strain:g} % strain of a "
            "monotonic compression (defined for every sample, unlike the 0.2 % offset yield stress, which the "
            "strongest small pillars do not reach: see n_no_yield)"),
        "yield_stress_exponent": None if yld is None else yld["alpha"],
        "size_effect_exponent_of_means": (fits.get("flow_of_means") or {}).get("alpha"),
        "paper_exponent": 0.55,
        "fits": summary["fits"],
        "per_width": summary["per_width"],
        "n_samples": len(samples),
        "max_strain": max_strain,
        "command": command,
        "work_dir": str(work_dir),
        "git_commit": git_commit(Path(__file__).parent),
        "environment": environment(),
        **(extra or {}),
    }
    write_json(out / "results.json", result)
    lines = [
        "# 2D DDD size effect", "",
        f"Command: `{command}`", "",
        f"{len(samples)} samples, monotonic compression to {100 * max_strain:g} % strain at 1e4 /s, Al preset, "
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
    lines += ["", f"Figure: `{fig.name}`.", ""]
    tmp = out / "results.md.tmp"
    tmp.write_text("\n".join(lines))
    os.replace(tmp, out / "results.md")
    return result
