"""Train / validation / test splits of exported DDD strain profiles, by simulation.

Yang et al. (2020) put "around 25 % of each subset" into the test set and about 82 % of
the rest into training (2253 / 504 / 891 of 3648 profiles). Here a split is drawn over
*simulations*, never single images, so the 0.1 % and 1 % reload profiles of one
simulation (and its ``full`` and ``mean`` references) are always on the same side:
otherwise the test set would hold a snapshot of a trajectory the network was trained on.
Simulations whose images are identical to each other's (same reference mode) are tied
together as well, so no picture can be on two sides.

Stratification
    A *stratum* is (reference mode, width, slip type, reload strain, label), the label
    being the prior strain in percent (or ``"elastic"`` if the export gave elastic
    profiles their own class). Each stratum of ``n`` images targets
    ``round(test_fraction n)`` test images, ``round(val_fraction (n - n_test))``
    validation images and the rest for training. Units (simulations, or groups tied by
    identical images) are visited in a seeded random order, those of the smallest strata
    first, and each goes to the side whose targets it fills best (the sum of the
    remaining targets of its strata). When every unit holds the same strata (both reload
    images kept, or both dropped), the counts equal the targets; with mixed units (one
    reload image dropped as elastic) they stay within one image of them in practice, which
    :func:`split_rows` reports per stratum (``strata``).

File (``splits.json``, format ``microdl.ddd-splits/1``)
    ``seed``, ``test_fraction``, ``val_fraction``, ``simulations`` and ``images`` (side ->
    sorted sample keys / PNG names), ``counts`` and ``strata`` (per-stratum counts and
    targets), and ``check`` (:func:`~microdl.data.ddd_checks.check_images` of the split).
"""

from __future__ import annotations

import math
import os
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from microdl._rng import as_generator
from microdl.data.ddd_checks import check_images, duplicate_groups, image_label, read_digests, read_index
from microdl.exceptions import DataFileError, InvalidParameterError
from microdl.io._atomic import check_output_file, read_json, write_json

__all__ = ["SIDES", "SPLITS_FORMAT", "SPLITS_JSON", "load_splits", "make_splits", "split_rows", "stratum"]

SPLITS_JSON = "splits.json"
SPLITS_FORMAT = "microdl.ddd-splits/1"
SIDES = ("train", "val", "test")


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


def split_rows(rows: Sequence[Mapping[str, Any]], digests: Sequence[str] | None = None, *, seed: int = 0,
               test_fraction: float = 0.25, val_fraction: float = 0.18) -> dict[str, Any]:
    """Split index rows by simulation, stratified (see module notes); deterministic for a seed.

    Parameters
    ----------
    rows
        Index rows of an export (``file``, ``key``, ``mode``, ``width_um``, ``slip``,
        ``reload_pct``, ``prior_pct``, optional ``label``).
    digests
        :func:`~microdl.data.ddd_checks.image_digest` of each row's image; simulations with
        identical images are kept on one side. ``None``: no such ties.
    seed
        Seed of the NumPy generator that orders the simulations.
    test_fraction, val_fraction
        Test share of each stratum; validation share of the rest (paper: 0.25 and 0.18).

    Returns
    -------
    dict
        The split file's content (module notes) without ``check``.
    """
    if not (0 < test_fraction < 1) or not (0 <= val_fraction < 1):
        raise InvalidParameterError(f"test_fraction must be in (0, 1) and val_fraction in [0, 1), got "
                                    f"{test_fraction!r}, {val_fraction!r}")
    if not rows:
        raise InvalidParameterError("rows must hold at least one image, got none")
    strata = [stratum(r) for r in rows]
    size = Counter(strata)
    target = {s: _targets(n, test_fraction, val_fraction) for s, n in size.items()}
    count = {s: dict.fromkeys(SIDES, 0) for s in size}
    units = _units(rows, digests)
    names = sorted(units)
    order = [names[i] for i in as_generator(seed).permutation(len(names))]
    order.sort(key=lambda u: min(size[strata[i]] for i in units[u]))  # stable: seeded order within a size
    side_of: dict[str, str] = {}
    for u in order:
        need = Counter(strata[i] for i in units[u])
        best = max(SIDES, key=lambda k: (sum(c * (target[s][k] - count[s][k]) for s, c in need.items()),
                                         sum(target[s][k] - count[s][k] for s in need)))
        for s, c in need.items():
            count[s][best] += c
        for i in units[u]:
            side_of[str(rows[i]["key"])] = best
    sims = {k: sorted({str(r["key"]) for r in rows if side_of[str(r["key"])] == k}) for k in SIDES}
    images = {k: sorted(str(r["file"]) for r in rows if side_of[str(r["key"])] == k) for k in SIDES}
    table = [{"mode": s[0], "width_um": s[1], "slip": s[2], "reload_pct": s[3], "label": s[4], "n": size[s],
              **count[s], **{f"target_{k}": target[s][k] for k in SIDES}} for s in sorted(size)]
    return {"format": SPLITS_FORMAT, "seed": int(seed), "test_fraction": float(test_fraction),
            "val_fraction": float(val_fraction), "simulations": sims, "images": images,
            "counts": {k: {"simulations": len(sims[k]), "images": len(images[k])} for k in SIDES},
            "max_deviation": max(abs(t[k] - t[f"target_{k}"]) for t in table for k in SIDES), "strata": table}


def make_splits(export_dir: str | os.PathLike, out: str | os.PathLike | None = None, *, seed: int = 0,
                test_fraction: float = 0.25, val_fraction: float = 0.18) -> dict[str, Any]:
    """Split the images of an export folder by simulation, check the split and write it.

    Parameters
    ----------
    export_dir
        Folder written by :func:`~microdl.data.ddd_profiles.export_images`.
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

