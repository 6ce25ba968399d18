"""DDD strain profiles: the file of one sample, the profiles of a grid, the 8-bit export.

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

Export (:func:`export_images`): 8-bit PNGs, profiles without visible slip dropped or
given their own class, identical images checked (:mod:`~microdl.data.ddd_checks`), and a
split by simulation (:mod:`~microdl.data.ddd_splits`). Reference: Z. Yang et al., Sci. Rep.
10, 8262 (2020).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from microdl.data._validation import as_array, check_range, check_same_length
from microdl.data.ddd_checks import (can_show_slip, check_images, deformed_profile, duplicate_groups, image_digest,
                                     image_label, read_index, reload_activity, slip_pixels, total_axial_strain)
from microdl.data.ddd_result import read_npz
from microdl.data.jobs import status as jobs_status
from microdl.exceptions import DataFileError, InvalidParameterError
from microdl.io._atomic import atomic_write, check_output_folder, read_json, save_npz, write_json, write_text
from microdl.provenance import environment, to_jsonable

__all__ = [
    "DATASET_JSON",
    "SAMPLE_FORMAT",
    "SLIPS",
    "DDDProfiles",
    "check_sample_file",
    "done_records",
    "export_images",
    "format_number",
    "grid_status",
    "load_images",
    "load_profiles",
    "load_sample",
    "read_index",
    "write_sample",
]

DATASET_JSON = "dataset.json"
SAMPLE_FORMAT = "microdl.ddd-dataset/1"
EXPORT_FORMAT = "microdl.ddd-images/1"
SLIPS = ("one", "two")
_GROUPS = ("curve", "dislocations", "sources", "obstacles")
_LABEL_COLUMNS = ("width_um", "slip", "prior", "reload", "seed", "index", "key")
_INDEX_COLUMNS = ("file", "key", "mode", "width_um", "slip", "prior_pct", "reload_pct", "seed", "index", "rows", "cols",
                  "pixel_x_nm", "pixel_y_nm", "median_strain", "scale_strain", "yield_stress_mpa",
                  "n_dislocations_final", "label", "plastic", "slip_pixels", "reload_events", "rendering", "digest")


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


# ----------------------------------------------------------------------------- compact export


def _save_png_optimized(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    atomic_write(path, lambda tmp: Image.fromarray(image).save(tmp, format="PNG", optimize=True))


def _export_rows(key: str, sample: dict[str, Any], out: Path, elastic: str, rendering: str) -> tuple[list, list]:
    """Write the PNGs of one sample (every snapshot, both references); its index rows and dropped files."""
    from microdl.simulate.ddd.profile import render_uint8

    meta, labels = sample["meta"], sample["meta"]["labels"]
    summary, config = meta.get("summary") or {}, meta.get("config") or {}
    burgers_m = float(config.get("burgers_nm", 0.25)) * 1e-9
    modes = [("full", sample["profiles"])] + ([("mean", sample["profiles_mean"])] if "profiles_mean" in sample else [])
    if rendering == "deformed" and ("profiles_mean" not in sample or "unload_displacement_m" not in meta):
        raise DataFileError(f"sample {key!r} lacks profiles_mean or meta.unload_displacement_m (rendering='deformed')")
    prior_pct = round(100 * float(labels["prior_strain"]), 10)
    rows, dropped = [], []
    for mode, arr in modes:
        for k, (strain, prof) in enumerate(zip(sample["snapshot_strains"], arr, strict=True)):
            name = f"{key}_r{format_number(round(float(strain) * 100, 10))}{'' if mode == 'full' else '_mean'}.png"
            activity = reload_activity(sample["curve"], float(strain))
            n_slip = slip_pixels(prof, float(strain), sample["pixel_size_m"], burgers_m)
            plastic = n_slip > 0 and can_show_slip(activity, mode)
            if not plastic and elastic == "drop":
                dropped.append({"file": name, "reason": "elastic"})
                continue
            if rendering == "deformed":
                height_m = float(sample["pixel_size_m"][1]) * prof.shape[1]
                prof = deformed_profile(prof, total_axial_strain(sample["profiles_mean"][k],
                                                                 meta["unload_displacement_m"], height_m))
            img = render_uint8(prof)
            _save_png_optimized(out / name, img)
            med = float(np.median(prof))
            rows.append({
                "file": name, "key": key, "mode": mode, "width_um": labels["width_um"], "slip": labels["slip"],
                "prior_pct": prior_pct, "reload_pct": round(100 * float(strain), 10), "seed": sample["seed"],
                "index": labels.get("index"), "rows": img.shape[0], "cols": img.shape[1],
                "pixel_x_nm": float(sample["pixel_size_m"][0]) * 1e9,
                "pixel_y_nm": float(sample["pixel_size_m"][1]) * 1e9,
                "median_strain": med, "scale_strain": float(np.max(np.abs(prof - med))),
                "yield_stress_mpa": summary.get("yield_stress_mpa"),
                "n_dislocations_final": summary.get("n_dislocations_final"),
                "label": f"{prior_pct:g}" if plastic else "elastic", "plastic": int(plastic), "slip_pixels": n_slip,
                "reload_events": activity["events"], "rendering": rendering, "digest": image_digest(img),
            })
    return rows, dropped


def export_images(dataset_dir: str | os.PathLike, out_dir: str | os.PathLike, *, elastic: str = "drop",
                  duplicates: str = "error", rendering: str = "reference", split_seed: int = 0) -> dict[str, Any]:
    """Write a grid's profiles as 8-bit PNGs (the published format), an index, the curves and a split.

    Parameters
    ----------
    dataset_dir, out_dir
        Grid folder (``microdl ddd dataset --out``) and the folder to write (files overwritten).
    elastic
        Profiles without visible slip (:mod:`microdl.data.ddd_checks`): ``"drop"`` (listed in
        ``index.json``) or ``"class"`` (label ``"elastic"``); such an image looks the same
        for every prior strain, so it never carries a prior label.
    duplicates
        Identical images (same reference) with different labels: ``"error"`` (files written,
        then ``DataFileError``) or ``"drop"`` (removed and listed).
    rendering
        ``"reference"`` (undeformed grid: shape set by width and pixel size alone) or
        ``"deformed"`` (:func:`~microdl.data.ddd_checks.deformed_profile`).
    split_seed
        Seed of ``splits.json`` (:func:`~microdl.data.ddd_splits.split_rows`).

    Files: ``<key>_r<reload %>[_mean].png`` (``floor(255 |eps - median| / max|eps - median|)``,
    rows across the width, loading axis horizontal; reference ``full`` or ``mean``), ``index.csv``
    (per image: labels, seed, shape, pixel size (nm), ``median_strain`` and ``scale_strain``
    (``|eps - median| ~= scale * gray / 255``), yield stress (MPa), final count, ``label``
    (prior % or ``"elastic"``), ``plastic``, ``slip_pixels``, ``reload_events``, ``rendering``,
    ``digest``), ``curves.npz`` (``<key>/strain|stress_pa|stage|reload_strain``),
    ``splits.json`` and ``index.json`` (counts, preset, options, dropped files, ``check``).
    Returns the ``index.json`` dict.

    Raises
    ------
    DataFileError
        ``dataset_dir`` is not a grid folder, its manifest or a sample file is corrupt (named),
        it has no finished sample, ``out_dir`` is a file, or (``duplicates="error"``)
        identical images carry different labels.
    """
    from microdl.data.ddd_splits import SPLITS_JSON, split_rows

    for name, value, allowed in (("elastic", elastic, ("drop", "class")), ("duplicates", duplicates,
                                 ("error", "drop")), ("rendering", rendering, ("reference", "deformed"))):
        if value not in allowed:
            raise InvalidParameterError(f"{name} must be one of {allowed}, got {value!r}")
    src = Path(dataset_dir)
    records = done_records(src, grid_status(src).done)
    if not records:
        raise DataFileError(f"no finished samples in {os.fspath(src)!r}")
    out = check_output_folder(out_dir)
    rows, dropped, curves = [], [], {}
    for rec in records:
        key = rec["key"]
        sample = load_sample(src / f"{key}.npz")
        new_rows, new_dropped = _export_rows(key, sample, out, elastic, rendering)
        rows, dropped = rows + new_rows, dropped + new_dropped
        for name, dtype in (("strain", np.float32), ("stress_pa", np.float32), ("stage", np.int8),
                            ("reload_strain", np.float32)):
            curves[f"{key}/{name}"] = np.asarray(sample["curve"][name], dtype=dtype)
    if duplicates == "drop":
        clash = {i for g in duplicate_groups(rows, [r["digest"] for r in rows])
                 if len({image_label(rows[i]) for i in g}) > 1 for i in g}
        for i in sorted(clash):
            (out / rows[i]["file"]).unlink(missing_ok=True)
            dropped.append({"file": rows[i]["file"], "reason": "identical to an image with another label"})
        rows = [r for i, r in enumerate(rows) if i not in clash]
    rows.sort(key=lambda r: (r["mode"], r["width_um"], r["slip"], r["prior_pct"], r["index"] or 0, r["reload_pct"]))
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=list(_INDEX_COLUMNS))
    writer.writeheader()
    writer.writerows(rows)
    write_text(out / "index.csv", buf.getvalue())
    save_npz(out / "curves.npz", curves)
    digests = [r["digest"] for r in rows]
    splits = split_rows(rows, digests, seed=split_seed) if rows else None
    check = check_images(rows, digests, splits, strict=False)
    if splits is not None:
        write_json(out / SPLITS_JSON, {**splits, "check": check})
    ds = read_json(src / DATASET_JSON, missing_ok=True, what="dataset description") or {}
    info = {"format": EXPORT_FORMAT, "source": os.fspath(src), "n_images": len(rows),
            "n_samples": len(curves) // 4, "preset": ds.get("preset"), "elastic": elastic, "duplicates": duplicates,
            "rendering": rendering, "n_dropped_elastic": sum(d["reason"] == "elastic" for d in dropped),
            "n_dropped_duplicates": sum(d["reason"] != "elastic" for d in dropped), "dropped": dropped,
            "splits": None if splits is None else {"file": SPLITS_JSON, "seed": split_seed, **splits["counts"]},
            "check": check, "environment": environment()}
    write_json(out / "index.json", info)
    if not check["ok"]:
        raise DataFileError(f"{check['conflict']} (export in {os.fspath(out)!r}; --duplicates drop removes them)")
    return info


def load_images(export_dir: str | os.PathLike) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    """Read a folder written by :func:`export_images`: the 8-bit images and their index rows.

    Raises
    ------
    DataFileError
        No ``index.csv``, a malformed row or an unreadable image (named in the message).
    """
    from PIL import Image, UnidentifiedImageError

    folder = Path(export_dir)
    rows = read_index(folder)
    images = []
    for line, row in enumerate(rows, start=2):
        try:
            with Image.open(folder / row["file"]) as im:
                images.append(np.asarray(im, dtype=np.uint8))
        except (OSError, UnidentifiedImageError) as exc:
            raise DataFileError(f"{os.fspath(folder / 'index.csv')!r} line {line} is invalid: {exc}") from exc
    return images, rows
