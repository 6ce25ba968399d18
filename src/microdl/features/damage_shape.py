"""Hand-made features of a damage site, for the classical baseline: shape of the void and its surroundings.

:class:`SiteShapeFeatures` is a scikit-learn transformer: for each crop centred on a site it
takes the dark component nearest the centre (pixels below ``threshold``, gray 0-255) and
measures what a metallographer looks at: size, elongation and orientation of the void
(moments), how convex it is, whether it holds a particle (a bright hole inside, as an
inclusion does), how bright its surroundings are (martensite is brighter than ferrite) and
the crop's overall contrast. :func:`shape_forest` puts it in front of a random forest.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from sklearn.base import BaseEstimator, TransformerMixin

__all__ = ["SiteShapeFeatures", "shape_forest", "FEATURE_NAMES"]

FEATURE_NAMES = ("area", "filled_area", "hole_fraction", "major_axis", "minor_axis", "elongation",
                 "abs_cos_orientation", "abs_sin_orientation", "solidity", "extent", "hole_mean", "ring_mean",
                 "ring_std", "crop_mean", "crop_std", "dark_fraction", "n_components")


def _features(crop: np.ndarray, threshold: float) -> np.ndarray:
    img = crop.astype(np.float64)
    if crop.dtype == np.uint16:
        img /= 257.0
    dark = img < threshold
    labels, n = ndimage.label(dark)
    out = np.zeros(len(FEATURE_NAMES))
    out[-4:] = img.mean(), img.std(), dark.mean(), n
    if n == 0:
        return out
    h, w = img.shape
    cy, cx = (h - 1) / 2, (w - 1) / 2
    dist = ndimage.labeled_comprehension(np.hypot(*np.mgrid[:h, :w] - np.array([cy, cx])[:, None, None]),
                                         labels, np.arange(1, n + 1), np.min, float, np.inf)
    mask = labels == (int(np.argmin(dist)) + 1)
    filled = ndimage.binary_fill_holes(mask)
    ys, xs = np.nonzero(filled)
    area, filled_area = mask.sum(), filled.sum()
    cov = np.cov(np.vstack([xs, ys])) if len(xs) > 1 else np.zeros((2, 2))
    evals, evecs = np.linalg.eigh(cov)
    major, minor = 4 * np.sqrt(max(evals[1], 0)), 4 * np.sqrt(max(evals[0], 0))
    vx, vy = evecs[:, 1]
    hull_area = _convex_area(xs, ys)
    box = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    holes = filled & ~mask
    ring = ndimage.binary_dilation(filled, iterations=6) & ~ndimage.binary_dilation(filled, iterations=2)
    out[:13] = (area, filled_area, holes.sum() / filled_area, major, minor, major / max(minor, 1.0),
                abs(vx), abs(vy), filled_area / max(hull_area, 1.0), filled_area / box,
                img[holes].mean() if holes.any() else 0.0, img[ring].mean() if ring.any() else img.mean(),
                img[ring].std() if ring.any() else 0.0)
    return out


def _convex_area(xs: np.ndarray, ys: np.ndarray) -> float:
    """Area of the convex hull of the pixel squares (pixel count for degenerate hulls)."""
    if len(xs) < 3:
        return float(len(xs))
    from scipy.spatial import ConvexHull, QhullError

    pts = np.concatenate([np.c_[xs + dx, ys + dy] for dx in (-0.5, 0.5) for dy in (-0.5, 0.5)])
    try:
        return float(ConvexHull(pts).volume)
    except QhullError:
        return float(len(xs))


class SiteShapeFeatures(BaseEstimator, TransformerMixin):
    """Crops ``(n, s, s)`` (gray 0-255, or uint16) -> ``(n, len(FEATURE_NAMES))`` shape features.

    Parameters
    ----------
    threshold
        Gray level (0-255) below which a pixel belongs to the void, as in detection.

    Examples
    --------
    >>> import numpy as np
    >>> crop = np.full((32, 32), 120, np.uint8); crop[12:20, 8:24] = 0
    >>> f = SiteShapeFeatures().fit_transform(crop[None])
    >>> int(f[0, 0]), round(float(f[0, 6]), 2)   # area, |cos| of the long axis (horizontal)
    (128, 1.0)
    """

    def __init__(self, threshold: float = 20.0) -> None:
        self.threshold = threshold

    def fit(self, X, y=None):  # noqa: N803  (scikit-learn's name)
        self.n_features_out_ = len(FEATURE_NAMES)
        return self

    def transform(self, X) -> np.ndarray:  # noqa: N803
        crops = np.asarray(X)
        if crops.ndim != 3:
            from microdl.exceptions import ShapeError

            raise ShapeError(f"crops must be (n, s, s), got shape {crops.shape}")
        return np.stack([_features(c, self.threshold) for c in crops]) if len(crops) else \
            np.zeros((0, len(FEATURE_NAMES)))

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        return np.array(FEATURE_NAMES, dtype=object)


def shape_forest(threshold: float = 20.0, n_estimators: int = 300, seed: int = 0):
    """``SiteShapeFeatures -> RandomForestClassifier`` (balanced classes), the classical baseline."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import make_pipeline

    return make_pipeline(SiteShapeFeatures(threshold), RandomForestClassifier(
        n_estimators=n_estimators, class_weight="balanced", random_state=seed, n_jobs=1))
