"""Settings of the random-line GND generator and the density unit they imply (Zhang & Ngan 2019, §2.2).

:class:`GNDLineConfig` holds every choice of :mod:`microdl.simulate.gnd_lines`; :func:`rho_unit`
derives the density of one pixel-length of line, ``1 / (s b)``, the one place this unit is computed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from microdl.exceptions import InvalidParameterError, check_int

__all__ = ["PAPER_SPLITS", "RHO_UNIT_PER_M2", "WALKS", "GNDLineConfig", "density_per_pixel_length", "rho_unit"]

#: Total windows per split in Zhang & Ngan (2019) §2.2 (balanced: per class = total / 5).
PAPER_SPLITS: dict[str, int] = {"train": 500_000, "val": 100_000, "test": 100_000}

WALKS = ("random", "self-avoiding")
"""Walk rules of :class:`GNDLineConfig` (``walk``)."""


def _check_float(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise InvalidParameterError(f"{name} must be a real number, got {value!r}")
    if not math.isfinite(float(value)) or float(value) <= 0.0:
        raise InvalidParameterError(f"{name} must be a finite number > 0, got {value!r}")


@dataclass(frozen=True)
class GNDLineConfig:
    """Parameters of the random-line GND dataset (Zhang & Ngan 2019, §2.2).

    Parameters
    ----------
    grid_pixels
        Side of the simulated map in pixels (paper: 21).
    window
        Side of the square input window in pixels, odd (paper: 7).
    pixel_size_um
        Pixel side ``s`` in µm (paper: 3/7 µm).
    plane_thickness_m
        Slip-plane thickness ``b`` in m (paper: 3 Å); ``rho = l / (s^2 b)``.
    n_min, n_max
        Classes of the centre-pixel line count ``N`` kept, balanced (paper: 1..5).
    lines_per_map_min, lines_per_map_max
        Number of lines per training map, uniform on this inclusive range.
        ``lines_per_map_max`` must be >= ``n_max`` (a pixel cannot be crossed by
        more distinct lines than the map has).
    min_walk_nodes
        Walks with fewer nodes are redrawn; ``None`` means ``grid_pixels + 1``
        (for the map actually simulated). At least 2.
    max_walk_nodes
        Walks reaching this many nodes without hitting the boundary are redrawn;
        ``None`` means ``3 * (grid_pixels + 1)``.
    spline_samples_per_span
        B-spline sample points per node interval (>= 1); the smoothed line is the
        polyline through these samples.
    windows_per_map_per_class
        At most this many windows of each class are cut from one map.
    walk
        ``"random"`` (default): each step goes to a uniformly chosen neighbouring edge other
        than the one it came from, so a line may cross itself; ``"self-avoiding"``: edges a
        line has visited are excluded (the authors' walks are self-avoiding, and straighter:
        ``benchmarks/gnd/generate_stats.md`` compares the statistics of both).

    Raises
    ------
    InvalidParameterError
        For any value out of range; the message names the parameter.

    References
    ----------
    Zhang, Y. & Ngan, A. H. W. (2019). Extracting dislocation microstructures by
    deep learning. *Int. J. Plasticity*.
    """

    grid_pixels: int = 21
    window: int = 7
    pixel_size_um: float = 3 / 7
    plane_thickness_m: float = 3e-10
    n_min: int = 1
    n_max: int = 5
    lines_per_map_min: int = 1
    lines_per_map_max: int = 60
    min_walk_nodes: int | None = None
    max_walk_nodes: int | None = None
    spline_samples_per_span: int = 6
    windows_per_map_per_class: int = 8
    walk: str = "random"

    def __post_init__(self) -> None:
        check_int("window", self.window, 1)
        if self.window % 2 != 1:
            raise InvalidParameterError(f"window must be odd, got {self.window!r}")
        check_int("grid_pixels", self.grid_pixels, max(self.window, 2))
        _check_float("pixel_size_um", self.pixel_size_um)
        _check_float("plane_thickness_m", self.plane_thickness_m)
        check_int("n_min", self.n_min, 1)
        check_int("n_max", self.n_max, self.n_min)
        check_int("lines_per_map_min", self.lines_per_map_min, 1)
        check_int("lines_per_map_max", self.lines_per_map_max, self.lines_per_map_min)
        if self.lines_per_map_max < self.n_max:
            raise InvalidParameterError(
                f"lines_per_map_max must be >= n_max={self.n_max} so that every class can "
                f"occur, got {self.lines_per_map_max!r}")
        if self.min_walk_nodes is not None:
            check_int("min_walk_nodes", self.min_walk_nodes, 2)
        if self.max_walk_nodes is not None:
            low = max(3, (self.min_walk_nodes or self.grid_pixels + 1) + 1)
            check_int("max_walk_nodes", self.max_walk_nodes, low)
        check_int("spline_samples_per_span", self.spline_samples_per_span, 1, 1000)
        check_int("windows_per_map_per_class", self.windows_per_map_per_class, 1)
        if self.walk not in WALKS:
            raise InvalidParameterError(f"walk must be one of {list(WALKS)}, got {self.walk!r}")

    @property
    def avoid(self) -> bool:
        """Whether walks are self-avoiding."""
        return self.walk == "self-avoiding"

    def walk_limits(self, grid_pixels: int | None = None) -> tuple[int, int]:
        """Return ``(min_walk_nodes, max_walk_nodes)`` resolved for a map of ``grid_pixels``."""
        g = self.grid_pixels if grid_pixels is None else grid_pixels
        lo = g + 1 if self.min_walk_nodes is None else self.min_walk_nodes
        hi = 3 * (g + 1) if self.max_walk_nodes is None else self.max_walk_nodes
        if hi <= lo:
            raise InvalidParameterError(
                f"max_walk_nodes must be > min_walk_nodes={lo} for a {g} x {g} map, got {hi}")
        return lo, hi


def density_per_pixel_length(pixel_size_um: float, plane_thickness_m: float) -> float:
    """Density in m^-2 of one pixel-length of line inside one pixel: ``1 / (s b)``.

    A line of length ``l = L s`` (``L`` in pixels) in a pixel of side ``s`` gives
    ``rho = l / (s^2 b) = L / (s b)``. For ``s = 3/7`` µm and ``b = 3`` Å this is
    about 7.78e15 m^-2.
    """
    _check_float("pixel_size_um", pixel_size_um)
    _check_float("plane_thickness_m", plane_thickness_m)
    return 1.0 / (pixel_size_um * 1e-6 * plane_thickness_m)


def rho_unit(config: GNDLineConfig | None = None) -> float:
    """The density unit of a GND map, ``1 / (s b)`` in m^-2: one pixel-length of line in one pixel.

    Every density of :func:`pixel_densities` is a line length in pixels times this unit, so it
    is the natural scale of the inputs and targets of the GND models (their ``rho_unit_per_m2``
    default, :data:`RHO_UNIT_PER_M2`). With the paper's text (``s = 3/7`` µm, ``b = 3`` Å) it is
    7.78e15 m^-2. The authors' code uses ``s = 30/7`` µm, ten times the text's, hence a unit of
    7.78e14 m^-2, and labels windows with ``|rho_GND|`` of the centre pixel; those two together
    give exactly the paper's range of 1e13-1e16 m^-2 with a mean of ~1e15 (``docs/gnd.md``).
    """
    c = config if config is not None else GNDLineConfig()
    return density_per_pixel_length(c.pixel_size_um, c.plane_thickness_m)


RHO_UNIT_PER_M2: float = rho_unit()
"""Default density unit of the GND models and losses: :func:`rho_unit` of the default
:class:`GNDLineConfig` (``1 / (s b)`` = 7.78e15 m^-2)."""
