"""Grids of DDD pillar simulations: presets, resumable runs, the dataset description.

One *sample* is one call of :func:`~microdl.simulate.ddd.protocol.simulate_pillar` for a
(width, slip, prior strain, seed). Its reload runs to 1 % and records the strain
profile at both 0.1 % and 1 % (``reload_snapshots``): the 0.1 % image is a snapshot of
the 1 % reload trajectory, so the reload strain is *not* a job dimension and one job
yields the images of both reload subsets. The file of a sample and the loaders are in
:mod:`microdl.data.ddd_profiles`.

The grid runs through :func:`microdl.data.jobs.run_jobs`, so it is resumable from the
file system alone: each sample writes ``out_dir/<key>.npz`` atomically (plus the
runner's ``<key>.json`` summary), a rerun skips finished samples whose file is intact and
readable, and a crash loses at most the samples in flight. It runs on local processes (one
simulation per core) or on a Dask cluster.

A grid longer than one work session is built in parts from its committed export
(``skip_exported``): each part runs only the samples the export does not hold yet (as images
or dropped entries, :func:`skip_exported_jobs`), and
:func:`~microdl.data.ddd_export.export_images` with ``merge=True`` adds them to it.

Presets, keys and seeds are defined in :mod:`microdl.workflows.ddd_grid` and re-exported here.

References
----------
Z. Yang et al., "Learning to predict crystal plasticity at the nanoscale: deep residual
networks and size effects in uniaxial compression discrete dislocation simulations",
Sci. Rep. 10, 8262 (2020).
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from microdl.data.ddd_profiles import (
    DATASET_JSON,
    SAMPLE_FORMAT,
    check_sample_file,
    done_records,
    write_sample,
)
from microdl.data.ddd_export import exported_keys
from microdl.data.jobs import Job, JobsReport, run_jobs
from microdl.data.jobs import status as jobs_status
from microdl.exceptions import InvalidParameterError
from microdl.io._atomic import check_output_folder, write_json
from microdl.provenance import environment
from microdl.simulate.ddd.config import PillarConfig
from microdl.workflows.ddd_grid import (
    PRESETS,
    DDDGridPreset,
    check_widths,
    get_preset,
    grid_jobs,
    sample_key,
    sample_seed,
)

__all__ = [
    "DDDGridPreset",
    "PRESETS",
    "build_dataset",
    "check_widths",
    "dataset_status",
    "get_preset",
    "grid_jobs",
    "run_dataset",
    "run_sample",
    "sample_key",
    "sample_seed",
    "skip_exported_jobs",
    "summary_table",
]

DATASET_NAME = "ddd-profiles"


# ----------------------------------------------------------------------------- one sample


def _config_from_params(params: dict[str, Any]) -> PillarConfig:
    return PillarConfig(
        width_um=float(params["width_um"]),
        slip=str(params["slip"]),
        prior_strain=float(params["prior_strain"]),
        reload_strain=float(params["reload_strain"]),
        reload_snapshots=tuple(float(s) for s in params["reload_snapshots"]),
        **dict(params.get("overrides") or {}),
    )


def run_sample(params: dict[str, Any], out_path: str | os.PathLike) -> dict[str, Any]:
    """Simulate one sample of a grid and write it as one compressed ``.npz`` file.

    The job function of :func:`run_dataset` (top level, so worker processes can import it).

    Parameters
    ----------
    params
        ``params`` of a :func:`grid_jobs` job: ``width_um``, ``slip``, ``prior_strain``,
        ``reload_strain``, ``reload_snapshots``, ``seed`` and optional ``overrides``
        (further :class:`~microdl.simulate.ddd.config.PillarConfig` fields).
    out_path
        File to write (the runner hands over a temporary name and renames it afterwards).

    Returns
    -------
    dict
        ``yield_stress_mpa`` (0.2 % offset of the loading curve, ``None`` if not
        reached), ``max_stress_mpa``, ``n_dislocations_final``, ``n_sources``,
        ``nucleated``, ``steps``, ``profile_shape`` and ``seconds`` (simulation wall time).
    """
    from microdl.simulate.ddd.protocol import simulate_pillar

    cfg = _config_from_params(params)
    seed = int(params["seed"])
    t0 = time.perf_counter()
    res = simulate_pillar(cfg, seed)
    seconds = time.perf_counter() - t0
    st = res.stats
    ys = st.get("yield_stress_pa")
    summary = {
        "yield_stress_mpa": None if ys is None else ys / 1e6,
        "max_stress_mpa": st["max_stress_pa"] / 1e6,
        "n_dislocations_final": int(st["n_dislocations_final"]),
        "n_sources": int(st["n_sources"]),
        "nucleated": int(st.get("nucleated", 0)),
        "steps": int(st["steps"]),
        "profile_shape": list(res.profiles.shape[1:]),
        "seconds": seconds,
    }
    meta = {
        "format": SAMPLE_FORMAT,
        "labels": {"width_um": cfg.width_um, "slip": cfg.slip, "prior_strain": cfg.prior_strain,
                   "seed": seed, "index": params.get("index")},
        "config": cfg.to_dict(),
        "seed": seed,
        "pixel_size_m": list(res.pixel_size_m),
        "unload_displacement_m": res.unload_displacement_m,
        "stats": st,
        "summary": summary,
        "environment": environment(),
    }
    write_sample(out_path, res, meta)
    return summary


# ----------------------------------------------------------------------------- the grid


def summary_table(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Per (width, slip, prior) counts and means over the finished samples of ``out_dir``.

    Returns
    -------
    list of dict
        ``width_um``, ``slip``, ``prior_strain``, ``n_done``, ``profile_shape``,
        ``yield_stress_mpa_mean`` (over samples that yielded), ``n_yielded``,
        ``max_stress_mpa_mean``, ``n_dislocations_final_mean``, ``seconds_mean`` and
        ``seconds_max``.
    """
    out = Path(out_dir)
    st = jobs_status(out)
    groups: dict[tuple, list[dict]] = {}
    for rec in done_records(out, st.done):
        p = rec["params"]
        groups.setdefault((p["width_um"], p["slip"], p["prior_strain"]), []).append(rec)
    rows = []
    for (w, slip, prior), recs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])):
        s = [r.get("summary", {}) for r in recs]
        ys = [x["yield_stress_mpa"] for x in s if x.get("yield_stress_mpa") is not None]
        secs = [float(r.get("seconds") or 0.0) for r in recs]
        rows.append({
            "width_um": w, "slip": slip, "prior_strain": prior, "n_done": len(recs),
            "profile_shape": s[0].get("profile_shape"),
            "yield_stress_mpa_mean": float(np.mean(ys)) if ys else None, "n_yielded": len(ys),
            "max_stress_mpa_mean": float(np.mean([x.get("max_stress_mpa", np.nan) for x in s])),
            "n_dislocations_final_mean": float(np.mean([x.get("n_dislocations_final", np.nan) for x in s])),
            "seconds_mean": float(np.mean(secs)), "seconds_max": float(np.max(secs)),
        })
    return rows


def skip_exported_jobs(jobs: Sequence[Job], export: str | os.PathLike) -> tuple[list[Job], list[str]]:
    """The jobs an export does not hold yet (as images or dropped entries), and the keys it does.

    Raises
    ------
    DataFileError
        ``export`` is not an export folder (no readable ``index.csv`` / ``index.json``).
    InvalidParameterError
        A key of both has another seed in the export (another preset or base seed).
    """
    done = exported_keys(export)
    for job in jobs:
        seed = done.get(job.key)
        if seed is not None and job.params.get("seed") is not None and int(seed) != int(job.params["seed"]):
            raise InvalidParameterError(
                f"--skip-exported {os.fspath(export)!r}: sample {job.key} has seed {seed} there but "
                f"{job.params['seed']} in this grid (another preset or base seed); build into another export")
    return [j for j in jobs if j.key not in done], [j.key for j in jobs if j.key in done]


def _write_dataset_json(out: Path, preset: DDDGridPreset | None, jobs: list[Job], report: JobsReport | None,
                        catalog_id: str, interrupted: bool = False,
                        exported: tuple[str | None, int] = (None, 0)) -> dict[str, Any]:
    st = jobs_status(out)
    counts = {"n_total": st.n_total, "n_done": len(st.done), "n_failed": len(st.failed),
              "n_pending": len(st.pending), "n_already_exported": exported[1]}
    snaps = sorted({float(s) for j in jobs for s in j.params.get("reload_snapshots", [])})
    info = {
        "format": SAMPLE_FORMAT,
        "name": DATASET_NAME,
        "preset": None if preset is None else preset.to_dict(),
        "reload_snapshots": snaps,
        "counts": {**counts, "n_images": len(st.done) * len(snaps)},
        "complete": counts["n_done"] == counts["n_total"],
        "skip_exported": exported[0],
        "interrupted": interrupted,
        "last_run": None if report is None else dataclasses.asdict(report),
        "failed": st.failed,
        "summary": summary_table(out),
        "catalog_id": catalog_id,
        "image_sizes": "native per width, ~pixel_size_nm pixels (see microdl.data.ddd_profiles)",
        "environment": environment(),
    }
    write_json(out / DATASET_JSON, info)
    return info


def _preflight(out_dir: str | os.PathLike) -> Path:
    """The output folder, created; an earlier grid in it must have a readable manifest."""
    out = check_output_folder(Path(out_dir).expanduser().resolve())
    if (out / "manifest.json").exists():
        jobs_status(out)  # DataFileError naming manifest.json if it is damaged, before anything is written
    return out


def run_dataset(
    preset_or_jobs: str | DDDGridPreset | Sequence[Job],
    out_dir: str | os.PathLike,
    workers: int | None = None,
    scheduler: str | os.PathLike | None = None,
    progress: bool = True,
    *,
    cluster: Any = None,
    retries: int = 0,
    catalog: Any = None,
    skip_exported: str | os.PathLike | None = None,
) -> JobsReport:
    """Run (or resume) a grid of DDD samples, then describe it in ``dataset.json`` and the catalog.

    Parameters
    ----------
    preset_or_jobs
        A preset name, a :class:`DDDGridPreset`, or jobs from :func:`grid_jobs`.
    out_dir
        Folder of the sample files (created). On a cluster it must be shared by the workers.
    workers
        Local processes, one simulation each (default: one per available core).
    scheduler
        Address (``tcp://host:8786``) or scheduler-file path of a running Dask
        scheduler; the samples then run on its workers.
    progress
        Progress bar on stderr (samples done, rate, time left).
    cluster
        A Dask cluster object to run on instead of ``scheduler``.
    retries
        Extra attempts per failing sample within this call.
    catalog
        A :class:`microdl.data.catalog.Catalog`; the default catalog if ``None``.
    skip_exported
        An export folder (:func:`~microdl.data.ddd_export.export_images`): its samples
        (images or dropped entries) are left out of the grid (:func:`skip_exported_jobs`),
        so a build continued in a later session runs only the rest; ``dataset.json``
        counts them as ``n_already_exported``.

    Returns
    -------
    JobsReport
        From :func:`microdl.data.jobs.run_jobs` (over the jobs not skipped). Finished samples whose file is no longer
        readable (:func:`~microdl.data.ddd_profiles.check_sample_file`) run again.

    Raises
    ------
    DataFileError
        ``out_dir`` is a file or not writable, or the catalog cannot be written (before
        anything runs).
    KeyboardInterrupt
        Re-raised after the catalog entry is marked failed (interrupted) and
        ``dataset.json`` written; a rerun resumes.

    Notes
    -----
    ``out_dir/dataset.json`` holds the preset, counts (done, failed, pending, images),
    the last run's report and a per-(width, slip, prior) summary table. The catalog
    entry (kind ``"dataset"``, name ``"ddd-profiles"``) is claimed for the folder
    (:meth:`~microdl.data.catalog.Catalog.claim`), so reruns update it: ``running`` while
    running (heartbeat while the grid runs), then ``done`` when every sample is done,
    ``interrupted`` after Ctrl-C, else ``failed``.
    """
    from microdl.data.catalog import Catalog

    if isinstance(preset_or_jobs, (str, DDDGridPreset)):
        preset: DDDGridPreset | None = get_preset(preset_or_jobs)
        jobs = grid_jobs(preset)
    else:
        preset = None
        jobs = list(preset_or_jobs)
        if not jobs or not all(isinstance(j, Job) for j in jobs):
            raise InvalidParameterError("preset_or_jobs must be a preset name, a DDDGridPreset or a list of Jobs")
    skipped: list[str] = []
    if skip_exported is not None:
        jobs, skipped = skip_exported_jobs(jobs, skip_exported)
    exported = (None if skip_exported is None else os.fspath(skip_exported), len(skipped))
    out = _preflight(out_dir)
    catalog = catalog or Catalog()
    catalog.check_writable()
    config = {"preset": None if preset is None else preset.to_dict(), "n_jobs": len(jobs),
              "n_already_exported": len(skipped), "keys_first": [j.key for j in jobs[:3]]}
    cat_id = catalog.claim(out, "dataset", DATASET_NAME, config=config)
    try:
        with catalog.keep_alive(cat_id):
            report = run_jobs(run_sample, jobs, out, workers=workers, scheduler=scheduler, cluster=cluster,
                              progress=progress, retries=retries, validate=check_sample_file)
    except BaseException as exc:
        interrupted = isinstance(exc, KeyboardInterrupt)
        metrics: dict[str, Any] = {"interrupted": interrupted, "error": f"{type(exc).__name__}: {exc}"}
        if (out / "manifest.json").is_file():
            metrics.update(_write_dataset_json(out, preset, jobs, None, cat_id, interrupted, exported)["counts"])
        catalog.update(cat_id, status="interrupted" if interrupted else "failed", metrics=metrics)
        raise
    info = _write_dataset_json(out, preset, jobs, report, cat_id, exported=exported)
    catalog.update(cat_id, status="done" if info["complete"] else "failed",
                   metrics={**info["counts"], "seconds_last_run": report.seconds})
    return report


def build_dataset(preset: str | DDDGridPreset, out: str | os.PathLike, *, widths_um: Sequence[float] | None = None,
                  samples: int | None = None, priors_percent: Sequence[float] | None = None,
                  workers: int | None = None, scheduler: str | None = None, retries: int = 0,
                  progress: bool = True, catalog: Any = None, skip_exported: str | os.PathLike | None = None,
                  log: Callable[[str], None] | None = None) -> tuple[dict[str, Any], str]:
    """What ``microdl ddd dataset`` does: a preset with overrides, run (or resumed) by :func:`run_dataset`.

    Parameters
    ----------
    preset
        Preset name or :class:`DDDGridPreset`.
    out
        Output folder (one ``.npz`` per sample; reruns resume).
    widths_um, samples, priors_percent
        Overrides of the preset's widths (um), samples per cell and prior strains (percent).
    workers, scheduler, retries, progress, catalog, skip_exported
        As in :func:`run_dataset`; ``workers`` and ``scheduler`` exclude each other.
    log
        Called with one line describing the grid before it runs.

    Returns
    -------
    summary : dict
        ``out``, ``preset``, ``widths_um``, ``priors_percent``, ``samples``, ``n_total``,
        ``n_done_before``, ``n_ran``, ``n_failed``, ``failed``, ``ok``, ``seconds``, ``dataset_json``,
        ``n_already_exported`` (samples of the grid in ``skip_exported``, not run and not in ``n_total``).
    text : str
        The same in words.
    """
    if workers is not None and workers < 1:
        raise InvalidParameterError(f"workers (--workers) must be >= 1, got {workers}")
    if workers is not None and scheduler is not None:
        raise InvalidParameterError("--workers applies to local runs; with --scheduler size the Dask cluster instead")
    if samples is not None and samples < 1:
        raise InvalidParameterError(f"samples (--samples) must be >= 1, got {samples}")
    if retries < 0:
        raise InvalidParameterError(f"retries (--retries) must be >= 0, got {retries}")
    changes = {"widths_um": None if widths_um is None else tuple(widths_um), "n_samples": samples,
               "priors": None if priors_percent is None else tuple(p / 100.0 for p in priors_percent)}
    grid = get_preset(preset).replace(**{k: v for k, v in changes.items() if v is not None})
    from microdl.data.catalog import Catalog

    n_exported = 0 if skip_exported is None else len(skip_exported_jobs(grid_jobs(grid), skip_exported)[1])
    _preflight(out)
    catalog = catalog or Catalog()
    catalog.check_writable()  # every user error before the plan line and the first simulation
    if log is not None:
        where = f"Dask scheduler {scheduler}" if scheduler else f"{workers or 'all'} local worker(s)"
        log(f"ddd dataset '{grid.name}': {grid.n_jobs - n_exported} simulations ({len(grid.reload_snapshots)} "
            f"images each) in {out} on {where}" + (f"; already exported: {n_exported}" if skip_exported else ""))
        for w, slip, prior, reason in grid.refused_cells():
            log(f"  left out: {w:g} um, {slip} slip, prior {100 * prior:g} %: {reason}")
    rep = run_dataset(grid, out, workers=workers, scheduler=scheduler, progress=progress, retries=retries,
                      catalog=catalog, skip_exported=skip_exported)
    out = Path(out)
    result = {
        "out": str(out), "preset": grid.name, "widths_um": list(grid.widths_um),
        "priors_percent": [100 * p for p in grid.priors], "samples": grid.n_samples, "n_total": rep.n_total,
        "n_done_before": rep.n_done_before, "n_ran": rep.n_ran, "n_failed": rep.n_failed,
        "failed": list(rep.failed), "ok": rep.ok, "seconds": rep.seconds, "dataset_json": str(out / DATASET_JSON),
        "refused_cells": [{"width_um": w, "slip": sl, "prior_percent": 100 * p} for w, sl, p, _ in grid.refused_cells()],
        "n_already_exported": n_exported,
    }
    text = (f"{rep.n_done_before + rep.n_ran - rep.n_failed}/{rep.n_total} samples done "
            f"({rep.n_done_before} before, {rep.n_ran} run now, {rep.n_failed} failed) in {rep.seconds:.1f} s; "
            + (f"already exported: {n_exported}; " if skip_exported is not None else "") + f"see {out / DATASET_JSON}")
    if rep.failed:
        text += (f"\nfailed: {', '.join(rep.failed[:10])}{' ...' if len(rep.failed) > 10 else ''} "
                 "(details in OUT/<key>.error.json; rerun to retry)")
    return result, text


def dataset_status(out: str | os.PathLike) -> tuple[dict[str, Any], str]:
    """Done, failed and pending samples of a grid folder (runs nothing); the summary and its text.

    Raises
    ------
    DataFileError
        ``out`` holds no readable grid manifest.
    """
    st = jobs_status(out)  # size and checksum of every finished file; any run_jobs folder works
    result = {"out": str(out), "n_total": st.n_total, "n_done": len(st.done), "n_failed": len(st.failed),
              "n_pending": len(st.pending), "failed": st.failed, "pending": list(st.pending)}
    text = f"{out}: {len(st.done)}/{st.n_total} done, {len(st.failed)} failed, {len(st.pending)} pending"
    for key, msg in list(st.failed.items())[:10]:
        text += f"\n  failed {key}: {msg}"
    if st.corrupt:
        text += f"\n  {len(st.corrupt)} finished file(s) changed since written, rerun to recompute: {st.corrupt[0]} ..."
    return result, text
