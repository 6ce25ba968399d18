"""8-bit export of a grid's DDD strain profiles (PNGs, index, curves, split), merged across builds.

:func:`export_images` writes the published format (Yang et al., Sci. Rep. 10, 8262 (2020)):
one 8-bit PNG per profile, ``index.csv`` (labels and scales), ``curves.npz`` (every
stress--strain curve), ``splits.json`` (:mod:`~microdl.data.ddd_splits`) and ``index.json``
(options, counts, dropped files, the check of :mod:`~microdl.data.ddd_checks`).

Merging (``merge=True``)
    A data set too long to simulate in one work session is built in parts: each part
    simulates only the samples its export does not hold yet
    (``microdl ddd dataset --skip-exported``, :func:`exported_keys`) and is merged into the
    export, which keeps its rows, dropped list and curves. A sample of the new part that
    the export already holds is exported again (its rows, files and curve replaced). The
    union is checked as one export (identical images across labels or splits) and its
    split is stable: earlier assignments never move (:func:`~microdl.data.ddd_splits.split_rows`
    with ``keep``). The merge of several parts equals the export of the whole grid: same
    rows, files and split. Dropped entries record the sample ``key`` (and, for images
    dropped as identical to another label's, the ``digest``, ``mode`` and ``label``, so a
    later part's copy of such a picture is dropped too).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from microdl.data.ddd_checks import (can_show_slip, check_images, deformed_profile, duplicate_groups, image_digest,
                                     image_label, read_index, reload_activity, slip_pixels, total_axial_strain)
from microdl.data.ddd_profiles import DATASET_JSON, done_records, format_number, grid_status, load_sample
from microdl.data.ddd_result import read_npz
from microdl.data.ddd_splits import SIDES, SPLITS_JSON, load_splits, split_rows
from microdl.exceptions import DataFileError, InvalidParameterError
from microdl.io._atomic import atomic_write, check_output_folder, read_json, save_npz, write_json, write_text
from microdl.provenance import environment

__all__ = ["EXPORT_FORMAT", "INDEX_COLUMNS", "INDEX_JSON", "export_images", "exported_keys", "load_images"]

EXPORT_FORMAT = "microdl.ddd-images/1"
INDEX_JSON = "index.json"
INDEX_COLUMNS = ("file", "key", "mode", "width_um", "slip", "prior_pct", "reload_pct", "seed", "index", "rows", "cols",
                 "pixel_x_nm", "pixel_y_nm", "median_strain", "scale_strain", "yield_stress_mpa",
                 "n_dislocations_final", "label", "plastic", "slip_pixels", "reload_events", "rendering", "digest")
_CURVE_COLUMNS = (("strain", np.float32), ("stress_pa", np.float32), ("stage", np.int8), ("reload_strain", np.float32))
_OPTIONS = (("elastic", ("drop", "class")), ("duplicates", ("error", "drop")), ("rendering", ("reference", "deformed")))


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
                dropped.append({"file": name, "key": key, "seed": sample["seed"], "reason": "elastic"})
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


def _dropped_key(entry: dict[str, Any]) -> str:
    """Sample key of a dropped entry (older exports: from its file name ``<key>_r<reload>[_mean].png``)."""
    return str(entry["key"]) if entry.get("key") else str(entry["file"]).rsplit("_r", 1)[0]


def _previous_export(folder: Path, options: dict[str, str], split_seed: int) -> dict[str, Any] | None:
    """The export already in ``folder`` (rows, dropped, curves, split), refused if made otherwise; ``None`` if none."""
    info = read_json(folder / INDEX_JSON, missing_ok=True, what="export description")
    if info is None:
        return None
    where = f"cannot merge into {os.fspath(folder)!r}"
    if not isinstance(info, dict) or info.get("format") != EXPORT_FORMAT:
        found = info.get("format") if isinstance(info, dict) else type(info).__name__
        raise InvalidParameterError(f"{where}: its {INDEX_JSON} is not a {EXPORT_FORMAT!r} export (found {found!r}); "
                                    "export to a new folder")
    # An export made with --duplicates error holds no clash, so dropping clashes from now on is safe.
    upgrade = info.get("duplicates") == "error" and options["duplicates"] == "drop"
    differ = [f"--{k} {info.get(k)!r} (not {v!r})" for k, v in options.items()
              if info.get(k) != v and not (k == "duplicates" and upgrade)]
    if differ:
        raise InvalidParameterError(f"{where}: it was exported with {', '.join(differ)}; merge with the same "
                                    "options or export to a new folder")
    index = folder / "index.csv"
    header = next(csv.reader(io.StringIO(index.read_text())), []) if index.is_file() else []
    if tuple(header) != INDEX_COLUMNS:
        raise InvalidParameterError(f"{where}: its index.csv is missing or lacks this version's columns; export to "
                                    "a new folder")
    splits = load_splits(folder / SPLITS_JSON) if (folder / SPLITS_JSON).is_file() else None
    if splits is not None and splits.get("seed") != split_seed:
        raise InvalidParameterError(f"{where}: its split has seed {splits.get('seed')!r}, not --split-seed "
                                    f"{split_seed}; merge with the same seed")
    curves = read_npz(folder / "curves.npz", what="export curves") if (folder / "curves.npz").is_file() else {}
    return {"rows": read_index(folder), "dropped": list(info.get("dropped") or []), "curves": curves,
            "splits": splits, "sources": list(info.get("sources") or [info.get("source")])}


def exported_keys(export_dir: str | os.PathLike) -> dict[str, int | None]:
    """Sample keys an export holds, as images or as dropped entries, with their seeds (``None`` if unknown).

    Raises
    ------
    DataFileError
        ``export_dir`` has no readable ``index.csv`` or ``index.json``.
    """
    folder = Path(export_dir)
    keys: dict[str, int | None] = {str(r["key"]): r.get("seed") for r in read_index(folder)}
    info = read_json(folder / INDEX_JSON, what="export description")
    for entry in (info.get("dropped") or []) if isinstance(info, dict) else []:
        keys.setdefault(_dropped_key(entry), entry.get("seed"))
    return keys


def _drop_clashes(rows: list[dict], dropped: list[dict], out: Path) -> list[dict]:
    """Remove identical images with different labels (also against earlier dropped ones); the rows kept."""
    earlier = [d for d in dropped if d.get("digest") and d["reason"] != "elastic"]
    pool = rows + [{"file": d["file"], "mode": d["mode"], "label": d["label"]} for d in earlier]
    digests = [r["digest"] for r in rows] + [d["digest"] for d in earlier]
    clash = {i for g in duplicate_groups(pool, digests) if len({image_label(pool[i]) for i in g}) > 1
             for i in g if i < len(rows)}
    for i in sorted(clash):
        (out / rows[i]["file"]).unlink(missing_ok=True)
        dropped.append({"file": rows[i]["file"], "key": rows[i]["key"], "seed": rows[i]["seed"],
                        "reason": "identical to an image with another label", "digest": rows[i]["digest"],
                        "mode": rows[i]["mode"], "label": image_label(rows[i])})
    return [r for i, r in enumerate(rows) if i not in clash]


def export_images(dataset_dir: str | os.PathLike, out_dir: str | os.PathLike, *, elastic: str = "drop",
                  duplicates: str = "error", rendering: str = "reference", split_seed: int = 0,
                  merge: bool = False) -> dict[str, Any]:
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
    merge
        Merge into the export already in ``out_dir`` (module notes; made with the same
        options and split seed, except that ``duplicates="drop"`` may merge into an export
        made with ``"error"``) instead of overwriting it. Without one it is a plain export.

    Files: ``<key>_r<reload %>[_mean].png`` (``floor(255 |eps - median| / max|eps - median|)``,
    rows across the width, loading axis horizontal; reference ``full`` or ``mean``), ``index.csv``
    (per image: labels, seed, shape, pixel size (nm), ``median_strain`` and ``scale_strain``
    (``|eps - median| ~= scale * gray / 255``), yield stress (MPa), final count, ``label``
    (prior % or ``"elastic"``), ``plastic``, ``slip_pixels``, ``reload_events``, ``rendering``,
    ``digest``), ``curves.npz`` (``<key>/strain|stress_pa|stage|reload_strain``),
    ``splits.json`` and ``index.json`` (counts, preset, options, sources, dropped files with
    their keys, ``check``). Returns the ``index.json`` dict.

    Raises
    ------
    InvalidParameterError
        An unknown option, or (``merge``) an export in ``out_dir`` made with other options,
        another split seed or another format (before anything is read or written).
    DataFileError
        ``dataset_dir`` is not a grid folder, its manifest or a sample file is corrupt (named),
        it has no finished sample, ``out_dir`` is a file, or (``duplicates="error"``)
        identical images carry different labels.
    """
    options = {"elastic": elastic, "duplicates": duplicates, "rendering": rendering}
    for name, allowed in _OPTIONS:
        if options[name] not in allowed:
            raise InvalidParameterError(f"{name} must be one of {allowed}, got {options[name]!r}")
    prev = _previous_export(Path(out_dir), options, split_seed) if merge else None
    src = Path(dataset_dir)
    status = grid_status(src)
    records = done_records(src, status.done)
    if not records:
        raise DataFileError(f"no finished samples among the jobs in the manifest of {os.fspath(src)!r} "
                            f"(0 of {status.n_total} done; a build started with --skip-exported lists only the "
                            "jobs it still had to run)")
    out = check_output_folder(out_dir)
    new_keys = {rec["key"] for rec in records}
    prev = prev or {"rows": [], "dropped": [], "curves": {}, "splits": None, "sources": []}
    rows = [r for r in prev["rows"] if r["key"] not in new_keys]
    dropped = [d for d in prev["dropped"] if _dropped_key(d) not in new_keys]
    curves = {k: v for k, v in prev["curves"].items() if k.rsplit("/", 1)[0] not in new_keys}
    replaced = {r["file"] for r in prev["rows"] if r["key"] in new_keys}
    for rec in records:
        key = rec["key"]
        sample = load_sample(src / f"{key}.npz")
        new_rows, new_dropped = _export_rows(key, sample, out, elastic, rendering)
        rows, dropped = rows + new_rows, dropped + new_dropped
        for name, dtype in _CURVE_COLUMNS:
            curves[f"{key}/{name}"] = np.asarray(sample["curve"][name], dtype=dtype)
    for name in sorted(replaced - {r["file"] for r in rows}):  # a re-exported image now dropped
        (out / name).unlink(missing_ok=True)
    if duplicates == "drop":
        rows = _drop_clashes(rows, dropped, out)
    rows.sort(key=lambda r: (r["mode"], r["width_um"], r["slip"], r["prior_pct"], r["index"] or 0, r["reload_pct"],
                             r["file"]))
    dropped.sort(key=lambda d: (d["file"], d["reason"]))
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=list(INDEX_COLUMNS))
    writer.writeheader()
    writer.writerows(rows)
    write_text(out / "index.csv", buf.getvalue())
    save_npz(out / "curves.npz", dict(sorted(curves.items())))
    digests = [r["digest"] for r in rows]
    old = prev["splits"] or {}
    keep = {k: side for side in SIDES for k in (old.get("simulations") or {}).get(side, [])}
    fractions = {k: old[k] for k in ("test_fraction", "val_fraction") if k in old}
    splits = split_rows(rows, digests, seed=split_seed, keep=keep, **fractions) if rows else None
    check = check_images(rows, digests, splits, strict=False)
    if splits is not None:
        write_json(out / SPLITS_JSON, {**splits, "check": check})
    ds = read_json(src / DATASET_JSON, missing_ok=True, what="dataset description") or {}
    sources = [s for s in prev["sources"] if s and s != os.fspath(src)] + [os.fspath(src)]
    info = {"format": EXPORT_FORMAT, "source": os.fspath(src), "sources": sources, "n_images": len(rows),
            "n_samples": len(curves) // len(_CURVE_COLUMNS), "preset": ds.get("preset"), **options,
            "n_dropped_elastic": sum(d["reason"] == "elastic" for d in dropped),
            "n_dropped_duplicates": sum(d["reason"] != "elastic" for d in dropped), "dropped": dropped,
            "splits": None if splits is None else {"file": SPLITS_JSON, "seed": split_seed, **splits["counts"]},
            "check": check, "environment": environment()}
    write_json(out / INDEX_JSON, info)
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
