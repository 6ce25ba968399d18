"""The GND data contract: labelled 7 x 7 windows of GND density (Zhang & Ngan 2019).

* :class:`GNDWindows` - the one validated container: ``gnd`` (n, 7, 7, 3) float32
  in m^-2 with channels ``[screw, edge, |rho_GND|]``, ``rho_t`` (n,) float64 total
  density of the centre pixel in m^-2 (>= 0) and ``n_lines`` (n,) int64 number of
  lines crossing the centre pixel (1..5);
* :func:`check_gnd_windows`, :func:`windows_to_tensor` - the model input check
  and the channels-first tensor;
* :func:`generate_windows` - class-balanced windows from random line maps
  (:func:`microdl.simulate.gnd_lines.sample_windows`) as :class:`GNDWindows`;
* the training loaders, :class:`~microdl.data.gnd_datamodule.GNDDataModule`, live in their own module (no Lightning import here).

References
----------
Zhang, Y. & Ngan, A. H. W. (2019). Extracting dislocation microstructures by deep
learning. *Int. J. Plasticity*, §2.2 and §3.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from microdl._rng import RandomLike
from microdl.data._validation import as_array, check_labels, check_range, check_same_length
from microdl.exceptions import InvalidParameterError
from microdl.simulate.gnd_lines import GNDLineConfig, sample_windows

if TYPE_CHECKING:  # pragma: no cover
    import torch
    from torch.utils.data import TensorDataset

__all__ = [
    "N_CLASSES",
    "WINDOW",
    "GNDWindows",
    "GNDSource",
    "as_gnd_windows",
    "check_gnd_windows",
    "windows_to_tensor",
    "generate_windows",
]

N_CLASSES = 5
"""Number of classes for the line count N (N = 1..5)."""
WINDOW = 7
"""Side of the input window in pixels."""


def check_gnd_windows(gnd: object, name: str = "gnd") -> np.ndarray:
    """Validate GND windows stored channels-last and return them as float32.

    Parameters
    ----------
    gnd
        ``(n, 7, 7, 3)`` densities in m^-2, channels ``[screw, edge, |rho_GND|]``.
    name
        Parameter name used in error messages.

    Returns
    -------
    numpy.ndarray
        ``(n, 7, 7, 3)`` float32 array (no copy when it already is).

    Raises
    ------
    ShapeError
        If the shape is not ``(n, 7, 7, 3)``.
    NonFiniteError
        If any value is NaN or infinite (also after conversion to float32).
    """
    return as_array(gnd, name, shape=(None, WINDOW, WINDOW, 3), dtype=np.float32)


def windows_to_tensor(gnd: object) -> torch.Tensor:
    """``(n, 7, 7, 3)`` channels-last windows (m^-2) -> contiguous ``(n, 3, 7, 7)`` float32 tensor."""
    import torch  # imported where needed: reading and writing window files needs no torch

    return torch.from_numpy(np.ascontiguousarray(check_gnd_windows(gnd).transpose(0, 3, 1, 2)))


@dataclass(frozen=True, eq=False)
class GNDWindows:
    """Labelled GND windows in memory, validated on construction.

    Parameters
    ----------
    gnd
        ``(n, 7, 7, 3)`` float32 densities in m^-2, channels ``[screw, edge, |rho_GND|]``.
    rho_t
        ``(n,)`` float64 total density of the centre pixel in m^-2 (>= 0).
    n_lines
        ``(n,)`` int64 number of distinct lines crossing the centre pixel, 1..5.

    Raises
    ------
    ShapeError, NonFiniteError, InvalidParameterError
        For a wrong shape, NaN/inf, negative density or labels outside 1..5; the
        message names the array, what was expected and what was received.
    """

    gnd: np.ndarray
    rho_t: np.ndarray
    n_lines: np.ndarray

    def __post_init__(self) -> None:
        gnd = check_gnd_windows(self.gnd)
        rho = check_range(as_array(self.rho_t, "rho_t", ndim=1, dtype=np.float64), "rho_t",
                          low=0.0, unit="m^-2")
        check_same_length(gnd=gnd, rho_t=rho, n_lines=np.atleast_1d(np.asarray(self.n_lines)))
        lines = check_labels(self.n_lines, "n_lines", n=gnd.shape[0], low=1, high=N_CLASSES)
        object.__setattr__(self, "gnd", gnd)
        object.__setattr__(self, "rho_t", rho)
        object.__setattr__(self, "n_lines", lines)

    def __len__(self) -> int:
        return int(self.gnd.shape[0])

    def subset(self, index: np.ndarray) -> GNDWindows:
        """Rows ``index`` (integer or boolean index) as a new :class:`GNDWindows`."""
        return GNDWindows(self.gnd[index], self.rho_t[index], self.n_lines[index])

    def to_tensors(self) -> TensorDataset:
        """Torch dataset of ``(x (3, 7, 7) m^-2, rho_t m^-2 float32, n_lines int64)``."""
        import torch
        from torch.utils.data import TensorDataset

        return TensorDataset(
            windows_to_tensor(self.gnd),
            torch.from_numpy(self.rho_t.astype(np.float32)),
            torch.from_numpy(self.n_lines),
        )


GNDSource = GNDWindows | Mapping | str | os.PathLike


def as_gnd_windows(source: GNDSource, name: str = "windows") -> GNDWindows:
    """:class:`GNDWindows` from windows, a mapping with keys ``gnd``, ``rho_t``, ``n_lines``,
    or the path of an HDF5 file holding those datasets (read into memory).

    Raises
    ------
    InvalidParameterError
        For any other type or a mapping without those keys.
    DataFileError
        If the file is missing or lacks a dataset.
    """
    if isinstance(source, GNDWindows):
        return source
    if isinstance(source, (str, os.PathLike)):
        from microdl.data.gnd_dataset import load_gnd_dataset

        return load_gnd_dataset(source)
    if isinstance(source, Mapping):
        missing = [k for k in ("gnd", "rho_t", "n_lines") if k not in source]
        if missing:
            raise InvalidParameterError(f"{name} must have keys gnd, rho_t, n_lines; missing {missing}")
        return GNDWindows(source["gnd"], source["rho_t"], source["n_lines"])
    raise InvalidParameterError(
        f"{name} must be GNDWindows, a mapping or an HDF5 path, got {type(source).__name__}")


def generate_windows(
    n_per_class: int,
    *,
    config: GNDLineConfig = GNDLineConfig(),
    rng: RandomLike = None,
    progress: bool = False,
) -> GNDWindows:
    """Labelled, class-balanced GND windows from random line maps (Zhang & Ngan 2019, §2.2).

    Wraps :func:`microdl.simulate.gnd_lines.sample_windows` (the simulation) in the
    validated container.

    The parameters (``n_per_class``, ``config``, ``rng``, ``progress``) are those of
    :func:`~microdl.simulate.gnd_lines.sample_windows`; here ``config.window`` must be 7
    and ``config.n_max`` at most 5 (the contract of :class:`GNDWindows`). The paper's
    splits are :data:`microdl.simulate.gnd_lines.PAPER_SPLITS` divided by 5; the same
    seed gives bit-identical arrays, independent of the number of threads.

    Returns
    -------
    GNDWindows
        ``gnd`` (n, 7, 7, 3) float32 m^-2; ``rho_t`` (n,) float64 m^-2 and
        ``n_lines`` (n,) int64 of the centre pixel.

    Raises
    ------
    InvalidParameterError
        If ``n_per_class`` is negative, a class never occurs, or ``config`` makes
        windows outside the contract.

    Examples
    --------
    >>> ds = generate_windows(10, rng=0)
    >>> ds.gnd.shape, sorted(set(ds.n_lines.tolist()))
    ((50, 7, 7, 3), [1, 2, 3, 4, 5])
    """
    if config.window != WINDOW or config.n_max > N_CLASSES:
        raise InvalidParameterError(
            f"config must give {WINDOW} x {WINDOW} windows with n_max <= {N_CLASSES}, got window="
            f"{config.window}, n_max={config.n_max} (use simulate.gnd_lines.sample_windows for raw arrays)")
    gnd, rho_t, n_lines = sample_windows(n_per_class, config=config, rng=rng, progress=progress)
    return GNDWindows(gnd, rho_t, n_lines)
