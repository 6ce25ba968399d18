"""Geometry, island placement and pointwise rendering of :mod:`microdl.simulate.dp_steel` (synthetic images).

Every gray value is a function of the absolute pixel position and the scene, plus the pixel noise of its
fixed ``BLOCK_PX``-square block, ``default_rng([seed, block_row, block_col])``. :func:`render_block`
always renders whole blocks, so any window cut from them is bit for bit that window of the whole image.
Islands, sites and specks are found through :class:`BucketIndex`, so a block's cost does not grow with
the scene. Lengths are in px, ``x`` is the column and ``y`` the row (down), gray levels are 0-255.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from microdl.exceptions import InvalidParameterError

if TYPE_CHECKING:
    from microdl.simulate.dp_steel import DPSteelConfig, Scene

__all__ = ["BLOCK_PX", "S_CLIP", "BucketIndex", "blob_inside", "box_index", "hash01", "island_field",
           "island_index", "martensite_field", "plan_grains", "plan_islands", "points_eval", "render_block",
           "site_masks", "value_noise"]

BLOCK_PX = 256
"""Side of the noise blocks, px; a scene renders the same for any window only at this block size."""
S_CLIP = 10.0
"""The martensite field (about the signed distance to the island boundary, px) is clipped to +-S_CLIP."""
_SUB = 64            # sub-tile of the grain Voronoi search, px
_WARP_PX = 6.0       # amplitude of the grain-boundary warp, px
_EDGE_PX = 1.2       # width of the soft void edge, px
_SOFT_PX = 10.0      # width of the soft shadow edge, px
_HALO_REACH_PX = 12.0
_ROUGH_PX = 4.0      # amplitude of the martensite boundary roughness, px
_U64 = np.uint64
_F = np.float32      # pixel arithmetic (fields and gray levels) is in float32
_SIGMA = 0.5         # log-normal spread of island diameters


def hash01(salt: int, iy: np.ndarray, ix: np.ndarray) -> np.ndarray:
    """Uniform numbers in [0, 1) that depend only on ``(salt, iy, ix)`` (splitmix64 finaliser)."""
    with np.errstate(over="ignore"):
        h = (np.asarray(iy, np.int64).astype(_U64) * _U64(0x9E3779B97F4A7C15)) ^ (
            np.asarray(ix, np.int64).astype(_U64) * _U64(0xC2B2AE3D27D4EB4F)) ^ _U64(salt % 2**64)
        h ^= h >> _U64(30)
        h *= _U64(0xBF58476D1CE4E5B9)
        h ^= h >> _U64(27)
        h *= _U64(0x94D049BB133111EB)
        h ^= h >> _U64(31)
    return (h >> _U64(11)).astype(np.float64) * 2.0**-53


def value_noise(salt: int, y0: int, x0: int, h: int, w: int, cell: float) -> np.ndarray:
    """Smooth lattice noise in [-1, 1] (float32) on ``[y0, y0+h) x [x0, x0+w)``, lattice spacing ``cell`` px."""
    ty = (np.arange(y0, y0 + h) + 0.5) / cell
    tx = (np.arange(x0, x0 + w) + 0.5) / cell
    iy, ix = np.floor(ty).astype(np.int64), np.floor(tx).astype(np.int64)
    fy, fx = (ty - iy).astype(_F), (tx - ix).astype(_F)
    fy, fx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)
    lat = (2.0 * hash01(salt, np.arange(iy[0], iy[-1] + 2)[:, None], np.arange(ix[0], ix[-1] + 2)[None, :])
           - 1.0).astype(_F)
    jy, jx = iy - iy[0], ix - ix[0]
    row = lat[:, jx] + (lat[:, jx + 1] - lat[:, jx]) * fx
    lo = row[jy]
    lo += (row[jy + 1] - lo) * fy[:, None]
    return lo


class BucketIndex:
    """Ids of ``(n, 4)`` boxes ``(x0, y0, x1, y1)`` (px) by square ``cell``-px cells of a grid over
    ``[0, height) x [0, width)`` (rounded up to whole cells), for fast rectangle queries."""

    def __init__(self, boxes: np.ndarray, cell: int, height: int, width: int) -> None:
        self.boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        self.cell = int(cell)
        self.ny, self.nx = -(-int(height) // self.cell), -(-int(width) // self.cell)
        b, c = self.boxes, self.cell
        valid = (b[:, 2] > 0) & (b[:, 3] > 0) & (b[:, 0] < self.nx * c) & (b[:, 1] < self.ny * c)
        ids = np.nonzero(valid)[0]
        cx0, cy0, cx1, cy1 = np.clip(np.floor(b[ids] / c), 0, [self.nx - 1, self.ny - 1] * 2).astype(np.int64).T
        nxi = cx1 - cx0 + 1
        cnt = nxi * (cy1 - cy0 + 1)
        start = np.repeat(np.cumsum(cnt) - cnt, cnt)
        local = np.arange(int(cnt.sum())) - start
        key = (np.repeat(cy0, cnt) + local // np.repeat(nxi, cnt)) * self.nx + np.repeat(cx0, cnt) + (
            local % np.repeat(nxi, cnt))
        order = np.argsort(key, kind="stable")
        self._ids = np.repeat(ids, cnt)[order]
        self._starts = np.searchsorted(key[order], np.arange(self.ny * self.nx + 1))

    def __len__(self) -> int:
        return self.boxes.shape[0]

    def cell_ids(self, cy: int, cx: int) -> np.ndarray:
        """Ids of the boxes touching grid cell ``(cy, cx)``."""
        k = cy * self.nx + cx
        return self._ids[self._starts[k]:self._starts[k + 1]]

    def query(self, x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
        """Sorted ids of the boxes that intersect ``[x0, x1) x [y0, y1)``."""
        c = self.cell
        ax, bx = max(int(x0 // c), 0), min(int((x1 - 1) // c), self.nx - 1)
        ay, by = max(int(y0 // c), 0), min(int((y1 - 1) // c), self.ny - 1)
        if ax > bx or ay > by or not len(self):
            return np.zeros(0, np.int64)
        ids = np.unique(np.concatenate([self.cell_ids(cy, cx) for cy in range(ay, by + 1)
                                        for cx in range(ax, bx + 1)]))
        b = self.boxes[ids]
        return ids[(b[:, 0] < x1) & (b[:, 2] > x0) & (b[:, 1] < y1) & (b[:, 3] > y0)]


def blob_inside(dx, dy, cos, sin, a, b, ha, hb):
    """``R(theta) - r`` of islands: > 0 inside, about the distance to the boundary (px).

    ``R`` is the ellipse radius (semi-axes ``a`` along ``(cos, sin)``, ``b`` across) times
    ``1 + sum_k ha_k cos(k theta) + hb_k sin(k theta)``, ``k = 2..5``; arguments broadcast
    (``ha``, ``hb`` have the harmonics on their last axis).
    """
    u = cos * dx + sin * dy
    v = cos * dy - sin * dx
    r = np.sqrt(u * u + v * v)
    rs = np.maximum(r, 1e-9)
    c1, s1 = u / rs, v / rs
    rad = 1.0 / np.sqrt((c1 / a) ** 2 + (s1 / b) ** 2 + 1e-30)
    ck, sk = c1 * c1 - s1 * s1, 2 * c1 * s1
    f = 1.0 + ha[..., 0] * ck + hb[..., 0] * sk
    for k in range(1, ha.shape[-1]):
        ck, sk = ck * c1 - sk * s1, sk * c1 + ck * s1
        f = f + ha[..., k] * ck + hb[..., k] * sk
    return rad * f - r


def _island_args(isl: dict, ids):
    return (isl["cos"][ids], isl["sin"][ids], isl["a"][ids], isl["b"][ids], isl["ha"][ids], isl["hb"][ids])


def points_eval(isl: dict, index: BucketIndex, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Martensite field (clipped) and the smallest id of an island covering each point (``n`` if none)."""
    n = len(index)
    s_out = np.full(px.shape, -S_CLIP)
    first = np.full(px.shape, n, np.int64)
    if n == 0 or px.size == 0:
        return s_out, first
    key = np.clip((py // index.cell).astype(np.int64), 0, index.ny - 1) * index.nx + np.clip(
        (px // index.cell).astype(np.int64), 0, index.nx - 1)
    order = np.argsort(key, kind="stable")
    cells, starts = np.unique(key[order], return_index=True)
    for k, lo, hi in zip(cells, starts, [*starts[1:], px.size], strict=True):
        pts = order[lo:hi]
        ids = index.cell_ids(k // index.nx, k % index.nx)
        if ids.size == 0:
            continue
        cos, sin, a, b, ha, hb = _island_args(isl, ids)
        s = blob_inside(px[pts, None] - isl["x"][ids], py[pts, None] - isl["y"][ids], cos, sin, a, b, ha, hb)
        s_out[pts] = np.clip(s.max(axis=1), -S_CLIP, S_CLIP)
        first[pts] = np.where(s > 0, ids, n).min(axis=1)
    return s_out, first


def island_field(isl: dict, ids: np.ndarray, y0: int, x0: int, h: int, w: int) -> np.ndarray:
    """Martensite field on a window: max over islands of ``R - r``, clipped to +-S_CLIP (> 0 is martensite)."""
    out = np.full((h, w), -S_CLIP, _F)
    for i in ids:
        reach = isl["rmax"][i] + S_CLIP
        cx, cy = isl["x"][i], isl["y"][i]
        xa, xb = max(int(np.floor(cx - reach)), x0), min(int(np.ceil(cx + reach)) + 1, x0 + w)
        ya, yb = max(int(np.floor(cy - reach)), y0), min(int(np.ceil(cy + reach)) + 1, y0 + h)
        if xa >= xb or ya >= yb:
            continue
        cos, sin, a, b, ha, hb = _island_args(isl, i)
        s = blob_inside((np.arange(xa, xb) - cx).astype(_F)[None, :], (np.arange(ya, yb) - cy).astype(_F)[:, None],
                        float(cos), float(sin), float(a), float(b), ha.astype(_F), hb.astype(_F))
        sub = out[ya - y0:yb - y0, xa - x0:xb - x0]
        np.maximum(sub, s, out=sub)
    return np.minimum(out, S_CLIP, out=out)


def martensite_field(isl: dict, index: BucketIndex, salt: int, y0: int, x0: int, h: int, w: int) -> np.ndarray:
    """:func:`island_field` with a rough, jagged boundary (zero-mean lattice noise of about 3 px)."""
    s_field = island_field(isl, index.query(x0, y0, x0 + w, y0 + h), y0, x0, h, w)
    if s_field.max() > -S_CLIP:
        s_field += _ROUGH_PX * (0.6 * value_noise(salt + 6, y0, x0, h, w, 4.0)
                                + 0.5 * value_noise(salt + 7, y0, x0, h, w, 13.0))
    return s_field


def grain_field(gr: dict, salt: int, y0: int, x0: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Gray offset of the ferrite grain and distance to its nearest boundary (px) on a window.

    Grains are the Voronoi cells of one jittered seed per square cell of side ``gr["cell"]``, seen
    through a smooth warp of amplitude ``_WARP_PX`` (curved boundaries). The search is exact: a
    sub-tile looks at the seeds of 7 x 7 cells and keeps those that can be first or second nearest.
    """
    g, o = gr["cell"], gr["origin"]
    yy = np.arange(h, dtype=_F)[:, None] + _WARP_PX * value_noise(salt, y0, x0, h, w, 90.0)
    xx = np.arange(w, dtype=_F)[None, :] + _WARP_PX * value_noise(salt + 1, y0, x0, h, w, 90.0)
    off, dgb = np.empty((h, w), _F), np.empty((h, w), _F)
    for sy in range(0, h, _SUB):
        for sx in range(0, w, _SUB):
            ty, tx = min(_SUB, h - sy), min(_SUB, w - sx)
            cy, cx = y0 + sy + ty / 2, x0 + sx + tx / 2
            m = 0.5 * _SUB + _WARP_PX
            ry = slice(max(int((cy - m) // g) - 3 + o, 0), int((cy + m) // g) + 4 + o)
            rx = slice(max(int((cx - m) // g) - 3 + o, 0), int((cx + m) // g) + 4 + o)
            gx, gy, gg = gr["x"][ry, rx].ravel(), gr["y"][ry, rx].ravel(), gr["gray"][ry, rx].ravel()
            dc = np.hypot(gx - cx, gy - cy)
            near = int(dc.argmin())
            half = np.hypot(ty, tx) / 2 + 1.5 * _WARP_PX
            sep = np.hypot(gx - gx[near], gy - gy[near])
            sep[near] = 1.0
            bis = (dc**2 - dc[near] ** 2) / (2 * sep)
            bis[near] = np.inf
            if bis.min() >= half + 12.0:  # the whole sub-tile is >= 12 px inside one grain
                off[sy:sy + ty, sx:sx + tx] = gg[near]
                dgb[sy:sy + ty, sx:sx + tx] = np.inf
                continue
            keep = np.nonzero(dc <= np.sort(dc)[1] + 2 * half)[0]
            gx, gy, gg = (gx[keep] - x0).astype(_F), (gy[keep] - y0).astype(_F), gg[keep].astype(_F)
            py, px = yy[sy:sy + ty, sx:sx + tx], xx[sy:sy + ty, sx:sx + tx]
            d = (px[None] - gx[:, None, None]) ** 2 + (py[None] - gy[:, None, None]) ** 2
            i1 = d.argmin(axis=0)[None]
            b1 = np.take_along_axis(d, i1, axis=0)[0]
            np.put_along_axis(d, i1, np.inf, axis=0)
            i1, i2 = i1[0], d.argmin(axis=0)
            b2 = np.take_along_axis(d, i2[None], axis=0)[0]
            sep = np.hypot(gx[i1] - gx[i2], gy[i1] - gy[i2])
            dgb[sy:sy + ty, sx:sx + tx] = (b2 - b1) / (2 * np.maximum(sep, _F(1e-3)))
            off[sy:sy + ty, sx:sx + tx] = gg[i1]
    return off, dgb


def plan_grains(cfg: DPSteelConfig, rng: np.random.Generator) -> dict:
    """Ferrite grain seeds, one per cell of a jittered grid (``cell`` chosen for ``grain_size_um``)."""
    g = cfg.grain_size_um / cfg.pixel_size_um * math.sqrt(math.pi) / 2
    o = 5
    ny, nx = int(math.ceil(cfg.height_px / g)) + 2 * o + 2, int(math.ceil(cfg.width_px / g)) + 2 * o + 2
    iy, ix = np.mgrid[0:ny, 0:nx] - o
    return {"x": (ix + rng.random((ny, nx))) * g, "y": (iy + rng.random((ny, nx))) * g,
            "gray": rng.normal(0.0, cfg.grain_contrast, (ny, nx)), "cell": g, "origin": o}


def _two_nearest(gr: dict, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Seeds ``(n, 2)`` of the nearest and second-nearest (unwarped) grain of each point."""
    g, o = gr["cell"], gr["origin"]
    ny, nx = gr["x"].shape
    d = np.arange(-3, 4)
    iy = np.clip((py // g).astype(np.int64)[:, None, None] + o + d[None, :, None], 0, ny - 1)
    ix = np.clip((px // g).astype(np.int64)[:, None, None] + o + d[None, None, :], 0, nx - 1)
    sx, sy = gr["x"][iy, ix].reshape(px.size, -1), gr["y"][iy, ix].reshape(px.size, -1)
    k = np.argsort((sx - px[:, None]) ** 2 + (sy - py[:, None]) ** 2, axis=1)
    r = np.arange(px.size)
    return (np.stack([sx[r, k[:, 0]], sy[r, k[:, 0]]], 1), np.stack([sx[r, k[:, 1]], sy[r, k[:, 1]]], 1))


def _draw_islands(cfg: DPSteelConfig, gr: dict, rng: np.random.Generator, n: int) -> dict:
    mean_d = cfg.island_size_um / cfg.pixel_size_um
    m = 3.0 * mean_d
    x = rng.uniform(-m, cfg.width_px + m, n)
    y = rng.uniform(-m, cfg.height_px + m, n)
    diam = np.clip(mean_d * np.exp(_SIGMA * rng.standard_normal(n) - _SIGMA**2 / 2), 0.25 * mean_d, 3 * mean_d)
    on_gb = rng.random(n) < cfg.boundary_affinity
    angle = rng.uniform(0, np.pi, n)
    aspect = rng.uniform(1.0, 1.8, n)
    if on_gb.any():
        s1, s2 = _two_nearest(gr, x[on_gb], y[on_gb])
        nrm = (s2 - s1) / np.maximum(np.linalg.norm(s2 - s1, axis=1, keepdims=True), 1e-9)
        t = ((np.stack([x[on_gb], y[on_gb]], 1) - (s1 + s2) / 2) * nrm).sum(1)
        x[on_gb] -= t * nrm[:, 0]
        y[on_gb] -= t * nrm[:, 1]
        angle[on_gb] = np.arctan2(nrm[:, 1], nrm[:, 0]) + np.pi / 2
        aspect[on_gb] = rng.uniform(1.4, 2.6, int(on_gb.sum()))
    k = np.arange(2, 6)
    amp = rng.random((n, 4)) * 0.22 / k**0.7
    psi = rng.uniform(0, 2 * np.pi, (n, 4))
    a, b = diam / 2 * np.sqrt(aspect), diam / 2 / np.sqrt(aspect)
    return {"x": x, "y": y, "cos": np.cos(angle), "sin": np.sin(angle), "a": a, "b": b,
            "ha": amp * np.cos(psi), "hb": amp * np.sin(psi), "rmax": a * (1 + amp.sum(1))}


def box_index(cfg: DPSteelConfig, x, y, r) -> BucketIndex:
    """:class:`BucketIndex` over ``BLOCK_PX`` cells of the boxes ``[x - r, x + r + 2) x [y - r, y + r + 2)``."""
    x, y, r = (np.asarray(t, np.float64) for t in (x, y, r))
    return BucketIndex(np.stack([x - r, y - r, x + r + 2, y + r + 2], 1), BLOCK_PX, cfg.height_px, cfg.width_px)


def island_index(cfg: DPSteelConfig, isl: dict) -> BucketIndex:
    """Index of the islands' reach (bounding radius + ``S_CLIP``)."""
    return box_index(cfg, isl["x"], isl["y"], isl["rmax"] + S_CLIP)


def plan_islands(cfg: DPSteelConfig, gr: dict, rng: np.random.Generator) -> dict:
    """Boolean model of islands whose union covers ``martensite_fraction`` of the image.

    The number kept is calibrated on 60 000 random points: the k-th island of the drawn pool is kept
    for ``k < N``, with ``N`` the smallest count whose union covers the fraction of the points.
    """
    f = cfg.martensite_fraction
    pool = _draw_islands(cfg, gr, rng, 0)
    if f == 0:
        return pool
    mean_d = cfg.island_size_um / cfg.pixel_size_um
    m = 6.0 * mean_d
    area = (cfg.width_px + m) * (cfg.height_px + m)
    n_new = int(1.5 * -math.log(1 - f) * area / (math.pi / 4 * mean_d**2 * math.exp(_SIGMA**2))) + 16
    n_pts = 60_000
    px, py = rng.uniform(0, cfg.width_px, n_pts), rng.uniform(0, cfg.height_px, n_pts)
    need = int(math.ceil(f * n_pts))
    for _ in range(8):
        more = _draw_islands(cfg, gr, rng, n_new)
        pool = {k: np.concatenate([pool[k], more[k]]) for k in more}
        n_pool = pool["x"].size
        _, first = points_eval(pool, island_index(cfg, pool), px, py)
        first = np.sort(first)
        if first[need - 1] < n_pool:
            keep = int(first[need - 1]) + 1
            return {k: v[:keep] for k, v in pool.items()}
        n_new = n_pool
    raise InvalidParameterError(f"martensite_fraction={f} could not be reached with islands of "
                                f"island_size_um={cfg.island_size_um}; expected a smaller fraction")


def _ellipse(dx, dy, c, s, a, b):
    """Approximate signed distance (px, > 0 outside) to an ellipse and the downward part of its normal."""
    u, v = c * dx + s * dy, c * dy - s * dx
    r = np.sqrt(u * u + v * v)
    rho = np.sqrt((u / a) ** 2 + (v / b) ** 2)
    sd = np.where(rho > 1e-9, (rho - 1.0) * r / np.maximum(rho, 1e-9), -b)
    gu, gv = u / a**2, v / b**2
    return sd, (s * gu + c * gv) / (np.sqrt(gu * gu + gv * gv) + 1e-12)


def _crack(dx, dy, sp):
    """Signed distance (px) to a tapered, zig-zag crack of length ``L`` and width ``w``."""
    c, s = sp["c"], sp["s"]
    u, v = c * dx + s * dy, c * dy - s * dx
    v = v - sp["amp"] * np.sin(2 * np.pi * u / sp["lam"] + sp["ph"])
    half = sp["L"] / 2
    du = np.maximum(np.abs(u) - half, 0.0)
    t = np.minimum(np.abs(u) / half, 1.0)
    sd = np.sqrt(du * du + v * v) - 0.5 * sp["w"] * (1 - 0.45 * t * t)
    nu = du * np.sign(u)
    return sd, (s * nu + c * v) / (np.sqrt(nu * nu + v * v) + 1e-12)


def site_masks(sp: dict, yy: np.ndarray, xx: np.ndarray, s_field: np.ndarray, halo_gray: float) -> dict:
    """Layers of one site on a window: void ``v`` and its gray ``dark``, ``halo``, particle, ridge.

    ``yy`` is a column and ``xx`` a row of absolute pixel coordinates, ``s_field`` the martensite
    field on the window. Weights are in [0, 1]; ``halo`` and ``bright`` are gray levels to add.
    """
    dx, dy = xx - sp["cx"], yy - sp["cy"]
    out = {"dark": sp.get("core", None), "pm": None, "bright": None}
    label = sp["label"]
    if label == "martensite":
        sd, ny = _crack(dx, dy, sp)
        mask = np.clip(s_field + 1.5, 0.0, 1.0)
    else:
        sd, ny = _ellipse(dx, dy, sp["c"], sp["s"], sp["a"], sp["b"])
        mask = np.clip(0.5 - s_field, 0.0, 1.0) if label == "interface" else 1.0
    if label == "shadow":
        t = np.clip(0.5 - sd / _SOFT_PX, 0.0, 1.0)
        out["v"] = t * t * (3 - 2 * t)
        out["halo"] = 0.0
        sdr, _ = _ellipse(xx - sp["rx"], yy - sp["ry"], sp["c"], sp["s"], sp["ra"], sp["rb"])
        out["bright"] = sp["rgray"] * np.clip(0.5 - sdr / 1.5, 0.0, 1.0)
        return out
    out["v"] = np.clip(0.5 - sd / _EDGE_PX, 0.0, 1.0) * mask
    pos = np.maximum(ny, 0.0)
    fade = np.clip((_HALO_REACH_PX - sd) / 4.0, 0.0, 1.0)
    out["halo"] = (sp["halo"] * halo_gray * (0.35 + 0.65 * pos) * fade * mask
                   * np.exp(-np.maximum(sd, 0.0) / (1.5 + 4.5 * pos)))
    if "pr" in sp:
        out["pm"] = np.clip(0.5 - (np.hypot(xx - sp["px"], yy - sp["py"]) - sp["pr"]), 0.0, 1.0)
    return out


def _specks(scene: Scene, img: np.ndarray, y0: int, x0: int) -> None:
    sk = scene.specks
    h, w = img.shape
    for i in scene.speck_index.query(x0, y0, x0 + w, y0 + h):
        xa, xb = max(int(sk["x"][i] - sk["a"][i]) - 2, x0), min(int(sk["x"][i] + sk["a"][i]) + 3, x0 + w)
        ya, yb = max(int(sk["y"][i] - sk["a"][i]) - 2, y0), min(int(sk["y"][i] + sk["a"][i]) + 3, y0 + h)
        if xa < xb and ya < yb:
            sd, _ = _ellipse((np.arange(xa, xb) - sk["x"][i])[None, :], (np.arange(ya, yb) - sk["y"][i])[:, None],
                             sk["c"][i], sk["s"][i], sk["a"][i], sk["b"][i])
            img[ya - y0:yb - y0, xa - x0:xb - x0] += sk["gray"][i] * np.clip(0.5 - sd / 0.8, 0.0, 1.0)


def background(scene: Scene, y0: int, x0: int, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Noise-free gray of ferrite, martensite and specks on a window, and the martensite field."""
    cfg, salt = scene.config, scene.salt
    off, dgb = grain_field(scene.grains, salt, y0, x0, h, w)
    img = float(cfg.ferrite_gray) + off + 3.0 * value_noise(salt + 2, y0, x0, h, w, 40.0)
    img += float(cfg.boundary_gray) * np.exp(-(dgb / 1.3) ** 2)
    s_field = martensite_field(scene.islands, scene.island_index, salt, y0, x0, h, w)
    if s_field.max() > -0.5:
        laths = value_noise(salt + 8, y0, x0, h, w, 9.0)
        tex = float(cfg.martensite_texture) * (0.5 * value_noise(salt + 3, y0, x0, h, w, 2.5)
                                        + 0.35 * value_noise(salt + 4, y0, x0, h, w, 7.0)
                                        + 0.45 * value_noise(salt + 5, y0, x0, h, w, 23.0)
                                        + 1.2 * np.exp(-((laths / 0.12) ** 2)) - 0.3)
        mart = float(cfg.martensite_gray) + tex + float(cfg.rim_gray) * np.exp(-np.maximum(s_field, 0.0) / 2.0)
        wm = np.clip(s_field + 0.5, 0.0, 1.0)
        img = img * (1 - wm) + mart * wm
    _specks(scene, img, y0, x0)
    return img, s_field


def draw_sites(scene: Scene, img: np.ndarray, s_field: np.ndarray, y0: int, x0: int) -> np.ndarray:
    """Draw the sites touching the window into ``img`` (in place); return the void weight ``V``."""
    cfg = scene.config
    h, w = img.shape
    vmax = np.zeros((h, w), _F)
    for i in scene.site_index.query(x0, y0, x0 + w, y0 + h):
        sp = scene.site_shapes[i]
        e = sp["ext"]
        xa, xb = max(int(sp["cx"] - e), x0), min(int(sp["cx"] + e) + 2, x0 + w)
        ya, yb = max(int(sp["cy"] - e), y0), min(int(sp["cy"] + e) + 2, y0 + h)
        if xa >= xb or ya >= yb:
            continue
        win = (slice(ya - y0, yb - y0), slice(xa - x0, xb - x0))
        m = site_masks(sp, np.arange(ya, yb, dtype=_F)[:, None], np.arange(xa, xb, dtype=_F)[None, :],
                       s_field[win], cfg.halo_gray)
        sub, v = img[win], m["v"]
        dark = cfg.void_gray if m["dark"] is None else m["dark"]
        sub[...] = (sub + m["halo"]) * (1 - v) + dark * v
        if m["bright"] is not None:
            sub += m["bright"]
        if m["pm"] is not None:
            sub[...] = sub * (1 - m["pm"]) + sp["pgray"] * m["pm"]
        np.maximum(vmax[win], v, out=vmax[win])
    return vmax


def render_block(scene: Scene, by: int, bx: int) -> tuple[np.ndarray, np.ndarray]:
    """Render noise block ``(by, bx)`` in full: ``uint8`` gray image and Boolean martensite mask."""
    cfg, n = scene.config, BLOCK_PX
    y0, x0 = by * n, bx * n
    img, s_field = background(scene, y0, x0, n, n)
    vmax = draw_sites(scene, img, s_field, y0, x0)
    z = np.random.default_rng([scene.seed, by, bx]).standard_normal((n, n), dtype=_F)
    img += float(cfg.noise_std) * np.sqrt(np.maximum(img, 0.0) / float(cfg.ferrite_gray)) * z
    img = np.where(vmax > 0.02, img, np.maximum(img, float(cfg.floor_gray)))
    return np.rint(np.clip(img, 0, 255)).astype(np.uint8), s_field > 0
