"""DDD strain profiles: the file of one sample, the profiles of a grid (the 8-bit export: ddd_export).

A *sample* is one simulated pillar (:func:`~microdl.simulate.ddd.protocol.simulate_pillar`)
of a grid run by :mod:`microdl.workflows.ddd_dataset`; its reload records the strain
profile at several reload strains (0.1 % and 1 %).

File of one sample (``<key>.npz``, compressed, no pickled objects)
    ``profiles`` (float32, ``(n_snapshots, nx, ny)``, axis 0 across the width, axis 1
    along the loading axis, reference: the whole unloaded displacement field, as digital
    image correlation would see it, see :mod:`~microdl.simulate.ddd.profile`),
    ``profiles_mean`` (same, but only the mean unloaded strain subtracted, the wording of
    Yang et al. 2020: the prior slip lines stay visible), ``snapshot_strains`` (fractions),
    ``pixel_size_m`` (x, y, m), ``curve/<column>`` (the stress--strain curve of
    :class:`~microdl.simulate.ddd.protocol.PillarResult`), ``dislocations/<field>``
    (final positions in m, sign, plane, system, pinned), ``sources/<field>``,
    ``obstacles/<field>``, ``surface_steps``, ``seed`` and ``meta_json`` (JSON text:
    config, seed, stats, labels, environment). Written by :func:`write_sample`, read and
    validated by :func:`load_sample`.

Image sizes
    Native: about 2 nm pixels, ``round(w / 2 nm) x round(4 w / 2 nm)`` -- 31 x 125 at
    w = 0.0625 um, 250 x 1000 at 0.5 um -- whatever the labels (the export's ``deformed``
    rendering is the one option that shortens an image with its strain). Nothing is
    resampled here; the learning code decides how to crop or resize.

The 8-bit export (PNGs, index, curves, split; merged across builds) is in
:mod:`~microdl.data.ddd_export`. Reference: Z. Yang et al., Sci. Rep. 10, 8262 (2020).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from microdl.data._validation import as_array, check_range, check_same_length
from microdl.data.ddd_checks import read_index
from microdl.data.ddd_result import read_npz
from microdl.data.jobs import status as jobs_status
from microdl.exceptions import DataFileError, InvalidParameterError
from microdl.io._atomic import read_json, save_npz
from microdl.provenance import to_jsonable

__all__ = [
    "DATASET_JSON",
    "SAMPLE_FORMAT",
    "SLIPS",
    "DDDProfiles",
    "check_sample_file",
    "done_records",
    "format_number",
    "grid_status",
    "load_profiles",
    "load_sample",
    "read_index",
    "write_sample",
]

DATASET_JSON = "dataset.json"
SAMPLE_FORMAT = "microdl.ddd-dataset/1"
SLIPS = ("one", "two")
_GROUPS = ("curve", "dislocations", "sources", "obstacles")
_LABEL_COLUMNS = ("width_um", "slip", "prior", "reload", "seed", "index", "key")


def format_number(x: float) -> str:
    """Compact, file-name-safe decimal (``0.0625``, ``0.1``, ``10``)."""
    s = f"{x:.10g}"
    if "e" in s or "E" in s:
        s = f"{x:.12f}".rstrip("0").rstrip(".")
    return s


# ----------------------------------------------------------------------------- one sample


def write_sample(path: str | os.PathLike, result: Any, meta: dict[str, Any]) -> Path:
    """Write one sample file (format above) from a :class:`~microdl.simulate.ddd.protocol.PillarResult`.

    ``meta`` (labels, config, stats, summary...) is stored as JSON text in ``meta_json``.
    """
    arrays: dict[str, np.ndarray] = {
        "profiles": np.asarray(result.profiles, dtype=np.float32),
        "profiles_mean": np.asarray([result.profile(e, mode="mean") for e in result.snapshot_strains],
                                    dtype=np.float32).reshape(result.profiles.shape),
        "snapshot_strains": np.asarray(result.snapshot_strains, dtype=np.float64),
        "pixel_size_m": np.asarray(result.pixel_size_m, dtype=np.float64),
        "seed": np.asarray(result.seed, dtype=np.int64),
        "surface_steps": np.asarray(result.surface_steps),
        "meta_json": np.asarray(json.dumps(to_jsonable(meta))),
    }
    for group in _GROUPS:
        for name, value in getattr(result, group).items():
            arrays[f"{group}/{name}"] = np.asarray(value)
    return save_npz(path, arrays)


def _validate_sample(arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """The contract of one sample: float profiles ``(n, nx, ny)``, finite; strains, pixel size, labels."""
    prof = as_array(arrays["profiles"], "profiles", ndim=3)
    if prof.dtype.kind != "f":
        raise InvalidParameterError(f"profiles must be floating point, got dtype {prof.dtype}")
    if "profiles_mean" in arrays:
        as_array(arrays["profiles_mean"], "profiles_mean", shape=prof.shape)
    snaps = as_array(arrays["snapshot_strains"], "snapshot_strains", shape=(prof.shape[0],), dtype=np.float64)
    check_range(snaps, "snapshot_strains", low=0.0, high=0.5, unit="(strain fraction)")
    pixel = as_array(arrays["pixel_size_m"], "pixel_size_m", shape=(2,), dtype=np.float64)
    if not np.all(pixel > 0):
        raise InvalidParameterError(f"pixel_size_m must be > 0 m, got {pixel.tolist()}")
    labels = meta.get("labels") or {}
    if labels.get("slip") not in SLIPS:
        raise InvalidParameterError(f"labels.slip must be one of {SLIPS}, got {labels.get('slip')!r}")
    check_range(as_array(labels.get("width_um"), "labels.width_um", shape=(), dtype=np.float64),
                "labels.width_um", low=1e-6, unit="um")
    check_range(as_array(labels.get("prior_strain"), "labels.prior_strain", shape=(), dtype=np.float64),
                "labels.prior_strain", low=0.0, high=0.5, unit="(strain fraction)")


def load_sample(path: str | os.PathLike) -> dict[str, Any]:
    """Read and validate one sample file written by :func:`write_sample`.

    Returns
    -------
    dict
        ``profiles`` (float32, ``(n_snapshots, nx, ny)``), ``profiles_mean`` (if stored),
        ``snapshot_strains`` (fractions), ``pixel_size_m`` (m), ``seed``, ``surface_steps``,
        ``curve``, ``dislocations``, ``sources`` and ``obstacles`` (dicts of arrays) and
        ``meta`` (config, labels, stats, environment).

    Raises
    ------
    DataFileError
        One line naming the file if it is unreadable, truncated or breaks the contract
        (missing arrays, non-finite profiles, labels outside the known sets).
    """
    path = Path(path)
    arrays = read_npz(path, what="DDD sample file")
    missing = [k for k in ("profiles", "meta_json", "snapshot_strains", "pixel_size_m", "seed") if k not in arrays]
    if missing:
        raise DataFileError(f"DDD sample file {os.fspath(path)!r} lacks the arrays {missing}")
    try:
        meta = json.loads(str(arrays["meta_json"]))
        if not isinstance(meta, dict):
            raise ValueError(f"meta_json holds {type(meta).__name__}, not an object")
        _validate_sample(arrays, meta)
    except (ValueError, TypeError) as exc:  # InvalidParameterError is a ValueError
        raise DataFileError(f"DDD sample file {os.fspath(path)!r} is invalid: {exc}") from exc
    out: dict[str, Any] = {k: v for k, v in arrays.items() if "/" not in k and k != "meta_json"}
    out["seed"] = int(arrays["seed"])
    for group in _GROUPS:
        out[group] = {k[len(group) + 1:]: v for k, v in arrays.items() if k.startswith(group + "/")}
    out["meta"] = meta
    return out


def check_sample_file(path: str | os.PathLike) -> None:
    """Validator of finished grid outputs (``run_jobs(..., validate=...)``): raise if unreadable."""
    load_sample(path)


# ----------------------------------------------------------------------------- a grid folder


def grid_status(folder: str | os.PathLike) -> Any:
    """:func:`microdl.data.jobs.status` of a grid folder, refusing corrupt sample files.

    Raises
    ------
    DataFileError
        If the folder holds no readable manifest, or a finished sample file has changed
        since it was written (named in the message; rerunning the grid recomputes it).
    """
    st = jobs_status(folder)
    if st.corrupt:
        bad = Path(folder) / f"{st.corrupt[0]}.npz"
        raise DataFileError(f"DDD sample file {os.fspath(bad)!r} is corrupt (changed since it was written; "
                            f"{len(st.corrupt)} such); rerun 'microdl ddd dataset' to recompute")
    return st


def done_records(folder: Path, keys: Iterable[str]) -> list[dict[str, Any]]:
    """The runner's ``<key>.json`` records of the finished samples among ``keys``."""
    records = []
    for key in keys:
        rec = read_json(folder / f"{key}.json", missing_ok=True, what="DDD sample record")
        if isinstance(rec, dict) and rec.get("ok"):
            records.append(rec)
    return records


@dataclass(frozen=True)
class DDDProfiles:
    """Strain profiles with aligned labels, validated on construction.

    Attributes
    ----------
    profiles
        float32 arrays ``(nx, ny)``, finite, at their native size.
    labels
        ``width_um`` (um, > 0), ``slip`` (``"one"``/``"two"``), ``prior`` and ``reload``
        (strain fractions in [0, 0.5]), ``seed``, ``index`` and ``key``, one entry per profile.
    """

    profiles: list[np.ndarray]
    labels: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for i, p in enumerate(self.profiles):
            arr = as_array(p, f"profiles[{i}]", ndim=2)
            if arr.dtype.kind != "f":
                raise InvalidParameterError(f"profiles[{i}] must be floating point, got dtype {arr.dtype}")
        missing = [k for k in _LABEL_COLUMNS if k not in self.labels]
        if missing:
            raise InvalidParameterError(f"labels must hold {list(_LABEL_COLUMNS)}, missing {missing}")
        check_same_length(profiles=np.empty(len(self.profiles)), **{k: self.labels[k] for k in _LABEL_COLUMNS})
        bad = sorted(set(self.labels["slip"].tolist()) - set(SLIPS))
        if bad:
            raise InvalidParameterError(f"labels['slip'] must be in {SLIPS}, got {bad}")
        check_range(self.labels["width_um"], "labels['width_um']", low=1e-6, unit="um")
        for k in ("prior", "reload"):
            check_range(as_array(self.labels[k], f"labels[{k!r}]", ndim=1), f"labels[{k!r}]", low=0.0, high=0.5,
                        unit="(strain fraction)")


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
        Folder of the grid (``microdl ddd dataset --out``).
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
        (fractions), ``seed``, ``index`` and ``key``, aligned with ``profiles``
        (validated by :class:`DDDProfiles`).

    Raises
    ------
    DataFileError
        ``out_dir`` is not a grid folder or a sample file is unreadable or corrupt.
    """
    if mode not in ("full", "mean"):
        raise InvalidParameterError(f"mode must be 'full' or 'mean', got {mode!r}")
    array = "profiles" if mode == "full" else "profiles_mean"
    out = Path(out_dir)
    st = grid_status(out)
    keep_w = None if widths is None else [float(w) for w in widths]
    keep_p = None if priors is None else [float(p) for p in priors]
    profiles: list[np.ndarray] = []
    cols: dict[str, list] = {k: [] for k in _LABEL_COLUMNS}
    for rec in done_records(out, st.done):
        p = rec["params"]
        if keep_w is not None and not any(math.isclose(p["width_um"], w) for w in keep_w):
            continue
        if slips is not None and p["slip"] not in slips:
            continue
        if keep_p is not None and not any(math.isclose(p["prior_strain"], q) for q in keep_p):
            continue
        z = read_npz(out / rec.get("output", f"{rec['key']}.npz"), what="DDD sample file",
                     keys=(array, "snapshot_strains"))
        for k, s in enumerate(z["snapshot_strains"]):
            if reload is not None and not math.isclose(float(s), float(reload)):
                continue
            profiles.append(np.asarray(z[array][k], dtype=np.float32))
            for name, value in (("width_um", float(p["width_um"])), ("slip", p["slip"]),
                                ("prior", float(p["prior_strain"])), ("reload", float(s)), ("seed", int(p["seed"])),
                                ("index", int(p.get("index", -1))), ("key", rec["key"])):
                cols[name].append(value)
    dtypes = {"width_um": np.float64, "slip": "<U3", "prior": np.float64, "reload": np.float64,
              "seed": np.int64, "index": np.int64, "key": str}
    data = DDDProfiles(profiles, {k: np.asarray(cols[k], dtype=dtypes[k]) for k in _LABEL_COLUMNS})
    return data.profiles, data.labels
