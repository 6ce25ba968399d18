"""Labelled strain profiles for learning prior deformation: the data contract and its readers.

:class:`StrainProfiles` holds 2D profiles of any size (one per image), their class
(prior strain 0.1 %, 1 %, 10 %: classes 0, 1, 2) and per-profile metadata: ``file``,
``sample`` (the simulation or specimen the profile comes from; the unit of a split),
``width_um``, ``slip`` and ``reload_pct`` (``None`` when unknown). It is checked once,
on construction: 2D, non-empty, finite, labels known.

Readers
    * :func:`from_ddd_export`: a folder written by ``microdl ddd export`` (one
      reference ``mode``, optionally one side of its ``splits.json``);
    * :func:`from_label_csv`: user images (PNG/TIFF 8/16 bit, ``.npy``) named in a CSV
      with a ``prior_pct`` (or ``label``) column and optional ``sample``, ``width_um``,
      ``slip``, ``reload_pct``;
    * :func:`from_hdf5`: equal-sized profiles in one HDF5 array with ``prior_pct`` and
      optional metadata datasets;
    * :func:`split_profiles`: train / validation / test by sample, stratified by subset
      and label, with the same stable rule as the DDD split files
      (:func:`microdl.data.ddd_splits.split_rows`), refusing identical images under two
      labels or on two sides.

A *subset* is the metadata combination of the paper's Table 2: width, reload strain
and slip type.

References
----------
Yang, Z., Papanikolaou, S., Reid, A. C. E., Liao, W., Choudhary, A., Campbell, C. &
Agrawal, A. (2020). Learning to predict crystal plasticity at the nanoscale: deep
residual networks and size effects in uniaxial compression discrete dislocation
simulations. Sci. Rep. 10, 8262.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from microdl.data.ddd_checks import check_images, image_digest, read_index
from microdl.data.ddd_splits import SIDES, SPLITS_JSON, load_splits, split_rows
from microdl.exceptions import DataFileError, InvalidParameterError, NonFiniteError, ShapeError
from microdl.io.images import read_gray_image

__all__ = ["CLASS_LABELS", "StrainProfiles", "class_of", "from_ddd_export", "from_hdf5", "from_label_csv",
           "split_profiles", "subset_name"]

CLASS_LABELS = ("0.1", "1", "10")
"""Prior strain in percent of classes 0, 1, 2 (the labels of ``index.csv``)."""

_META_KEYS = ("file", "sample", "width_um", "slip", "reload_pct")


def class_of(label: object, where: str = "label") -> int:
    """Class index of a prior strain given in percent (``0.1``, ``"1"``, ``"10%"``...).

    Raises
    ------
    InvalidParameterError
        Naming ``where`` if the value is not one of 0.1, 1 or 10 percent.
    """
    text = str(label).strip().rstrip("%").strip()
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    for k, c in enumerate(CLASS_LABELS):
        if math.isclose(value, float(c), rel_tol=1e-6):
            return k
    raise InvalidParameterError(
        f"{where} must be a prior strain of {', '.join(CLASS_LABELS)} percent, got {label!r}"
        + (" (profiles without visible slip: export them with --elastic drop)" if text == "elastic" else ""))


def subset_name(meta: Mapping[str, Any]) -> str:
    """``"w0.125 um, reload 0.1 %, two slip"`` (the parts that are known)."""
    parts = []
    if meta.get("width_um") is not None:
        parts.append(f"w{float(meta['width_um']):g} um")
    if meta.get("reload_pct") is not None:
        parts.append(f"reload {float(meta['reload_pct']):g} %")
    if meta.get("slip"):
        parts.append(f"{meta['slip']} slip")
    return ", ".join(parts) or "all"


def _check_image(image: Any, name: str) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise ShapeError(f"{name} must be a 2D gray image, got shape {arr.shape}")
    if arr.size == 0 or min(arr.shape) < 2:
        raise ShapeError(f"{name} is empty or a single line (shape {arr.shape})")
    if arr.dtype.kind not in "biuf":
        raise InvalidParameterError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise NonFiniteError(f"{name} holds {int((~np.isfinite(arr)).sum())} NaN or infinite values")
    return arr


@dataclass(frozen=True)
class StrainProfiles:
    """Strain profiles with their prior-strain class and metadata, validated on construction.

    Parameters
    ----------
    images
        2D arrays (any size, any numeric dtype; ``uint8`` is used as gray values,
        others are min-max scaled by the crop transform).
    labels
        Class per profile: 0, 1, 2 for a prior strain of 0.1, 1, 10 %.
    meta
        One mapping per profile with ``file`` and ``sample`` (strings) and
        ``width_um``, ``slip``, ``reload_pct`` (``None`` if unknown); missing keys
        are filled (``sample`` defaults to ``file``).

    Raises
    ------
    ShapeError, NonFiniteError, InvalidParameterError
        A profile that is not 2D, empty, non-finite, or lengths / labels that do not fit.
    """

    images: tuple[np.ndarray, ...]
    labels: np.ndarray
    meta: tuple[dict[str, Any], ...]

    def __post_init__(self) -> None:
        labels = np.asarray(self.labels)
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise InvalidParameterError(f"labels must be a 1D integer array, got {labels.dtype} shape {labels.shape}")
        if not (len(self.images) == len(labels) == len(self.meta)):
            raise InvalidParameterError(
                f"images, labels and meta must have one entry per profile, got {len(self.images)}, {len(labels)} "
                f"and {len(self.meta)}")
        if len(labels) and (labels.min() < 0 or labels.max() >= len(CLASS_LABELS)):
            raise InvalidParameterError(f"labels must lie in 0..{len(CLASS_LABELS) - 1}, got {sorted(set(labels.tolist()))}")
        meta = []
        for i, m in enumerate(self.meta):
            m = dict(m)
            m.setdefault("file", f"profile{i}")
            m.setdefault("sample", m["file"])
            for k in ("width_um", "slip", "reload_pct"):
                m.setdefault(k, None)
            meta.append(m)
        images = tuple(_check_image(im, str(m["file"])) for im, m in zip(self.images, meta, strict=True))
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "labels", labels.astype(np.int64))
        object.__setattr__(self, "meta", tuple(meta))

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index: Sequence[int] | np.ndarray) -> StrainProfiles:
        """The profiles at ``index`` (a new container)."""
        idx = [int(i) for i in np.asarray(index, dtype=np.int64).ravel()]
        return StrainProfiles(tuple(self.images[i] for i in idx), self.labels[idx],
                              tuple(self.meta[i] for i in idx))

    def subsets(self) -> list[str]:
        """:func:`subset_name` of every profile."""
        return [subset_name(m) for m in self.meta]

    def counts(self) -> dict[str, int]:
        """Profiles per class label (``"0.1"``, ``"1"``, ``"10"``) and ``samples``."""
        out = {c: int((self.labels == k).sum()) for k, c in enumerate(CLASS_LABELS)}
        out["samples"] = len({m["sample"] for m in self.meta})
        return out


def from_ddd_export(export_dir: str | os.PathLike, *, mode: str = "mean", side: str | None = None,
                    splits: str | os.PathLike | Mapping[str, Any] | None = None) -> StrainProfiles:
    """Profiles of a ``microdl ddd export`` folder, one reference mode, optionally one split side.

    Parameters
    ----------
    export_dir
        Folder written by :func:`microdl.data.ddd_export.export_images`.
    mode
        ``"mean"`` (the unloaded state's mean strain subtracted, the prior slip visible:
        the paper's wording, default) or ``"full"`` (the unloaded displacement field
        subtracted, as image correlation with the unloaded image as reference).
    side
        ``"train"``, ``"val"`` or ``"test"`` of the split file; ``None``: every profile.
    splits
        Split file (path or dict); default ``export_dir/splits.json``.

    Raises
    ------
    DataFileError
        No index, a missing or unreadable image, no split file when ``side`` is given,
        or no profile left.
    InvalidParameterError
        Unknown ``mode`` or ``side``, or a label outside the three classes (an export
        made with ``--elastic class``).
    """
    from PIL import Image, UnidentifiedImageError

    if mode not in ("mean", "full"):
        raise InvalidParameterError(f"mode must be 'mean' or 'full', got {mode!r}")
    folder = Path(export_dir)
    rows = [r for r in read_index(folder) if str(r.get("mode", "full")) == mode]
    if side is not None:
        if side not in SIDES:
            raise InvalidParameterError(f"side must be one of {SIDES} or None, got {side!r}")
        if splits is None:
            if not (folder / SPLITS_JSON).is_file():
                raise DataFileError(f"{os.fspath(folder)!r} has no {SPLITS_JSON}; make one with 'microdl ddd split'")
            splits = folder / SPLITS_JSON
        split = splits if isinstance(splits, Mapping) else load_splits(splits)
        wanted = set(split["images"].get(side, ()))
        rows = [r for r in rows if r["file"] in wanted]
    if not rows:
        raise DataFileError(f"no {mode!r} profiles{f' on side {side!r}' if side else ''} in {os.fspath(folder)!r}")
    images, labels, meta = [], [], []
    for r in rows:
        path = folder / r["file"]
        try:
            with Image.open(path) as im:
                images.append(np.asarray(im, dtype=np.uint8))
        except (OSError, UnidentifiedImageError) as exc:
            raise DataFileError(f"image {os.fspath(path)!r} is unreadable: {exc}") from exc
        labels.append(class_of(r["label"], f"label of {r['file']!r}"))
        meta.append({"file": r["file"], "sample": r["key"], "width_um": float(r["width_um"]), "slip": r["slip"],
                     "reload_pct": float(r["reload_pct"]), "mode": mode})
    return StrainProfiles(tuple(images), np.asarray(labels, dtype=np.int64), tuple(meta))


def _optional_float(value: str | None, where: str) -> float | None:
    if value is None or str(value).strip() == "":
        return None
    try:
        return float(value)
    except ValueError:
        raise InvalidParameterError(f"{where} must be a number, got {value!r}") from None


def from_label_csv(csv_path: str | os.PathLike, *, root: str | os.PathLike | None = None) -> StrainProfiles:
    """Profiles named in a CSV file: ``file`` and ``prior_pct`` (or ``label``), optional metadata.

    Parameters
    ----------
    csv_path
        CSV with a header: ``file`` (relative to ``root``), ``prior_pct`` (or
        ``prior_strain_percent``, or ``label``: prior strain in percent, 0.1, 1 or 10), and optionally ``sample`` (the
        simulation or specimen; profiles of one sample are kept on one side of a
        split), ``width_um``, ``slip``, ``reload_pct``.
    root
        Folder of the images; default the CSV's folder.

    Raises
    ------
    DataFileError
        No such CSV, no ``file`` column or label column, or files that do not exist
        (all named, up to ten) or cannot be read.
    InvalidParameterError
        A label that is not 0.1, 1 or 10 (line named).
    """
    path = Path(csv_path)
    if not path.is_file():
        raise DataFileError(f"label file {os.fspath(path)!r} does not exist")
    base = Path(root) if root is not None else path.parent
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        fields = set(reader.fieldnames or ())
        rows = list(reader)
    label_col = next((c for c in ("prior_pct", "prior_strain_percent", "label") if c in fields), None)
    if "file" not in fields or label_col is None:
        raise DataFileError(f"{os.fspath(path)!r} needs the columns 'file' and 'prior_pct' (or 'label'), got "
                            f"{sorted(fields)}")
    if not rows:
        raise DataFileError(f"{os.fspath(path)!r} names no profile")
    missing = [r["file"] for r in rows if not (base / r["file"]).is_file()]
    if missing:
        raise DataFileError(f"{len(missing)} file(s) named in {os.fspath(path)!r} do not exist under "
                            f"{os.fspath(base)!r}: {', '.join(missing[:10])}{' ...' if len(missing) > 10 else ''}")
    images, labels, meta = [], [], []
    for line, r in enumerate(rows, start=2):
        where = f"{os.fspath(path)} line {line}"
        labels.append(class_of(r[label_col], f"{label_col} ({where})"))
        images.append(read_gray_image(base / r["file"]))
        meta.append({"file": r["file"], "sample": (r.get("sample") or r["file"]).strip(),
                     "width_um": _optional_float(r.get("width_um"), f"width_um ({where})"),
                     "slip": (r.get("slip") or "").strip() or None,
                     "reload_pct": _optional_float(r.get("reload_pct"), f"reload_pct ({where})")})
    return StrainProfiles(tuple(images), np.asarray(labels, dtype=np.int64), tuple(meta))


def from_hdf5(path: str | os.PathLike) -> StrainProfiles:
    """Profiles from an HDF5 file: ``profiles`` ``(n, h, w)`` and ``prior_pct`` ``(n,)``, optional metadata.

    Optional datasets, one entry per profile: ``sample`` and ``slip`` (strings),
    ``width_um`` and ``reload_pct`` (numbers, NaN for unknown). Profiles of different
    sizes do not fit one array: store them as PNG/TIFF with a CSV label file instead.

    Raises
    ------
    DataFileError
        Not an HDF5 file, or a missing or misshaped dataset (named).
    """
    import h5py

    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"HDF5 file {os.fspath(path)!r} does not exist")
    try:
        with h5py.File(path, "r") as f:
            missing = [k for k in ("profiles", "prior_pct") if k not in f]
            if missing:
                raise DataFileError(f"{os.fspath(path)!r} needs the datasets 'profiles' (n, h, w) and 'prior_pct' "
                                    f"(n,), missing {missing}")
            profiles = np.asarray(f["profiles"])
            priors = np.asarray(f["prior_pct"]).ravel()
            extra = {k: np.asarray(f[k]).ravel() for k in ("sample", "slip", "width_um", "reload_pct") if k in f}
    except OSError as exc:
        raise DataFileError(f"{os.fspath(path)!r} is not a readable HDF5 file: {exc}") from exc
    if profiles.ndim != 3 or len(priors) != len(profiles):
        raise DataFileError(f"{os.fspath(path)!r}: 'profiles' must be (n, h, w) and 'prior_pct' (n,), got "
                            f"{profiles.shape} and {priors.shape}")
    bad = [k for k, v in extra.items() if len(v) != len(profiles)]
    if bad:
        raise DataFileError(f"{os.fspath(path)!r}: datasets {bad} must have one entry per profile ({len(profiles)})")

    def text(v: Any) -> str:
        return v.decode() if isinstance(v, bytes) else str(v)

    def number(v: Any) -> float | None:
        return None if not np.isfinite(float(v)) else float(v)

    meta = []
    for i in range(len(profiles)):
        meta.append({"file": f"{path.name}[{i}]", "sample": text(extra["sample"][i]) if "sample" in extra else
                     f"{path.name}[{i}]", "slip": text(extra["slip"][i]) if "slip" in extra else None,
                     "width_um": number(extra["width_um"][i]) if "width_um" in extra else None,
                     "reload_pct": number(extra["reload_pct"][i]) if "reload_pct" in extra else None})
    labels = np.array([class_of(v, f"prior_pct[{i}] of {path.name}") for i, v in enumerate(priors)], dtype=np.int64)
    return StrainProfiles(tuple(profiles), labels, tuple(meta))


def split_profiles(profiles: StrainProfiles, *, seed: int = 0, test_fraction: float = 0.25,
                   val_fraction: float = 0.18) -> dict[str, StrainProfiles]:
    """Train / validation / test by sample, stratified by subset and label (paper: 25 % test, 18 % of the rest val).

    Every profile of one ``sample`` lands on one side; samples whose images are identical
    are tied together. The samples of each cell (width, slip, label) are numbered in
    the order of their names and dealt out by the rule of
    :func:`microdl.data.ddd_splits.split_rows`, so each cell's test and validation
    counts are within one of their targets; adding samples may move others (for a data
    set that grows, keep a split file instead).

    Raises
    ------
    DataFileError
        Identical images under different labels (named).
    """
    from microdl.data.ddd_splits import stratum

    rows = []
    for m, y in zip(profiles.meta, profiles.labels, strict=True):
        rows.append({"file": m["file"], "key": m["sample"], "mode": m.get("mode", "full"),
                     "width_um": m["width_um"] if m["width_um"] is not None else 0.0,
                     "slip": m["slip"] or "", "reload_pct": m["reload_pct"] if m["reload_pct"] is not None else 0.0,
                     "prior_pct": float(CLASS_LABELS[int(y)]), "label": CLASS_LABELS[int(y)], "index": None})
    cell_of: dict[str, tuple] = {}
    for r in rows:
        cell = stratum(r)[1:3] + (r["label"],)
        if cell_of.setdefault(r["key"], cell) != cell:
            raise InvalidParameterError(f"sample {r['key']!r} has profiles of different width, slip or label")
    # samples numbered within their cell (sorted names): the split rule deals them out evenly
    rank = {}
    for cell in set(cell_of.values()):
        for i, key in enumerate(sorted(k for k, c in cell_of.items() if c == cell)):
            rank[key] = i
    for r in rows:
        r["index"] = rank[r["key"]]
    digests = [image_digest(np.asarray(im)) for im in profiles.images]
    split = split_rows(rows, digests, seed=seed, test_fraction=test_fraction, val_fraction=val_fraction)
    check_images(rows, digests, split)
    side_of = {f: s for s, files in split["images"].items() for f in files}
    return {s: profiles.subset([i for i, m in enumerate(profiles.meta) if side_of[m["file"]] == s]) for s in SIDES}
