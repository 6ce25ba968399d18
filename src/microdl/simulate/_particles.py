"""Periodic particle microstructures (random sequential addition), and the grid and orientation
helpers shared with :mod:`microdl.simulate.microstructure`.

Conventions (those of :mod:`microdl.simulate.microstructure`): voxel ``i`` along an axis has its
centre at coordinate ``i`` (it covers ``[i - 1/2, i + 1/2)``), lengths are in voxels, and the
grid is periodic, so coordinate ``x`` and ``x + n`` are the same point.

Orientations are passive rotation matrices ``g`` (sample frame -> particle frame), as the Bunge
convention of :mod:`microdl.features.crystal`: the particle's (or the correlation ellipsoid's)
axis ``i`` points along row ``i`` of ``g`` in the array frame.

* 2D: one angle ``theta`` (degrees), ``g = [[cos, sin], [-sin, cos]]``: axis 0 is turned by
  ``theta`` from array axis 0 towards array axis 1.
* 3D: Bunge Euler angles ``(phi1, Phi, phi2)`` (degrees, ZXZ), ``g = Z(phi2) X(Phi) Z(phi1)``;
  ``(phi1, 0, 0)`` is the 2D rotation by ``phi1`` about array axis 2.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from microdl._rng import RandomLike, as_generator
from microdl.exceptions import InvalidParameterError, check_int

__all__ = ["ParticlePacking", "particles", "particles_with_centres", "rotation_from_angles"]

DEFAULT_MAX_TRIES = 20_000


# --------------------------------------------------------------------------- shared checks
def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_shape(shape: Any) -> tuple[int, ...]:
    """``shape`` as a tuple of 2 or 3 integers >= 2 (voxels per axis)."""
    if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence | np.ndarray):
        raise InvalidParameterError(f"shape must be a sequence (nx, ny) or (nx, ny, nz) of voxel counts, "
                                    f"got {shape!r}")
    dims = tuple(shape)
    if len(dims) not in (2, 3):
        raise InvalidParameterError(f"shape must have 2 or 3 entries (nx, ny[, nz]), got {len(dims)}: {shape!r}")
    for i, n in enumerate(dims):
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 2:
            raise InvalidParameterError(f"shape entries must be integers >= 2, got shape[{i}] = {n!r}")
    return tuple(int(n) for n in dims)


def _check_fraction(name: str, value: Any) -> float:
    """A single volume fraction strictly between 0 and 1."""
    if not _is_real(value) or not 0.0 < float(value) < 1.0:
        raise InvalidParameterError(f"{name} must be a number in (0, 1), got {value!r}")
    return float(value)


def _check_per_axis(name: str, value: Any, ndim: int, *, low: float = 0.0) -> np.ndarray:
    """A positive finite number, or one per axis, as a float array of length ``ndim``."""
    values = [value] if _is_real(value) else value
    if isinstance(values, (str, bytes)) or not isinstance(values, Sequence | np.ndarray):
        raise InvalidParameterError(f"{name} must be a number or a sequence of {ndim} numbers, got {value!r}")
    values = list(values)
    if len(values) == 1:
        values = values * ndim
    if len(values) != ndim:
        raise InvalidParameterError(f"{name} must be one number or {ndim} (one per axis of the {ndim}D shape), "
                                    f"got {len(values)}: {value!r}")
    for v in values:
        if not _is_real(v) or not math.isfinite(v) or v <= low:
            raise InvalidParameterError(f"{name} entries must be finite numbers > {low:g}, got {value!r}")
    return np.asarray(values, dtype=float)


def rotation_from_angles(angles: Any, ndim: int, *, name: str = "angles") -> np.ndarray:
    """Passive rotation matrix ``g`` (``ndim x ndim``) of ``angles`` in degrees (see the module notes).

    2D: one number; 3D: three Bunge Euler angles ``(phi1, Phi, phi2)``.
    """
    if ndim == 2:
        if not _is_real(angles) or not math.isfinite(angles):
            raise InvalidParameterError(f"{name} must be one finite angle in degrees for a 2D shape, got {angles!r}")
        t = math.radians(angles)
        c, s = math.cos(t), math.sin(t)
        return np.array([[c, s], [-s, c]])
    if (isinstance(angles, (str, bytes)) or not isinstance(angles, Sequence | np.ndarray) or len(angles) != 3
            or not all(_is_real(a) and math.isfinite(a) for a in angles)):
        raise InvalidParameterError(f"{name} must be three finite Bunge Euler angles (phi1, Phi, phi2) in degrees "
                                    f"for a 3D shape, got {angles!r}")
    p1, p, p2 = (math.radians(a) for a in angles)
    c1, c, c2, s1, s, s2 = math.cos(p1), math.cos(p), math.cos(p2), math.sin(p1), math.sin(p), math.sin(p2)
    return np.array([
        [c1 * c2 - s1 * s2 * c, s1 * c2 + c1 * s2 * c, s2 * s],
        [-c1 * s2 - s1 * c2 * c, -s1 * s2 + c1 * c2 * c, c2 * s],
        [s1 * s, -c1 * s, c],
    ])


def _random_rotation(rng: np.random.Generator, ndim: int) -> np.ndarray:
    """A uniformly distributed (Haar) random rotation."""
    if ndim == 2:
        return rotation_from_angles(float(rng.uniform(0.0, 360.0)), 2)
    w, x, y, z = (q := rng.standard_normal(4)) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])


# --------------------------------------------------------------------------- particles
class ParticlePacking(NamedTuple):
    """A particle microstructure and the particles that make it (``m`` particles, ``d`` dimensions)."""

    labels: np.ndarray
    """``uint8`` labels of ``shape``: 0 matrix, 1 particle."""
    centres: np.ndarray
    """``(m, d)`` particle centres in voxel coordinates, in ``[0, shape)``."""
    semi_axes: np.ndarray
    """``(m, d)`` semi-axes in voxels, along the particle axes (rows of ``rotations``)."""
    rotations: np.ndarray
    """``(m, d, d)`` passive rotation matrices; particle axis ``i`` points along ``rotations[k, i]``."""
    volume_fraction: float
    """Fraction of particle voxels reached."""


def _voxels(centre: np.ndarray, semi: np.ndarray, g: np.ndarray, shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    """Index arrays (wrapped periodically) of the voxels whose centres lie in the ellipsoid
    ``sum_i ((g (p - centre))_i / semi_i)^2 <= 1``."""
    ext = np.sqrt(((semi[:, None] * g) ** 2).sum(axis=0))  # half extent along each array axis
    ranges = [np.arange(math.ceil(c - e), math.floor(c + e) + 1) for c, e in zip(centre, ext, strict=True)]
    grids = np.meshgrid(*ranges, indexing="ij", copy=False)
    local = np.stack([gr - c for gr, c in zip(grids, centre, strict=True)], axis=-1) @ g.T
    inside = ((local / semi) ** 2).sum(axis=-1) <= 1.0
    return tuple(np.broadcast_to(gr, inside.shape)[inside] % n for gr, n in zip(grids, shape, strict=True))


def _check_particle_args(shape, volume_fraction, radius, aspect, angles, max_tries):
    dims = _check_shape(shape)
    ndim = len(dims)
    target = _check_fraction("volume_fraction", volume_fraction)
    if _is_real(radius):
        low = high = float(radius)
    elif (isinstance(radius, Sequence | np.ndarray) and not isinstance(radius, (str, bytes)) and len(radius) == 2
          and all(_is_real(r) for r in radius)):
        low, high = float(radius[0]), float(radius[1])
        if not low <= high:
            raise InvalidParameterError(f"radius (low, high) needs low <= high, got {radius!r}")
    else:
        raise InvalidParameterError(f"radius must be a number of voxels or a (low, high) range, got {radius!r}")
    if not (math.isfinite(low) and math.isfinite(high) and low > 0):
        raise InvalidParameterError(f"radius must be finite and > 0 voxels, got {radius!r}")
    ratios = np.ones(ndim) if aspect is None else _check_per_axis("aspect", aspect, ndim)
    if low * ratios.min() < 0.5:
        raise InvalidParameterError(
            f"radius * aspect must be >= 0.5 voxel on every axis (smaller particles are not resolved on the grid), "
            f"got smallest semi-axis {low * ratios.min():g} (radius {radius!r}, aspect {aspect!r})")
    if 2 * high * ratios.max() >= min(dims):
        raise InvalidParameterError(
            f"radius too large for the box: the largest semi-axis (radius * aspect = {high * ratios.max():g} voxels) "
            f"must be below half the smallest box size ({min(dims)} voxels)")
    fixed = None if angles is None else rotation_from_angles(angles, ndim)
    check_int("max_tries", max_tries, 1)
    return dims, target, (low, high), ratios, fixed


def particles_with_centres(shape: Sequence[int], volume_fraction: float, radius: float | tuple[float, float], *,
                           aspect: Sequence[float] | None = None, angles: Any = None, overlap: bool = False,
                           seed: RandomLike = None, max_tries: int = DEFAULT_MAX_TRIES) -> ParticlePacking:
    """Periodic particles (discs / ellipses in 2D, spheres / ellipsoids in 3D) in a matrix, with their geometry.

    Random sequential addition: candidates are drawn one after another (radius, then orientation,
    then a centre uniform in the box) and placed if allowed, until the particle voxels reach the
    target fraction. Particles wrap around the periodic boundaries.

    Parameters
    ----------
    shape
        ``(nx, ny)`` or ``(nx, ny, nz)`` voxels, each >= 2.
    volume_fraction
        Target fraction of particle voxels, in ``(0, 1)``.
    radius
        Particle radius in voxels, or ``(low, high)``: each particle's radius uniform in that range.
    aspect
        Semi-axis ratios, one per axis (or one number for all): the semi-axes are
        ``radius * aspect``. ``None``: spheres / discs. Every semi-axis must be >= 0.5 voxel and
        the largest below half the smallest box size.
    angles
        Particle orientation in degrees (2D: one angle; 3D: Bunge ``(phi1, Phi, phi2)``; the
        conventions of the module notes), the same for every particle; ``None``: a uniformly
        random orientation per particle (spheres and discs keep the identity).
    overlap
        ``False`` (default): hard particles. A candidate is rejected when one of its voxels is
        already a particle voxel (a voxel-exact check against the occupied grid, not a geometric
        one). Touching is allowed: voxels of two particles may be face neighbours, so particles
        can form face-connected clusters in the labels. ``True``: candidates are never rejected
        for overlap (a Boolean model); overlapping particles merge.
    seed
        Seed or :class:`numpy.random.Generator`; the same seed gives the same packing.
    max_tries
        Consecutive unsuccessful candidates (rejected, or adding no new voxel) after which the
        packing counts as jammed.

    Returns
    -------
    ParticlePacking
        ``labels`` (``uint8``, 0 matrix, 1 particles), ``centres``, ``semi_axes``, ``rotations``
        and the ``volume_fraction`` reached.

    Tolerance
    ---------
    A candidate that would pass the target is placed only if that leaves the fraction closer to
    the target than stopping short (the first particle is always placed); either way the packing
    stops there. So the fraction reached is within half a particle of the target:
    ``|reached - target| <= v / (2 N)`` with ``v`` the voxel count of that last candidate and ``N``
    the number of voxels (unless a single particle is more than twice the target).

    Raises
    ------
    InvalidParameterError
        Bad arguments, or jamming: ``max_tries`` consecutive candidates failed before the target
        (the message gives the fraction reached).
    """
    dims, target, (low, high), ratios, fixed = _check_particle_args(shape, volume_fraction, radius, aspect, angles,
                                                                    max_tries)
    rng = as_generator(seed)
    ndim, total = len(dims), math.prod(dims)
    goal = target * total
    occupied = np.zeros(dims, dtype=bool)
    spherical = bool(np.all(ratios == ratios[0]))
    centres, semis, rotations = [], [], []
    filled, failures = 0, 0
    while filled < goal:
        r = low if low == high else float(rng.uniform(low, high))
        g = fixed if fixed is not None else (np.eye(ndim) if spherical else _random_rotation(rng, ndim))
        centre = rng.random(ndim) * np.asarray(dims)
        semi = r * ratios
        near = np.rint(centre)  # quick rejection: the voxel nearest the centre is taken and inside
        if (not overlap and occupied[tuple(near.astype(np.int64) % dims)]
                and (((g @ (near - centre)) / semi) ** 2).sum() <= 1.0):
            new = 0
        else:
            idx = _voxels(centre, semi, g, dims)
            hit = occupied[idx]
            new = int(hit.size - np.count_nonzero(hit)) if overlap else (0 if hit.any() else hit.size)
        if new == 0:
            failures += 1
            if failures >= max_tries:
                raise InvalidParameterError(
                    f"particles jammed: reached volume fraction {filled / total:.4f} of the requested {target:g} "
                    f"after {max_tries} unsuccessful placements in a row ({len(centres)} particles); use smaller "
                    f"particles (radius), a lower volume_fraction, a larger max_tries or overlap=True")
            continue
        failures = 0
        if filled + new > goal and centres and filled + new - goal > goal - filled:
            break  # stopping short is closer to the target than this last particle
        occupied[idx] = True
        filled += new
        centres.append(centre)
        semis.append(semi)
        rotations.append(g)
    return ParticlePacking(labels=occupied.astype(np.uint8), centres=np.array(centres).reshape(-1, ndim),
                           semi_axes=np.array(semis).reshape(-1, ndim),
                           rotations=np.array(rotations).reshape(-1, ndim, ndim), volume_fraction=filled / total)


def particles(shape: Sequence[int], volume_fraction: float, radius: float | tuple[float, float], *,
              aspect: Sequence[float] | None = None, angles: Any = None, overlap: bool = False,
              seed: RandomLike = None, max_tries: int = DEFAULT_MAX_TRIES) -> np.ndarray:
    """Periodic particle microstructure as ``uint8`` labels (0 matrix, 1 particles).

    The labels of :func:`particles_with_centres` (same arguments, same seed, same result); see
    there for the placement rules, the tolerance on the fraction and the jamming error.
    """
    return particles_with_centres(shape, volume_fraction, radius, aspect=aspect, angles=angles, overlap=overlap,
                                  seed=seed, max_tries=max_tries).labels
