"""Validation of arrays at the public boundary, in one place for every data contract.

Each data container (GND windows, DDD strain profiles, later EBSD maps and
micrographs) checks its arrays here once, on construction, so a wrong shape,
dtype, NaN or unit is caught with a message naming the parameter, what was
expected and what was received, and every layer below can trust its input.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from microdl.exceptions import InvalidParameterError, NonFiniteError, ShapeError

__all__ = ["as_array", "check_range", "check_labels", "check_same_length"]


def _shape_text(shape: Sequence[int | None]) -> str:
    return "(" + ", ".join("n" if s is None else str(s) for s in shape) + (",)" if len(shape) == 1 else ")")


def as_array(
    x: object,
    name: str,
    *,
    shape: Sequence[int | None] | None = None,
    ndim: int | None = None,
    dtype: type | np.dtype | None = None,
    finite: bool = True,
) -> np.ndarray:
    """Return ``x`` as a NumPy array after checking its shape and values.

    Parameters
    ----------
    x
        Array-like input.
    name
        Parameter name used in messages.
    shape
        Expected shape; ``None`` entries match any size (e.g. ``(None, 7, 7, 3)``).
    ndim
        Expected number of dimensions (when ``shape`` is not given).
    dtype
        Convert to this dtype (no copy when it already is).
    finite
        Require every value to be finite.

    Raises
    ------
    ShapeError
        Wrong number of dimensions or sizes.
    NonFiniteError
        NaN or infinite values where ``finite``.
    InvalidParameterError
        Values that cannot be converted to ``dtype``.
    """
    try:
        arr = np.asarray(x) if dtype is None else np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise InvalidParameterError(f"{name} must be a numeric array, got {type(x).__name__}: {exc}") from exc
    if shape is not None:
        if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape, strict=True)):
            raise ShapeError(f"{name} must have shape {_shape_text(shape)}, got {arr.shape}")
    elif ndim is not None and arr.ndim != ndim:
        raise ShapeError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    if finite and arr.dtype.kind in "fc" and not np.isfinite(arr).all():
        bad = int((~np.isfinite(arr)).sum())
        raise NonFiniteError(f"{name} must be finite, got {bad} NaN or infinite values")
    return arr


def check_range(arr: np.ndarray, name: str, *, low: float | None = None, high: float | None = None,
                unit: str = "") -> np.ndarray:
    """Check ``low <= arr <= high`` elementwise; ``unit`` is named in the message."""
    if arr.size:
        lo, hi = arr.min(), arr.max()
        if (low is not None and lo < low) or (high is not None and hi > high):
            want = f"in [{low}, {high}]" if low is not None and high is not None else (
                f">= {low}" if low is not None else f"<= {high}")
            raise InvalidParameterError(f"{name} must be {want}{' ' + unit if unit else ''}, "
                                        f"got values from {lo!r} to {hi!r}")
    return arr


def check_labels(x: object, name: str, *, n: int, low: int, high: int) -> np.ndarray:
    """Integer labels of shape ``(n,)`` in ``low..high``, returned as int64."""
    arr = as_array(x, name, shape=(n,), finite=False)
    if n and not np.issubdtype(arr.dtype, np.integer):
        raise InvalidParameterError(f"{name} must hold integers, got dtype {arr.dtype}")
    check_range(arr, name, low=low, high=high)
    return arr.astype(np.int64, copy=False)


def check_positive_densities(x: object, name: str, *, n: int) -> np.ndarray:
    """Finite densities ``(n,)`` > 0 (m^-2, e.g. total dislocation densities), as float64."""
    arr = as_array(x, name, shape=(n,), dtype=np.float64)
    if arr.size and (arr <= 0).any():
        raise InvalidParameterError(f"{name} must be > 0 m^-2, got min {arr.min()!r}")
    return arr


def check_same_length(**arrays: np.ndarray) -> int:
    """Check that all arrays have the same first dimension; return it."""
    lengths = {k: int(np.shape(v)[0]) if np.ndim(v) else 0 for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ShapeError(f"{', '.join(lengths)} must have the same length, got {lengths}")
    return next(iter(lengths.values()), 0)
