"""GND densities of a real EBSD map: masks, curvature, Nye fit, statistics and figures.

The numbers behind ``microdl ebsd gnd``. The physics is in :mod:`microdl.features.nye`
and :mod:`microdl.features.crystal`; this module chooses the phase and its dislocation
types, masks unindexed, low-quality and boundary points, runs the fit and summarises it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from microdl.exceptions import DataFileError, InvalidParameterError
from microdl.features.crystal import DislocationTypes, dislocation_types, euler_to_matrix, symmetry_operators
from microdl.features.nye import fit_gnd, lattice_curvature, nye_measurable
from microdl.io.ebsd import EBSDMap, EBSDPhase

__all__ = [
    "EBSDGND",
    "default_quality_threshold",
    "ebsd_gnd",
    "gnd_map_figure",
    "lattice_of_phase",
    "plot_gnd_map",
]

_FCC_NAMES = (
    "alumin",
    "copper",
    "nickel",
    "austenite",
    "iron (gamma)",
    "iron-gamma",
    "gamma-fe",
    "silver",
    "gold",
    "fcc",
)
_BCC_NAMES = (
    "iron (alpha)",
    "iron-alpha",
    "alpha-fe",
    "ferrite",
    "iron",
    "fe",
    "tungsten",
    "molybdenum",
    "niobium",
    "tantalum",
    "bcc",
    "martensite",
)


def lattice_of_phase(phase: EBSDPhase) -> str:
    """``"bcc"``, ``"fcc"`` or ``"hcp"`` for a phase: hexagonal is hcp; cubic needs its name
    (iron/ferrite -> bcc, aluminium/copper/nickel/austenite -> fcc), otherwise pass ``lattice``."""
    if phase.crystal_system == "hexagonal":
        return "hcp"
    if phase.crystal_system == "cubic":
        name = phase.name.strip().lower()
        if any(k in name for k in _FCC_NAMES):
            return "fcc"
        if any(k in name for k in _BCC_NAMES):
            return "bcc"
        raise InvalidParameterError(
            f"phase {phase.name!r} is cubic but its name does not say bcc or fcc; pass lattice='bcc' or 'fcc'"
        )
    raise InvalidParameterError(
        f"phase {phase.name!r} is {phase.crystal_system}: GND types are built in for bcc, fcc and hcp only"
    )


def default_quality_threshold(m: EBSDMap) -> tuple[str, float]:
    """``("min", 0.1)`` (confidence index >= 0.1) for TSL .ang maps, ``("max", 1.5)`` (MAD <= 1.5
    degrees) for Oxford .ctf maps."""
    return ("max", 1.5) if m.source.lower().endswith(".ctf") else ("min", 0.1)


@dataclass
class EBSDGND:
    """GND densities of one phase of an EBSD map.

    Attributes
    ----------
    rho : ndarray, shape (ny, nx, n_types)
        Density of each dislocation type (m^-2, signed); NaN where not used.
    total : ndarray, shape (ny, nx)
        ``sum_t |rho_t|`` (m^-2); NaN where not used.
    used : ndarray of bool, shape (ny, nx)
        Points with a curvature along x and y (indexed, good quality, of the phase, with
        neighbours in the same grain).
    types : DislocationTypes
        The dislocation types (crystal frame).
    settings : dict
        Phase, lattice, method, thresholds, step: everything needed to reproduce the map.
    """

    rho: np.ndarray
    total: np.ndarray
    used: np.ndarray
    types: DislocationTypes
    settings: dict[str, Any] = field(default_factory=dict)

    def family_means(self) -> dict[str, float]:
        """Mean over used points of ``sum |rho|`` over the types of each family (m^-2)."""
        out = {}
        for fam in dict.fromkeys(self.types.family):
            cols = [i for i, f in enumerate(self.types.family) if f == fam]
            out[fam] = (
                float(np.mean(np.sum(np.abs(self.rho[self.used][:, cols]), axis=1)))
                if self.used.any()
                else 0.0
            )
        return out

    def stats(self) -> dict[str, Any]:
        """Summary numbers (JSON-ready)."""
        t = self.total[self.used]
        n = int(self.used.size)
        return {
            "rho_gnd_mean_per_m2": float(np.mean(t)) if t.size else float("nan"),
            "rho_gnd_median_per_m2": float(np.median(t)) if t.size else float("nan"),
            "rho_gnd_p90_per_m2": float(np.percentile(t, 90)) if t.size else float("nan"),
            "n_points": n,
            "n_used": int(t.size),
            "fraction_used": float(t.size / n) if n else 0.0,
            "family_mean_per_m2": self.family_means(),
            **self.settings,
        }


def ebsd_gnd(
    m: EBSDMap,
    *,
    phase_id: int | None = None,
    lattice: str | None = None,
    method: str = "l1",
    boundary_deg: float = 5.0,
    quality: tuple[str, float] | None = None,
    hex_convention: str = "a*",
    progress: bool = False,
) -> EBSDGND:
    """GND densities of one phase of ``m``.

    Parameters
    ----------
    m
        The map (:func:`microdl.io.ebsd.read_ebsd`).
    phase_id
        Phase to analyse; default: the phase with most indexed points.
    lattice
        ``"bcc"``, ``"fcc"`` or ``"hcp"``; default from the phase (:func:`lattice_of_phase`).
    method
        ``"l1"`` (minimum line energy, as MTEX) or ``"l2"`` (minimum norm, fast).
    boundary_deg
        Neighbour misorientations above this (degrees) are boundaries (grain or twin), not curvature.
    quality
        ``("min", q)`` keeps points with quality >= q, ``("max", q)`` those with quality <= q,
        ``None`` the format's default (:func:`default_quality_threshold`).
    hex_convention
        Hexagonal crystal frame: ``"a*"`` (x || a*, an a axis along y; MTEX's setting for its Mg
        ``twins`` data, an Oxford .ctf) or ``"a"`` (x || a). Check your software's setting: it
        decides which dislocation types the fit uses (not the curvature).
    progress
        Progress bar on stderr for the L1 fit.
    """
    indexed = m.indexed
    if not indexed.any():
        raise DataFileError(f"{m.source}: no indexed points")
    if phase_id is None:
        ids, counts = np.unique(m.phase[indexed], return_counts=True)
        phase_id = int(ids[np.argmax(counts)])
    phase = m.phase_by_id(phase_id)
    lattice = lattice or lattice_of_phase(phase)
    kind, q = quality or default_quality_threshold(m)
    if kind not in ("min", "max"):
        raise InvalidParameterError(f"quality must be ('min', q) or ('max', q), got {quality!r}")
    with np.errstate(invalid="ignore"):
        good = (m.quality >= q) if kind == "min" else (m.quality <= q)
    valid = indexed & (m.phase == phase_id) & good
    if not valid.any():
        raise DataFileError(
            f"{m.source}: no point of phase {phase.name!r} passes the quality threshold "
            f"({'>=' if kind == 'min' else '<='} {q})"
        )
    a_m = phase.lattice[0] * 1e-10
    c_m = phase.lattice[2] * 1e-10 if lattice == "hcp" else None
    types = dislocation_types(lattice, a=a_m, c=c_m, hex_convention=hex_convention)
    g = euler_to_matrix(np.where(valid[..., None], m.euler, np.nan))
    step_m = (m.step_um[0] * 1e-6, m.step_um[1] * 1e-6)
    kappa = lattice_curvature(g, symmetry_operators(phase.crystal_system), step_m, valid, boundary_deg)
    used = valid & np.all(np.isfinite(kappa), axis=(-2, -1))
    rho = np.full(m.shape + (len(types),), np.nan)
    if used.any():
        rho[used] = fit_gnd(nye_measurable(kappa[used]), g[used], types, method=method, progress=progress)
    total = np.where(used, np.sum(np.abs(np.nan_to_num(rho)), axis=-1), np.nan)
    settings = {
        "source": m.source,
        "phase": phase.name,
        "phase_id": int(phase_id),
        "lattice": lattice,
        "n_types": len(types),
        "method": method,
        "boundary_deg": float(boundary_deg),
        "quality": [kind, float(q)],
        "step_um": [float(s) for s in m.step_um],
        "hex_convention": hex_convention if lattice == "hcp" else None,
    }
    return EBSDGND(rho=rho, total=total, used=used, types=types, settings=settings)


def plot_gnd_map(
    result: EBSDGND, path: str | os.PathLike, *, title: str | None = None, centres: np.ndarray | None = None
) -> Path:
    """Write :func:`gnd_map_figure` to ``path`` (atomic)."""
    from microdl.analysis.plots import save

    return save(gnd_map_figure(result, title=title, centres=centres), path)


def gnd_map_figure(result: EBSDGND, *, title: str | None = None, centres: np.ndarray | None = None) -> Any:
    """Map of ``log10`` of the total GND density (m^-2) with unused points grey, and its histogram;
    ``centres`` ``(n, 2)`` (row, col) are marked with cyan crosses (kept windows, the paper's Fig. 5)."""
    from matplotlib.colors import LogNorm

    from microdl.analysis.plots import figure

    fig, (ax, ax_h) = figure(1, 2, size=(10, 4.2))
    ny, nx = result.total.shape
    dx, dy = result.settings["step_um"]
    ax.set_facecolor("0.75")
    t = np.where(result.used & (result.total > 0), result.total, np.nan)
    pos = t[np.isfinite(t)]
    if pos.size:
        lo, hi = np.percentile(pos, [1, 99])
        im = ax.imshow(
            t,
            origin="upper",
            extent=(0, nx * dx, ny * dy, 0),
            norm=LogNorm(vmin=lo, vmax=max(hi, lo * 1.01)),
            cmap="viridis",
            interpolation="nearest",
        )
        fig.colorbar(im, ax=ax, label="GND density (m$^{-2}$)")
        ax_h.hist(np.log10(pos), bins=60, color="C0")
    if centres is not None and len(centres):
        ax.plot((centres[:, 1] + 0.5) * dx, (centres[:, 0] + 0.5) * dy, "+", color="cyan", ms=4, mew=0.8)
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("y (µm)")
    ax.set_title(title or f"{result.settings['phase']}: sum |rho_GND| ({result.settings['method']})")
    s = result.stats()
    ax_h.set_xlabel("log10 GND density (m$^{-2}$)")
    ax_h.set_ylabel("points")
    ax_h.set_title(
        f"mean {s['rho_gnd_mean_per_m2']:.3g} m$^{{-2}}$, {100 * s['fraction_used']:.0f} % of points used"
    )
    return fig
