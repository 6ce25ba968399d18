"""Micrographs for learning representations: the data contract, its folder reader, scale bars and splits.

:class:`MicrographSet` holds 2D gray micrographs (``float32``, 8/16-bit images scaled
to 0..1), their file names, optional integer class codes with class names, extra CSV
columns as metadata and the files that were skipped. :func:`load_micrograph_folder`
reads a folder such as the UHCS data set (``labels.csv`` beside ``micrographs/``).

Neighbouring micrographs (consecutive file numbers) often come from one specimen, so
random splits by image leak. :func:`block_folds` cuts each class, in file order, into
contiguous blocks; :func:`group_folds` keeps every specimen on one side;
:func:`few_label_subset` picks a few labelled images per class for label-efficiency
curves.

References
----------
DeCost, B. L., Lei, B., Francis, T. & Holm, E. A. (2019). High throughput quantitative
metallography for complex microstructures using deep learning: a case study in ultrahigh
carbon steel. Microsc. Microanal. 25, 21-29 (the UHCS micrographs).
"""

from __future__ import annotations

import csv
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from microdl._rng import RandomLike, as_generator
from microdl.data._validation import as_array, check_labels
from microdl.exceptions import DataFileError, InvalidParameterError, ShapeError
from microdl.io.images import IMAGE_SUFFIXES, read_gray_image

__all__ = ["MicrographSet", "block_folds", "crop_scale_bar", "detect_scale_bar", "few_label_subset", "to_unit_float",
           "group_folds", "load_micrograph_folder", "natural_key"]

Folds = list[tuple[np.ndarray, np.ndarray]]


def natural_key(name: str) -> tuple:
    """Sort key that orders numbers in names by value: ``micrograph2`` before ``micrograph10``."""
    return tuple(int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(name)))


def to_unit_float(image: np.ndarray, name: str) -> np.ndarray:
    """2D ``float32``: ``uint8`` / 255, ``uint16`` / 65535, floats as they are."""
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2 or min(arr.shape) < 2:
        raise ShapeError(f"{name} must be a 2D gray image, got shape {arr.shape}")
    if arr.dtype == np.uint8:
        return arr.astype(np.float32) / np.float32(255)
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / np.float32(65535)
    if arr.dtype == np.bool_:
        return arr.astype(np.float32)
    if arr.dtype.kind == "f":
        return as_array(arr, name, dtype=np.float32)
    raise InvalidParameterError(f"{name} must be uint8, uint16 or float, got dtype {arr.dtype}")


@dataclass(frozen=True)
class MicrographSet:
    """Gray micrographs with optional class labels, validated on construction.

    Parameters
    ----------
    images
        2D arrays; stored as ``float32`` (``uint8`` / 255, ``uint16`` / 65535, floats as
        they are). Sizes may differ.
    files
        File of each image, relative to ``root`` (POSIX separators).
    labels
        Class code (``int64``, ``0 .. len(class_names) - 1``) per image, or ``None``
        when unlabelled.
    class_names
        Name of each class code (empty when unlabelled).
    metadata
        Extra columns of the labels CSV, one tuple of strings (one per image) each.
    skipped
        ``(file, reason)`` of images that could not be read.
    root
        Folder the files are relative to.

    Examples
    --------
    >>> import numpy as np
    >>> s = MicrographSet([np.zeros((4, 5), np.uint8)] * 2, ("a.png", "b.png"), np.array([0, 1]), ("x", "y"))
    >>> len(s), s.images[0].dtype.name, s.class_counts().tolist()
    (2, 'float32', [1, 1])
    """

    images: list[np.ndarray]
    files: tuple[str, ...]
    labels: np.ndarray | None = None
    class_names: tuple[str, ...] = ()
    metadata: dict[str, tuple] = field(default_factory=dict)
    skipped: tuple[tuple[str, str], ...] = ()
    root: str = ""

    def __post_init__(self) -> None:
        files = tuple(str(f) for f in self.files)
        if len(files) != len(self.images):
            raise ShapeError(f"files and images must have the same length, got {len(files)} and {len(self.images)}")
        if len(set(files)) != len(files):
            dup = sorted({f for f in files if files.count(f) > 1})[:5]
            raise InvalidParameterError(f"files must be unique, got duplicates {dup}")
        images = [to_unit_float(im, f"image {f}") for im, f in zip(self.images, files, strict=True)]
        names = tuple(str(c) for c in self.class_names)
        labels = self.labels
        if labels is not None:
            if not names:
                raise InvalidParameterError("class_names must name the classes of labels, got none")
            labels = check_labels(labels, "labels", n=len(files), low=0, high=len(names) - 1)
        meta = {str(k): tuple(v) for k, v in dict(self.metadata).items()}
        for k, v in meta.items():
            if len(v) != len(files):
                raise ShapeError(f"metadata column {k!r} must have {len(files)} values, got {len(v)}")
        skipped = tuple((str(f), str(r)) for f, r in self.skipped)
        for k, v in (("images", images), ("files", files), ("labels", labels), ("class_names", names),
                     ("metadata", meta), ("skipped", skipped), ("root", str(self.root))):
            object.__setattr__(self, k, v)  # normalised values of a frozen dataclass

    def __len__(self) -> int:
        return len(self.images)

    @property
    def labelled(self) -> bool:
        """Whether the images have class labels."""
        return self.labels is not None

    def class_counts(self) -> np.ndarray:
        """Images per class code, shape ``(len(class_names),)``."""
        if self.labels is None:
            raise InvalidParameterError("class_counts needs a labelled MicrographSet, got one without labels")
        return np.bincount(self.labels, minlength=len(self.class_names))

    def subset(self, index: Sequence[int] | np.ndarray) -> MicrographSet:
        """The images at ``index`` (in that order), with their labels and metadata."""
        idx = as_array(index, "index", ndim=1).astype(np.int64)
        if idx.size and (idx.min() < -len(self) or idx.max() >= len(self)):
            raise InvalidParameterError(f"index must be in [0, {len(self) - 1}], got {idx.min()}..{idx.max()}")
        return MicrographSet([self.images[i] for i in idx], tuple(self.files[i] for i in idx),
                             None if self.labels is None else self.labels[idx], self.class_names,
                             {k: tuple(v[i] for i in idx) for k, v in self.metadata.items()}, self.skipped, self.root)



def _bar_rows(image: np.ndarray, tol: float) -> np.ndarray:
    """Per row: mostly saturated (black or white, as a data bar with text) or near-constant."""
    lo, hi = float(image.min()), float(image.max())
    if hi <= lo:
        return np.ones(image.shape[0], bool)
    x = (image.astype(np.float64) - lo) / (hi - lo)
    saturated = ((x <= tol) | (x >= 1 - tol)).mean(axis=1)
    flat = (np.abs(x - np.median(x, axis=1, keepdims=True)) <= tol / 10).mean(axis=1)
    return (saturated >= 0.85) | (flat >= 0.95)


def detect_scale_bar(image: np.ndarray, *, min_rows: int = 3, max_fraction: float = 0.4, max_gap: int = 2,
                     tol: float = 0.1) -> int:
    """Number of bottom rows that look like an SEM data bar (0 if none).

    A row belongs to the bar if 85 % of its pixels are within ``tol`` (a fraction of the
    image's range) of the image's darkest or brightest value (a black or white strip
    with text), or 95 % within ``tol / 10`` of the row median (a plain strip). The band
    grows up from the bottom row, bridging up to ``max_gap`` other rows (lines of
    text); a band of fewer than ``min_rows`` or more than ``max_fraction`` of the rows
    is not a bar.
    """
    rows = _bar_rows(np.asarray(image), tol)
    top, gap = rows.size, 0
    for r in range(rows.size - 1, -1, -1):
        top, gap = (r, 0) if rows[r] else (top, gap + 1)
        if gap > max_gap:
            break
    band = rows.size - top
    return band if min_rows <= band <= max_fraction * rows.size else 0


def crop_scale_bar(image: np.ndarray, band: int | Literal["auto"]) -> np.ndarray:
    """Remove the data bar at the bottom of an SEM micrograph.

    ``band`` is the number of bottom rows to remove from the 2D ``image``, or ``"auto"``
    to detect a bottom band of near-constant or mostly saturated rows
    (:func:`detect_scale_bar`); the image is returned unchanged when none is found.
    Returns a view of the rows above the band.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.random.default_rng(0).uniform(0.2, 0.8, (100, 80))
    >>> img[-20:] = 0.0
    >>> crop_scale_bar(img, "auto").shape, crop_scale_bar(img, 5).shape
    ((80, 80), (95, 80))
    """
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise ShapeError(f"image must be 2D, got shape {arr.shape}")
    if isinstance(band, str):
        if band != "auto":
            raise InvalidParameterError(f"band must be a number of rows or 'auto', got {band!r}")
        rows = detect_scale_bar(arr)
    elif isinstance(band, (int, np.integer)) and not isinstance(band, bool):
        rows = int(band)
        if not 0 <= rows < arr.shape[0] - 1:
            raise InvalidParameterError(f"band must be in [0, {arr.shape[0] - 2}] rows for an image of "
                                        f"height {arr.shape[0]}, got {rows}")
    else:
        raise InvalidParameterError(f"band must be an int or 'auto', got {band!r}")
    return arr[: arr.shape[0] - rows] if rows else arr



def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            columns = [c.strip() for c in (reader.fieldnames or [])]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataFileError(f"could not read labels CSV {path} ({type(exc).__name__}: {exc})") from exc
    rows = [{(k or "").strip(): (v or "").strip() for k, v in r.items()} for r in rows]
    missing = [c for c in ("file", "label") if c not in columns]
    if missing:
        raise DataFileError(f"labels CSV {path} must have columns file,label; missing {missing}, got {columns}")
    if not rows:
        raise DataFileError(f"labels CSV {path} has no rows")
    return columns, rows


def _class_codes(rows: list[dict[str, str]], has_names: bool, path: Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """Codes 0..K-1 of the sorted label values (numbers by value), with one name per code."""
    values = [r["label"] for r in rows]
    empty = [r["file"] for r in rows if r["label"] == ""]
    if empty:
        raise DataFileError(f"labels CSV {path}: empty label for {len(empty)} rows, e.g. {empty[:5]}")
    try:
        keys = {v: (0, float(v), "") for v in values}
    except ValueError:
        keys = {v: (1, 0.0, natural_key(v)) for v in values}
    uniq = sorted(set(values), key=keys.__getitem__)
    code = {v: i for i, v in enumerate(uniq)}
    names: list[str] = []
    for v in uniq:
        given = {r["class_name"] for r in rows if r["label"] == v} if has_names else {v}
        if len(given) != 1:
            raise DataFileError(f"labels CSV {path}: label {v!r} has several class_name values {sorted(given)}")
        names.append(given.pop())
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise DataFileError(f"labels CSV {path}: class_name {dup} is used by several labels")
    return np.array([code[v] for v in values], np.int64), tuple(names)


def load_micrograph_folder(
    folder: str | os.PathLike,
    *,
    labels_csv: str | os.PathLike | None = "labels.csv",
    image_dir: str | os.PathLike | None = None,
    scale_bar: int | Literal["auto"] | None = None,
    on_bad_image: Literal["warn", "error"] = "warn",
) -> MicrographSet:
    """Read the micrographs of a folder, with their classes when a labels CSV is present.

    Parameters
    ----------
    folder
        The data folder, e.g. ``uhcs/`` holding ``labels.csv`` and ``micrographs/``.
    labels_csv
        CSV (relative to ``folder``) with columns ``file`` (relative to the image folder)
        and ``label``, optionally ``class_name`` (else the names are the label values);
        other columns become :attr:`MicrographSet.metadata`. Its row order is kept.
        ``None``, or the default name when that file is absent: every image of the
        image folder (not its subfolders), unlabelled, in natural order
        (``micrograph2`` before ``micrograph10``).
    image_dir
        Folder of the images, relative to ``folder``; default ``micrographs/`` when it
        exists, else ``folder`` itself.
    scale_bar
        Bottom rows to remove from every image, ``"auto"`` to detect a data bar per
        image (:func:`crop_scale_bar`) or ``None`` to keep the images whole.
    on_bad_image
        ``"warn"``: skip an unreadable image with one ``UserWarning`` naming it (listed
        in :attr:`MicrographSet.skipped`); ``"error"``: raise.

    Raises
    ------
    DataFileError
        Missing folder or CSV, CSV rows naming absent files, duplicate rows,
        inconsistent label / class_name pairs, an unreadable image with
        ``on_bad_image="error"``, or no readable image at all.
    """
    if on_bad_image not in ("warn", "error"):
        raise InvalidParameterError(f"on_bad_image must be 'warn' or 'error', got {on_bad_image!r}")
    if scale_bar is not None and scale_bar != "auto" and not (isinstance(scale_bar, int) and scale_bar >= 0):
        raise InvalidParameterError(f"scale_bar must be None, 'auto' or a number of rows >= 0, got {scale_bar!r}")
    root = Path(folder)
    if not root.is_dir():
        raise DataFileError(f"micrograph folder not found: {root}")
    if image_dir is None:
        img_dir = root / "micrographs" if (root / "micrographs").is_dir() else root
    else:
        img_dir = root / image_dir
        if not img_dir.is_dir():
            raise DataFileError(f"image_dir not found: {img_dir}")
    csv_path = None if labels_csv is None else root / labels_csv
    if csv_path is not None and not csv_path.is_file():
        if str(labels_csv) != "labels.csv":
            raise DataFileError(f"labels_csv not found: {csv_path}")
        csv_path = None

    labels: np.ndarray | None = None
    names: tuple[str, ...] = ()
    meta: dict[str, list[str]] = {}
    if csv_path is None:
        files = sorted((p.name for p in img_dir.iterdir() if p.is_file() and not p.name.startswith(".")
                        and p.suffix.lower() in IMAGE_SUFFIXES), key=natural_key)
        if not files:
            raise DataFileError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {img_dir}")
    else:
        columns, rows = _read_csv(csv_path)
        files = [r["file"].replace("\\", "/") for r in rows]
        seen: set[str] = set()
        dup = [f for f in files if f in seen or seen.add(f)]
        if dup:
            raise DataFileError(f"labels CSV {csv_path} names {len(dup)} files twice, e.g. {dup[:5]}")
        absent = [f for f in files if not (img_dir / f).is_file()]
        if absent:
            raise DataFileError(f"labels CSV {csv_path} names {len(absent)} files that are not in {img_dir}, "
                                f"e.g. {absent[:5]}")
        labels, names = _class_codes(rows, "class_name" in columns, csv_path)
        meta = {c: [r.get(c, "") for r in rows] for c in columns if c not in ("file", "label", "class_name")}

    images: list[np.ndarray] = []
    keep: list[int] = []
    skipped: list[tuple[str, str]] = []
    for i, f in enumerate(files):
        try:
            image = to_unit_float(read_gray_image(img_dir / f), f"image {img_dir / f}")
            if scale_bar is not None:
                image = np.ascontiguousarray(crop_scale_bar(image, scale_bar))
        except (DataFileError, InvalidParameterError) as exc:
            if on_bad_image == "error":
                raise DataFileError(f"bad micrograph {img_dir / f}: {exc}") from exc
            warnings.warn(f"skipping unreadable micrograph {f}: {exc}", UserWarning, stacklevel=2)
            skipped.append((f, str(exc)))
            continue
        images.append(image)
        keep.append(i)
    if not images:
        raise DataFileError(f"none of the {len(files)} images in {img_dir} could be read")
    return MicrographSet(images, tuple(files[i] for i in keep), None if labels is None else labels[keep], names,
                         {k: tuple(v[i] for i in keep) for k, v in meta.items()}, tuple(skipped),
                         img_dir.as_posix())



def _check_k(k: int, smallest: int, what: str) -> None:
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 2:
        raise InvalidParameterError(f"k must be an integer >= 2, got {k!r}")
    if k > smallest:
        raise InvalidParameterError(f"k must be <= {what} ({smallest}), got {k}")


def _int_labels(labels: object) -> np.ndarray:
    arr = as_array(labels, "labels", ndim=1, finite=False)
    if arr.size == 0 or not np.issubdtype(arr.dtype, np.integer):
        raise InvalidParameterError(f"labels must be a non-empty 1D array of integers, got dtype {arr.dtype}, "
                                    f"shape {arr.shape}")
    return arr.astype(np.int64)


def block_folds(labels: Sequence[int] | np.ndarray, k: int, *,
                order: Sequence[object] | np.ndarray | None = None) -> Folds:
    """``k`` folds that test contiguous blocks of each class in file order.

    Within each class the images, sorted by ``order``, are cut into ``k`` contiguous
    blocks (sizes differ by at most one); fold ``i`` tests block ``i`` of every class, so
    neighbouring micrographs (often one specimen) stay on one side.

    Parameters
    ----------
    labels
        Class code per image, shape ``(n,)``.
    k
        Number of folds, ``2 <= k <=`` the smallest class size.
    order
        Sort key per image (file numbers, or file names sorted naturally); default the
        index order (the file order of a :class:`MicrographSet`).

    Returns
    -------
    list of (train_idx, test_idx)
        Sorted ``int64`` index arrays; the test sets are disjoint and cover every image.

    Examples
    --------
    >>> [t.tolist() for _, t in block_folds([0, 0, 0, 0, 1, 1, 1, 1], 2)]
    [[0, 1, 4, 5], [2, 3, 6, 7]]
    """
    y = _int_labels(labels)
    if order is None:
        rank = np.arange(y.size)
    else:
        keys = list(order)
        if len(keys) != y.size:
            raise ShapeError(f"order must have one key per label ({y.size}), got {len(keys)}")
        if all(isinstance(v, (str, np.str_)) for v in keys):
            rank = np.array(sorted(range(y.size), key=lambda i: natural_key(keys[i])))
        else:
            rank = np.argsort(as_array(keys, "order", ndim=1), kind="stable")
    classes, counts = np.unique(y, return_counts=True)
    _check_k(k, int(counts.min()), f"the smallest class size (class {classes[counts.argmin()]})")
    blocks: list[list[np.ndarray]] = [[] for _ in range(k)]
    for c in classes:
        members = rank[y[rank] == c]
        for i, part in enumerate(np.array_split(members, k)):
            blocks[i].append(part)
    folds = []
    for i in range(k):
        test = np.sort(np.concatenate(blocks[i])).astype(np.int64)
        folds.append((np.setdiff1d(np.arange(y.size), test).astype(np.int64), test))
    return folds


def group_folds(groups: Sequence[object] | np.ndarray, k: int, *, labels: Sequence[int] | np.ndarray | None = None,
                rng: RandomLike = None) -> Folds:
    """``k`` folds in which no group (e.g. specimen, one per image in ``groups``) is on both sides.

    scikit-learn's ``GroupKFold``, or ``StratifiedGroupKFold`` when ``labels`` (class code
    per image) are given. ``2 <= k <=`` the number of groups (and the smallest class).
    ``rng=None`` assigns the groups deterministically, a seed or ``numpy.random.Generator``
    shuffles them. Returns sorted ``int64`` ``(train_idx, test_idx)`` pairs.
    """
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    g = np.asarray([str(v) for v in groups])
    if g.ndim != 1 or g.size == 0:
        raise ShapeError(f"groups must be a non-empty 1D sequence, got shape {g.shape}")
    n_groups = len(set(g.tolist()))
    _check_k(k, n_groups, "the number of groups")
    state = None if rng is None else int(as_generator(rng).integers(2**31 - 1))
    x = np.zeros((g.size, 1))
    if labels is None:
        splitter = GroupKFold(n_splits=k) if state is None else GroupKFold(n_splits=k, shuffle=True,
                                                                             random_state=state)
        splits = splitter.split(x, groups=g)
    else:
        y = _int_labels(labels)
        if y.size != g.size:
            raise ShapeError(f"labels and groups must have the same length, got {y.size} and {g.size}")
        classes, counts = np.unique(y, return_counts=True)
        _check_k(k, int(counts.min()), f"the smallest class size (class {classes[counts.argmin()]})")
        splitter = StratifiedGroupKFold(n_splits=k, shuffle=state is not None, random_state=state)
        splits = splitter.split(x, y, groups=g)
    return [(np.sort(tr).astype(np.int64), np.sort(te).astype(np.int64)) for tr, te in splits]


def few_label_subset(labels: Sequence[int] | np.ndarray, train_idx: Sequence[int] | np.ndarray, n_per_class: int,
                     rng: RandomLike, *, class_names: Sequence[str] | None = None) -> np.ndarray:
    """``n_per_class`` images of every class, drawn at random from ``train_idx``.

    ``labels`` are the class codes of every image, ``rng`` a seed or
    ``numpy.random.Generator``, ``class_names`` name the codes in messages. Returns sorted
    ``int64`` indices, a subset of ``train_idx``.

    Raises
    ------
    InvalidParameterError
        If a class of ``labels`` has fewer than ``n_per_class`` (>= 1) images in
        ``train_idx`` (the message names the class).
    """
    y = _int_labels(labels)
    idx = as_array(train_idx, "train_idx", ndim=1, finite=False).astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= y.size):
        raise InvalidParameterError(f"train_idx must be in [0, {y.size - 1}], got {idx.min()}..{idx.max()}")
    if not isinstance(n_per_class, (int, np.integer)) or isinstance(n_per_class, bool) or n_per_class < 1:
        raise InvalidParameterError(f"n_per_class must be an integer >= 1, got {n_per_class!r}")
    idx = np.unique(idx)
    gen = as_generator(rng)
    chosen = []
    for c in np.unique(y):
        members = idx[y[idx] == c]
        if members.size < n_per_class:
            name = f"{class_names[c]!r} (code {c})" if class_names is not None and c < len(class_names) else str(c)
            raise InvalidParameterError(f"n_per_class must be <= the training images of class {name}: "
                                        f"{members.size}, got {n_per_class}")
        chosen.append(gen.choice(members, n_per_class, replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64)
