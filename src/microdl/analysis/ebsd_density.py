"""Total dislocation density of an EBSD map from its GND windows (Zhang & Ngan 2019, section 4).

Per slip system ``alpha`` (an edge type ``(b, n x b)`` and the screw type of the same ``b``;
screws are shared by the planes of one ``b``), the GND map has two channels, screw and
edge density (m^-2), and the GND vector field ``rho^alpha = rho_screw b/|b| + rho_edge l_edge``
(sample frame). Continuous lines make it divergence-free; the paper keeps a 7 x 7 window of
system ``alpha`` when the sum over its 49 pixels of ``|div rho^alpha|`` (central differences
of the in-plane components, per step: m^-2) is below ``2e11`` m^-2, then averages the
network's ``rho_t`` over the kept windows.

Step size. The network learned line patterns at the pixel size of its training maps
(``s0 = 3/7`` µm for the shipped ``zhang2019-gnd``): one pixel-length of line in one pixel
is ``1 / (s0 t)``. A map at step ``s`` holds densities in units of ``1 / (s t)``, so
``step_policy="rescale"`` feeds ``rho * s / s0`` and scales the predicted ``rho_t`` back by
``s0 / s``; ``"refuse"`` raises unless the steps agree within 1 %; ``"none"`` feeds the
densities as they are, mixing the units (what the paper did with its 0.1 µm maps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from microdl.analysis.ebsd_gnd import EBSDGND
from microdl.exceptions import InvalidParameterError
from microdl.features.crystal import euler_to_matrix
from microdl.io.ebsd import EBSDMap

__all__ = [
    "GNDWindows",
    "STEP_POLICIES",
    "TRAINING_WINDOW_MEAN_UNITS",
    "gnd_windows",
    "slip_system_maps",
    "step_factor",
    "training_range_fraction",
]

STEP_POLICIES = ("rescale", "refuse", "none")
WINDOW = 7

#: Central 98 % (1st-99th percentile) of the mean |rho_GND| of a window in the data the shipped GND
#: models learned from, in units of one pixel-length of line per pixel (``1 / (s0 t)`` = 7.78e15 m^-2):
#: 5,000 validation windows of ``microdl gnd benchmark --preset cpu`` (random walks, seed 0).
TRAINING_WINDOW_MEAN_UNITS = (0.205, 1.547)


def training_range_fraction(windows: np.ndarray, factor: float, rho_unit: float) -> tuple[float, float]:
    """Fraction of ``(n, 7, 7, 3)`` windows (m^-2) whose mean magnitude, times ``factor``, lies in
    :data:`TRAINING_WINDOW_MEAN_UNITS` (of ``rho_unit``), and their median in that unit."""
    mean = windows[..., 2].mean(axis=(1, 2)) * factor / rho_unit
    lo, hi = TRAINING_WINDOW_MEAN_UNITS
    return float(np.mean((mean >= lo) & (mean <= hi))), float(np.median(mean))


def slip_system_maps(m: EBSDMap, res: EBSDGND) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Per slip system: ``channels (ny, nx, S, 2)`` = [screw, edge] densities (m^-2) and the
    in-plane GND vector ``(ny, nx, S, 2)`` (x, y; m^-2); NaN where not used. Also the systems'
    names (``"<edge family> #k"``)."""
    types = res.types
    edges = [i for i, f in enumerate(types.family) if "edge" in f]
    screws = [i for i, f in enumerate(types.family) if "screw" in f]
    bhat = types.burgers / np.linalg.norm(types.burgers, axis=1, keepdims=True)
    pairs, names = [], []
    for k, e in enumerate(edges):
        dots = [float(bhat[e] @ bhat[s]) for s in screws]
        j = int(np.argmax(np.abs(dots)))
        pairs.append((e, screws[j], np.sign(dots[j])))
        names.append(f"{types.family[e]} #{k}")
    g = euler_to_matrix(np.where(res.used[..., None], m.euler, np.nan))
    n_s = len(pairs)
    channels = np.full(res.rho.shape[:2] + (n_s, 2), np.nan)
    vec = np.full(res.rho.shape[:2] + (n_s, 2), np.nan)
    for k, (e, s, sign) in enumerate(pairs):
        rho_s = sign * res.rho[..., s]  # screw density counted along the edge's b
        rho_e = res.rho[..., e]
        channels[..., k, 0] = rho_s
        channels[..., k, 1] = rho_e
        l_screw = np.einsum("...ji,j->...i", g, bhat[e])  # sample frame: g^T l
        l_edge = np.einsum("...ji,j->...i", g, types.line[e])
        v = rho_s[..., None] * l_screw + rho_e[..., None] * l_edge
        vec[..., k, :] = v[..., :2]
    return channels, vec, names


def _divergence(vec: np.ndarray) -> np.ndarray:
    """Central-difference divergence per step (m^-2) of ``(ny, nx, S, 2)``; NaN at edges and gaps."""
    div = np.full(vec.shape[:3], np.nan)
    div[1:-1, 1:-1] = 0.5 * (vec[1:-1, 2:, :, 0] - vec[1:-1, :-2, :, 0]) + 0.5 * (
        vec[2:, 1:-1, :, 1] - vec[:-2, 1:-1, :, 1]
    )
    return div


def step_factor(step_um: float, model_step_um: float, policy: str) -> float:
    """Factor applied to the map's densities before the network (``1 / factor`` to its output)."""
    if policy not in STEP_POLICIES:
        raise InvalidParameterError(f"step_policy must be one of {STEP_POLICIES}, got {policy!r}")
    if policy == "none":
        return 1.0
    if policy == "refuse" and abs(step_um / model_step_um - 1) > 0.01:
        raise InvalidParameterError(
            f"the map's step is {step_um:g} µm but the network learned GND line patterns at {model_step_um:.4g} µm "
            "pixels: a density of one line per pixel means a different number at each step. Use "
            "--step-policy rescale (step_policy='rescale': densities scaled by step / training step and back), "
            "or measure at the training step"
        )
    return step_um / model_step_um


@dataclass
class GNDWindows:
    """The 7 x 7 windows of an EBSD GND map that pass the divergence filter.

    ``windows (n, 7, 7, 3)`` m^-2 [screw, edge, magnitude] as measured (not rescaled);
    ``centre (n, 2)`` (row, col) and ``system (n,)`` index of each; ``div_sum`` the sum of
    ``|div|`` (m^-2) of every complete (window, system) candidate; ``names`` of the systems and
    their full ``channels`` maps.
    """

    windows: np.ndarray
    centre: np.ndarray
    system: np.ndarray
    div_sum: np.ndarray
    names: list[str]
    threshold: float
    channels: np.ndarray  # (ny, nx, S, 2) [screw, edge] of every slip system (slip_system_maps)

    def summary(self) -> dict[str, Any]:
        d = self.div_sum[np.isfinite(self.div_sum)]
        return {
            "n_windows": int(len(self.windows)),
            "n_candidates": int(d.size),
            "n_centres": int(len({tuple(c) for c in self.centre.tolist()})),
            "div_threshold_per_m2": float(self.threshold),
            "div_sum_percentiles_per_m2": {str(p): float(np.percentile(d, p)) for p in (1, 10, 50)}
            if d.size
            else {},
        }


def gnd_windows(m: EBSDMap, res: EBSDGND, *, threshold: float = 2e11, min_density: float = 0.0) -> GNDWindows:
    """Windows of every slip system whose 49 pixels are all used and whose ``sum |div|`` is below
    ``threshold`` (m^-2, per step), with a mean magnitude above ``min_density`` (m^-2)."""
    if not threshold > 0:
        raise InvalidParameterError(f"threshold must be positive, got {threshold}")
    channels, vec, names = slip_system_maps(m, res)
    div = np.abs(_divergence(vec))
    ny, nx, n_s = div.shape
    h = WINDOW // 2
    if ny < WINDOW or nx < WINDOW:
        raise InvalidParameterError(f"the map ({ny} x {nx}) is smaller than one {WINDOW} x {WINDOW} window")
    # window sums by a 2D cumulative sum; NaN anywhere in the window makes it incomplete
    finite = np.isfinite(div) & np.all(np.isfinite(channels), axis=-1)

    def box(a):
        c = np.zeros((ny + 1, nx + 1) + a.shape[2:])
        c[1:, 1:] = np.cumsum(np.cumsum(a, 0), 1)
        return c[WINDOW:, WINDOW:] - c[:-WINDOW, WINDOW:] - c[WINDOW:, :-WINDOW] + c[:-WINDOW, :-WINDOW]

    div_sum = box(np.where(finite, div, 0.0))
    complete = box(finite.astype(float)) == WINDOW * WINDOW
    mag = np.hypot(channels[..., 0], channels[..., 1])
    mean_mag = box(np.where(finite, mag, 0.0)) / (WINDOW * WINDOW)
    div_sum = np.where(complete, div_sum, np.nan)
    keep = complete & (div_sum < threshold) & (mean_mag > min_density)
    r, c, s = np.nonzero(keep)
    wins = np.empty((len(r), WINDOW, WINDOW, 3))
    for k, (i, j, a) in enumerate(zip(r, c, s, strict=True)):
        wins[k, ..., :2] = channels[i : i + WINDOW, j : j + WINDOW, a, :]
    wins[..., 2] = np.hypot(wins[..., 0], wins[..., 1])
    return GNDWindows(
        windows=wins,
        centre=np.stack([r + h, c + h], 1),
        system=s,
        div_sum=div_sum.ravel(),
        names=names,
        threshold=float(threshold),
        channels=channels,
    )
