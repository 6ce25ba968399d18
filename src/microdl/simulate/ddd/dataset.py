"""Grids of DDD pillar simulations: presets, resumable runs, and loading the strain profiles.

One *sample* is one call of :func:`~microdl.simulate.ddd.protocol.simulate_pillar` for a
(width, slip, prior strain, seed). Its reload runs to 1 % and records the strain
profile at both 0.1 % and 1 % (``reload_snapshots``): the 0.1 % image is a snapshot of
the 1 % reload trajectory, so the reload strain is *not* a job dimension and one job
yields the images of both reload subsets.

The grid runs through :func:`microdl.data.jobs.run_jobs`, so it is resumable from the
file system alone: each sample writes ``out_dir/<key>.npz`` atomically (plus the
runner's ``<key>.json`` summary), a rerun skips finished samples and a crash loses at
most the samples in flight. It runs on local processes (one simulation per core) or on a
Dask cluster.

File of one sample (``<key>.npz``, compressed, no pickled objects)
    ``profiles`` (float32, ``(n_snapshots, nx, ny)``, axis 0 across the width, axis 1
    along the loading axis, reference: the whole unloaded displacement field, as digital
    image correlation would see it, see :mod:`~microdl.simulate.ddd.profile`),
    ``profiles_mean`` (same, but only the mean unloaded strain subtracted, the wording of
    Yang et al. 2020: the prior slip lines stay visible), ``snapshot_strains`` (fractions),
    ``pixel_size_m`` (x, y), ``curve/<column>`` (the stress--strain curve of
    :class:`~microdl.simulate.ddd.protocol.PillarResult`), ``dislocations/<field>``
    (final positions in m, sign, plane, system, pinned), ``sources/<field>``,
    ``obstacles/<field>``, ``surface_steps``, ``seed`` and ``meta_json`` (JSON text:
    config, seed, stats, labels, environment). Read it with :func:`load_sample`.

Image sizes
    Profiles keep their *native* size: about 2 nm pixels (``pixel_size_nm``), so
    ``round(w / 2 nm) x round(4 w / 2 nm)`` pixels -- 31 x 125 at w = 0.0625 um, 63 x 250 at
    0.125 um, 250 x 1000 at 0.5 um, 1000 x 4000 at 2 um. Nothing is resampled here;
    :func:`load_profiles` returns a list of arrays (stack them per width), and the
    learning code decides how to crop or resize.

Seeds
    The seed of a sample depends only on ``(base_seed, width, slip, prior, index)``
    (a NumPy ``SeedSequence`` hash), so subsets are statistically independent, changing
    the widths of a grid does not change the other samples, and ``--samples`` can be
    raised later to extend a finished grid.

References
----------
Z. Yang et al., "Learning to predict crystal plasticity at the nanoscale: deep residual
networks and size effects in uniaxial compression discrete dislocation simulations",
Sci. Rep. 10, 8262 (2020).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from microdl.data.jobs import Job, JobsReport, run_jobs
from microdl.data.jobs import status as jobs_status
from microdl.exceptions import DataFileError, InvalidParameterError, UnknownNameError
from microdl.provenance import environment, to_jsonable, write_json

__all__ = [
    "DDDGridPreset",
    "PRESETS",
    "DATASET_JSON",
    "export_images",
    "load_images",
    "get_preset",
    "grid_jobs",
    "load_profiles",
    "load_sample",
    "run_dataset",
    "run_sample",
    "sample_key",
    "sample_seed",
    "summary_table",
]

DATASET_JSON = "dataset.json"
DATASET_NAME = "ddd-profiles"
_FORMAT = "microdl.ddd-dataset/1"
_SLIPS = ("one", "two")
_SLIP_CODE = {"one": 1, "two": 2}


@dataclass(frozen=True)
class DDDGridPreset:
    """A grid of DDD samples: widths x slip types x prior strains x samples.

    Every sample reloads to ``max(reload_snapshots)`` and records a profile at each of
    ``reload_snapshots``, so one job gives the images of every reload strain.

    Parameters
    ----------
    name
        Label stored with the dataset.
    widths_um
        Pillar widths (um).
    slips
        Slip types, ``"one"`` and/or ``"two"``.
    priors
        Prior strains (fractions, ``0.001`` = 0.1 %).
    reload_snapshots
        Reload strains (fractions) at which profiles are recorded; the reload stops at the
        largest.
    n_samples
        Samples (seeds) per (width, slip, prior).
    base_seed
        Seed from which the per-sample seeds are derived (:func:`sample_seed`).
    pillar_overrides
        Extra :class:`~microdl.simulate.ddd.config.PillarConfig` fields as ``(name,
        value)`` pairs (e.g. ``(("aspect", 4.0),)``); the grid sets ``width_um``,
        ``slip``, ``prior_strain``, ``reload_strain`` and ``reload_snapshots`` itself.
    description
        One line on what the preset is for.
    """

    name: str
    widths_um: tuple[float, ...]
    slips: tuple[str, ...] = _SLIPS
    priors: tuple[float, ...] = (0.001, 0.01, 0.1)
    reload_snapshots: tuple[float, ...] = (0.001, 0.01)
    n_samples: int = 10
    base_seed: int = 0
    pillar_overrides: tuple[tuple[str, Any], ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        from microdl.simulate.ddd.config import PillarConfig

        for name in ("widths_um", "slips", "priors", "reload_snapshots"):
            value = tuple(getattr(self, name))
            if not value:
                raise InvalidParameterError(f"{name} must not be empty, got {getattr(self, name)!r}")
            object.__setattr__(self, name, value)
        object.__setattr__(self, "widths_um", tuple(_check_widths(self.widths_um)))
        bad = [s for s in self.slips if s not in _SLIPS]
        if bad or len(set(self.slips)) != len(self.slips):
            raise InvalidParameterError(f"slips must be distinct values of {_SLIPS}, got {self.slips!r}")
        object.__setattr__(self, "priors", tuple(_check_priors(self.priors)))
        snaps = tuple(float(s) for s in self.reload_snapshots)
        if any(not (0 < s <= 0.5) for s in snaps) or len(set(snaps)) != len(snaps):
            raise InvalidParameterError(
                f"reload_snapshots must be distinct fractions in (0, 0.5], got {self.reload_snapshots!r}")
        object.__setattr__(self, "reload_snapshots", tuple(sorted(snaps)))
        _check_samples(self.n_samples)
        if isinstance(self.base_seed, bool) or not isinstance(self.base_seed, int) or self.base_seed < 0:
            raise InvalidParameterError(f"base_seed must be an integer >= 0, got {self.base_seed!r}")
        overrides = tuple((str(k), v) for k, v in dict(self.pillar_overrides).items())
        known = {f.name for f in dataclasses.fields(PillarConfig)}
        reserved = {"width_um", "slip", "prior_strain", "reload_strain", "reload_snapshots"}
        for key, _ in overrides:
            if key not in known or key in reserved:
                raise InvalidParameterError(
                    f"pillar_overrides must name PillarConfig fields other than {sorted(reserved)}, got {key!r}")
        object.__setattr__(self, "pillar_overrides", overrides)

    @property
    def n_jobs(self) -> int:
        """Simulations in the grid."""
        return len(self.widths_um) * len(self.slips) * len(self.priors) * self.n_samples

    def replace(self, **changes: Any) -> DDDGridPreset:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict (``pillar_overrides`` as a mapping)."""
        d = dataclasses.asdict(self)
        d["pillar_overrides"] = dict(self.pillar_overrides)
        return d


def _check_widths(widths: Iterable[float]) -> list[float]:
    out = []
    for w in widths:
        if isinstance(w, bool) or not isinstance(w, (int, float, np.floating, np.integer)) or not (
            0 < float(w) < math.inf
        ):
            raise InvalidParameterError(f"widths must be positive numbers (um), got {w!r}")
        out.append(float(w))
    if len(set(out)) != len(out):
        raise InvalidParameterError(f"widths must be distinct, got {out!r}")
    return out


def _check_priors(priors: Iterable[float]) -> list[float]:
    out = []
    for p in priors:
        if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)) or not (
            0 <= float(p) <= 0.5
        ):
            raise InvalidParameterError(f"priors must be strain fractions in [0, 0.5] (0.01 = 1 %), got {p!r}")
        out.append(float(p))
    if len(set(out)) != len(out):
        raise InvalidParameterError(f"priors must be distinct, got {out!r}")
    return out


def _check_samples(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InvalidParameterError(f"samples must be an integer >= 1, got {n!r}")
    return int(n)


SMOKE_PRESET = DDDGridPreset(
    name="smoke",
    widths_um=(0.0625,),
    slips=("one", "two"),
    priors=(0.001,),
    n_samples=2,
    description="4 samples at w = 62.5 nm, prior 0.1 %: a few minutes on 2 cores; to check an installation.",
)
"""Four samples at w = 62.5 nm, prior 0.1 %, both slip types, 0.1 % and 1 % images.

Measured 11--140 s per sample (2 workers on a loaded 2-core machine), about 2.5 min in all.
"""

CPU_PRESET = DDDGridPreset(
    name="cpu",
    widths_um=(0.0625, 0.125, 0.25, 0.5),
    n_samples=7,
    description=(
        "4 widths (62.5-500 nm) x 2 slips x 3 priors x 7 samples = 168 simulations, 336 images (x 2 reference "
        "modes); about 1.8 h on 2 cores (measured ~15 min per sample index)."
    ),
)
"""Every width 0.0625--0.5 um, both slip types, every prior and reload strain, 7 samples each.

Sample count chosen from the measured cost of complete rounds (one sample of each of the
24 (width, slip, prior) cells) of the run committed under ``benchmarks/ddd/cpu-profiles``
(simulator of commit 1195964, two simulations side by side on the 2-core machine):
1600--2100 core-seconds per round, i.e. 14--18 minutes on 2 workers, so 7 samples take
about 1.8 h and 10 samples about 2.6 h (``--samples 10``). The 10 % prior is ~90 % of the
cost; one cell alone, 62.5 nm / two slip / 10 %, takes ~700 s per sample (source-starved
pillars at ~1 GPa whose lone dislocation bounces off a clamped end every step, see
``benchmarks/ddd/speed.md``). Per-cell times: ``benchmarks/ddd/cpu_dataset.md``. For
more samples within 2 h drop the 10 % prior (``--priors 0.1,1``: ~2 min per sample index)
or use a cluster.
"""

PAPER_PRESET = DDDGridPreset(
    name="paper",
    widths_um=(2.0, 1.0, 0.5, 0.25, 0.125, 0.0625),
    n_samples=150,
    description=(
        "Yang et al. (2020): 6 widths x 2 slips x 3 priors x 150 samples, each with 0.1 % and 1 % "
        "reload images (24 subsets of width x reload x slip); for a cluster."
    ),
)
"""The grid of Yang et al. (2020): 24 subsets (6 widths x 2 reload strains x 2 slip types).

150 samples per (width, slip, prior), i.e. 450 images per subset (3 prior classes) and
5400 simulations in all; meant for a Dask cluster (``--scheduler``).
"""

#: Presets by name: ``smoke`` (tests, installation check), ``cpu`` (one machine), ``paper``.
PRESETS: dict[str, DDDGridPreset] = {"smoke": SMOKE_PRESET, "cpu": CPU_PRESET, "paper": PAPER_PRESET}


def get_preset(name: str | DDDGridPreset) -> DDDGridPreset:
    """Return a preset by name (``"smoke"``, ``"cpu"``, ``"paper"``) or the preset itself."""
    if isinstance(name, DDDGridPreset):
        return name
    try:
        return PRESETS[str(name).lower()]
    except KeyError:
        raise UnknownNameError(f"preset must be one of {sorted(PRESETS)}, got {name!r}") from None


def _num(x: float) -> str:
    """Compact, file-name-safe decimal (``0.0625``, ``0.1``, ``10``)."""
    s = f"{x:.10g}"
    if "e" in s or "E" in s:
        s = f"{x:.12f}".rstrip("0").rstrip(".")
    return s


def sample_key(width_um: float, slip: str, prior: float, index: int) -> str:
    """File stem of one sample, e.g. ``"w0.0625_two_p0.1_i0003"`` (prior in percent)."""
    return f"w{_num(width_um)}_{slip}_p{_num(round(prior * 100, 10))}_i{index:04d}"


def sample_seed(base_seed: int, width_um: float, slip: str, prior: float, index: int) -> int:
    """Seed of one sample: a hash of ``(base_seed, width in pm, slip, prior in ppm, index)``.

    Depends on nothing else (not on the other widths of the grid or its sample count).
    """
    words = [int(base_seed), int(round(width_um * 1e6)), _SLIP_CODE[slip], int(round(prior * 1e6)), int(index)]
    return int(np.random.SeedSequence(words).generate_state(1, dtype=np.uint32)[0])


def grid_jobs(
    preset: str | DDDGridPreset,
    *,
    widths: Sequence[float] | None = None,
    samples: int | None = None,
    slips: Sequence[str] | None = None,
    priors: Sequence[float] | None = None,
) -> list[Job]:
    """Jobs of a grid: one per (width, slip, prior, sample), each recording every reload snapshot.

    Parameters
    ----------
    preset
        A :class:`DDDGridPreset` or the name of one of :data:`PRESETS`.
    widths, samples, slips, priors
        Overrides of the preset's ``widths_um``, ``n_samples``, ``slips`` and ``priors``.

    Returns
    -------
    list of Job
        Ordered sample-major (all subsets of sample 0, then sample 1, ...), so an
        interrupted grid is balanced across subsets and the progress bar's rate is
        representative; within a round the largest prior (the costliest samples) and
        widest pillar come first, which shortens the tail of a parallel run. ``params`` holds
        ``width_um``, ``slip``, ``prior_strain``, ``reload_strain``,
        ``reload_snapshots``, ``seed``, ``index`` and ``overrides``.
    """
    p = _apply_overrides(get_preset(preset), widths=widths, samples=samples, slips=slips, priors=priors)
    jobs = []
    for i in range(p.n_samples):
        for prior in sorted(p.priors, reverse=True):
            for w in sorted(p.widths_um, reverse=True):
                for slip in p.slips:
                    params = {
                        "width_um": w,
                        "slip": slip,
                        "prior_strain": prior,
                        "reload_strain": max(p.reload_snapshots),
                        "reload_snapshots": list(p.reload_snapshots),
                        "seed": sample_seed(p.base_seed, w, slip, prior, i),
                        "index": i,
                        "overrides": dict(p.pillar_overrides),
                    }
                    jobs.append(Job(sample_key(w, slip, prior, i), params, suffix=".npz"))
    return jobs


def _apply_overrides(p: DDDGridPreset, **kw: Any) -> DDDGridPreset:
    changes: dict[str, Any] = {}
    if kw.get("widths") is not None:
        changes["widths_um"] = tuple(kw["widths"])
    if kw.get("samples") is not None:
        changes["n_samples"] = _check_samples(kw["samples"])
    if kw.get("slips") is not None:
        changes["slips"] = tuple(kw["slips"])
    if kw.get("priors") is not None:
        changes["priors"] = tuple(kw["priors"])
    return p.replace(**changes) if changes else p


# ----------------------------------------------------------------------------- one sample


def _config_from_params(params: dict[str, Any]):
    from microdl.simulate.ddd.config import PillarConfig

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
        "format": _FORMAT,
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
    arrays: dict[str, np.ndarray] = {
        "profiles": np.asarray(res.profiles, dtype=np.float32),
        "profiles_mean": np.asarray([res.profile(e, mode="mean") for e in res.snapshot_strains],
                                    dtype=np.float32).reshape(res.profiles.shape),
        "snapshot_strains": np.asarray(res.snapshot_strains, dtype=np.float64),
        "pixel_size_m": np.asarray(res.pixel_size_m, dtype=np.float64),
        "seed": np.asarray(seed, dtype=np.int64),
        "surface_steps": np.asarray(res.surface_steps),
        "meta_json": np.asarray(json.dumps(to_jsonable(meta))),
    }
    for group in ("curve", "dislocations", "sources", "obstacles"):
        for name, value in getattr(res, group).items():
            arrays[f"{group}/{name}"] = np.asarray(value)
    with open(out_path, "wb") as fh:  # a file object: numpy appends no extension
        np.savez_compressed(fh, **arrays)
    return summary


def load_sample(path: str | os.PathLike) -> dict[str, Any]:
    """Read one sample file written by :func:`run_sample`.

    Returns
    -------
    dict
        ``profiles`` (float32, ``(n_snapshots, nx, ny)``), ``snapshot_strains``,
        ``pixel_size_m``, ``seed``, ``surface_steps``, ``curve``, ``dislocations``,
        ``sources`` and ``obstacles`` (dicts of arrays) and ``meta`` (config, labels,
        stats, environment).
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise DataFileError(f"{path} is not a readable DDD sample file: {exc}") from exc
    if "profiles" not in arrays or "meta_json" not in arrays:
        raise DataFileError(f"{path} must hold 'profiles' and 'meta_json', found {sorted(arrays)[:8]}")
    out: dict[str, Any] = {k: v for k, v in arrays.items() if "/" not in k and k != "meta_json"}
    out["seed"] = int(arrays["seed"])
    for group in ("curve", "dislocations", "sources", "obstacles"):
        out[group] = {k[len(group) + 1:]: v for k, v in arrays.items() if k.startswith(group + "/")}
    out["meta"] = json.loads(str(arrays["meta_json"]))
    return out


# ----------------------------------------------------------------------------- the grid


def _catalog_id(out_dir: Path) -> str:
    """Stable catalog id of a dataset folder, so reruns update one entry."""
    return "ddd-" + hashlib.sha1(os.fspath(out_dir).encode()).hexdigest()[:12]


def _done_records(out_dir: Path, keys: Iterable[str]) -> list[dict[str, Any]]:
    records = []
    for key in keys:
        try:
            rec = json.loads((out_dir / f"{key}.json").read_text())
        except (OSError, ValueError):
            continue
        if isinstance(rec, dict) and rec.get("ok"):
            records.append(rec)
    return records


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
    for rec in _done_records(out, st.done):
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


def _write_dataset_json(out: Path, preset: DDDGridPreset | None, jobs: list[Job], report: JobsReport | None,
                        catalog_id: str, interrupted: bool = False) -> dict[str, Any]:
    st = jobs_status(out)
    counts = {"n_total": st.n_total, "n_done": len(st.done), "n_failed": len(st.failed),
              "n_pending": len(st.pending)}
    snaps = sorted({float(s) for j in jobs for s in j.params.get("reload_snapshots", [])})
    info = {
        "format": _FORMAT,
        "name": DATASET_NAME,
        "preset": None if preset is None else preset.to_dict(),
        "reload_snapshots": snaps,
        "counts": {**counts, "n_images": len(st.done) * len(snaps)},
        "complete": counts["n_done"] == counts["n_total"],
        "interrupted": interrupted,
        "last_run": None if report is None else dataclasses.asdict(report),
        "failed": st.failed,
        "summary": summary_table(out),
        "catalog_id": catalog_id,
        "image_sizes": "native per width, ~pixel_size_nm pixels (see microdl.simulate.ddd.dataset)",
        "environment": environment(),
    }
    write_json(out / DATASET_JSON, info)
    return info


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

    Returns
    -------
    JobsReport
        From :func:`microdl.data.jobs.run_jobs`.

    Raises
    ------
    KeyboardInterrupt
        Re-raised after the catalog entry is marked failed (interrupted) and
        ``dataset.json`` written; a rerun resumes.

    Notes
    -----
    ``out_dir/dataset.json`` holds the preset, counts (done, failed, pending, images),
    the last run's report and a per-(width, slip, prior) summary table. The catalog
    entry (kind ``"dataset"``, name ``"ddd-profiles"``) has a stable id derived from the
    folder, so reruns update it: ``running`` while running, then ``done`` when every
    sample is done, else ``failed``.
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
    out = Path(out_dir).expanduser().resolve()
    catalog = catalog or Catalog()
    cat_id = _catalog_id(out)
    config = {"preset": None if preset is None else preset.to_dict(), "n_jobs": len(jobs),
              "keys_first": [j.key for j in jobs[:3]]}
    report = None
    try:
        report = run_jobs(run_sample, jobs, out, workers=workers, scheduler=scheduler, cluster=cluster,
                          progress=progress, retries=retries)
    except KeyboardInterrupt:
        if (out / "manifest.json").is_file():
            info = _write_dataset_json(out, preset, jobs, None, cat_id, interrupted=True)
            catalog.record("dataset", DATASET_NAME, config=config, path=out, status="failed",
                           metrics={**info["counts"], "interrupted": True}, entry_id=cat_id)
        raise
    info = _write_dataset_json(out, preset, jobs, report, cat_id)
    catalog.record("dataset", DATASET_NAME, config=config, path=out, status="done" if info["complete"] else "failed",
                   metrics={**info["counts"], "seconds_last_run": report.seconds}, entry_id=cat_id)
    return report


def load_profiles(
    out_dir: str | os.PathLike,
    *,
    reload: float | None = None,
    widths: Sequence[float] | None = None,
    slips: Sequence[str] | None = None,
    priors: Sequence[float] | None = None,
    mode: str = "full",
) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Strain profiles of the finished samples of a grid, with their labels.

    One entry per (sample, reload snapshot): a sample recorded at 0.1 % and 1 % gives two.

    Parameters
    ----------
    out_dir
        Folder given to :func:`run_dataset`.
    reload
        Keep only this reload strain (fraction, e.g. ``0.001``).
    widths, slips, priors
        Keep only these widths (um), slip types and prior strains (fractions).
    mode
        ``"full"`` (the unloaded displacement field subtracted, array ``profiles``) or
        ``"mean"`` (only its mean strain, array ``profiles_mean``; prior slip visible).

    Returns
    -------
    profiles : list of ndarray
        float32 arrays ``(nx, ny)`` at their native size (axis 0 across the width, axis 1
        along the loading axis); all samples of one width share one shape, so
        ``np.stack`` works after selecting a width.
    labels : dict of ndarray
        ``width_um``, ``slip`` (``"one"``/``"two"``), ``prior`` and ``reload``
        (fractions), ``seed``, ``index`` and ``key``, aligned with ``profiles``.

    Raises
    ------
    DataFileError
        ``out_dir`` is not a grid folder or a sample file is unreadable.
    """
    if mode not in ("full", "mean"):
        raise InvalidParameterError(f"mode must be 'full' or 'mean', got {mode!r}")
    array = "profiles" if mode == "full" else "profiles_mean"
    out = Path(out_dir)
    st = jobs_status(out)
    keep_w = None if widths is None else [float(w) for w in widths]
    keep_p = None if priors is None else [float(p) for p in priors]
    profiles: list[np.ndarray] = []
    cols: dict[str, list] = {k: [] for k in ("width_um", "slip", "prior", "reload", "seed", "index", "key")}
    for rec in _done_records(out, st.done):
        p = rec["params"]
        if keep_w is not None and not any(math.isclose(p["width_um"], w) for w in keep_w):
            continue
        if slips is not None and p["slip"] not in slips:
            continue
        if keep_p is not None and not any(math.isclose(p["prior_strain"], q) for q in keep_p):
            continue
        path = out / rec.get("output", f"{rec['key']}.npz")
        try:
            with np.load(path, allow_pickle=False) as z:
                prof, snaps = z[array], z["snapshot_strains"]
        except (OSError, ValueError, KeyError) as exc:
            raise DataFileError(f"{path} is not a readable DDD sample file: {exc}") from exc
        for k, s in enumerate(snaps):
            if reload is not None and not math.isclose(float(s), float(reload)):
                continue
            profiles.append(np.asarray(prof[k], dtype=np.float32))
            cols["width_um"].append(float(p["width_um"]))
            cols["slip"].append(p["slip"])
            cols["prior"].append(float(p["prior_strain"]))
            cols["reload"].append(float(s))
            cols["seed"].append(int(p["seed"]))
            cols["index"].append(int(p.get("index", -1)))
            cols["key"].append(rec["key"])
    labels = {
        "width_um": np.asarray(cols["width_um"], dtype=np.float64),
        "slip": np.asarray(cols["slip"], dtype="<U3"),
        "prior": np.asarray(cols["prior"], dtype=np.float64),
        "reload": np.asarray(cols["reload"], dtype=np.float64),
        "seed": np.asarray(cols["seed"], dtype=np.int64),
        "index": np.asarray(cols["index"], dtype=np.int64),
        "key": np.asarray(cols["key"], dtype=str),
    }
    return profiles, labels



# ----------------------------------------------------------------------------- compact export

_EXPORT_FORMAT = "microdl.ddd-images/1"
_INDEX_COLUMNS = ("file", "key", "mode", "width_um", "slip", "prior_pct", "reload_pct", "seed", "index", "rows", "cols",
                  "pixel_x_nm", "pixel_y_nm", "median_strain", "scale_strain", "yield_stress_mpa",
                  "n_dislocations_final")


def export_images(dataset_dir: str | os.PathLike, out_dir: str | os.PathLike) -> dict[str, Any]:
    """Write a grid's profiles as 8-bit PNGs (the published format) with an index and the curves.

    A compact, repository-sized copy of a dataset for learning benchmarks: floats of the
    large pillars take megabytes per image, the 8-bit images tens of kilobytes.

    Files in ``out_dir``
        ``<key>_r<reload %>.png`` and ``<key>_r<reload %>_mean.png``
            :func:`~microdl.simulate.ddd.profile.render_uint8` of each snapshot
            (``floor(255 |eps - median| / max|eps - median|)``), rows across the width,
            columns along the loading axis (horizontal, as in the published images);
            reference mode ``full`` and ``mean`` (column ``mode`` of the index).
        ``index.csv``
            One row per image: labels, seed, shape, pixel size, and ``median_strain``
            and ``scale_strain`` (the median and max deviation of the float profile, so
            ``|eps - median| ~= scale * gray / 255``), yield stress, final count.
        ``curves.npz``
            ``<key>/strain``, ``<key>/stress_pa``, ``<key>/stage``, ``<key>/reload_strain``
            (float32/int8) of every sample's stress--strain curve.
        ``index.json``
            Format, source folder, counts and the dataset's preset.

    Returns the ``index.json`` dict. Existing files in ``out_dir`` are overwritten.
    """
    import csv

    from PIL import Image

    from microdl.simulate.ddd.profile import render_uint8

    src = Path(dataset_dir)
    st = jobs_status(src)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows, curves = [], {}
    for rec in _done_records(src, st.done):
        key = rec["key"]
        sample = load_sample(src / f"{key}.npz")
        meta, labels = sample["meta"], sample["meta"]["labels"]
        ys = (meta.get("summary") or {}).get("yield_stress_mpa")
        modes = [("full", sample["profiles"])]
        if "profiles_mean" in sample:
            modes.append(("mean", sample["profiles_mean"]))
        for (mode, strain), prof in (((m, e), p) for m, arr in modes
                                     for e, p in zip(sample["snapshot_strains"], arr, strict=True)):
            name = f"{key}_r{_num(round(float(strain) * 100, 10))}{'' if mode == 'full' else '_mean'}.png"
            img = render_uint8(prof)
            tmp = out / (name + ".tmp")
            Image.fromarray(img).save(tmp, format="PNG", optimize=True)
            os.replace(tmp, out / name)
            med = float(np.median(prof))
            rows.append({
                "file": name, "key": key, "mode": mode, "width_um": labels["width_um"], "slip": labels["slip"],
                "prior_pct": round(100 * float(labels["prior_strain"]), 10),
                "reload_pct": round(100 * float(strain), 10), "seed": sample["seed"], "index": labels.get("index"),
                "rows": img.shape[0], "cols": img.shape[1],
                "pixel_x_nm": float(sample["pixel_size_m"][0]) * 1e9, "pixel_y_nm": float(sample["pixel_size_m"][1]) * 1e9,
                "median_strain": med, "scale_strain": float(np.max(np.abs(prof - med))),
                "yield_stress_mpa": ys, "n_dislocations_final": (meta.get("summary") or {}).get("n_dislocations_final"),
            })
        c = sample["curve"]
        curves[f"{key}/strain"] = np.asarray(c["strain"], dtype=np.float32)
        curves[f"{key}/stress_pa"] = np.asarray(c["stress_pa"], dtype=np.float32)
        curves[f"{key}/stage"] = np.asarray(c["stage"], dtype=np.int8)
        curves[f"{key}/reload_strain"] = np.asarray(c["reload_strain"], dtype=np.float32)
    if not rows:
        raise DataFileError(f"no finished samples in {src}")
    rows.sort(key=lambda r: (r["mode"], r["width_um"], r["slip"], r["prior_pct"], r["index"] or 0, r["reload_pct"]))
    tmp = out / "index.csv.tmp"
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(_INDEX_COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, out / "index.csv")
    tmp = out / "curves.tmp.npz"
    with open(tmp, "wb") as fh:
        np.savez_compressed(fh, **curves)
    os.replace(tmp, out / "curves.npz")
    ds = {}
    if (src / DATASET_JSON).is_file():
        ds = json.loads((src / DATASET_JSON).read_text())
    info = {"format": _EXPORT_FORMAT, "source": os.fspath(src), "n_images": len(rows),
            "n_samples": len(curves) // 4, "preset": ds.get("preset"), "environment": environment()}
    write_json(out / "index.json", info)
    return info


def load_images(export_dir: str | os.PathLike) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    """Read a folder written by :func:`export_images`: the 8-bit images and their index rows."""
    import csv

    from PIL import Image

    folder = Path(export_dir)
    index = folder / "index.csv"
    if not index.is_file():
        raise DataFileError(f"{folder} has no index.csv (not written by export_images?)")
    images, rows = [], []
    with open(index, newline="") as fh:
        for row in csv.DictReader(fh):
            for k in ("width_um", "prior_pct", "reload_pct", "pixel_x_nm", "pixel_y_nm", "median_strain",
                      "scale_strain"):
                row[k] = float(row[k])
            for k in ("seed", "index", "rows", "cols"):
                row[k] = int(row[k]) if row[k] not in ("", None) else None
            row["yield_stress_mpa"] = float(row["yield_stress_mpa"]) if row["yield_stress_mpa"] else None
            row["n_dislocations_final"] = int(row["n_dislocations_final"]) if row["n_dislocations_final"] else None
            with Image.open(folder / row["file"]) as im:
                images.append(np.asarray(im, dtype=np.uint8))
            rows.append(row)
    return images, rows
