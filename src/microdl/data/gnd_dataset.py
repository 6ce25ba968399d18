"""GND window datasets on disk: generate once, record in the catalog, reuse.

A dataset file is HDF5 holding ``gnd`` (n, 7, 7, 3) float32 in m^-2 with channels
[screw, edge, |rho_GND|], ``rho_t`` (n,) float64 in m^-2 and ``n_lines`` (n,)
int64, plus attributes ``config``, ``seed``, ``environment`` and ``stats``.
Files are read back as the validated :class:`microdl.data.gnd.GNDWindows`.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from microdl.data.catalog import Catalog
from microdl.data.gnd import GNDWindows, generate_windows
from microdl.exceptions import DataFileError, InvalidParameterError
from microdl.io._atomic import acquire_lock, check_output_file
from microdl.io.arrays import read_h5, write_h5
from microdl.provenance import environment, sha256_file
from microdl.simulate.gnd_lines import GNDLineConfig

ARRAY_NAMES = ("gnd", "rho_t", "n_lines")


def window_statistics(windows: GNDWindows) -> dict[str, Any]:
    """Summary statistics of a window dataset, comparable with Zhang & Ngan 2019 §2.2.

    Returns the Pearson correlation of N and rho_t (paper: 0.898), the mean,
    minimum, maximum and 1/50/99th percentiles of rho_t in m^-2 (paper: 1e13 to
    1e16, mean ~1e15) and the per-class counts and mean rho_t.
    """
    rho, n = windows.rho_t, windows.n_lines
    classes = np.unique(n)
    pearson = float(np.corrcoef(n.astype(float), rho)[0, 1]) if classes.size > 1 else float("nan")
    p1, p50, p99 = np.percentile(rho, [1, 50, 99])
    return {
        "n_windows": int(rho.size),
        "pearson_n_rho_t": pearson,
        "rho_t_mean_per_m2": float(rho.mean()),
        "rho_t_min_per_m2": float(rho.min()),
        "rho_t_max_per_m2": float(rho.max()),
        "rho_t_p01_per_m2": float(p1),
        "rho_t_p50_per_m2": float(p50),
        "rho_t_p99_per_m2": float(p99),
        "gnd_magnitude_centre_mean_per_m2": float(windows.gnd[:, windows.gnd.shape[1] // 2,
                                                             windows.gnd.shape[2] // 2, 2].mean()),
        "class_counts": {int(c): int((n == c).sum()) for c in classes},
        "class_mean_rho_t_per_m2": {int(c): float(rho[n == c].mean()) for c in classes},
    }


def make_gnd_dataset(
    path: str | os.PathLike,
    n_per_class: int,
    *,
    seed: int,
    config: GNDLineConfig | None = None,
    progress: bool = True,
    catalog: Catalog | None = None,
    reuse: bool = True,
) -> dict[str, Any]:
    """Generate a balanced GND window dataset, write it to ``path`` and record it.

    Parameters
    ----------
    path
        Output HDF5 file (written atomically, locked while this call runs: a
        second writer to the same file gets an error).
    n_per_class
        Windows per class N (balanced over ``config.n_min..config.n_max``).
    seed
        Seed of the generator: the same seed and config give identical arrays.
    config
        Generator settings; the paper's by default.
    progress
        Show a progress bar on stderr.
    catalog
        Where to record the dataset (after the file is written); the default
        catalog if ``None``. It is checked to be writable before generating.
    reuse
        If ``path`` already holds a dataset made with the same config, seed and
        size, return its summary instead of generating again.

    Returns
    -------
    dict
        Statistics (see :func:`window_statistics`), ``windows_per_second``,
        ``seconds``, ``path``, ``checksum`` (SHA-256) and the catalog ``id``.

    Raises
    ------
    InvalidParameterError
        For ``n_per_class < 1``, or when another process is writing ``path``.
    DataFileError
        If ``path`` cannot be written or the catalog cannot be written (both
        checked before generating).
    """
    if isinstance(n_per_class, bool) or not isinstance(n_per_class, (int, np.integer)) or n_per_class < 1:
        raise InvalidParameterError(f"n_per_class must be an integer >= 1, got {n_per_class!r}")
    config = config or GNDLineConfig()
    path = check_output_file(path, option="path")
    catalog = catalog if catalog is not None else Catalog()
    catalog.check_writable()
    lock = acquire_lock(path, folder=False, what=f"output file {str(path)!r}")
    try:
        return _make(path, int(n_per_class), seed, config, progress, catalog, reuse)
    finally:
        lock.release()


def _make(path: Path, n_per_class: int, seed: int, config: GNDLineConfig, progress: bool, catalog: Catalog,
          reuse: bool) -> dict[str, Any]:
    cfg = {"generator": "gnd-lines", "n_per_class": n_per_class, **asdict(config)}
    if reuse and path.exists():
        try:
            _, attrs = read_h5(path, names=[])
        except DataFileError:
            attrs = {}
        if attrs.get("config") == cfg and attrs.get("seed") == seed:
            stats = dict(attrs.get("stats", {}))
            stats.update(path=str(path), reused=True)
            return stats
    start = time.perf_counter()
    windows = generate_windows(n_per_class, config=config, rng=seed, progress=progress)
    seconds = time.perf_counter() - start
    stats = window_statistics(windows)
    stats.update(seconds=seconds, windows_per_second=stats["n_windows"] / max(seconds, 1e-9))
    write_h5(
        path,
        {"gnd": windows.gnd, "rho_t": windows.rho_t, "n_lines": windows.n_lines},
        {"config": cfg, "seed": seed, "environment": environment(), "stats": stats},
    )
    checksum = sha256_file(path)
    entry = catalog.record(
        "dataset", "gnd-lines", config=cfg, seed=seed, path=path, checksum=checksum, metrics=stats
    )
    stats.update(path=str(path), checksum=checksum, id=entry)
    return stats


def load_gnd_dataset(path: str | os.PathLike) -> GNDWindows:
    """Read a dataset written by :func:`make_gnd_dataset` (or any HDF5 with the same arrays).

    Raises
    ------
    DataFileError
        If the file is missing, lacks a dataset, or its arrays break the
        :class:`~microdl.data.gnd.GNDWindows` contract (the message says how).
    """
    arrays, _ = read_h5(path, names=list(ARRAY_NAMES))
    gnd = arrays["gnd"]
    if gnd.ndim != 4 or gnd.shape[-1] != 3:
        raise DataFileError(f"{path}: 'gnd' must have shape (n, 7, 7, 3), got {gnd.shape}")
    if not (len(arrays["rho_t"]) == len(arrays["n_lines"]) == len(gnd)):
        raise DataFileError(f"{path}: gnd, rho_t and n_lines have different lengths")
    try:
        return GNDWindows(gnd=gnd, rho_t=arrays["rho_t"], n_lines=arrays["n_lines"])
    except InvalidParameterError as exc:
        raise DataFileError(f"{path}: {exc}") from None
