"""The DDD size-effect study: compress pillars of several widths, medians per width, sigma ~ w^-alpha.

Each *sample* is a monotonic compression (:func:`~microdl.simulate.ddd.protocol.simulate_loading`)
of one (width, slip, seed) to ``max_strain``, written by :func:`run_loading_sample` as
``<key>.npz`` (``curve/<column>`` arrays and ``meta_json``). The grid runs through
:func:`microdl.data.jobs.run_jobs` (resumable, local processes or Dask), like
:mod:`microdl.workflows.ddd_dataset`. The measures, censoring-aware medians and fits are those of
:mod:`microdl.analysis.size_effect`, the figure and text those of
:mod:`microdl.analysis.size_effect_report`; :func:`size_effect` is what ``microdl ddd size-effect`` runs.
"""

from __future__ import annotations

import json
import os
import shlex
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from microdl.analysis.plots import save
from microdl.analysis.size_effect import COUNT_STRAINS, PAPER_EXPONENT, count_at, flow_noise, summarise
from microdl.analysis.size_effect_report import markdown_report, size_effect_figure
from microdl.data.ddd_profiles import SLIPS, format_number
from microdl.data.ddd_result import read_npz
from microdl.data.jobs import Job, JobsReport, run_jobs
from microdl.exceptions import DataFileError, InvalidParameterError
from microdl.io._atomic import check_output_folder, read_json, save_npz, write_json, write_text
from microdl.provenance import environment, git_commit, to_jsonable
from microdl.workflows.ddd_dataset import check_widths, sample_seed

__all__ = [
    "load_curve",
    "load_samples",
    "run_loading_sample",
    "run_size_effect",
    "size_effect",
    "size_effect_jobs",
    "write_report",
]

_FORMAT = "microdl.ddd-loading/1"
#: Default widths (um) and final strain (percent) of the study.
DEFAULT_WIDTHS_UM = (0.25, 0.5, 1.0, 2.0)
DEFAULT_STRAIN_PERCENT = 3.0


def _check_loading_sample(path: str | os.PathLike) -> None:
    """Validator of a finished sample: its curve must be readable."""
    if not load_curve(path):
        raise DataFileError(f"size-effect sample {os.fspath(path)!r} holds no curve")


def size_effect_jobs(widths_um: Sequence[float], slips: Sequence[str] = ("two",), n_seeds: int = 6,
                     max_strain: float = 0.01, overrides: dict[str, Any] | None = None,
                     base_seed: int = 0) -> list[Job]:
    """One job per (width, slip, sample index), widest pillars first.

    Parameters
    ----------
    widths_um
        Pillar widths (um), within :data:`~microdl.simulate.ddd.config.WIDTH_RANGE_UM`.
    slips
        ``"one"`` and/or ``"two"``.
    n_seeds
        Samples per (width, slip).
    max_strain
        Final compression strain (fraction, in (0.002, 0.5]).
    overrides
        Further :class:`~microdl.simulate.ddd.config.PillarConfig` fields.
    base_seed
        The seed of each sample is :func:`~microdl.workflows.ddd_dataset.sample_seed` of
        ``(base_seed, width, slip, prior 0, index)``: independent across widths.

    Raises
    ------
    InvalidParameterError
        Bad counts, slips or strain, or a width / override outside the limits of
        :class:`~microdl.simulate.ddd.config.PillarConfig` (checked before anything runs).
    """
    from microdl.simulate.ddd.config import PillarConfig

    widths = check_widths(widths_um)
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, (int, np.integer)) or n_seeds < 1:
        raise InvalidParameterError(f"n_seeds must be an integer >= 1, got {n_seeds!r}")
    for s in slips:
        if s not in SLIPS:
            raise InvalidParameterError(f"slips must be 'one' and/or 'two', got {s!r}")
    if not 0.002 < float(max_strain) <= 0.5:
        raise InvalidParameterError(
            f"max_strain must exceed the 0.2 % offset (fraction in (0.002, 0.5]), got {max_strain!r}")
    for w in widths:
        PillarConfig(width_um=w, **dict(overrides or {}))  # limits and overrides, before any run
    jobs = []
    for i in range(int(n_seeds)):
        for w in sorted(widths, reverse=True):
            for slip in slips:
                params = {"width_um": w, "slip": slip, "index": i, "seed": sample_seed(base_seed, w, slip, 0.0, i),
                          "max_strain": float(max_strain), "overrides": dict(overrides or {})}
                jobs.append(Job(f"w{format_number(w)}_{slip}_i{i:04d}", params, suffix=".npz"))
    return jobs


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
        "flow_noise": flow_noise(c["strain"], c["stress_pa"], 0.5 * res.max_strain),
        "elastic_modulus_gpa": st["elastic_modulus_pa"] / 1e9,
        "n_sources": st["n_sources"], "n_obstacles": st["n_obstacles"],
        "n_dislocations_final": st["n_dislocations_final"], "n_dislocations_mean": st["n_dislocations_mean"],
        "n_surface_steps": st["n_surface_steps"],
        **{f"n_at_{e * 100:g}pct": count_at(c["strain"], c["n_dislocations"], e) for e in COUNT_STRAINS},
        "steps": int(st["steps"]), "seconds": st["seconds"],
    }
    meta = {"format": _FORMAT, "config": cfg.to_dict(), "seed": int(params["seed"]),
            "max_strain": res.max_strain, "stats": st, "summary": summary, "environment": environment()}
    arrays = {f"curve/{k}": np.asarray(v) for k, v in c.items()}
    arrays["meta_json"] = np.asarray(json.dumps(to_jsonable(meta)))
    save_npz(out_path, arrays)
    return summary


def run_size_effect(out_dir: str | os.PathLike, widths_um: Sequence[float], slips: Sequence[str] = ("two",),
                    n_seeds: int = 6, max_strain: float = 0.01, workers: int | None = None,
                    scheduler: str | None = None, progress: bool = True) -> JobsReport:
    """Run (or resume) the grid of :func:`size_effect_jobs` into ``out_dir``; finished samples are checked."""
    jobs = size_effect_jobs(widths_um, slips, n_seeds, max_strain)
    return run_jobs(run_loading_sample, jobs, out_dir, workers=workers, scheduler=scheduler, progress=progress,
                    validate=_check_loading_sample)


def load_samples(out_dir: str | os.PathLike, max_strain: float | None = None) -> list[dict[str, Any]]:
    """Summaries of the finished samples in ``out_dir`` (the runner's ``<key>.json``), sorted.

    Reads every finished sample file, not only the keys of the last run's manifest, so a
    report over a subset of widths still sees samples made by earlier, larger runs. With
    ``max_strain``, only samples compressed to that strain (their job's params) count.
    """
    out = Path(out_dir)
    if not out.is_dir():
        raise DataFileError(f"no such folder: {os.fspath(out)!r}")
    rows = []
    for p in sorted(out.glob("*.json")):
        if p.name == "manifest.json" or p.name.endswith(".error.json"):
            continue
        rec = read_json(p, what="size-effect sample record")
        if isinstance(rec, dict) and isinstance(rec.get("summary"), dict) and "width_um" in rec["summary"]:
            strain = (rec.get("params") or {}).get("max_strain")
            if max_strain is not None and (strain is None or not np.isclose(strain, max_strain)):
                continue
            if (out / f"{p.stem}.npz").exists():
                rows.append(rec["summary"])
    return sorted(rows, key=lambda r: (r["slip"], r["width_um"], r.get("index") or 0))


def load_curve(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The curve arrays (strain, stress_pa, n_dislocations, ...) of one sample file of :func:`run_loading_sample`."""
    return {k.split("/", 1)[1]: v for k, v in read_npz(path, what="size-effect sample").items()
            if k.startswith("curve/")}


def write_report(work_dir: str | os.PathLike, out_dir: str | os.PathLike, *, widths_um: Sequence[float],
                 slips: Sequence[str], n_seeds: int, max_strain: float, command: str,
                 extra: dict[str, Any] | None = None, n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Summarise the finished samples of ``work_dir`` into ``out_dir``.

    Writes ``results.json`` (``size_effect_exponent``: alpha of the per-width median flow
    stress of the first slip type, ``yield_stress_exponent``: the same for the
    Kaplan--Meier median yield stress, each with its definition string and 95 % bootstrap
    interval; every fit, local exponents, per-width medians and statistics, the command,
    environment), ``results.md`` and ``size_effect.png``; returns the ``results.json``
    dict. Only samples of the requested widths, slips, first ``n_seeds`` indices and
    ``max_strain`` count. ``n_boot`` bootstrap replicates, seeded by ``seed``.
    """
    widths = [float(w) for w in widths_um]
    samples = [r for r in load_samples(work_dir, max_strain) if r["width_um"] in widths and r["slip"] in slips
               and (r.get("index") or 0) < n_seeds]
    if not samples:
        raise DataFileError(f"no finished size-effect samples in {work_dir} for widths {widths}, slips "
                            f"{list(slips)} and strain {max_strain:g}")
    summary = summarise(samples, n_boot=n_boot, seed=seed)
    first = list(slips)[0]
    fits = summary["fits"].get(first) or {}
    out = check_output_folder(out_dir)
    curves = {}
    for w in sorted(widths):
        path = Path(work_dir) / f"{size_effect_jobs([w], [first], 1, max_strain)[0].key}.npz"
        if path.exists():
            curves[f"w = {w:g} um"] = load_curve(path)
    fig = save(size_effect_figure(samples, summary, curves), out / "size_effect.png", dpi=120)
    flow, yld = fits.get("flow"), fits.get("yield")
    how = (f"least-squares slope of log(median) against log(width) over the per-width medians of the {first}-slip "
           "samples (each width counts once, whatever its number of samples; widths listed in "
           f"fits['{first}']['{{stress}}']['widths_used']); 95 % interval (the _ci95 key): percentile bootstrap, "
           f"{n_boot} replicates resampling the samples within each width, recomputing every median and refitting")
    result = {
        "size_effect_exponent": None if flow is None else flow["alpha"],
        "size_effect_exponent_ci95": None if flow is None else flow["alpha_ci95"],
        "size_effect_exponent_definition": (
            f"alpha of median(sigma_f)(w) = A w^-alpha, {how.replace('{stress}', 'flow')}; sigma_f = flow stress, "
            f"the mean stress between {50 * max_strain:g} % and {100 * max_strain:g} % strain of one monotonic "
            "compression (defined for every sample); median = plain sample median"),
        "yield_stress_exponent": None if yld is None else yld["alpha"],
        "yield_stress_exponent_ci95": None if yld is None else yld["alpha_ci95"],
        "yield_stress_exponent_definition": (
            f"alpha of median(sigma_y)(w) = A w^-alpha, {how.replace('{stress}', 'yield')}; sigma_y = 0.2 % offset "
            "yield stress; a pillar that does not reach the offset within the strain range is right-censored at "
            "its highest stress (max_stress_mpa) and the median is the Kaplan-Meier median (scipy.stats.ecdf); "
            "widths where more than half the samples are censored have no median and are left out "
            "(widths_left_out)"),
        "size_effect_exponent_per_sample": (fits.get("flow_samples") or {}).get("alpha"),
        "size_effect_exponent_per_sample_definition": (
            "the earlier estimate: alpha of sigma_f = A w^-alpha, least squares in log-log over every "
            f"{first}-slip sample (fits[slip]['flow_samples']; yield_samples leaves censored samples out)"),
        "paper_exponent": PAPER_EXPONENT,
        "fits": summary["fits"],
        "per_width": summary["per_width"],
        "n_samples": len(samples),
        "n_censored": sum(r["yield_stress_mpa"] is None for r in samples),
        "n_boot": n_boot,
        "max_strain": max_strain,
        "command": command,
        "work_dir": str(work_dir),
        "git_commit": git_commit(Path(__file__).parent),
        "environment": environment(),
        **(extra or {}),
    }
    write_json(out / "results.json", result)
    write_text(out / "results.md", markdown_report(summary, n_samples=len(samples), max_strain=max_strain,
                                                   command=command, figure_name=fig.name))
    return result


def size_effect(out: str | os.PathLike, *, work: str | os.PathLike | None = None,
                widths_um: Sequence[float] = DEFAULT_WIDTHS_UM, slips: Sequence[str] = ("two",),
                samples: int = 8, strain_percent: float = DEFAULT_STRAIN_PERCENT, workers: int | None = None,
                scheduler: str | None = None, progress: bool = True,
                catalog: Any = None) -> tuple[dict[str, Any], str]:
    """Run (or resume) a size-effect study, write its report and record it in the catalog.

    Parameters
    ----------
    out
        Folder of ``results.json``, ``results.md`` and ``size_effect.png``.
    work
        Folder of the simulations (default ``out/samples``; reruns resume).
    widths_um, slips, samples
        Pillar widths (um), slip types and samples (seeds) per (width, slip).
    strain_percent
        Final compression strain (percent).
    workers, scheduler, progress
        As in :func:`microdl.data.jobs.run_jobs`.
    catalog
        A :class:`microdl.data.catalog.Catalog` (default: the default catalog). One entry
        (kind ``"run"``, name ``"ddd-size-effect"``) per output folder, updated by reruns.

    Returns
    -------
    summary : dict
        ``out``, ``size_effect_exponent`` and ``yield_stress_exponent`` with their ``_ci95``,
        ``n_samples``, ``n_censored``, ``n_failed``, ``results_json`` and ``id`` (the catalog entry).
    text : str
        The same in words.
    """
    from microdl.data.catalog import Catalog

    slip_list = list(slips)
    if isinstance(samples, bool) or samples < 1:
        raise InvalidParameterError(f"samples (--samples) must be >= 1, got {samples}")
    if workers is not None and workers < 1:
        raise InvalidParameterError(f"workers (--workers) must be >= 1, got {workers}")
    max_strain = strain_percent / 100.0
    size_effect_jobs(widths_um, slip_list, samples, max_strain)  # validate before touching the disk
    out = check_output_folder(out)
    work_dir = Path(work) if work is not None else out / "samples"
    catalog = catalog or Catalog()
    catalog.check_writable()
    t0 = time.perf_counter()
    rep = run_size_effect(work_dir, widths_um, slip_list, samples, max_strain, workers=workers,
                          scheduler=scheduler, progress=progress)
    command = (f"microdl ddd size-effect --out {shlex.quote(str(out))} --work {shlex.quote(str(work_dir))} "
               f"--widths {','.join(f'{w:g}' for w in widths_um)} --slips {','.join(slip_list)} "
               f"--samples {samples} --strain {strain_percent:g}")
    res = write_report(work_dir, out, widths_um=widths_um, slips=slip_list, n_seeds=samples, max_strain=max_strain,
                       command=command, extra={"wall_seconds_this_call": time.perf_counter() - t0,
                                               "jobs": {"done_before": rep.n_done_before, "ran": rep.n_ran,
                                                        "failed": rep.n_failed}})
    summary = {"out": str(out), **{k: res[k] for k in ("size_effect_exponent", "size_effect_exponent_ci95",
                                                      "yield_stress_exponent", "yield_stress_exponent_ci95",
                                                      "n_samples", "n_censored")},
               "n_failed": rep.n_failed, "results_json": str(out / "results.json")}
    config = {"widths_um": [float(w) for w in widths_um], "slips": slip_list, "samples": samples,
              "max_strain": max_strain, "work": str(work_dir)}
    summary["id"] = catalog.claim(
        out, "run", "ddd-size-effect", config=config, status="done" if rep.ok else "failed",
        metrics={k: summary[k] for k in ("size_effect_exponent", "yield_stress_exponent", "n_samples")})
    return summary, _describe(res, slip_list[0], out)


def _describe(res: dict[str, Any], slip: str, out: Path) -> str:
    if res["size_effect_exponent"] is None:
        return (f"{res['n_samples']} samples ({res['n_censored']} never yielded): too few widths with a median to "
                f"fit; see {out / 'results.md'}")

    def alpha(key: str) -> str:
        lo, hi = res[f"{key}_ci95"]
        return f"{res[key]:.2f}" + ("" if lo is None or hi is None else f" [95 % CI {lo:.2f}, {hi:.2f}]")

    text = (f"{res['n_samples']} samples ({res['n_censored']} never yielded); {slip} slip, median sigma ~ "
            f"w^-alpha: flow stress alpha = {alpha('size_effect_exponent')}")
    if res["yield_stress_exponent"] is not None:
        text += f", 0.2 % yield stress (Kaplan-Meier median) alpha = {alpha('yield_stress_exponent')}"
    return text + f" (paper: {PAPER_EXPONENT}); see {out / 'results.md'} and {out / 'size_effect.png'}"
