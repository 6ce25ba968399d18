"""Random dislocation-line maps and labelled GND windows (Zhang & Ngan 2019, §2.2).

A map is a ``G x G`` grid of square pixels of side ``s`` (default 21 x 21,
``s = 3/7`` µm) crossed by random, smooth dislocation lines that run from the map
boundary to the map boundary, all on one slip plane with Burgers vector along
``x``. For every pixel we compute, exactly (polyline clipped against the pixel
edges), the length ``l_i`` of each line ``i`` inside it and the vector
``l_i xi_i`` (``xi_i`` the unit line direction), and from these

* the GND density vector ``rho_GND = sum_i l_i xi_i / (s^2 b)`` (lines of
  opposite sense cancel), stored as channels ``[screw, edge]`` = ``[x, y]``
  components because ``b`` is along ``x``, plus its magnitude as a third channel;
* the total density ``rho_t = sum_i l_i / (s^2 b)``;
* the number ``N`` of distinct lines with ``l_i > 0``.

``b`` here is the paper's "slip-plane thickness" (3 Å), so densities are in m^-2.
Training windows are the ``7 x 7`` neighbourhoods of pixels whose window fits in
the map, labelled with ``(rho_t, N)`` of the centre pixel, balanced over
``N = n_min .. n_max``.

How lines are drawn (the paper's rule, and the choices it leaves open: walk
lengths, lines per map, windows per map) is described in ``docs/gnd.md``;
every choice is a field of :class:`GNDLineConfig`. Labelled windows as the
validated container: :func:`microdl.data.gnd.generate_windows`.

References
----------
Zhang, Y. & Ngan, A. H. W. (2019). Extracting dislocation microstructures by
deep learning. *International Journal of Plasticity*.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from microdl._rng import RandomLike, as_generator
from microdl.exceptions import InvalidParameterError, ShapeError, check_int
from microdl.simulate import _gnd_kernels as _k
from microdl.simulate.gnd_config import (
    PAPER_SPLITS,
    RHO_UNIT_PER_M2,
    WALKS,
    GNDLineConfig,
    density_per_pixel_length,
    rho_unit,
)

__all__ = [
    "PAPER_SPLITS",
    "RHO_UNIT_PER_M2",
    "WALKS",
    "GNDLineConfig",
    "GNDMap",
    "density_per_pixel_length",
    "generate_map",
    "pixel_densities",
    "rho_unit",
    "sample_windows",
]

_MAPS_PER_BATCH = 1024


@dataclass(frozen=True)
class GNDMap:
    """One simulated map.

    Attributes
    ----------
    gnd
        ``(H, W, 3)`` float32, m^-2; channels [screw (x), edge (y), |rho_GND|].
        Row ``iy``, column ``ix`` is the pixel ``x in [ix, ix+1), y in [iy, iy+1)``
        (pixel units; plot with ``origin="lower"``).
    rho_t
        ``(H, W)`` float64, m^-2, total density.
    n_lines
        ``(H, W)`` int64, number of distinct lines per pixel.
    lines
        Smoothed lines, each ``(k, 2)`` float64 polyline ``(x, y)`` in pixel units,
        oriented from its start to its end (this orientation is ``xi``).
    """

    gnd: np.ndarray
    rho_t: np.ndarray
    n_lines: np.ndarray
    lines: list[np.ndarray]


def _stack_gnd(g_xy: np.ndarray, factor: float) -> np.ndarray:
    out = np.empty(g_xy.shape[:-1] + (3,), np.float32)
    out[..., 0] = g_xy[..., 0] * factor
    out[..., 1] = g_xy[..., 1] * factor
    out[..., 2] = np.hypot(g_xy[..., 0], g_xy[..., 1]) * factor
    return out


def pixel_densities(
    lines: Sequence[np.ndarray],
    grid_pixels: int | tuple[int, int],
    pixel_size_um: float,
    plane_thickness_m: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact per-pixel GND vector, total density and line count of polylines.

    Every polyline segment is split at the pixel-grid lines it crosses; each
    piece is added to the pixel containing it (pieces outside the map are
    ignored, a piece lying exactly on a grid line goes to the pixel above/right).

    Parameters
    ----------
    lines
        Polylines, each ``(k, 2)`` with ``k >= 2`` points ``(x, y)`` in pixel units
        (the map spans ``[0, W] x [0, H]``); the point order gives the line sense.
    grid_pixels
        Map size: ``G`` for ``G x G`` or ``(H, W)``.
    pixel_size_um
        Pixel side ``s`` in µm.
    plane_thickness_m
        Slip-plane thickness ``b`` in m.

    Returns
    -------
    gnd_xy : ndarray, shape (H, W, 2), float64
        ``sum_i l_i xi_i / (s^2 b)`` in m^-2; ``[..., 0]`` is the x (screw, Burgers
        vector along x) and ``[..., 1]`` the y (edge) component.
    rho_t : ndarray, shape (H, W), float64
        ``sum_i l_i / (s^2 b)`` in m^-2.
    n_lines : ndarray, shape (H, W), int64
        Number of distinct lines with ``l_i > 0`` in the pixel.

    Raises
    ------
    ShapeError
        If a line is not a ``(k >= 2, 2)`` array.
    NonFiniteError
        If a line holds NaN or infinite coordinates.

    References
    ----------
    Zhang, Y. & Ngan, A. H. W. (2019). Extracting dislocation microstructures by
    deep learning. *Int. J. Plasticity* (§2.2: ``rho_i = l_i xi_i / (s^2 b)``).

    Examples
    --------
    >>> import numpy as np
    >>> g, rho, n = pixel_densities([np.array([[0.0, 0.5], [3.0, 0.5]])], (1, 3), 3 / 7, 3e-10)
    >>> bool(np.allclose(rho, 1 / (3 / 7 * 1e-6 * 3e-10))), n.tolist()
    (True, [[1, 1, 1]])
    """
    from microdl.exceptions import NonFiniteError

    if isinstance(grid_pixels, (tuple, list)):
        if len(grid_pixels) != 2:
            raise InvalidParameterError(f"grid_pixels must be G or (H, W), got {grid_pixels!r}")
        h, w = grid_pixels
    else:
        h = w = grid_pixels
    check_int("grid_pixels (height)", h, 1)
    check_int("grid_pixels (width)", w, 1)
    factor = density_per_pixel_length(pixel_size_um, plane_thickness_m)
    arrays = []
    for i, line in enumerate(lines):
        a = np.asarray(line, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != 2 or a.shape[0] < 2:
            raise ShapeError(f"lines[{i}] must have shape (k >= 2, 2), got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise NonFiniteError(f"lines[{i}] must hold finite coordinates, got NaN or inf")
        arrays.append(a)
    offsets = np.zeros(len(arrays) + 1, np.int64)
    offsets[1:] = np.cumsum([a.shape[0] for a in arrays])
    pts = np.concatenate(arrays) if arrays else np.empty((0, 2))
    g = np.zeros((h, w, 2))
    rho = np.zeros((h, w))
    cnt = np.zeros((h, w), np.int64)
    stamp = np.full((h, w), -1, np.int64)
    _k.accumulate_lines(pts, offsets, g, rho, cnt, stamp)
    return g * factor, rho * factor, cnt


def _split_lines(pts: np.ndarray, offsets: np.ndarray) -> list[np.ndarray]:
    return [pts[offsets[i]:offsets[i + 1]].copy() for i in range(offsets.shape[0] - 1)]


def generate_map(
    n_lines: int,
    *,
    config: GNDLineConfig = GNDLineConfig(),
    grid_pixels: int | None = None,
    rng: RandomLike = None,
) -> GNDMap:
    """Simulate one map with ``n_lines`` random smooth lines and its per-pixel densities.

    Parameters
    ----------
    n_lines
        Number of lines (>= 0).
    config
        Walk, smoothing and unit parameters; ``config.grid_pixels`` is the map
        size unless ``grid_pixels`` is given.
    grid_pixels
        Override the map side (e.g. 200 for whole-map demonstrations). Note that
        the walk is diffusive: on large maps lines stay, on average, closer to the
        boundary they start from unless they are very long.
    rng
        Generator, seed or ``None``.

    Returns
    -------
    GNDMap
        Densities in m^-2 and the smoothed lines in pixel units.

    References
    ----------
    Zhang, Y. & Ngan, A. H. W. (2019). Extracting dislocation microstructures by
    deep learning. *Int. J. Plasticity* (§2.2).

    Examples
    --------
    >>> m = generate_map(3, rng=0)
    >>> m.gnd.shape, len(m.lines)
    ((21, 21, 3), 3)
    """
    check_int("n_lines", n_lines, 0)
    g_px = config.grid_pixels if grid_pixels is None else grid_pixels
    check_int("grid_pixels", g_px, 2)
    lo, hi = config.walk_limits(g_px)
    gen = as_generator(rng)
    state = np.array([gen.integers(0, 2**63, dtype=np.uint64)], np.uint64)
    weights = _k.spline_weights(config.spline_samples_per_span)
    pts, offsets = _k.simulate_lines(state, n_lines, g_px, g_px, lo, hi, weights, config.avoid)
    return _map_from_lines(pts, offsets, g_px, config)


def _training_map(root: int, index: int, config: GNDLineConfig) -> GNDMap:
    """Map number ``index`` of a :func:`sample_windows` run with root seed ``root``.

    Private: lets tests check that every window and label is cut from the map it
    claims. Returns the densities in m^-2 and the lines.
    """
    lo, hi = config.walk_limits()
    weights = _k.spline_weights(config.spline_samples_per_span)
    gp = config.grid_pixels
    state = np.array([_k.map_seed(np.uint64(root), np.uint64(index))], np.uint64)
    n = config.lines_per_map_min + _k._randint(
        state, config.lines_per_map_max - config.lines_per_map_min + 1)
    pts, offsets = _k.simulate_lines(state, n, gp, gp, lo, hi, weights, config.avoid)
    return _map_from_lines(pts, offsets, gp, config)


def _map_from_lines(pts: np.ndarray, offsets: np.ndarray, g_px: int, config: GNDLineConfig) -> GNDMap:
    """Rasterise smoothed lines (concatenated ``pts``, split at ``offsets``) on a ``g_px`` grid."""
    g = np.zeros((g_px, g_px, 2))
    rho = np.zeros((g_px, g_px))
    cnt = np.zeros((g_px, g_px), np.int64)
    stamp = np.full((g_px, g_px), -1, np.int64)
    _k.accumulate_lines(pts, offsets, g, rho, cnt, stamp)
    factor = density_per_pixel_length(config.pixel_size_um, config.plane_thickness_m)
    return GNDMap(gnd=_stack_gnd(g, factor), rho_t=rho * factor, n_lines=cnt,
                  lines=_split_lines(pts, offsets))


WindowArrays = tuple[np.ndarray, np.ndarray, np.ndarray]
"""``(gnd (n, w, w, 3) float32 m^-2, rho_t (n,) float64 m^-2, n_lines (n,) int64)``."""


def _sample_windows_traced(
    n_per_class: int,
    config: GNDLineConfig,
    rng: RandomLike,
    progress: bool,
) -> tuple[WindowArrays, np.ndarray, int]:
    """:func:`sample_windows` plus, per window, (map index, row, col) and the root seed."""
    check_int("n_per_class", n_per_class, 0)
    gen = as_generator(rng)
    root = int(gen.integers(0, 2**63, dtype=np.uint64))
    n_classes = config.n_max - config.n_min + 1
    total = n_per_class * n_classes
    lo, hi = config.walk_limits()
    weights = _k.spline_weights(config.spline_samples_per_span)
    gp, w = config.grid_pixels, config.window
    h = w // 2
    factor = density_per_pixel_length(config.pixel_size_um, config.plane_thickness_m)

    gnd = np.empty((total, w, w, 3), np.float32)
    rho_t = np.empty(total, np.float64)
    n_lines = np.empty(total, np.int64)
    origin = np.empty((total, 3), np.int64)
    quota = np.full(n_classes, n_per_class, np.int64)
    filled = 0
    first = 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="GND windows", unit="win", file=sys.stderr)
    dr = np.arange(-h, h + 1)
    try:
        while filled < total:
            n_maps = _MAPS_PER_BATCH
            g, rho, cnt, cand = _k.simulate_batch(
                np.uint64(root), first, n_maps, gp, config.lines_per_map_min,
                config.lines_per_map_max, lo, hi, weights, w, config.n_min, config.n_max,
                config.windows_per_map_per_class, config.avoid)
            acc = _k.fill_quotas(cand, quota, config.n_min)
            a = acc.shape[0]
            if a:
                b, r, c = acc[:, 0], acc[:, 1], acc[:, 2]
                rows = (r[:, None] + dr[None, :])[:, :, None]
                cols = (c[:, None] + dr[None, :])[:, None, :]
                gnd[filled:filled + a] = _stack_gnd(g[b[:, None, None], rows, cols], factor)
                rho_t[filled:filled + a] = rho[b, r, c] * factor
                n_lines[filled:filled + a] = cnt[b, r, c]
                origin[filled:filled + a, 0] = first + b
                origin[filled:filled + a, 1] = r
                origin[filled:filled + a, 2] = c
                filled += a
                if bar is not None:
                    bar.update(a)
            first += n_maps
            if filled < total and first >= 200 * _MAPS_PER_BATCH:
                empty = [config.n_min + k for k in range(n_classes)
                         if quota[k] == n_per_class]
                if empty:
                    raise InvalidParameterError(
                        f"no window with N in {empty} after {first} maps; raise "
                        f"lines_per_map_max (got {config.lines_per_map_max}) or lower n_max "
                        f"(got {config.n_max})")
    finally:
        if bar is not None:
            bar.close()
    perm = gen.permutation(total)
    return (gnd[perm], rho_t[perm], n_lines[perm]), origin[perm], root


def sample_windows(
    n_per_class: int,
    *,
    config: GNDLineConfig = GNDLineConfig(),
    rng: RandomLike = None,
    progress: bool = False,
) -> WindowArrays:
    """Class-balanced GND windows cut from random line maps, as raw arrays (§2.2).

    Maps with a random number of lines are simulated in parallel batches; from
    each, up to ``config.windows_per_map_per_class`` windows per class are cut at
    random eligible centres (the window must fit in the map) until every class
    ``N = n_min .. n_max`` holds ``n_per_class`` windows. Windows and labels are
    then shuffled together. :func:`microdl.data.gnd.generate_windows` wraps the
    result in the validated :class:`~microdl.data.gnd.GNDWindows`.

    Parameters
    ----------
    n_per_class
        Windows per class; the result has ``n_per_class * (n_max - n_min + 1)``.
    config
        Dataset parameters.
    rng
        Generator, seed or ``None``. The same seed gives bit-identical arrays,
        independent of the number of threads.
    progress
        Show a tqdm progress bar on stderr.

    Returns
    -------
    gnd, rho_t, n_lines
        ``(n, w, w, 3)`` float32 m^-2 [screw, edge, |rho_GND|]; ``(n,)`` float64
        m^-2 and ``(n,)`` int64 of the centre pixel.

    Raises
    ------
    InvalidParameterError
        If ``n_per_class`` is negative or a class never occurs.

    Examples
    --------
    >>> gnd, rho_t, n_lines = sample_windows(10, rng=0)
    >>> gnd.shape, sorted(set(n_lines.tolist()))
    ((50, 7, 7, 3), [1, 2, 3, 4, 5])
    """
    arrays, _, _ = _sample_windows_traced(n_per_class, config, rng, progress)
    return arrays

