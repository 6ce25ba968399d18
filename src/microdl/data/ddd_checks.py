"""Checks of exported DDD strain profiles: visible slip, identical images, deformed rendering.

Visible slip (:func:`slip_pixels`, :func:`reload_activity`)
    A profile *shows slip* when at least one pixel deviates from the image median by
    more than the elastic range plus a slip quantum::

        |eps - median(eps)| > elastic_factor * |eps_reload| + trace_fraction * b / p

    ``eps_reload`` is the reload strain of the snapshot, ``b`` the Burgers vector and
    ``p`` the pixel size (geometric mean of the two sides). A purely elastic reload
    stays inside ``elastic_factor * |eps_reload|``: the identical elastic images of the
    cpu data set (``benchmarks/ddd/cpu-profiles``) reach 0.41, 0.70, 0.92 and 1.04 times
    the reload strain at w = 62.5, 125, 250 and 500 nm (the clamped corners, resolved
    more finely in wider pillars), so the default factor 2 leaves margin. A dislocation
    that glides across a pixel adds ``b s_y n_y`` times its chord over the pixel area,
    up to ``0.43 b/p`` at +-30 deg (0.054 for b = 0.25 nm, p = 2 nm): the
    default ``trace_fraction = 0.1`` asks for a quarter of that beyond the elastic range,
    i.e. a trace crossing a pixel over at least a quarter of its side: brighter than any
    elastic pixel, so it stays visible in the 8-bit rendering, which scales the image by
    its brightest pixel. The sample's own curve is
    used as well: without any dislocation during the reload (and, for the ``mean``
    reference, none left and no surface step after unloading) nothing can have slipped,
    whatever the pixels say.

Identical images (:func:`image_digest`, :func:`check_images`, :func:`check_export`)
    Images are compared by the SHA-256 of their decoded pixels and shape, within one
    reference mode (the ``full`` and ``mean`` images of a sample that never slipped
    before the reload are the same picture, but a learner sees only one mode). Identical
    images with the same label in the same split are counted and allowed; with different
    labels, or in different splits, they are an error.

Deformed configuration (:func:`deformed_profile`)
    The published profiles seem drawn on the deformed pillar (shorter at 10 % prior).
    A sample file stores the profiles on the reference pixel grid, the ``mean``-reference
    profile ``eps[u_reload] - mean(eps[u_unloaded])`` and the unloading displacement
    ``U0``; their sum with ``-U0 / h`` is the total strain ``eps[u_reload]`` since the
    virgin state, whose mean over each cross-section moves every reference pixel column
    to its deformed position. The lateral displacement and the variation of the axial
    one across the width are not stored (``u_snapshots`` of
    :class:`~microdl.simulate.ddd.protocol.PillarResult`), so columns stay straight.
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from microdl.exceptions import DataFileError, InvalidParameterError, ShapeError

__all__ = [
    "check_export",
    "check_images",
    "deformed_profile",
    "duplicate_groups",
    "image_digest",
    "image_label",
    "read_index",
    "reload_activity",
    "slip_pixels",
    "total_axial_strain",
]


def slip_pixels(profile: np.ndarray, reload_strain: float, pixel_size_m: Sequence[float], burgers_m: float, *,
                elastic_factor: float = 2.0, trace_fraction: float = 0.1) -> int:
    """Number of pixels of a strain profile beyond the elastic range by a slip quantum (see module notes).

    Parameters
    ----------
    profile
        ``eps_yy`` (dimensionless), shape ``(nx, ny)``.
    reload_strain
        Reload strain of the snapshot (fraction, e.g. ``0.001``).
    pixel_size_m
        Pixel sides ``(dx, dy)`` (m).
    burgers_m
        Burgers vector length (m).
    elastic_factor, trace_fraction
        Elastic range in units of the reload strain; slip quantum in units of ``b / p``.
    """
    e = np.asarray(profile, dtype=float)
    if e.ndim != 2:
        raise ShapeError(f"profile must be 2-D (nx, ny), got shape {e.shape}")
    pixel_m = math.sqrt(float(pixel_size_m[0]) * float(pixel_size_m[1]))
    if not (pixel_m > 0 and burgers_m > 0):
        raise InvalidParameterError(f"pixel_size_m and burgers_m must be > 0 m, got {pixel_size_m!r}, {burgers_m!r}")
    bound = elastic_factor * abs(float(reload_strain)) + trace_fraction * burgers_m / pixel_m
    return int(np.count_nonzero(np.abs(e - np.median(e)) > bound))


def reload_activity(curve: Mapping[str, np.ndarray], reload_strain: float) -> dict[str, int]:
    """Dislocation activity of the reload up to one snapshot, from the stored stress--strain curve.

    Returns
    -------
    dict
        ``dislocations_max`` (most dislocations present during the reload up to
        ``reload_strain``), ``events`` (changes of the dislocation count plus new surface
        steps over that range: nucleations, exits, annihilations), ``dislocations_unloaded``
        and ``steps_unloaded`` (counts at the start of the reload). ``-1`` everywhere if the
        curve has no reload rows.
    """
    stage = np.asarray(curve.get("stage", []))
    sel = (stage == 2) & (np.asarray(curve.get("reload_strain", np.zeros(stage.shape))) <= reload_strain * (1 + 1e-6))
    if not np.any(sel):
        return {"dislocations_max": -1, "events": -1, "dislocations_unloaded": -1, "steps_unloaded": -1}
    nd = np.asarray(curve["n_dislocations"])[sel].astype(np.int64)
    ns = np.asarray(curve["n_surface_steps"])[sel].astype(np.int64)
    return {"dislocations_max": int(nd.max()), "events": int(np.abs(np.diff(nd)).sum() + (ns[-1] - ns[0])),
            "dislocations_unloaded": int(nd[0]), "steps_unloaded": int(ns[0])}


def can_show_slip(activity: Mapping[str, int], mode: str) -> bool:
    """Whether the curve allows slip in a profile of reference ``mode`` (``"full"`` or ``"mean"``)."""
    if activity["dislocations_max"] < 0:  # no reload rows: nothing to go by
        return True
    moved = activity["dislocations_max"] > 0 or activity["events"] > 0
    left = activity["dislocations_unloaded"] > 0 or activity["steps_unloaded"] > 0
    return moved or (mode == "mean" and left)


def total_axial_strain(profile_mean: np.ndarray, unload_displacement_m: float, height_m: float) -> np.ndarray:
    """Mean over each cross-section of the total ``eps_yy`` since the virgin state, shape ``(ny,)``.

    ``profile_mean`` is the ``mean``-reference profile ``eps[u] - mean(eps[u_unloaded])`` and
    ``mean(eps[u_unloaded]) = -U0 / h`` (clamped ends, compression positive ``U0``).
    """
    prof = np.asarray(profile_mean, dtype=float)
    if prof.ndim != 2 or not height_m > 0:
        raise InvalidParameterError(f"profile_mean must be 2-D and height_m > 0, got {prof.shape}, {height_m!r}")
    return prof.mean(axis=0) - float(unload_displacement_m) / float(height_m)


def deformed_profile(profile: np.ndarray, axial_strain: np.ndarray) -> np.ndarray:
    """Resample a profile from reference pixel columns to a regular grid on the deformed pillar.

    Column ``j`` (length ``dy``) becomes ``dy (1 + axial_strain[j])`` long, the deformed
    height is cut into ``round(sum(1 + axial_strain))`` pixels of the same size ``dy``, and
    each new pixel is the length-weighted mean of the columns it overlaps (an exact,
    conservative remap of a piecewise-constant field; the last pixel covers whatever
    is left).

    Parameters
    ----------
    profile
        ``(nx, ny)``, axis 1 along the loading axis, on the reference grid.
    axial_strain
        ``(ny,)`` total axial strain of each column (compression negative), ``> -1``.

    Returns
    -------
    ndarray
        ``(nx, ny')`` float32 on the deformed grid.
    """
    prof = np.asarray(profile, dtype=float)
    strain = np.asarray(axial_strain, dtype=float)
    if prof.ndim != 2 or strain.shape != (prof.shape[1],):
        raise ShapeError(f"axial_strain must have shape ({prof.shape[-1]},) for a 2-D profile, got {strain.shape}")
    if not np.all(np.isfinite(strain)) or np.any(strain <= -1):
        raise InvalidParameterError("axial_strain must be finite and > -1 (a column cannot vanish)")
    edges = np.concatenate([[0.0], np.cumsum(1.0 + strain)])  # deformed column edges, in units of dy
    n_new = max(1, int(round(edges[-1])))
    cum = np.concatenate([np.zeros((prof.shape[0], 1)), np.cumsum(prof * (1.0 + strain), axis=1)], axis=1)
    new_edges = np.minimum(np.arange(n_new + 1, dtype=float), edges[-1])
    new_edges[-1] = edges[-1]
    integral = np.stack([np.interp(new_edges, edges, row) for row in cum])
    return (np.diff(integral, axis=1) / np.diff(new_edges)).astype(np.float32)


def image_digest(image: np.ndarray) -> str:
    """SHA-256 of an image's shape, dtype and pixels (equal digests: the same picture)."""
    a = np.ascontiguousarray(image)
    return hashlib.sha256(f"{a.dtype.str}{a.shape}".encode() + a.tobytes()).hexdigest()


def image_label(row: Mapping[str, Any]) -> str:
    """Class of an index row: its ``label`` column, else the prior strain in percent (``"0.1"``, ``"10"``)."""
    label = row.get("label")
    return str(label) if label not in (None, "") else f"{float(row['prior_pct']):g}"


def duplicate_groups(rows: Sequence[Mapping[str, Any]], digests: Sequence[str]) -> list[list[int]]:
    """Indices of identical images (same digest, same ``mode``), groups of two or more."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, (row, d) in enumerate(zip(rows, digests, strict=True)):
        groups[(str(row.get("mode", "")), d)].append(i)
    return [g for g in groups.values() if len(g) > 1]


def check_images(rows: Sequence[Mapping[str, Any]], digests: Sequence[str],
                 splits: Mapping[str, Any] | None = None, *, strict: bool = True) -> dict[str, Any]:
    """Identical images: counted if they share label and split, an error otherwise.

    Parameters
    ----------
    rows
        Index rows (``file``, ``mode``, ``prior_pct`` and optionally ``label``).
    digests
        :func:`image_digest` of each row's image.
    splits
        A split file's dict (:mod:`microdl.data.ddd_splits`): ``images`` maps each side
        to its file names. Files in no split are not compared across splits.
    strict
        Raise on a conflict (else only report it).

    Returns
    -------
    dict
        ``n_images``, ``n_duplicate_groups``, ``n_duplicate_images``, ``n_cross_label_groups``,
        ``n_cross_label_images``, ``n_cross_split_groups``, ``n_cross_split_images``,
        ``cross_label_files`` (first file of each cross-label group), ``conflict`` (first
        conflict in words, or ``None``) and ``ok``.

    Raises
    ------
    DataFileError
        ``strict`` and identical images carry different labels or lie in different splits.
    """
    side = {f: s for s, files in ((splits or {}).get("images") or {}).items() for f in files}
    groups = duplicate_groups(rows, digests)
    cross_label = [g for g in groups if len({image_label(rows[i]) for i in g}) > 1]
    cross_split = [g for g in groups if len({side[rows[i]["file"]] for i in g if rows[i]["file"] in side}) > 1]
    conflict = None
    for kind, bad, name in (("labels", cross_label, image_label), ("splits", cross_split,
                                                                   lambda r: side.get(r["file"]))):
        if bad and conflict is None:
            a, b = next((i, j) for i in bad[0] for j in bad[0]
                        if None not in (name(rows[i]), name(rows[j])) and name(rows[i]) != name(rows[j]))
            conflict = (f"identical images carry different {kind}: {rows[a]['file']!r} ({name(rows[a])!r}) and "
                        f"{rows[b]['file']!r} ({name(rows[b])!r}); {len(bad)} such group(s), "
                        f"{sum(map(len, bad))} images (export with --duplicates drop to leave them out)")
    report = {"n_images": len(rows), "n_duplicate_groups": len(groups), "n_duplicate_images": sum(map(len, groups)),
              "n_cross_label_groups": len(cross_label), "n_cross_label_images": sum(map(len, cross_label)),
              "n_cross_split_groups": len(cross_split), "n_cross_split_images": sum(map(len, cross_split)),
              "cross_label_files": [rows[g[0]]["file"] for g in cross_label], "conflict": conflict,
              "ok": conflict is None}
    if strict and conflict is not None:
        raise DataFileError(conflict)
    return report


def _parse_index_row(row: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = dict(row)
    for k in ("width_um", "prior_pct", "reload_pct", "pixel_x_nm", "pixel_y_nm", "median_strain", "scale_strain"):
        out[k] = float(row[k])
    for k in ("seed", "index", "rows", "cols", "plastic", "slip_pixels", "reload_events"):
        out[k] = int(row[k]) if row.get(k) not in ("", None) else None
    out["yield_stress_mpa"] = float(row["yield_stress_mpa"]) if row["yield_stress_mpa"] else None
    out["n_dislocations_final"] = int(row["n_dislocations_final"]) if row["n_dislocations_final"] else None
    out["label"] = image_label(out)
    from microdl.data.ddd_profiles import SLIPS

    if out["slip"] not in SLIPS or out["width_um"] <= 0:
        raise ValueError(f"slip {out['slip']!r}, width {out['width_um']!r} um")
    return out


def read_index(export_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """The parsed ``index.csv`` rows of an export folder (older exports: ``label`` from the prior).

    Raises
    ------
    DataFileError
        No ``index.csv`` or a malformed row (line named).
    """
    index = Path(export_dir) / "index.csv"
    if not index.is_file():
        raise DataFileError(f"{os.fspath(Path(export_dir))!r} has no index.csv (not written by export_images?)")
    rows = []
    with open(index, newline="") as fh:
        for line, row in enumerate(csv.DictReader(fh), start=2):
            try:
                rows.append(_parse_index_row(row))
            except (KeyError, TypeError, ValueError) as exc:
                raise DataFileError(f"{os.fspath(index)!r} line {line} is invalid: {exc}") from exc
    return rows


def read_digests(folder: Path, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """:func:`image_digest` of each row's PNG in ``folder`` (decoded pixels)."""
    from PIL import Image, UnidentifiedImageError

    out = []
    for row in rows:
        try:
            with Image.open(folder / row["file"]) as im:
                out.append(image_digest(np.asarray(im, dtype=np.uint8)))
        except (OSError, UnidentifiedImageError) as exc:
            raise DataFileError(f"image {os.fspath(folder / row['file'])!r} is unreadable: {exc}") from exc
    return out


def check_export(export_dir: str | os.PathLike, splits: str | os.PathLike | Mapping[str, Any] | None = None, *,
                 strict: bool = True) -> dict[str, Any]:
    """:func:`check_images` on a folder written by :func:`~microdl.data.ddd_export.export_images`.

    ``splits`` is a split file (path or dict); by default the folder's ``splits.json`` if any.
    Returns the report of :func:`check_images` with ``splits`` (the file used, or ``None``).
    """
    from microdl.data.ddd_splits import SPLITS_JSON, load_splits

    folder = Path(export_dir)
    rows = read_index(folder)
    if splits is None and (folder / SPLITS_JSON).is_file():
        splits = folder / SPLITS_JSON
    split_dict = splits if isinstance(splits, Mapping) or splits is None else load_splits(splits)
    report = check_images(rows, read_digests(folder, rows), split_dict, strict=strict)
    return {**report, "splits": None if splits is None or isinstance(splits, Mapping) else os.fspath(splits)}
