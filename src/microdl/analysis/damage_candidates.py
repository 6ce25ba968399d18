"""Candidate damage sites in SEM images: dark clusters, as Kerzel et al. (2021) find them.

The authors' pipeline (public code of Kerzel et al.): pixels darker than a threshold (20 of
255) are clustered with DBSCAN (``eps=1``, ``min_samples=5``) on their pixel coordinates,
clusters of more than 20 pixels are kept, their holes filled, and sites whose centroids lie
within 50 px of each other are merged. Every step is a parameter of :class:`DetectConfig`.

DBSCAN with ``eps=1`` on integer pixel coordinates is a morphological operation: a pixel's
``eps``-neighbourhood is itself and its 4 neighbours, so *core* pixels are dark pixels with
at least ``min_samples`` dark pixels in that cross, clusters are the 4-connected components
of core pixels, and each non-core dark pixel next to a core pixel joins that cluster (the
rest is noise). :func:`dark_clusters` with ``method="dbscan"`` computes exactly that with
shifted sums and ``scipy.ndimage.label`` (identical to scikit-learn's ``DBSCAN``, including
which cluster takes a border pixel touching two: the first in raster order; tested), in a time
that grows with the image rather than with its dark pixels, and it streams in bands like the
rest; on the images measured it is as fast as scikit-learn's, and ``method="components"``
(plain 4-connected components of the dark mask, no core test) is several times faster.
The core test has a cost in recall: a crack at most 2 px wide has no core pixel, so DBSCAN
drops it. ``benchmarks/damage/`` measures both on a synthetic 20,000 x 20,000 panorama.

:func:`detect_sites` streams a :class:`~microdl.io.panorama.Panorama` in row bands with an
overlap, so a panorama of any size is processed in bounded memory; a cluster cut by a band
edge is re-read in a window grown until it is whole, and each cluster is counted once, by
the band that owns its first pixel.

References
----------
Kerzel, U. et al. (2021). Automated damage classification in dual-phase steel. TMS.
Ester, M. et al. (1996). A density-based algorithm for discovering clusters. KDD.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from microdl.exceptions import InvalidParameterError, check_positive

__all__ = ["DetectConfig", "dark_clusters", "dbscan_reference", "cluster_sites", "merge_sites", "detect_sites",
           "site_crops"]

METHODS = ("components", "dbscan")
_CROSS = ndimage.generate_binary_structure(2, 1)


@dataclass(frozen=True)
class DetectConfig:
    """Settings of candidate detection (defaults: the authors' values).

    Attributes
    ----------
    threshold
        A pixel is dark below this gray level, on the 0-255 scale (16-bit images are compared
        with ``threshold * 257``).
    method
        ``"components"`` (4-connected components of dark pixels) or ``"dbscan"`` (the exact
        DBSCAN ``eps=1`` clusters, see the module docstring).
    min_samples
        DBSCAN's core-point count within the cross neighbourhood (itself included); only
        for ``method="dbscan"``.
    min_area_px
        Clusters with more than this many dark pixels are kept.
    fill_holes
        Fill enclosed holes of each kept cluster (its area then counts them).
    merge_radius_px
        Sites whose centroids lie within this distance (pixels) are merged (single linkage);
        0 switches merging off.
    band_px, margin_px
        Rows per band when streaming a panorama and the overlap read above and below.
    smooth_px
        Gaussian smoothing (standard deviation, pixels) before the threshold; 0 (the authors'
        choice) thresholds the raw pixels. About 1 px finds small voids whose dark pixels pixel
        noise has broken up (see ``benchmarks/damage``).
    """

    threshold: float = 20.0
    method: str = "components"
    min_samples: int = 5
    min_area_px: int = 20
    fill_holes: bool = True
    merge_radius_px: float = 50.0
    band_px: int = 1024
    margin_px: int = 128
    smooth_px: float = 0.0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InvalidParameterError(f"method must be one of {METHODS}, got {self.method!r}")
        check_positive("threshold", self.threshold)
        if not 1 <= self.min_samples <= 5:
            raise InvalidParameterError(f"min_samples must be 1..5 (the cross has 5 pixels), got {self.min_samples}")
        check_positive("min_area_px", self.min_area_px, allow_zero=True)
        check_positive("merge_radius_px", self.merge_radius_px, allow_zero=True)
        check_positive("band_px", self.band_px)
        check_positive("margin_px", self.margin_px)
        check_positive("smooth_px", self.smooth_px, allow_zero=True)
        if self.margin_px < _edge(self) + 1:
            raise InvalidParameterError(f"margin_px must be >= 3 + ceil(3 * smooth_px) = {_edge(self) + 1} so "
                                        f"clusters and smoothing see past band edges, got {self.margin_px}")

    def to_dict(self) -> dict:
        return asdict(self)


def _dark(image: np.ndarray, threshold: float, smooth_px: float = 0.0) -> np.ndarray:
    scale = 257.0 if image.dtype == np.uint16 else 1.0
    if smooth_px > 0:
        image = ndimage.gaussian_filter(image.astype(np.float32), smooth_px, mode="reflect", truncate=3.0)
    return image < threshold * scale


def dark_clusters(image: np.ndarray, *, threshold: float = 20.0, method: str = "components",
                  min_samples: int = 5, smooth_px: float = 0.0) -> tuple[np.ndarray, int]:
    """Label the clusters of dark pixels of a 2D gray image.

    ``smooth_px > 0`` thresholds a Gaussian-smoothed copy (standard deviation in pixels),
    which joins the speckled dark pixels of small voids in noisy SEM images.

    Returns ``(labels, n)``: ``labels`` is ``int32`` of the image's shape, 0 for pixels in no
    cluster (bright, or DBSCAN noise), ``1..n`` for the clusters.
    """
    if image.ndim != 2:
        raise InvalidParameterError(f"image must be 2D (height, width), got shape {image.shape}")
    if method not in METHODS:
        raise InvalidParameterError(f"method must be one of {METHODS}, got {method!r}")
    dark = _dark(image, threshold, smooth_px)
    if method == "components":
        labels, n = ndimage.label(dark, structure=_CROSS)
        return labels.astype(np.int32, copy=False), int(n)
    # dark pixels in each pixel's cross (itself and 4 neighbours), by shifted sums
    count = dark.astype(np.uint8)
    count[1:] += dark[:-1]
    count[:-1] += dark[1:]
    count[:, 1:] += dark[:, :-1]
    count[:, :-1] += dark[:, 1:]
    core = dark & (count >= min_samples)
    labels, n = ndimage.label(core, structure=_CROSS)
    labels = labels.astype(np.int32, copy=False)
    ys, xs = np.nonzero(dark & ~core)
    if len(ys):
        # a border pixel joins the cluster of a core neighbour; when two touch, the one with the
        # smaller label, i.e. the first in raster order, as DBSCAN's expansion order gives it
        big = np.iinfo(np.int32).max
        h, w = labels.shape
        best = np.full(len(ys), big, np.int64)
        for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            ny, nx = ys + dy, xs + dx
            ok = (ny >= 0) & (ny < h) & (nx >= 0) & (nx < w)
            lab = np.zeros(len(ys), np.int64)
            lab[ok] = labels[ny[ok], nx[ok]]
            best = np.where(lab > 0, np.minimum(best, lab), best)
        labels[ys, xs] = np.where(best < big, best, 0)
    return labels, int(n)


def dbscan_reference(image: np.ndarray, *, threshold: float = 20.0, eps: float = 1.0,
                     min_samples: int = 5) -> tuple[np.ndarray, int]:
    """The same clusters with scikit-learn's ``DBSCAN`` on dark-pixel coordinates (slow; for checks)."""
    from sklearn.cluster import DBSCAN

    ys, xs = np.nonzero(_dark(image, threshold))
    labels = np.zeros(image.shape, dtype=np.int32)
    if len(ys) == 0:
        return labels, 0
    found = DBSCAN(eps=eps, min_samples=min_samples).fit_predict(np.c_[ys, xs])
    labels[ys, xs] = found + 1  # noise (-1) -> 0
    return labels, int(found.max() + 1)


def cluster_sites(labels: np.ndarray, *, min_area_px: int = 20, fill_holes: bool = True,
                  offset: tuple[int, int] = (0, 0)) -> list[dict]:
    """One dict per cluster with more than ``min_area_px`` pixels.

    Keys: ``x``, ``y`` (centroid of the, optionally hole-filled, cluster, pixels, ``x`` the
    column, shifted by ``offset = (row, column)``), ``area_px`` (after filling),
    ``dark_px`` (before), ``bbox`` ``(x0, y0, x1, y1)`` (exclusive ends) and ``first``
    ``(row, column)`` of its first pixel in raster order (used to own a cluster once).
    """
    counts = np.bincount(labels.ravel())
    keep = np.nonzero(counts > min_area_px)[0]
    keep = keep[keep > 0]
    if len(keep) == 0:
        return []
    slices = ndimage.find_objects(labels, max_label=int(keep.max()))
    oy, ox = offset
    sites = []
    for k in keep:
        sl = slices[k - 1]
        mask = labels[sl] == k
        if fill_holes:
            mask = ndimage.binary_fill_holes(mask)
        ys, xs = np.nonzero(mask)
        first_row = np.nonzero(labels[sl][0] == k)[0][0]
        sites.append({
            # means of absolute coordinates: the same bits whichever band or window saw the cluster
            "x": float((xs + (sl[1].start + ox)).mean()), "y": float((ys + (sl[0].start + oy)).mean()),
            "area_px": int(len(ys)), "dark_px": int(counts[k]),
            "bbox": (sl[1].start + ox, sl[0].start + oy, sl[1].stop + ox, sl[0].stop + oy),
            "first": (sl[0].start + oy, int(first_row) + sl[1].start + ox),
        })
    return sites


def merge_sites(sites: list[dict], radius_px: float) -> list[dict]:
    """Merge sites whose centroids are within ``radius_px`` (single linkage).

    A merged site has the area-weighted centroid, the summed areas, the union of the boxes and
    ``n_clusters``, the number of clusters it holds. Order: by first pixel.
    """
    if not sites:
        return []
    for s in sites:
        s.setdefault("n_clusters", 1)
    if radius_px <= 0 or len(sites) == 1:
        return sorted(sites, key=lambda s: s["first"])
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    xy = np.array([[s["x"], s["y"]] for s in sites])
    pairs = cKDTree(xy).query_pairs(radius_px, output_type="ndarray")
    n = len(sites)
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n)) if len(pairs) else \
        coo_matrix((n, n))
    _, group = connected_components(graph, directed=False)
    merged = []
    for g in np.unique(group):
        members = [sites[i] for i in np.nonzero(group == g)[0]]
        if len(members) == 1:
            merged.append(members[0])
            continue
        area = np.array([m["area_px"] for m in members], dtype=float)
        boxes = np.array([m["bbox"] for m in members])
        merged.append({
            "x": float(np.dot(area, [m["x"] for m in members]) / area.sum()),
            "y": float(np.dot(area, [m["y"] for m in members]) / area.sum()),
            "area_px": int(area.sum()), "dark_px": int(sum(m["dark_px"] for m in members)),
            "bbox": (int(boxes[:, 0].min()), int(boxes[:, 1].min()), int(boxes[:, 2].max()), int(boxes[:, 3].max())),
            "first": min(m["first"] for m in members),
            "n_clusters": int(sum(m["n_clusters"] for m in members)),
        })
    return sorted(merged, key=lambda s: s["first"])


def _clusters(image: np.ndarray, config: DetectConfig) -> tuple[np.ndarray, int]:
    return dark_clusters(image, threshold=config.threshold, method=config.method, min_samples=config.min_samples,
                         smooth_px=config.smooth_px)


def _edge(config: DetectConfig) -> int:
    """Pixels from a window edge (not the image's) within which a cluster may be cut or blurred."""
    return 2 + int(np.ceil(3 * config.smooth_px))


def _whole_cluster(panorama, row: int, col: int, bbox: tuple, config: DetectConfig) -> dict | None:
    """Re-read a cluster cut by a band edge in a window grown until it lies inside (``_edge`` px clear)."""
    h, w = panorama.shape
    pad, e = config.margin_px, _edge(config)
    x0, y0, x1, y1 = bbox
    while True:
        ya, yb, xa, xb = max(0, y0 - pad), min(h, y1 + pad), max(0, x0 - pad), min(w, x1 + pad)
        labels, _ = _clusters(panorama.read(ya, xa, yb - ya, xb - xa), config)
        k = labels[row - ya, col - xa]
        if k == 0:  # the pixel is not in a cluster once its whole neighbourhood is seen
            return None
        rows, cols = np.nonzero(labels == k)
        cut = ((rows.min() < e and ya > 0) or (rows.max() >= yb - ya - e and yb < h)
               or (cols.min() < e and xa > 0) or (cols.max() >= xb - xa - e and xb < w))
        if not cut:
            one = np.where(labels == k, 1, 0).astype(np.int32)
            found = cluster_sites(one, min_area_px=config.min_area_px, fill_holes=config.fill_holes,
                                  offset=(ya, xa))
            return found[0] if found else None
        x0, y0, x1, y1 = xa + cols.min(), ya + rows.min(), xa + cols.max() + 1, ya + rows.max() + 1
        pad *= 2


def detect_sites(panorama, config: DetectConfig | None = None, *, progress: bool = False) -> list[dict]:
    """Candidate damage sites of a whole panorama, streamed in bands.

    Parameters
    ----------
    panorama
        A :class:`microdl.io.panorama.Panorama` (anything with ``shape``, ``read`` and
        ``iter_bands``).
    config
        Detection settings; the authors' defaults if ``None``.
    progress
        Show a progress bar over the bands on stderr.

    Returns
    -------
    list of dict
        One per site after merging, ordered by first pixel, with ``site`` (0-based index),
        ``x``, ``y`` (centroid, pixels), ``area_px``, ``dark_px``, ``bbox`` ``(x0, y0, x1, y1)``
        and ``n_clusters``.
    """
    config = config or DetectConfig()
    h, w = panorama.shape
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=h, desc="detect", unit="row", file=sys.stderr)
    found: dict[tuple, dict] = {}
    for ya, y_own, band in panorama.iter_bands(config.band_px, config.margin_px):
        own_end = min(y_own + config.band_px, h)
        labels, n = _clusters(band, config)
        # keep the big clusters and those touching a cut edge (their size is known only once whole)
        wanted = np.bincount(labels.ravel(), minlength=n + 1) > config.min_area_px
        e = _edge(config)
        if ya > 0:
            wanted[labels[:e].ravel()] = True
        if ya + band.shape[0] < h:
            wanted[labels[-e:].ravel()] = True
        wanted[0] = False
        labels = np.where(wanted, np.arange(n + 1), 0).astype(np.int32)[labels]
        for site in cluster_sites(labels, min_area_px=0, fill_holes=config.fill_holes, offset=(ya, 0)):
            x0, y0, x1, y1 = site["bbox"]
            cut = (y0 - ya < e and ya > 0) or (ya + band.shape[0] - y1 < e and ya + band.shape[0] < h)
            if not cut and not y_own <= site["first"][0] < own_end:
                continue  # whole here, but owned by a neighbouring band
            if cut:
                site = _whole_cluster(panorama, *site["first"], site["bbox"], config)
                if site is None or not y_own <= site["first"][0] < own_end:
                    continue
            if site["dark_px"] > config.min_area_px:
                found[site["first"]] = site
        if bar is not None:
            bar.update(own_end - y_own)
    if bar is not None:
        bar.close()
    sites = merge_sites(list(found.values()), config.merge_radius_px)
    for i, s in enumerate(sites):
        s["site"] = i
        s["bbox"] = tuple(int(v) for v in s["bbox"])
        s.pop("first")
    return sites


def site_crops(panorama, sites: list[dict], size: int) -> np.ndarray:
    """Square ``size x size`` crops centred on each site's centroid, ``(n, size, size)``.

    Windows that reach past the image edge are completed by mirroring the image (``reflect``),
    so a classifier never sees an artificial black border that looks like a void.
    """
    check_positive("size", size)
    h, w = panorama.shape
    out = np.empty((len(sites), size, size), dtype=panorama.dtype)
    for i, s in enumerate(sites):
        y0, x0 = int(round(s["y"])) - size // 2, int(round(s["x"])) - size // 2
        ya, yb, xa, xb = max(0, y0), min(h, y0 + size), max(0, x0), min(w, x0 + size)
        win = panorama.read(ya, xa, yb - ya, xb - xa)
        pads = ((ya - y0, y0 + size - yb), (xa - x0, x0 + size - xb))
        out[i] = np.pad(win, pads, mode="reflect" if min(win.shape) > 1 else "edge") if any(map(any, pads)) else win
    return out
