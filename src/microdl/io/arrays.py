"""Readers and writers for arrays: NumPy ``.npy``/``.npz``, HDF5 and CSV.

Datasets are written atomically (a temporary file renamed into place) with their
generator config and provenance stored as HDF5 attributes, so a file is either
complete and self-describing or absent.

Every reader raises :class:`~microdl.exceptions.DataFileError` (one line naming
the file) for a missing, empty, truncated or corrupt file, never the underlying
``EOFError``, ``zipfile.BadZipFile`` or HDF5 error.
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from microdl.exceptions import DataFileError, MicrodlError, NonFiniteError, ShapeError
from microdl.io._atomic import atomic_path
from microdl.provenance import to_jsonable

_H5_SUFFIXES = (".h5", ".hdf5", ".hdf")

# What NumPy, zipfile, zlib and h5py raise for empty, truncated or corrupt files.
_READ_ERRORS = (OSError, ValueError, EOFError, KeyError, RuntimeError, zipfile.BadZipFile, zlib.error)


def _require_file(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise DataFileError(f"file not found: {p}")
    if p.is_dir():
        raise DataFileError(f"expected a file but {p} is a directory")
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise DataFileError(f"cannot read {p}: {exc.strerror or exc}") from exc
    if size == 0:
        raise DataFileError(f"{p} is empty (0 bytes); expected a {p.suffix or 'data'} file with an array")
    return p


def _unreadable(p: Path, exc: BaseException, what: str = "") -> DataFileError:
    """A one-line DataFileError for a file the format library could not read."""
    detail = " ".join(str(exc).split()) or type(exc).__name__
    return DataFileError(f"could not read {what}{p}: it is truncated or not a valid "
                         f"{p.suffix or 'data'} file ({type(exc).__name__}: {detail})")


def read_array(path: str | os.PathLike, *, key: str | None = None) -> np.ndarray:
    """Read one array from ``.npy``, ``.npz``, HDF5 or CSV.

    Parameters
    ----------
    path
        File to read. The format follows the suffix.
    key
        Name of the array inside ``.npz`` or HDF5 files; optional when the file
        holds exactly one array.

    Returns
    -------
    numpy.ndarray
        The array as stored (CSV: see :func:`read_map_csv`).

    Raises
    ------
    DataFileError
        If the file is missing, empty, truncated, corrupt or of an unknown type,
        or ``key`` names no array in it.
    """
    p = _require_file(path)
    suffix = p.suffix.lower()
    if suffix in (".csv", ".txt"):
        return read_map_csv(p)
    try:
        if suffix == ".npy":
            return np.load(p, allow_pickle=False)
        if suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                return _pick_name_and_read(z, key, p)
        if suffix in _H5_SUFFIXES:
            import h5py

            with h5py.File(p, "r") as f:
                names = [n for n in f if isinstance(f[n], h5py.Dataset)]
                name = _pick_name(names, key, p)
                return f[name][()]
    except MicrodlError:
        raise
    except _READ_ERRORS as exc:
        raise _unreadable(p, exc) from exc
    raise DataFileError(
        f"unsupported file type {suffix!r} for {p}; expected .npy, .npz, .h5/.hdf5 or .csv"
    )


def _pick_name(names: list[str], key: str | None, p: Path) -> str:
    if key is not None:
        if key not in names:
            raise DataFileError(f"{p} has no array {key!r}; it holds {sorted(names)}")
        return key
    if len(names) == 1:
        return names[0]
    for preferred in ("gnd", "map", "data"):
        if preferred in names:
            return preferred
    raise DataFileError(f"{p} holds several arrays {sorted(names)}; say which one with a key")


def _pick_name_and_read(z: Any, key: str | None, p: Path) -> np.ndarray:
    """Read only the chosen member of an ``.npz`` (a corrupt other member does not matter)."""
    return z[_pick_name(list(z.files), key, p)]


def read_map_csv(path: str | os.PathLike) -> np.ndarray:
    """Read a 2-component map from CSV.

    Two layouts are accepted:

    * long format with a header naming ``row``, ``col`` (or ``y``, ``x``) and two
      value columns, e.g. ``row,col,screw,edge``: one line per pixel;
    * wide format without a header: each line one map row, the two components
      of a pixel side by side (``screw_0, edge_0, screw_1, edge_1, ...``).

    Returns
    -------
    numpy.ndarray
        ``(H, W, 2)`` float64 array.

    Raises
    ------
    DataFileError
        If the file is missing, empty, not text or not numbers in one of the layouts.
    ShapeError
        If the number of value columns is wrong.
    """
    import warnings

    p = _require_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # "input contained no data"
            return _read_map_csv(p)
    except MicrodlError:
        raise
    except (*_READ_ERRORS, UserWarning) as exc:
        raise _unreadable(p, exc, "the CSV map ") from exc


def _read_map_csv(p: Path) -> np.ndarray:
    with open(p, encoding="utf-8") as fh:
        first = fh.readline()
    first_fields = [t.strip().lower() for t in first.split(",")]
    has_header = any(t and not _is_number(t) for t in first_fields)
    if has_header:
        data = np.genfromtxt(p, delimiter=",", names=True, dtype=float)
        if data.dtype.names is None:
            raise DataFileError(f"{p}: could not parse the CSV header {first.strip()!r}")
        names = [n.lower() for n in data.dtype.names]
        rows_name = next((n for n in ("row", "y", "i") if n in names), None)
        cols_name = next((n for n in ("col", "column", "x", "j") if n in names), None)
        if rows_name is None or cols_name is None:
            raise DataFileError(
                f"{p}: a CSV with a header needs row/col (or y/x) columns; found {names}"
            )
        values = [n for n in data.dtype.names if n.lower() not in (rows_name, cols_name)]
        if len(values) != 2:
            raise ShapeError(
                f"{p}: expected 2 value columns (screw, edge) besides row/col, found {len(values)}: {values}"
            )
        data = np.atleast_1d(data)
        r = data[data.dtype.names[names.index(rows_name)]].astype(int)
        c = data[data.dtype.names[names.index(cols_name)]].astype(int)
        if r.min() < 0 or c.min() < 0:
            raise DataFileError(f"{p}: row/col indices must be >= 0")
        out = np.full((r.max() + 1, c.max() + 1, 2), np.nan)
        out[r, c, 0] = data[values[0]]
        out[r, c, 1] = data[values[1]]
        if np.isnan(out).any() and not (np.isnan(data[values[0]]).any() or np.isnan(data[values[1]]).any()):
            raise DataFileError(f"{p}: some pixels of the {out.shape[0]} x {out.shape[1]} grid have no line")
        return out
    wide = np.loadtxt(p, delimiter=",", ndmin=2)
    if wide.size == 0:
        raise DataFileError(f"{p} holds no numbers; expected a CSV map")
    if wide.shape[1] % 2:
        raise ShapeError(
            f"{p}: a headerless CSV needs an even number of columns (screw, edge per pixel), got {wide.shape[1]}"
        )
    return wide.reshape(wide.shape[0], wide.shape[1] // 2, 2)


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def check_map(arr: np.ndarray, *, channels: int = 2, name: str = "map") -> np.ndarray:
    """Check a ``(H, W, channels)`` map: right shape, numeric and finite.

    Returns the map as float64. Raises :class:`ShapeError` or :class:`NonFiniteError`.
    """
    arr = np.asarray(arr)
    if arr.dtype.kind not in "fiu":
        raise ShapeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if arr.ndim != 3 or arr.shape[-1] != channels:
        raise ShapeError(
            f"{name} must have shape (H, W, {channels}), got {arr.shape}"
            + (f" ({arr.shape[-1]} channels)" if arr.ndim == 3 else "")
        )
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ShapeError(f"{name} is empty: shape {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    bad = ~np.isfinite(arr)
    if bad.any():
        i, j, k = np.argwhere(bad)[0]
        raise NonFiniteError(
            f"{name} holds {int(bad.sum())} NaN/inf value(s), first at row {i}, column {j}, channel {k}"
        )
    return arr


def write_h5(path: str | os.PathLike, arrays: dict[str, np.ndarray], attrs: dict[str, Any]) -> Path:
    """Write named arrays and JSON-encoded attributes to HDF5, atomically.

    Attributes are stored as JSON strings so nested configs survive round trips.
    """
    import h5py

    path = Path(path)
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        for name, arr in arrays.items():
            arr = np.asarray(arr)
            f.create_dataset(name, data=arr, compression="gzip" if arr.size > 1024 else None,
                             shuffle=arr.size > 1024)
        for key, value in attrs.items():
            f.attrs[key] = json.dumps(to_jsonable(value))
    return path


def read_h5(path: str | os.PathLike, names: list[str] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read arrays (all, or ``names``) and decoded attributes written by :func:`write_h5`."""
    import h5py

    p = _require_file(path)
    try:
        with h5py.File(p, "r") as f:
            available = list(f.keys())
            wanted = available if names is None else names
            missing = [n for n in wanted if n not in available]
            if missing:
                raise DataFileError(f"{p} lacks dataset(s) {missing}; it holds {available}")
            arrays = {n: f[n][()] for n in wanted}
            attrs = {}
            for k, v in f.attrs.items():
                try:
                    attrs[k] = json.loads(v)
                except (TypeError, ValueError):
                    attrs[k] = v
    except MicrodlError:
        raise
    except _READ_ERRORS as exc:
        raise _unreadable(p, exc, "HDF5 file ") from exc
    return arrays, attrs
