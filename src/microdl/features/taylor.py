"""Taylor hardening: flow stress from dislocation density (pure functions, SI units).

``sigma = sigma* + M alpha' mu b sqrt(rho)`` (Taylor 1934; for polycrystals with the Taylor
factor ``M``), so a change of density between two states changes the flow stress by
``delta sigma = M alpha' mu b (sqrt(rho_2) - sqrt(rho_1))`` (Zhang et al. 2019, eqs. 5-6),
independent of the friction stress ``sigma*``.

Material presets (:data:`TAYLOR_MATERIALS`; any field can be overridden):

* ``alpha-Fe``: ``alpha' = 0.23`` (Kassner 2004), ``b = 2.482 A``, ``mu = 82 GPa``,
  ``M = 2.86`` (from the EBSD texture with MTEX): the constants of Zhang et al. (2019).
* ``Al``: ``b = 2.86 A``, ``mu = 25.4 GPa`` (Frost & Ashby 1982, Deformation-mechanism maps,
  table 4.1), ``alpha' = 0.24`` (Hansen & Huang 1998, Acta Mater. 46 1827), ``M = 3.06``
  (random fcc texture; Kocks 1970).
* ``Cu``: ``b = 2.56 A``, ``mu = 42.1 GPa`` (Frost & Ashby 1982), ``alpha' = 0.3``
  (Mecking & Kocks 1981, Acta Metall. 29 1865), ``M = 3.06``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from microdl.exceptions import InvalidParameterError, UnknownNameError

__all__ = ["TAYLOR_MATERIALS", "TaylorMaterial", "get_material", "taylor_stress", "taylor_stress_change"]


@dataclass(frozen=True)
class TaylorMaterial:
    """Constants of Taylor's law: ``M`` (Taylor factor), ``alpha`` (alpha'), ``mu_pa`` (shear
    modulus, Pa), ``b_m`` (Burgers vector length, m), and where they come from."""

    name: str
    M: float
    alpha: float
    mu_pa: float
    b_m: float
    source: str = ""

    @property
    def prefactor_pa_m(self) -> float:
        """``M alpha' mu b`` (Pa m): the stress per unit ``sqrt(rho)``."""
        return self.M * self.alpha * self.mu_pa * self.b_m


TAYLOR_MATERIALS = {
    "alpha-Fe": TaylorMaterial(
        "alpha-Fe",
        2.86,
        0.23,
        82e9,
        2.482e-10,
        "Zhang et al. (2019): alpha' Kassner (2004), M from the EBSD texture (MTEX)",
    ),
    "Al": TaylorMaterial(
        "Al",
        3.06,
        0.24,
        25.4e9,
        2.86e-10,
        "mu, b: Frost & Ashby (1982); alpha': Hansen & Huang (1998); M: Kocks (1970)",
    ),
    "Cu": TaylorMaterial(
        "Cu",
        3.06,
        0.3,
        42.1e9,
        2.56e-10,
        "mu, b: Frost & Ashby (1982); alpha': Mecking & Kocks (1981); M: Kocks (1970)",
    ),
}


def get_material(name: str | TaylorMaterial = "alpha-Fe", **overrides: float) -> TaylorMaterial:
    """A preset of :data:`TAYLOR_MATERIALS` (or a given material) with fields overridden
    (``M``, ``alpha``, ``mu_pa``, ``b_m``; ``None`` values are ignored)."""
    if isinstance(name, TaylorMaterial):
        mat = name
    elif name in TAYLOR_MATERIALS:
        mat = TAYLOR_MATERIALS[name]
    else:
        raise UnknownNameError(f"unknown material {name!r}; presets: {', '.join(TAYLOR_MATERIALS)}")
    changes = {k: float(v) for k, v in overrides.items() if v is not None}
    unknown = set(changes) - {"M", "alpha", "mu_pa", "b_m"}
    if unknown:
        raise InvalidParameterError(f"unknown Taylor constant(s) {sorted(unknown)}; use M, alpha, mu_pa, b_m")
    for k, v in changes.items():
        if not (np.isfinite(v) and v > 0):
            raise InvalidParameterError(f"{k} must be a positive number, got {v}")
    if changes:
        mat = replace(
            mat, **changes, source=(mat.source + "; overridden: " + ", ".join(sorted(changes))).lstrip("; ")
        )
    return mat


def _check_rho(rho) -> np.ndarray:
    r = np.asarray(rho, dtype=float)
    if np.any(~np.isfinite(r)) or np.any(r < 0):
        raise InvalidParameterError("dislocation densities must be finite and >= 0 (m^-2)")
    return r


def taylor_stress(rho, material: str | TaylorMaterial = "alpha-Fe") -> np.ndarray | float:
    """Dislocation contribution ``M alpha' mu b sqrt(rho)`` (Pa) to the flow stress; ``rho`` in m^-2."""
    out = get_material(material).prefactor_pa_m * np.sqrt(_check_rho(rho))
    return float(out) if np.ndim(out) == 0 else out


def taylor_stress_change(rho_1, rho_2, material: str | TaylorMaterial = "alpha-Fe") -> np.ndarray | float:
    """``delta sigma = M alpha' mu b (sqrt(rho_2) - sqrt(rho_1))`` (Pa) from state 1 to state 2."""
    out = get_material(material).prefactor_pa_m * (np.sqrt(_check_rho(rho_2)) - np.sqrt(_check_rho(rho_1)))
    return float(out) if np.ndim(out) == 0 else out
