"""Synthetic SEM images of strained dual-phase (DP) steel with damage sites, for tests and demos only.

The images are **synthetic** and must never be presented as real data. They imitate secondary-electron
micrographs of deformed DP steel: smooth mid-gray ferrite grains with faint grain contrast and
boundaries; brighter, speckled martensite islands with bright rims, blobby and often strung along ferrite
grain boundaries; small bright specks; shot noise. Damage sites are black (gray < 20); voids have a
bright halo, strongest on their lower side. The five classes (Kerzel et al. 2021):

* ``"inclusion"``: a round void (10-40 px) in ferrite holding a medium-gray particle against one wall;
* ``"martensite"``: martensite cracking, a thin (2.6-4 px), tapered, slightly zig-zag crack, 16-40 px
  long, across a martensite island (it stops at the island's edge);
* ``"interface"``: interface decohesion, a half-ellipse void hugging a ferrite-martensite boundary on
  its ferrite side;
* ``"notch"``: a void 18-50 px long in ferrite around a particle at its middle;
* ``"shadow"``: e-beam shadowing, a diffuse dark band (core gray 8-14, soft edges, 20-60 px long) next to
  a bright ridge.

Under ``loading="uniaxial"`` (tensile axis ``x``) cracks run across ``x``, inclusion and notch voids are
elongated along ``x`` and decohesion opens at boundaries whose normal is within 30 degrees of ``x``;
under ``"biaxial"`` these orientations are uniformly random. Shadows (an imaging artefact) are randomly
oriented under both. Site sizes are for the default 57.5 nm pixel and grow with finer pixels; grain and
island sizes are physical (µm).

:func:`plan_scene` places everything (cheap, bucket-indexed arrays); :func:`render_region` renders any
window, bit for bit equal to the same window of the whole image, so panoramas render tile by tile
(:func:`iter_tiles`) in bounded memory.

References
----------
Class names and definitions after Kerzel et al. (2021), damage classification in DP steel.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from microdl._rng import RandomLike, as_generator
from microdl.exceptions import InvalidParameterError, check_int
from microdl.simulate import dp_steel_render as _r

__all__ = ["LOADINGS", "SITE_CLASSES", "DPSteelConfig", "Scene", "iter_tiles", "plan_scene",
           "render_region", "synthetic_dp_steel"]

SITE_CLASSES = ("inclusion", "martensite", "interface", "notch", "shadow")
"""Labels of the damage-site classes, in the order of :attr:`DPSteelConfig.class_weights`."""
LOADINGS = ("uniaxial", "biaxial")
"""Loading morphologies of :class:`DPSteelConfig` (``loading``)."""

_REF_PIXEL_UM = 0.0575  # site sizes are given in px at this pixel size
_MIN_DARK_PX = 45       # noise-free dark core a placed site must have (the promise is >= 25 with noise)
_ATTEMPTS = 400


def _check_real(name: str, value: object, low: float, high: float = math.inf, *, low_open: bool = False) -> None:
    ok = not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
    if not ok or not math.isfinite(float(value)) or not low <= float(value) <= high or (low_open and value == low):
        bound = ("> " if low_open else ">= ") + f"{low}" + ("" if high == math.inf else f" and <= {high}")
        raise InvalidParameterError(f"{name} must be a finite number {bound}, got {value!r}")


@dataclass(frozen=True)
class DPSteelConfig:
    """Settings of the synthetic DP-steel SEM image; defaults imitate a 1024 x 768 Zeiss SE image.

    Parameters
    ----------
    height_px, width_px
        Image size, px (>= 64 each).
    pixel_size_um
        Pixel side, µm (default 0.0575, i.e. 57.5 nm).
    martensite_fraction
        Area fraction of martensite, in [0, 0.6]; > 0 when martensite or interface sites are asked for.
    island_size_um, grain_size_um
        Mean equivalent diameter of one martensite island (before islands merge) and of a ferrite
        grain, µm.
    sites_per_mm2
        Damage sites of all classes per mm² of image.
    class_weights
        Relative frequencies of the classes, in the order of :data:`SITE_CLASSES` (>= 0, sum > 0).
    loading
        ``"uniaxial"`` (tensile axis ``x``) or ``"biaxial"`` (site orientations uniformly random).
    noise_std
        Std of the pixel noise at the ferrite gray, gray levels; it scales with the square root of the
        gray (shot noise), so voids are quiet. (The real reference image has about 26.)
    boundary_affinity
        Fraction of martensite islands centred on a ferrite grain boundary (and elongated along it).
    ferrite_gray, martensite_gray, void_gray
        Mean gray of ferrite, of martensite and of the inside of voids (< 12), 0-255.
    grain_contrast, boundary_gray, martensite_texture, rim_gray, halo_gray
        Gray levels of: the std of grain-to-grain offsets, the brightening on ferrite grain boundaries,
        the amplitude of the speckled martensite texture, the bright island rims, the halo below voids.
    floor_gray
        No pixel outside a site is ever darker than this (detector threshold).
    min_site_distance_px
        Smallest distance between the centroids of two sites, px (larger sites keep further apart).
    speck_density_per_um2
        Small bright specks (debris, carbides) per µm².

    Raises
    ------
    InvalidParameterError
        For any value out of range; the message names the parameter.
    """

    height_px: int = 768
    width_px: int = 1024
    pixel_size_um: float = 0.0575
    martensite_fraction: float = 0.25
    island_size_um: float = 3.0
    sites_per_mm2: float = 4000.0
    class_weights: tuple[float, ...] = (1, 1, 1, 1, 0.3)
    loading: str = "uniaxial"
    noise_std: float = 12.0
    grain_size_um: float = 15.0
    boundary_affinity: float = 0.7
    ferrite_gray: float = 105.0
    martensite_gray: float = 138.0
    void_gray: float = 5.0
    grain_contrast: float = 4.0
    boundary_gray: float = 16.0
    martensite_texture: float = 14.0
    rim_gray: float = 35.0
    halo_gray: float = 110.0
    floor_gray: float = 20.0
    min_site_distance_px: float = 60.0
    speck_density_per_um2: float = 0.02

    def __post_init__(self) -> None:
        check_int("height_px", self.height_px, 64)
        check_int("width_px", self.width_px, 64)
        for name in ("pixel_size_um", "island_size_um", "grain_size_um", "min_site_distance_px"):
            _check_real(name, getattr(self, name), 0.0, low_open=True)
        if self.grain_size_um / self.pixel_size_um < 16:
            raise InvalidParameterError(f"grain_size_um must be >= 16 px ({16 * self.pixel_size_um:g} µm), "
                                        f"got {self.grain_size_um!r}")
        limits = {"martensite_fraction": (0, 0.6), "noise_std": (0, 60), "boundary_affinity": (0, 1),
                  "void_gray": (0, 12), "floor_gray": (0, 255), "speck_density_per_um2": (0, 1),
                  "sites_per_mm2": (0, 0.3 / (self.min_site_distance_px * self.pixel_size_um * 1e-3) ** 2)}
        limits |= {name: (0, 150) for name in ("grain_contrast", "boundary_gray", "martensite_texture",
                                                "rim_gray", "halo_gray")}
        for name, (lo, hi) in limits.items():
            _check_real(name, getattr(self, name), lo, hi)
        for name in ("ferrite_gray", "martensite_gray"):
            _check_real(name, getattr(self, name), self.floor_gray + 20.0, 235.0)
        w = self.class_weights
        if not isinstance(w, tuple) or len(w) != len(SITE_CLASSES):
            raise InvalidParameterError(
                f"class_weights must be a tuple of {len(SITE_CLASSES)} weights (order {SITE_CLASSES}), got {w!r}")
        for name, x in zip(SITE_CLASSES, w, strict=True):
            _check_real(f"class_weights[{name!r}]", x, 0.0)
        if sum(w) <= 0:
            raise InvalidParameterError(f"class_weights must have a positive sum, got {w!r}")
        if self.martensite_fraction == 0 and (w[1] > 0 or w[2] > 0):
            raise InvalidParameterError("martensite_fraction must be > 0 when class_weights asks for 'martensite' "
                                        f"or 'interface' sites, got 0 with class_weights={w!r}")
        if self.loading not in LOADINGS:
            raise InvalidParameterError(f"loading must be one of {list(LOADINGS)}, got {self.loading!r}")


@dataclass(frozen=True, eq=False)
class Scene:
    """Everything placed, nothing rendered (built by :func:`plan_scene`).

    Attributes
    ----------
    config, seed
        The settings; the seed of the scene (block ``(by, bx)`` has noise ``default_rng([seed, by, bx])``).
    sites
        One dict per site: ``site_id`` (int), ``label`` (in :data:`SITE_CLASSES`), ``x``, ``y`` (centroid
        of its footprint, px, ``x`` the column), ``bbox`` ``(x0, y0, x1, y1)`` (ints, exclusive ends,
        inside the image), ``orientation_deg`` (long axis, degrees from ``+x`` towards ``+y``, [0, 180)).
    islands
        Martensite islands, arrays of length ``n``: centre ``x``, ``y``; long axis ``cos``, ``sin``;
        semi-axes ``a`` >= ``b`` (px); boundary harmonics ``ha``, ``hb`` ``(n, 4)``; bounding radius ``rmax``.
    grains, specks
        Ferrite grain seeds (``x``, ``y``, ``gray`` on a jittered grid); bright specks (ellipses).
    site_shapes, salt
        Render parameters of each site (order of ``sites``); salt of the hashed textures.
    island_index, site_index, speck_index
        Bucket indexes, so that rendering a window only looks at what touches it.
    """

    config: DPSteelConfig
    seed: int
    sites: list[dict]
    islands: dict = field(repr=False)
    grains: dict = field(repr=False)
    specks: dict = field(repr=False)
    site_shapes: tuple = field(repr=False)
    salt: int = field(repr=False)
    island_index: _r.BucketIndex = field(repr=False)
    site_index: _r.BucketIndex = field(repr=False)
    speck_index: _r.BucketIndex = field(repr=False)


def _orient(cfg: DPSteelConfig, rng: np.random.Generator, axis_deg: float, spread_deg: float) -> float:
    if cfg.loading == "biaxial":
        return float(rng.uniform(0, np.pi))
    return float(np.deg2rad(axis_deg + spread_deg * rng.standard_normal()))


def _boundary_point(cfg: DPSteelConfig, rng: np.random.Generator, isl: dict, index: _r.BucketIndex):
    """A random point of the martensite boundary and its outward normal, or ``None``."""
    if not isl["x"].size:
        return None
    i, th = int(rng.integers(isl["x"].size)), rng.uniform(0, 2 * np.pi)
    ct, st = math.cos(th), math.sin(th)
    rad = 1.0 + float(_r.blob_inside(ct, st, *(isl[k][i] for k in ("cos", "sin", "a", "b", "ha", "hb"))))
    px, py = isl["x"][i] + rad * ct, isl["y"][i] + rad * st
    s, _ = _r.points_eval(isl, index, px + np.array([0, 1.5, -1.5, 0, 0]), py + np.array([0, 0, 0, 1.5, -1.5]))
    grad = np.array([s[1] - s[2], s[3] - s[4]])
    if abs(s[0]) > 0.5 or np.linalg.norm(grad) < 1e-6:
        return None
    n = -grad / np.linalg.norm(grad)
    if cfg.loading == "uniaxial" and abs(n[0]) < math.cos(math.radians(30)):
        return None  # uniaxial: decohesion where the boundary normal is near the tensile axis
    return px, py, n


def _propose(label: str, cfg: DPSteelConfig, k: float, rng: np.random.Generator, isl: dict,
             index: _r.BucketIndex) -> dict | None:
    """One candidate site (render parameters, px) of class ``label``, or ``None``."""
    u = rng.uniform
    sp: dict = {"label": label, "halo": 1.0}
    off, phi = 0.0, 0.0
    if label == "inclusion":
        diam, ar, ang = k * (10 + 30 * rng.random() ** 2), u(1.0, 1.4), _orient(cfg, rng, 0.0, 10.0)
        sp.update(a=diam / 2 * math.sqrt(ar), b=diam / 2 / math.sqrt(ar), pgray=u(80, 140))
        sp["pr"] = sp["b"] * u(0.3, 0.55)
        off, phi = (sp["b"] - sp["pr"]) * u(0.4, 0.9), u(0, 2 * np.pi)
        sp["ext"] = sp["a"] + 14
    elif label == "notch":
        ang, pr = _orient(cfg, rng, 0.0, 6.0), k * u(2.5, 4.5)
        b = pr + k * u(1.8, 3.2)
        sp.update(a=max(k * u(9, 25), b + 3), b=b, pr=pr, pgray=u(90, 150), halo=0.8)
        sp["ext"] = sp["a"] + 14
    elif label == "martensite":
        ang = _orient(cfg, rng, 90.0, 10.0)
        sp.update(L=k * u(16, 40), w=k * u(2.6, 4.0), amp=u(0.2, 0.7), lam=u(10, 20), ph=u(0, 2 * np.pi), halo=0.5)
        sp["ext"] = sp["L"] / 2 + sp["amp"] + 14
    elif label == "interface":
        found = _boundary_point(cfg, rng, isl, index)
        if found is None:
            return None
        px, py, n = found
        a = k * u(7, 20)
        b = min(k * u(3, 6), a)
        ang = math.atan2(n[1], n[0]) + np.pi / 2
        sp.update(a=a, b=b, ext=a + 14, cx=px + n[0] * 0.35 * b, cy=py + n[1] * 0.35 * b)
    else:  # shadow: a soft dark band with a bright ridge along one side
        ang, a, b, rb = u(0, np.pi), k * u(10, 30), k * u(6, 10), k * u(2.5, 4.5)
        sp.update(a=a, b=b, ra=a * u(0.45, 0.75), rb=rb, rgray=u(80, 120), core=u(8, 14), halo=0.0,
                  ext=max(a, 0.6 * b + 2 * rb + 2) + 6, side=1.0 if rng.random() < 0.5 else -1.0)
    sp["c"], sp["s"] = math.cos(ang), math.sin(ang)
    e, h, w = sp["ext"], cfg.height_px, cfg.width_px
    if label == "martensite":  # on an island, >= 4 px inside
        cx, cy = u(e, w - e, 32), u(e, h - e, 32)
        ok = np.nonzero(_r.points_eval(isl, index, cx, cy)[0] >= 4.0)[0]
        if not ok.size:
            return None
        sp["cx"], sp["cy"] = cx[ok[0]], cy[ok[0]]
    elif "cx" not in sp:
        sp["cx"], sp["cy"] = u(e, w - e), u(e, h - e)
    if "pr" in sp:
        sp["px"], sp["py"] = sp["cx"] + off * math.cos(phi), sp["cy"] + off * math.sin(phi)
    if label == "shadow":
        d = sp["side"] * (0.6 * sp["b"] + sp["rb"] + 1)
        sp["rx"], sp["ry"] = sp["cx"] - d * sp["s"], sp["cy"] + d * sp["c"]
    return {key: val if isinstance(val, str) else float(val) for key, val in sp.items()}


def _check_site(sp: dict, cfg: DPSteelConfig, isl: dict, index: _r.BucketIndex, salt: int) -> dict | None:
    """Render the site's noise-free layers; return its public record, or ``None`` if it is not valid."""
    e = sp["ext"]
    x0, y0 = math.floor(sp["cx"] - e), math.floor(sp["cy"] - e)
    x1, y1 = math.ceil(sp["cx"] + e) + 2, math.ceil(sp["cy"] + e) + 2
    s_field = _r.martensite_field(isl, index, salt, y0, x0, y1 - y0, x1 - x0)
    m = _r.site_masks(sp, np.arange(y0, y1, dtype=np.float64)[:, None], np.arange(x0, x1, dtype=np.float64)[None, :],
                      s_field, cfg.halo_gray)
    v = np.broadcast_to(m["v"], s_field.shape)
    pm = np.zeros_like(v) if m["pm"] is None else m["pm"]
    lab, n = ndimage.label((v >= 0.95) & (pm < 0.05))
    if n == 0 or np.bincount(lab.ravel())[1:].max() < _MIN_DARK_PX:
        return None
    if sp["label"] in ("inclusion", "notch") and s_field[v > 0.05].max() > -1.0:
        return None  # must lie in ferrite
    foot = (v >= 0.1) | (pm >= 0.5) | (False if m["bright"] is None else m["bright"] >= 0.5 * sp["rgray"])
    ys, xs = np.nonzero(foot)
    box = (int(xs.min()) + x0, int(ys.min()) + y0, int(xs.max()) + x0 + 1, int(ys.max()) + y0 + 1)
    if box[0] < 1 or box[1] < 1 or box[2] > cfg.width_px - 1 or box[3] > cfg.height_px - 1:
        return None
    return {"label": sp["label"], "x": float(xs.mean() + x0), "y": float(ys.mean() + y0), "bbox": box,
            "orientation_deg": math.degrees(math.atan2(sp["s"], sp["c"])) % 180.0}


def _sites(cfg: DPSteelConfig, isl: dict, index: _r.BucketIndex, salt: int, rng: np.random.Generator):
    k = max(_REF_PIXEL_UM / cfg.pixel_size_um, 1.0)
    area_mm2 = cfg.height_px * cfg.width_px * (cfg.pixel_size_um * 1e-3) ** 2
    n = int(math.floor(cfg.sites_per_mm2 * area_mm2 + rng.random()))
    p = np.asarray(cfg.class_weights, np.float64)
    labels = rng.choice(len(SITE_CLASSES), size=n, p=p / p.sum())
    dmin = cfg.min_site_distance_px
    cell = max(dmin + 20, 2 * (43 * k) + 6)  # 43 k bounds every site's ext; centroids are < 10 px off
    grid: dict[tuple[int, int], list[tuple[float, ...]]] = {}
    shapes, records = [], []
    for lab in labels:
        for _ in range(_ATTEMPTS):
            sp = _propose(SITE_CLASSES[lab], cfg, k, rng, isl, index)
            if sp is None:
                continue
            gx, gy = int(sp["cx"] // cell), int(sp["cy"] // cell)
            near = [q for dy in (-1, 0, 1) for dx in (-1, 0, 1) for q in grid.get((gx + dx, gy + dy), [])]
            if any(math.hypot(sp["cx"] - q[0], sp["cy"] - q[1]) < max(dmin - 20, sp["ext"] + q[2] + 4) for q in near):
                continue
            rec = _check_site(sp, cfg, isl, index, salt)
            if rec is None or any(math.hypot(rec["x"] - q[3], rec["y"] - q[4]) < dmin for q in near):
                continue
            grid.setdefault((gx, gy), []).append((sp["cx"], sp["cy"], sp["ext"], rec["x"], rec["y"]))
            shapes.append(sp)
            records.append({"site_id": len(records), **rec})
            break
    return records, tuple(shapes)


def _specks(cfg: DPSteelConfig, shapes: tuple, rng: np.random.Generator) -> dict:
    k = max(_REF_PIXEL_UM / cfg.pixel_size_um, 1.0)
    n = int(rng.poisson(cfg.speck_density_per_um2 * cfg.height_px * cfg.width_px * cfg.pixel_size_um**2))
    a, ang = k * rng.uniform(1.2, 4.0, n), rng.uniform(0, np.pi, n)
    sk = {"x": rng.uniform(0, cfg.width_px, n), "y": rng.uniform(0, cfg.height_px, n), "c": np.cos(ang),
          "s": np.sin(ang), "a": a, "b": a * rng.uniform(0.4, 1.0, n), "gray": rng.uniform(25, 70, n)}
    keep = np.ones(n, bool)
    for sp in shapes:  # no speck on a site
        keep &= np.hypot(sk["x"] - sp["cx"], sk["y"] - sp["cy"]) > sp["ext"] + sk["a"] + 2
    return {key: val[keep] for key, val in sk.items()}


def plan_scene(config: DPSteelConfig, rng: RandomLike = None) -> Scene:
    """Place grains, martensite islands, damage sites and specks of one synthetic image.

    Parameters
    ----------
    config
        The settings.
    rng
        Seed or generator; the same seed gives the same scene and image.

    Returns
    -------
    Scene
        Cheap arrays and indexes; render windows with :func:`render_region`.

    Notes
    -----
    The site count is ``sites_per_mm2 * area`` rounded at random (its expectation is exact); a site
    that cannot be placed in 400 attempts (too dense, too little martensite) is dropped.
    """
    if not isinstance(config, DPSteelConfig):
        raise InvalidParameterError(f"config must be a DPSteelConfig, got {type(config).__name__}")
    seed = int(as_generator(rng).integers(0, 2**63 - 1))
    sub = [np.random.default_rng([seed, i]) for i in range(4)]
    grains = _r.plan_grains(config, sub[0])
    islands = _r.plan_islands(config, grains, sub[1])
    isl_index = _r.island_index(config, islands)
    salt = (seed * 6364136223846793005 + 1442695040888963407) % 2**64
    sites, shapes = _sites(config, islands, isl_index, salt, sub[2])
    specks = _specks(config, shapes, sub[3])
    site_index = _r.box_index(config, *([s[key] for s in shapes] for key in ("cx", "cy", "ext")))
    return Scene(config=config, seed=seed, sites=sites, islands=islands, grains=grains, specks=specks,
                 site_shapes=shapes, salt=salt, island_index=isl_index, site_index=site_index,
                 speck_index=_r.box_index(config, specks["x"], specks["y"], specks["a"] + 2))


def render_region(scene: Scene, y0: int, x0: int, height: int, width: int, *,
                  return_phase: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Render the window ``[y0, y0+height) x [x0, x0+width)`` (rows, columns, px) of a planned scene.

    The window must lie inside the image. Returns the ``uint8`` gray window, bit for bit the same
    window of the whole rendered image, and with ``return_phase`` also its Boolean martensite mask
    (``True`` on martensite). Work and memory grow with the window, not with the scene.
    """
    cfg = scene.config
    check_int("height", height, 1, cfg.height_px)
    check_int("width", width, 1, cfg.width_px)
    check_int("y0", y0, 0, cfg.height_px - height)
    check_int("x0", x0, 0, cfg.width_px - width)
    n = _r.BLOCK_PX
    img = np.empty((height, width), np.uint8)
    phase = np.empty((height, width), bool) if return_phase else None
    for by in range(y0 // n, (y0 + height - 1) // n + 1):
        for bx in range(x0 // n, (x0 + width - 1) // n + 1):
            block, ph = _r.render_block(scene, by, bx)
            ya, yb = max(y0, by * n), min(y0 + height, (by + 1) * n)
            xa, xb = max(x0, bx * n), min(x0 + width, (bx + 1) * n)
            src = (slice(ya - by * n, yb - by * n), slice(xa - bx * n, xb - bx * n))
            dst = (slice(ya - y0, yb - y0), slice(xa - x0, xb - x0))
            img[dst] = block[src]
            if phase is not None:
                phase[dst] = ph[src]
    return (img, phase) if phase is not None else img


def iter_tiles(scene: Scene, tile: int = 1024) -> Iterator[np.ndarray]:
    """Yield the image as ``(tile, tile)`` uint8 tiles, row-major, zero-padded at the right and bottom.

    Meant for ``tifffile.imwrite(path, tiles, shape=(H, W), dtype="uint8", tile=(tile, tile))``
    (TIFF tiles must be a multiple of 16; a multiple of 256 renders fastest). Memory stays at one tile.
    """
    check_int("tile", tile, 1)
    cfg = scene.config
    for ty in range(0, cfg.height_px, tile):
        for tx in range(0, cfg.width_px, tile):
            out = np.zeros((tile, tile), np.uint8)
            h, w = min(tile, cfg.height_px - ty), min(tile, cfg.width_px - tx)
            out[:h, :w] = render_region(scene, ty, tx, h, w)
            yield out


def synthetic_dp_steel(config: DPSteelConfig | None = None, rng: RandomLike = None) -> tuple[np.ndarray, list[dict]]:
    """Plan and render a whole synthetic DP-steel SEM image (for tests and demos, not real data).

    ``config=None`` means :class:`DPSteelConfig` defaults (1024 x 768, 57.5 nm pixels); ``rng`` is a
    seed or generator. Returns the ``(height_px, width_px)`` uint8 image and the site records of
    :attr:`Scene.sites`.

    Examples
    --------
    >>> img, sites = synthetic_dp_steel(DPSteelConfig(height_px=256, width_px=256), rng=0)
    >>> img.shape, img.dtype.name
    ((256, 256), 'uint8')
    """
    scene = plan_scene(config if config is not None else DPSteelConfig(), rng)
    c = scene.config
    return render_region(scene, 0, 0, c.height_px, c.width_px), [dict(s) for s in scene.sites]
