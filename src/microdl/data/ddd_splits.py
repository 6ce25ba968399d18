"""Train / validation / test splits of exported DDD strain profiles, by simulation.

Yang et al. (2020) put "around 25 % of each subset" into the test set and about 82 % of
the rest into training (2253 / 504 / 891 of 3648 profiles). Here a split is drawn over
*simulations*, never single images, so the 0.1 % and 1 % reload profiles of one
simulation (and its ``full`` and ``mean`` references) are always on the same side:
otherwise the test set would hold a snapshot of a trajectory the network was trained on.
Simulations whose images are identical to each other's (same reference mode) are tied
together as well, so no picture can be on two sides.

Stable assignment
    A simulation's side is a function of the seed, its cell (width, slip type, prior
    strain) and its sample index alone, so it never changes when other simulations are
    added later (a data set built over several sessions, merged into one export by
    :func:`~microdl.data.ddd_export.export_images`). Within a cell the sample indices
    ``0, 1, 2, ...`` are dealt out like two Bresenham lines (Sturmian sequences) with
    seeded phases ``a`` and ``b``: index ``i`` is a test simulation when
    ``floor(t (i + 1) + a) > floor(t i + a)``, and the ``j``-th simulation that is not is a
    validation one when ``floor(v (j + 1) + b) > floor(v j + b)`` (``t``, ``v`` the test and
    validation fractions). For the indices ``0 .. n - 1`` of a cell the test count is
    within one of ``t n`` and the validation count within one of ``v (n - n_test)``,
    whatever ``n``; images left out (no visible slip) thin this out at random, which
    :func:`split_rows` reports per image stratum (mode, width, slip, reload, label) in
    ``strata`` and ``max_deviation``. Rows without a sample index fall back to a seeded
    hash of their key (stable, but stratified only on average). Simulations tied by
    identical images take the side of the one with the smallest key, and ``keep`` (the
    sides of an earlier split) overrides everything, so an existing assignment never moves.

File (``splits.json``, format ``microdl.ddd-splits/1``)
    ``seed``, ``method``, ``test_fraction``, ``val_fraction``, ``simulations`` and ``images`` (side ->
    sorted sample keys / PNG names), ``counts`` and ``strata`` (per-stratum counts and
    targets), and ``check`` (:func:`~microdl.data.ddd_checks.check_images` of the split).
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from microdl.data.ddd_checks import check_images, duplicate_groups, image_label, read_digests, read_index
from microdl.exceptions import DataFileError, InvalidParameterError
from microdl.io._atomic import check_output_file, read_json, write_json

__all__ = ["SIDES", "SPLITS_FORMAT", "SPLITS_JSON", "load_splits", "make_splits", "split_rows", "stratum"]

SPLITS_JSON = "splits.json"
SPLITS_FORMAT = "microdl.ddd-splits/1"
SIDES = ("train", "val", "test")
SPLIT_METHOD = "sturmian-by-index/1"


def stratum(row: Mapping[str, Any]) -> tuple[str, float, str, float, str]:
    """(mode, width um, slip, reload %, label) of an index row."""
    return (str(row.get("mode", "full")), float(row["width_um"]), str(row["slip"]), float(row["reload_pct"]),
            image_label(row))


def _units(rows: Sequence[Mapping[str, Any]], digests: Sequence[str] | None) -> dict[str, list[int]]:
    """Rows grouped by simulation, simulations tied by identical images merged (union-find)."""
    parent = {str(r["key"]): str(r["key"]) for r in rows}

    def root(k: str) -> str:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for group in duplicate_groups(rows, digests) if digests is not None else []:
        first = root(str(rows[group[0]]["key"]))
        for i in group[1:]:
            parent[root(str(rows[i]["key"]))] = first
    units: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(rows):
        units[root(str(r["key"]))].append(i)
    return dict(units)


def _targets(n: int, test_fraction: float, val_fraction: float) -> dict[str, int]:
    test = int(math.floor(test_fraction * n + 0.5))
    val = int(math.floor(val_fraction * (n - test) + 0.5))
    return {"train": n - test - val, "val": val, "test": test}


def _uniform(*words: Any) -> float:
    """A number in [0, 1) from a hash of ``words`` (stable across platforms and versions)."""
    digest = hashlib.sha256("|".join(str(w) for w in words).encode()).digest()
    return int.from_bytes(digest[:7], "big") / 2.0**56


def _side(row: Mapping[str, Any], seed: int, test_fraction: float, val_fraction: float) -> str:
    """The side of one simulation (module notes), from its cell and sample index."""
    index = row.get("index")
    if index in (None, ""):
        u = _uniform(seed, "key", row["key"])
        if u < test_fraction:
            return "test"
        return "val" if (u - test_fraction) / (1 - test_fraction) < val_fraction else "train"
    cell = (seed, f"{float(row['width_um']):g}", row["slip"], f"{float(row['prior_pct']):g}")
    a, b, i = _uniform(*cell, "test"), _uniform(*cell, "val"), int(index)
    if math.floor(test_fraction * (i + 1) + a) > math.floor(test_fraction * i + a):
        return "test"
    j = i - math.floor(test_fraction * i + a)  # simulations of the cell before i that are not test ones
    return "val" if math.floor(val_fraction * (j + 1) + b) > math.floor(val_fraction * j + b) else "train"


def split_rows(rows: Sequence[Mapping[str, Any]], digests: Sequence[str] | None = None, *, seed: int = 0,
               test_fraction: float = 0.25, val_fraction: float = 0.18,
               keep: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Split index rows by simulation, stratified and stable (see module notes); deterministic for a seed.

    Parameters
    ----------
    rows
        Index rows of an export (``file``, ``key``, ``mode``, ``width_um``, ``slip``,
        ``reload_pct``, ``prior_pct``, ``index``, optional ``label``).
    digests
        :func:`~microdl.data.ddd_checks.image_digest` of each row's image; simulations with
        identical images are kept on one side. ``None``: no such ties.
    seed
        Seed of the phases (>= 0).
    test_fraction, val_fraction
        Test share of each cell; validation share of the rest (paper: 0.25 and 0.18).
    keep
        Sample key -> side of an earlier split; these simulations (and those tied to them)
        stay where they are.

    Returns
    -------
    dict
        The split file's content (module notes) without ``check``.
    """
    if not (0 < test_fraction < 1) or not (0 <= val_fraction < 1):
        raise InvalidParameterError(f"test_fraction must be in (0, 1) and val_fraction in [0, 1), got "
                                    f"{test_fraction!r}, {val_fraction!r}")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidParameterError(f"seed must be a non-negative integer, got {seed!r}")
    if not rows:
        raise InvalidParameterError("rows must hold at least one image, got none")
    keep = dict(keep or {})
    bad = sorted({v for v in keep.values() if v not in SIDES})
    if bad:
        raise InvalidParameterError(f"keep must map sample keys to one of {SIDES}, got {bad}")
    strata = [stratum(r) for r in rows]
    size = Counter(strata)
    target = {s: _targets(n, test_fraction, val_fraction) for s, n in size.items()}
    count = {s: dict.fromkeys(SIDES, 0) for s in size}
    side_of: dict[str, str] = {}
    for members in _units(rows, digests).values():
        keys = sorted({str(rows[i]["key"]) for i in members})
        kept = [keep[k] for k in keys if k in keep]
        first = min(members, key=lambda i: str(rows[i]["key"]))
        best = kept[0] if kept else _side(rows[first], int(seed), test_fraction, val_fraction)
        for i in members:
            count[strata[i]][best] += 1
            side_of[str(rows[i]["key"])] = best
    sims = {k: sorted({str(r["key"]) for r in rows if side_of[str(r["key"])] == k}) for k in SIDES}
    images = {k: sorted(str(r["file"]) for r in rows if side_of[str(r["key"])] == k) for k in SIDES}
    table = [{"mode": s[0], "width_um": s[1], "slip": s[2], "reload_pct": s[3], "label": s[4], "n": size[s],
              **count[s], **{f"target_{k}": target[s][k] for k in SIDES}} for s in sorted(size)]
    return {"format": SPLITS_FORMAT, "seed": int(seed), "method": SPLIT_METHOD, "test_fraction": float(test_fraction),
            "val_fraction": float(val_fraction), "simulations": sims, "images": images,
            "counts": {k: {"simulations": len(sims[k]), "images": len(images[k])} for k in SIDES},
            "max_deviation": max(abs(t[k] - t[f"target_{k}"]) for t in table for k in SIDES), "strata": table}


def make_splits(export_dir: str | os.PathLike, out: str | os.PathLike | None = None, *, seed: int = 0,
                test_fraction: float = 0.25, val_fraction: float = 0.18) -> dict[str, Any]:
    """Split the images of an export folder by simulation, check the split and write it.

    Parameters
    ----------
    export_dir
        Folder written by :func:`~microdl.data.ddd_export.export_images`.
    out
        Split file to write (default ``export_dir/splits.json``).
    seed, test_fraction, val_fraction
        As in :func:`split_rows`.

    Returns
    -------
    dict
        The file's content, with ``check`` (:func:`~microdl.data.ddd_checks.check_images`
        of the split) and ``out``.

    Raises
    ------
    DataFileError
        The folder has no readable index or images, or identical images carry different
        labels (nothing is written then).
    """
    folder = Path(export_dir)
    target = check_output_file(folder / SPLITS_JSON if out is None else Path(out))
    rows = read_index(folder)
    digests = read_digests(folder, rows)
    result = split_rows(rows, digests, seed=seed, test_fraction=test_fraction, val_fraction=val_fraction)
    result["check"] = check_images(rows, digests, result)
    write_json(target, result)
    return {**result, "out": os.fspath(target)}


def load_splits(path: str | os.PathLike) -> dict[str, Any]:
    """Read a split file; ``DataFileError`` naming it if it is not one."""
    data = read_json(path, what="split file")
    if not isinstance(data, dict) or data.get("format") != SPLITS_FORMAT or not isinstance(data.get("images"), dict):
        raise DataFileError(f"{os.fspath(path)!r} is not a split file (format {SPLITS_FORMAT!r})")
    return data

