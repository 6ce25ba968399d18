"""Periodic n-phase microstructures on voxel grids (2D and 3D), as integer phase labels.

A microstructure here is an integer array of phase labels ``0 .. n_phases - 1`` on a regular
grid of 2 or 3 dimensions (axes ``x, y[, z]`` in array order), one voxel = one unit of length.
Every generator here is periodic (the grid wraps around), as FFT homogenisation needs, and
returns ``uint8`` labels:

* :func:`gaussian_random_field`: level cuts of a smoothed Gaussian noise, two or n phases, with
  exact phase fractions, isotropic or anisotropic and rotated correlation lengths, batched;
* :func:`particles` / :func:`particles_with_centres`: spheres, ellipsoids, discs or ellipses in
  a matrix by random sequential addition (in :mod:`microdl.simulate._particles`);
* :func:`laminate`: flat layers;
* :func:`volume_fractions` measures the phase fractions of labels.

Orientation conventions (shared with the particles): a passive rotation ``g`` maps the array
frame to the frame of the correlation lengths (or of a particle); axis ``i`` of that frame points
along row ``i`` of ``g``. 2D: one angle ``theta`` in degrees turns axis 0 towards array axis 1;
3D: Bunge Euler angles ``(phi1, Phi, phi2)`` in degrees, ``g = Z(phi2) X(Phi) Z(phi1)``, the
convention of :mod:`microdl.features.crystal`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from microdl._device import auto_device
from microdl._rng import RandomLike, as_generator
from microdl.exceptions import InvalidParameterError, NonFiniteError, ShapeError, check_int
from microdl.simulate._particles import (
    ParticlePacking,
    _check_fraction,
    _check_per_axis,
    _check_shape,
    _is_real,
    particles,
    particles_with_centres,
    rotation_from_angles,
)

__all__ = [
    "ParticlePacking",
    "check_microstructure",
    "gaussian_random_field",
    "laminate",
    "particles",
    "particles_with_centres",
    "rotation_from_angles",
    "volume_fractions",
]

MAX_PHASES = 256  # uint8 labels
_CHUNK_VOXELS = 1 << 24  # samples filtered together: about 64 MB of float32 noise per chunk


def check_microstructure(labels: Any, n_phases: int | None = None, *, name: str = "microstructure",
                         batched: bool = False) -> np.ndarray:
    """Return ``labels`` as an integer array of phase labels after checking it.

    Parameters
    ----------
    labels
        Array of phase labels, 2D ``(nx, ny)`` or 3D ``(nx, ny, nz)`` (with a leading sample axis
        when ``batched``). Integer values, or floats holding whole numbers (a NumPy file saved as
        float) are accepted; booleans are phase 0 / 1.
    n_phases
        Number of declared phases: every label must be in ``0 .. n_phases - 1``. ``None``: any
        non-negative labels.
    name
        Name used in messages (a file name, for example).
    batched
        ``labels`` has a leading sample axis.

    Returns
    -------
    ``np.ndarray`` of dtype ``int64`` (a view when already ``int64``).

    Raises
    ------
    ShapeError
        Not 2D/3D (plus the sample axis), or an empty axis.
    NonFiniteError
        NaN or infinite values.
    InvalidParameterError
        Non-integer values, negative labels, or labels ``>= n_phases``.
    """
    arr = np.asarray(labels)
    spatial = arr.ndim - (1 if batched else 0)
    if spatial not in (2, 3):
        lead = "(n, " if batched else "("
        raise ShapeError(f"{name} must be a 2D {lead}nx, ny) or 3D {lead}nx, ny, nz) array of phase labels, "
                         f"got shape {arr.shape}")
    if arr.size == 0:
        raise ShapeError(f"{name} must not be empty, got shape {arr.shape}")
    if arr.dtype.kind == "b":
        arr = arr.astype(np.int64)
    elif arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            bad = int((~np.isfinite(arr)).sum())
            raise NonFiniteError(f"{name} must hold finite phase labels, got {bad} NaN or infinite values")
        if not np.array_equal(arr, np.round(arr)):
            raise InvalidParameterError(
                f"{name} must hold integer phase labels 0, 1, ..., got non-integer values such as "
                f"{arr[arr != np.round(arr)].flat[0]!r} (threshold or segment the image first)")
    elif arr.dtype.kind not in "iu":
        raise InvalidParameterError(f"{name} must be an integer array of phase labels, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    low, high = int(arr.min()), int(arr.max())
    if low < 0:
        raise InvalidParameterError(f"{name} must hold phase labels >= 0, got {low}")
    if n_phases is not None and high >= n_phases:
        found = np.unique(arr)
        raise InvalidParameterError(
            f"{name} holds phase label {high} but {n_phases} phase(s) were declared (labels 0..{n_phases - 1}); "
            f"labels found: {found[:10].tolist()}{' ...' if found.size > 10 else ''}")
    return arr


# --------------------------------------------------------------------------- Gaussian random fields
def _check_fractions(volume_fraction: Any) -> np.ndarray:
    """Phase fractions: a float ``f`` is ``(1 - f, f)``; a sequence is one fraction per phase."""
    if _is_real(volume_fraction):
        f = _check_fraction("volume_fraction", volume_fraction)
        return np.array([1.0 - f, f])
    if isinstance(volume_fraction, (str, bytes)) or not isinstance(volume_fraction, Sequence | np.ndarray):
        raise InvalidParameterError(f"volume_fraction must be a number in (0, 1) (fraction of phase 1) or a "
                                    f"sequence of phase fractions summing to 1, got {volume_fraction!r}")
    values = list(volume_fraction)
    if not 2 <= len(values) <= MAX_PHASES:
        raise InvalidParameterError(f"volume_fraction as a sequence needs one fraction per phase, 2 to {MAX_PHASES} "
                                    f"phases, got {len(values)}: {volume_fraction!r}")
    if not all(_is_real(v) and 0.0 < v < 1.0 for v in values):
        raise InvalidParameterError(f"volume_fraction entries must be numbers in (0, 1), got {volume_fraction!r}")
    total = math.fsum(values)
    if abs(total - 1.0) > 1e-6:
        raise InvalidParameterError(f"volume_fraction entries must sum to 1, got sum {total:.6g}: {volume_fraction!r}")
    return np.asarray(values, dtype=float) / total


def _phase_bounds(fractions: np.ndarray, size: int) -> np.ndarray:
    """Cumulative voxel counts ``B_k = round(size * (f_0 + ... + f_{k-1}))``, ``k = 1 .. n-1``:
    phase ``k`` gets ``B_{k+1} - B_k`` voxels (``B_0 = 0``, ``B_n = size``), within one of
    ``f_k size``. Raises when a phase would get no voxel."""
    bounds = np.floor(np.cumsum(fractions)[:-1] * size + 0.5).astype(np.int64)
    counts = np.diff(np.concatenate([[0], bounds, [size]]))
    if counts.min() < 1:
        k = int(counts.argmin())
        raise InvalidParameterError(
            f"volume_fraction: phase {k} (fraction {fractions[k]:.3g}) gets 0 of the {size} voxels of a sample; "
            f"use a larger shape or a larger fraction")
    return bounds


def _gaussian_kernel(dims: tuple[int, ...], lengths: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The Fourier transform ``K(q) = exp(-q^T A q / 2)``, ``A = g^T diag(lengths^2) g``, on the
    wave vectors of an ``rfftn`` of ``dims`` (``q_j = 2 pi k_j / n_j`` rad/voxel, signed ``k_j``)."""
    freqs = [np.fft.fftfreq(n) for n in dims[:-1]] + [np.fft.rfftfreq(dims[-1])]
    q = np.meshgrid(*[2 * np.pi * f for f in freqs], indexing="ij", sparse=True)
    a = g.T @ np.diag(lengths ** 2) @ g
    quad = sum(a[i, j] * q[i] * q[j] for i in range(len(dims)) for j in range(len(dims)))
    return np.exp(-0.5 * quad)


def _quantile_labels(values: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """``uint8`` labels of ``values`` ``(m, N)``: per row, the ``B_1`` smallest values get phase 0, the
    next ``B_2 - B_1`` phase 1, and so on; exact counts, ties broken by position."""
    m, size = values.shape
    thresholds = np.partition(values, bounds - 1, axis=1)[:, bounds - 1]  # (m, n-1): B_k-th smallest
    labels = np.zeros((m, size), dtype=np.uint8)
    for k in range(len(bounds)):
        labels += values > thresholds[:, k:k + 1]
    # phases >= k must hold size - B_k voxels; a tie at a threshold breaks this: rank those rows
    above = np.stack([(labels > k).sum(axis=1) for k in range(len(bounds))], axis=1)
    counts = np.diff(np.concatenate([[0], bounds, [size]]))
    for row in np.flatnonzero((above != size - bounds).any(axis=1)):
        order = np.argsort(values[row], kind="stable")
        labels[row, order] = np.repeat(np.arange(len(counts), dtype=np.uint8), counts)
    return labels


def gaussian_random_field(shape: Sequence[int], volume_fraction: float | Sequence[float] = 0.5,
                          correlation_length: float | Sequence[float] = 4.0, *, angles: Any = None,
                          n: int | None = None, seed: RandomLike = None,
                          device: str | torch.device | None = None) -> np.ndarray:
    """Periodic two-phase or n-phase microstructures by level cuts of a smoothed Gaussian noise.

    White Gaussian noise on the grid is convolved periodically (in Fourier space) with a
    Gaussian kernel, then cut at the empirical quantiles of each sample, so every sample has
    exactly the requested phase fractions (to one voxel).

    Parameters
    ----------
    shape
        ``(nx, ny)`` or ``(nx, ny, nz)`` voxels, each an integer >= 2.
    volume_fraction
        A number in ``(0, 1)``: two phases, the fraction of phase 1. Or one fraction per phase,
        each in ``(0, 1)``, summing to 1 (``n_phases`` of them, labels ``0 .. n_phases - 1``).
        Phase 0 takes the lowest field values, the last phase the highest, so with three or
        more phases phase ``k`` borders phases ``k - 1`` and ``k + 1`` (a layered order).
        Phase ``k`` gets ``round(N F_{k+1}) - round(N F_k)`` of the ``N`` voxels of a sample
        (``F_k = f_0 + ... + f_{k-1}``), within one voxel of ``f_k N``; a phase that would get no
        voxel raises.
    correlation_length
        Standard deviation ``l`` in voxels of the Gaussian smoothing kernel
        ``k(r) ~ exp(-sum_i (g r)_i^2 / (2 l_i^2))``; one number (isotropic) or one per axis
        (anisotropic: ``l_i`` along axis ``i`` of the rotated frame, see ``angles``). The
        smoothed field then has the covariance ``exp(-sum_i (g r)_i^2 / (4 l_i^2))``
        (standard deviation ``sqrt(2) l``), and the phase regions are a few ``l`` across. The
        kernel is applied as ``K(q) = exp(-sum_i l_i^2 (g q)_i^2 / 2)`` on the discrete wave
        vectors of the grid (``q_j = 2 pi k_j / n_j``), i.e. the periodic sum of the Gaussian,
        band-limited to the grid; ``l`` well below 1 voxel gives nearly white noise, ``l``
        comparable to the box size a nearly uniform field.
    angles
        Orientation of the correlation-length axes in degrees: 2D one angle (axis 0 turned
        towards array axis 1), 3D Bunge Euler angles ``(phi1, Phi, phi2)`` (ZXZ), as in the
        module notes. ``None``: the axes of the array.
    n
        ``None``: one array of ``shape``; an integer >= 1: a batch ``(n, *shape)`` of independent samples.
    seed
        Seed or :class:`numpy.random.Generator`. The noise is drawn with NumPy (float32), sample
        after sample, so a seed gives the same labels on any device and sample ``i`` of a batch
        does not depend on the batch size (``n=1`` gives the first sample of ``n=10``). On a GPU,
        FFT round-off may move a voxel whose value sits at a threshold.
    device
        Where the FFTs run (torch, float32): ``"cpu"``, ``"cuda"``, ... ``None``: a GPU when
        present (:func:`microdl._device.auto_device`). The quantile cut runs on the CPU
        (NumPy partition, linear time).

    Returns
    -------
    ``np.ndarray`` of ``uint8`` phase labels, ``shape`` or ``(n, *shape)``.
    """
    dims = _check_shape(shape)
    ndim, size = len(dims), math.prod(dims)
    fractions = _check_fractions(volume_fraction)
    lengths = _check_per_axis("correlation_length", correlation_length, ndim)
    g = np.eye(ndim) if angles is None else rotation_from_angles(angles, ndim)
    if n is not None:
        check_int("n", n, 1)
    bounds = _phase_bounds(fractions, size)
    rng = as_generator(seed)
    dev = auto_device(device)
    kernel = torch.from_numpy(_gaussian_kernel(dims, lengths, g).astype(np.float32)).to(dev)
    batch = 1 if n is None else int(n)
    out = np.empty((batch, *dims), dtype=np.uint8)
    axes = tuple(range(1, ndim + 1))
    step = max(1, _CHUNK_VOXELS // size)
    for start in range(0, batch, step):
        m = min(step, batch - start)
        noise = torch.from_numpy(rng.standard_normal((m, *dims), dtype=np.float32)).to(dev)
        field = torch.fft.irfftn(torch.fft.rfftn(noise, dim=axes) * kernel, s=dims, dim=axes)
        values = field.reshape(m, size).cpu().numpy()
        out[start:start + m] = _quantile_labels(values, bounds).reshape(m, *dims)
    return out[0] if n is None else out


# --------------------------------------------------------------------------- laminates and fractions
def laminate(shape: Sequence[int], volume_fraction: float = 0.5, *, axis: int = 0, n_layers: int = 1) -> np.ndarray:
    """Periodic laminate: ``n_layers`` layers of phase 1 in phase 0, normal to ``axis``.

    The ``L`` voxels along ``axis`` are cut into ``n_layers`` periods starting at
    ``floor(j L / n_layers)`` (equal periods when ``n_layers`` divides ``L``, else lengths
    differing by one voxel). Each period starts with ``t = round(volume_fraction * L / n_layers)``
    voxels of phase 1 (halves rounded up), the rest phase 0; the fraction of phase 1 is
    ``n_layers * t / L``.

    Parameters
    ----------
    shape
        ``(nx, ny)`` or ``(nx, ny, nz)`` voxels, each >= 2.
    volume_fraction
        Target fraction of phase 1, in ``(0, 1)``.
    axis
        Layer normal (``-ndim .. ndim - 1``).
    n_layers
        Number of phase-1 layers (periods) along ``axis``, >= 1.

    Returns
    -------
    ``np.ndarray`` of ``uint8`` labels of ``shape``.

    Raises
    ------
    InvalidParameterError
        Bad arguments, or a fraction that gives a period no voxel of one of the phases.
    """
    dims = _check_shape(shape)
    ndim = len(dims)
    f = _check_fraction("volume_fraction", volume_fraction)
    check_int("axis", axis, -ndim, ndim - 1)
    length = dims[axis]
    check_int("n_layers", n_layers, 1, length // 2)  # each period needs one voxel of each phase
    starts = (np.arange(n_layers + 1) * length) // n_layers
    thick = math.floor(f * length / n_layers + 0.5)
    shortest = int(np.diff(starts).min())
    if not 1 <= thick < shortest:
        which = "phase 1" if thick < 1 else "phase 0"
        raise InvalidParameterError(
            f"volume_fraction {f:g} cannot be represented with {n_layers} layer(s) along axis {axis} "
            f"({length} voxels): round({f:g} * {length} / {n_layers}) = {thick} voxels of phase 1 per period of "
            f"{shortest} leaves no voxel of {which}; use fewer layers, a larger shape or another fraction")
    profile = np.zeros(length, dtype=np.uint8)
    for s in starts[:-1]:
        profile[s:s + thick] = 1
    view = [1] * ndim
    view[axis] = length
    return np.ascontiguousarray(np.broadcast_to(profile.reshape(view), dims))


def volume_fractions(labels: Any, n_phases: int | None = None, *, batched: bool | None = None) -> np.ndarray:
    """Fraction of voxels of each phase.

    Parameters
    ----------
    labels
        Phase labels, 2D or 3D, or a batch of them (see ``batched``).
    n_phases
        Number of phases (columns of the result); labels must be below it. ``None``: the
        largest label + 1 (over the whole batch).
    batched
        ``labels`` has a leading sample axis. ``None``: only when ``labels`` is 4D (a 3D array
        is one 3D microstructure; pass ``batched=True`` for a batch of 2D ones).

    Returns
    -------
    ``float64`` array ``(n_phases,)``, or ``(n, n_phases)`` for a batch; rows sum to 1.
    """
    if n_phases is not None:
        check_int("n_phases", n_phases, 1)
    arr = np.asarray(labels)
    if batched is None:
        batched = arr.ndim == 4
    lab = check_microstructure(arr, n_phases, name="labels", batched=bool(batched))
    k = int(lab.max()) + 1 if n_phases is None else int(n_phases)
    flat = lab.reshape(lab.shape[0] if batched else 1, -1)
    rows = flat.shape[0]
    counts = np.bincount((flat + k * np.arange(rows)[:, None]).ravel(), minlength=rows * k).reshape(rows, k)
    fractions = counts / flat.shape[1]
    return fractions if batched else fractions[0]
