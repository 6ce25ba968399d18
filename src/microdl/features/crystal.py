"""Orientations, crystal symmetry and dislocation types for EBSD maps (pure NumPy).

Conventions (those of EDAX/TSL, Oxford and MTEX):

* Bunge Euler angles ``(phi1, Phi, phi2)`` (radians) give the passive rotation ``g``
  from the sample frame to the crystal frame, ``v_crystal = g @ v_sample``, with
  ``g = Z(phi2) X(Phi) Z(phi1)``; the crystal axes expressed in the sample frame are
  the columns of ``g.T``.
* Crystal frames are Cartesian: cubic ``x || [100]``, ``y || [010]``, ``z || [001]``;
  hexagonal ``z || c`` and ``x || a1`` (``"a"``, Oxford Channel 5) or ``x || a1*``,
  ``y || a1`` (``"a*"``), chosen by ``hex_convention`` where it matters (the dislocation
  types); symmetry operators do not depend on it.
* A rotation vector ``w`` is axis times angle (radians); for a small rotation ``R``,
  ``R ~ I + [w]_x``.

References: Bunge (1982) *Texture analysis in materials science*; Rowenhorst et al. (2015)
*Modelling Simul. Mater. Sci. Eng.* 23 083501 (rotation conventions); Pantleon (2008)
*Scripta Mater.* 58 994 (dislocation types for the Nye-tensor fit).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from microdl.exceptions import InvalidParameterError

__all__ = [
    "CRYSTAL_LATTICES",
    "DislocationTypes",
    "dislocation_types",
    "euler_to_matrix",
    "misorientation_vector",
    "rotation_matrix",
    "rotation_vector",
    "symmetry_operators",
]


def euler_to_matrix(euler: np.ndarray) -> np.ndarray:
    """Orientation matrices ``g`` (sample -> crystal) of Bunge Euler angles (radians).

    ``euler`` has shape ``(..., 3)``; returns ``(..., 3, 3)``. NaN angles give NaN matrices.
    """
    e = np.asarray(euler, dtype=float)
    c1, c, c2 = np.cos(e[..., 0]), np.cos(e[..., 1]), np.cos(e[..., 2])
    s1, s, s2 = np.sin(e[..., 0]), np.sin(e[..., 1]), np.sin(e[..., 2])
    g = np.empty(e.shape[:-1] + (3, 3))
    g[..., 0, 0] = c1 * c2 - s1 * s2 * c
    g[..., 0, 1] = s1 * c2 + c1 * s2 * c
    g[..., 0, 2] = s2 * s
    g[..., 1, 0] = -c1 * s2 - s1 * c2 * c
    g[..., 1, 1] = -s1 * s2 + c1 * c2 * c
    g[..., 1, 2] = c2 * s
    g[..., 2, 0] = s1 * s
    g[..., 2, 1] = -c1 * s
    g[..., 2, 2] = c
    return g


def rotation_matrix(axis: np.ndarray, angle: np.ndarray | float) -> np.ndarray:
    """Active rotation by ``angle`` (radians) about ``axis`` (any length; ``(..., 3)``), Rodrigues."""
    a = np.asarray(axis, dtype=float)
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    t = np.asarray(angle, dtype=float)[..., None, None]
    k = np.zeros(a.shape[:-1] + (3, 3))
    k[..., 0, 1], k[..., 0, 2], k[..., 1, 2] = -a[..., 2], a[..., 1], -a[..., 0]
    k[..., 1, 0], k[..., 2, 0], k[..., 2, 1] = a[..., 2], -a[..., 1], a[..., 0]
    return np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * (k @ k)


def rotation_vector(r: np.ndarray) -> np.ndarray:
    """Rotation vectors (axis x angle, radians, angle in [0, pi]) of rotation matrices ``(..., 3, 3)``.

    Accurate for small angles (where the axis comes from the skew part) and up to pi
    (where it comes from the symmetric part).
    """
    r = np.asarray(r, dtype=float)
    tr = np.clip((np.trace(r, axis1=-2, axis2=-1) - 1) / 2, -1.0, 1.0)
    ang = np.arccos(tr)
    skew = (
        np.stack([r[..., 2, 1] - r[..., 1, 2], r[..., 0, 2] - r[..., 2, 0], r[..., 1, 0] - r[..., 0, 1]], -1)
        / 2
    )
    sin = np.sin(ang)
    with np.errstate(invalid="ignore", divide="ignore"):
        w = np.where((sin > 1e-6)[..., None], skew * (ang / sin)[..., None], skew)
    # near pi the skew part vanishes: axis from the diagonal of (R + I) / 2 = a a^T
    near_pi = ang > np.pi - 1e-3
    if np.any(near_pi):
        s = (r[near_pi] + np.eye(3)) / 2
        col = np.argmax(np.diagonal(s, axis1=-2, axis2=-1), axis=-1)
        axis = s[np.arange(len(col)), :, col]
        axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
        sign = np.sign(np.sum(axis * skew[near_pi], axis=-1))
        axis *= np.where(sign == 0, 1.0, sign)[..., None]
        w[near_pi] = axis * ang[near_pi][..., None]
    return w


def _group(generators: list[np.ndarray]) -> np.ndarray:
    """Closure of a set of rotation matrices under multiplication."""
    ops = [np.eye(3)]
    frontier = [np.eye(3)]
    while frontier:
        new = []
        for a, g in itertools.product(frontier, generators):
            m = np.round(g @ a, 12)
            if not any(np.allclose(m, o, atol=1e-9) for o in ops):
                ops.append(m)
                new.append(m)
        frontier = new
    return np.array(ops)


_Z = np.array([0.0, 0.0, 1.0])
_X = np.array([1.0, 0.0, 0.0])
_GENERATORS = {
    "cubic": [rotation_matrix(_Z, np.pi / 2), rotation_matrix(np.ones(3), 2 * np.pi / 3)],
    "hexagonal": [rotation_matrix(_Z, np.pi / 3), rotation_matrix(_X, np.pi)],
    "tetragonal": [rotation_matrix(_Z, np.pi / 2), rotation_matrix(_X, np.pi)],
    "trigonal": [rotation_matrix(_Z, 2 * np.pi / 3), rotation_matrix(_X, np.pi)],
    "orthorhombic": [rotation_matrix(_Z, np.pi), rotation_matrix(_X, np.pi)],
    "monoclinic": [rotation_matrix(np.array([0.0, 1.0, 0.0]), np.pi)],
    "triclinic": [],
}
_SYM_CACHE: dict[str, np.ndarray] = {}


def symmetry_operators(crystal_system: str) -> np.ndarray:
    """Proper rotations of the Laue group of a crystal system, ``(n, 3, 3)`` in the crystal frame.

    cubic 24 (432), hexagonal 12 (622), tetragonal 8 (422), trigonal 6 (32), orthorhombic 4
    (222), monoclinic 2 (2, b unique), triclinic 1.
    """
    if crystal_system not in _GENERATORS:
        raise InvalidParameterError(
            f"unknown crystal system {crystal_system!r}; expected one of {sorted(_GENERATORS)}"
        )
    if crystal_system not in _SYM_CACHE:
        _SYM_CACHE[crystal_system] = _group(_GENERATORS[crystal_system])
    return _SYM_CACHE[crystal_system]


def misorientation_vector(g1: np.ndarray, g2: np.ndarray, sym: np.ndarray) -> np.ndarray:
    """Smallest lattice rotation from orientation ``g1`` to ``g2``, as a rotation vector in the
    sample frame (radians), over the symmetrically equivalent variants ``S g2``.

    ``g1``, ``g2``: ``(..., 3, 3)`` orientation matrices (sample -> crystal); ``sym``: the
    ``(n, 3, 3)`` operators of :func:`symmetry_operators`. The sample-frame rotation ``R``
    with ``g2^T = R g1^T`` (crystal axes carried from 1 to 2) is ``g2^T g1``; a symmetric
    variant of ``g2`` is ``S g2``. NaN where either orientation is NaN.
    """
    g1 = np.asarray(g1, dtype=float)
    g2 = np.asarray(g2, dtype=float)
    # candidates R_k = (S_k g2)^T g1 = g2^T S_k^T g1, with trace(R_k) = sum_ij S_k,ij (g1 g2^T)_ij:
    # one (n, 9) x (9, K) product ranks them; only the best (largest trace, smallest angle) is built
    m = g1 @ np.swapaxes(g2, -1, -2)
    tr = m.reshape(m.shape[:-2] + (9,)) @ sym.reshape(len(sym), 9).T
    tr = np.where(np.isnan(tr), -np.inf, tr)
    best = np.argmax(tr, axis=-1)
    r = np.swapaxes(g2, -1, -2) @ np.swapaxes(sym[best], -1, -2) @ g1
    return rotation_vector(r)


@dataclass(frozen=True)
class DislocationTypes:
    """Dislocation types of a crystal for the Nye-tensor fit, in the crystal frame.

    Attributes
    ----------
    burgers : ndarray, shape (n, 3)
        Burgers vectors (m).
    line : ndarray, shape (n, 3)
        Unit line directions.
    family : tuple of str
        The slip family of each type, e.g. ``"{110}<111> edge"``, ``"<111> screw"``.
    energy : ndarray, shape (n,)
        Relative line energy ``|b|^2`` (edge ``/(1 - nu)``), the weights of an L1 fit.
    """

    burgers: np.ndarray
    line: np.ndarray
    family: tuple[str, ...]
    energy: np.ndarray

    def __len__(self) -> int:
        return len(self.family)


#: Lattice parameters (m) and Poisson's ratio of the built-in crystals.
CRYSTAL_LATTICES = {
    "bcc": {"a": 2.8665e-10, "nu": 0.29, "note": "alpha-Fe (|b| = a sqrt(3)/2 = 2.482 A)"},
    "fcc": {"a": 4.0495e-10, "nu": 0.35, "note": "Al; use a = 3.615e-10 for Cu"},
    "hcp": {"a": 3.2094e-10, "c": 5.2108e-10, "nu": 0.29, "note": "Mg"},
}


def _unique_directions(vectors) -> list[np.ndarray]:
    """One of each pair +-v (the sign of a density is free in the fit)."""
    out: list[np.ndarray] = []
    for v in vectors:
        v = np.asarray(v, dtype=float)
        if not any(np.allclose(v, u) or np.allclose(v, -u) for u in out):
            out.append(v)
    return out


def _family(planes, directions, tag: str, to_cart_plane, to_cart_dir, a_len: float):
    """Edge types (b, n x b) of every plane/direction pair with b in the plane."""
    out = []
    for n in _unique_directions(planes):
        nc = to_cart_plane(n)
        nc = nc / np.linalg.norm(nc)
        for d in _unique_directions(directions):
            bc = to_cart_dir(d) * a_len
            if abs(np.dot(nc, bc)) > 1e-9 * np.linalg.norm(bc):
                continue
            line = np.cross(nc, bc)
            out.append((bc, line / np.linalg.norm(line), tag))
    return out


def _perms(v) -> list[tuple]:
    """All permutations with all sign changes of a cubic index triple."""
    out = set()
    for p in itertools.permutations(v):
        for s in itertools.product((1, -1), repeat=3):
            out.add(tuple(x * y for x, y in zip(p, s, strict=True)))
    return sorted(out)


def dislocation_types(
    lattice: str,
    *,
    a: float | None = None,
    c: float | None = None,
    nu: float | None = None,
    hex_convention: str = "a",
) -> DislocationTypes:
    """The dislocation types of ``lattice`` for the GND fit (crystal frame, SI units).

    * ``"bcc"``: ``b = a/2 <111>``; edges on {110} (12) and {112} (12), 4 screws: 28 types.
    * ``"fcc"``: ``b = a/2 <110>``; edges on {111} (12), 6 screws: 18 types.
    * ``"hcp"``: ``<a>`` edges on basal (3), prismatic (3) and first-order pyramidal (6)
      planes, ``<c+a>`` edges on second-order pyramidal {11-22} planes (6), 3 ``<a>`` and 6
      ``<c+a>`` screws: 27 types.

    A density's sign is free in the fit, so each type appears once (not also with -b).
    ``a``, ``c`` (m) and ``nu`` default to :data:`CRYSTAL_LATTICES`.
    """
    if lattice not in CRYSTAL_LATTICES:
        raise InvalidParameterError(
            f"unknown lattice {lattice!r}; expected one of {sorted(CRYSTAL_LATTICES)}"
        )
    par = CRYSTAL_LATTICES[lattice]
    a = float(par["a"] if a is None else a)
    nu = float(par["nu"] if nu is None else nu)
    ident = np.asarray
    if lattice in ("bcc", "fcc"):
        if lattice == "bcc":
            dirs, bl = _perms((1, 1, 1)), a / 2
            edges = _family(_perms((1, 1, 0)), dirs, "{110}<111> edge", ident, ident, bl) + _family(
                _perms((1, 1, 2)), dirs, "{112}<111> edge", ident, ident, bl
            )
            screw_tag = "<111> screw"
        else:
            dirs, bl = _perms((1, 1, 0)), a / 2
            edges = _family(_perms((1, 1, 1)), dirs, "{111}<110> edge", ident, ident, bl)
            screw_tag = "<110> screw"
        screws = [
            (np.asarray(d, float) * bl, np.asarray(d, float) / np.linalg.norm(d), screw_tag)
            for d in _unique_directions(dirs)
        ]
    else:
        cc = float(par["c"] if c is None else c)
        if hex_convention not in ("a", "a*"):
            raise InvalidParameterError(f"hex_convention must be 'a' or 'a*', got {hex_convention!r}")
        # direct basis: a1, a2 at 120 deg in the basal plane, c along z
        rot = 0.0 if hex_convention == "a" else np.pi / 2
        a1 = np.array([np.cos(rot), np.sin(rot), 0.0]) * a
        a2 = np.array([np.cos(rot + 2 * np.pi / 3), np.sin(rot + 2 * np.pi / 3), 0.0]) * a
        c_vec = np.array([0.0, 0.0, cc])
        basis = np.stack([a1, a2, c_vec])  # rows
        recip = np.linalg.inv(basis).T  # rows: reciprocal vectors (a_i . b_j = delta_ij)

        def dir4(uvtw):  # [uvtw] -> Cartesian (m): u a1 + v a2 + t a3 + w c, a3 = -(a1 + a2)
            u, v, t, w = uvtw
            return (u - t) * a1 + (v - t) * a2 + w * c_vec

        def plane4(hkil):  # (hkil) -> normal h b1 + k b2 + l b3
            h, k, _, l_ = hkil
            return h * recip[0] + k * recip[1] + l_ * recip[2]

        def hex_perms(v, plane: bool):
            """Symmetric variants of a Miller-Bravais index under 6/mmm (first three cycled)."""
            out = []
            h, k, i, l_ = v
            for p, q, r in ((h, k, i), (k, i, h), (i, h, k)):
                for sgn in (1, -1):
                    for lz in (l_, -l_):
                        out.append((sgn * p, sgn * q, sgn * r, lz))
                        out.append((sgn * q, sgn * p, sgn * r, lz))
            return out

        a_dirs = hex_perms((2, -1, -1, 0), False)
        ca_dirs = hex_perms((1, 1, -2, 3), False)
        one = 1.0 / 3.0  # <2-1-10>/3 = a, <11-23>/3 = c + a
        edges = (
            _family(hex_perms((0, 0, 0, 1), True), a_dirs, "basal <a> edge", plane4, dir4, one)
            + _family(hex_perms((1, 0, -1, 0), True), a_dirs, "prismatic <a> edge", plane4, dir4, one)
            + _family(hex_perms((1, 0, -1, 1), True), a_dirs, "pyramidal <a> edge", plane4, dir4, one)
            + _family(hex_perms((1, 1, -2, 2), True), ca_dirs, "pyramidal <c+a> edge", plane4, dir4, one)
        )
        screws = [
            (dir4(d) * one, dir4(d) / np.linalg.norm(dir4(d)), tag)
            for dirs, tag in ((a_dirs, "<a> screw"), (ca_dirs, "<c+a> screw"))
            for d in _unique_directions(dirs)
        ]
    items = edges + screws
    b = np.array([i[0] for i in items])
    line = np.array([i[1] for i in items])
    fam = tuple(i[2] for i in items)
    energy = np.sum(b * b, axis=1) * np.array([1 / (1 - nu) if "edge" in f else 1.0 for f in fam])
    return DislocationTypes(burgers=b, line=line, family=fam, energy=energy)
