"""Classical texture descriptors of gray micrographs and an SVM baseline built on them.

:class:`TextureFeatures` turns a list of 2-D gray images (SEM micrographs, any sizes) into
one feature row per image from up to three families, the texture measures a microscopist
expects for lamellar, spheroidised and network microstructures:

``"lbp"``
    Uniform, rotation-invariant local binary patterns (Ojala et al. 2002) at radii ``R`` of
    ``lbp_radii`` pixels with ``P = 8 R`` neighbours each (:func:`skimage.feature.local_binary_pattern`,
    ``method="uniform"``): the normalised histogram of the ``P + 2`` codes over the pixels at least
    ``R`` from the border. Invariant to monotone gray-level changes and, for rotations by multiples of
    ``360 / P`` degrees (90 degrees at every radius), to rotation.
``"gabor"``
    A Gabor filter bank: ``gabor_orientations`` orientations ``theta = 0, 180/n, ...`` degrees times the
    frequencies ``gabor_frequencies`` (cycles per pixel); for each filter the mean and the standard
    deviation of the magnitude of the complex response. The kernels are those of
    :func:`skimage.filters.gabor` (isotropic Gaussian envelope of one octave bandwidth,
    ``sigma = 0.56 / f`` pixels, unit integral), applied as their analytic Fourier transforms on the
    mirror-padded image (one FFT per image, one inverse FFT per filter). The image is first
    standardised (zero mean, unit standard deviation) so the statistics do not depend on the
    brightness and contrast of the microscope settings; they are dimensionless.
``"two_point"``
    The two-point autocorrelation ``S2(r)`` of the image thresholded at its Otsu level
    (:func:`skimage.filters.threshold_otsu`; phase = pixels brighter than the threshold), computed by
    :func:`microdl.features.two_point.autocorrelation` (non-periodic) and averaged over displacements of
    the same rounded length ``|r| = 0, 1, ..., two_point_max_radius`` pixels. ``S2(0)`` is the phase's
    area fraction; ``S2`` tends to its square for uncorrelated distances.

With ``downsample = k > 1`` every image is first reduced by averaging ``k x k`` blocks (the remainder
rows and columns are dropped); all lengths above (radii, ``1 / f``, ``|r|``) are then in pixels of
the reduced image. :func:`texture_svm` is the baseline classifier: these features, standardised,
into an RBF support-vector machine.

References
----------
Ojala, T., Pietikainen, M., Maenpaa, T. (2002). Multiresolution gray-scale and rotation invariant
texture classification with local binary patterns. IEEE TPAMI 24(7), 971-987.
DeCost, B. L., Holm, E. A. (2015). A computer vision approach for automated analysis and
classification of microstructural image data. Comput. Mater. Sci. 110, 126-133.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils.validation import check_is_fitted

from microdl.exceptions import InvalidParameterError, NonFiniteError, ShapeError, UnknownNameError
from microdl.features.two_point import autocorrelation

__all__ = ["FAMILIES", "TextureFeatures", "texture_svm", "radial_average"]

FAMILIES = ("lbp", "gabor", "two_point")
"""Names of the feature families, in the order of the output columns."""

_SIGMA_PER_WAVELENGTH = float(np.sqrt(np.log(2) / 2) / np.pi * 3.0)
"""``sigma * f`` of skimage's Gabor kernel at a bandwidth of one octave:
``sqrt(ln 2 / 2) / pi * (2 + 1) / (2 - 1)``."""


def _is_int(x: Any) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool)


def radial_average(window: np.ndarray, max_radius: int) -> np.ndarray:
    """Average a centred ``(..., 2c+1, 2c+1)`` window over displacements of equal rounded length.

    Parameters
    ----------
    window
        Values at displacements ``-c..c`` on both axes, ``r = 0`` at ``[c, c]``.
    max_radius
        Largest length kept (pixels), at most ``c``.

    Returns
    -------
    ``(..., max_radius + 1)`` array: entry ``j`` is the mean over ``round(|r|) == j``.
    """
    c = (window.shape[-1] - 1) // 2
    ry, rx = np.mgrid[-c:c + 1, -c:c + 1]
    ring = np.rint(np.hypot(ry, rx)).astype(np.int64).ravel()
    keep = ring <= max_radius
    counts = np.bincount(ring[keep], minlength=max_radius + 1)
    flat = window.reshape(*window.shape[:-2], -1)[..., keep]
    one_hot = np.zeros((int(keep.sum()), max_radius + 1))
    one_hot[np.arange(one_hot.shape[0]), ring[keep]] = 1.0
    return (flat @ one_hot) / counts


def _as_images(X: Any) -> list[np.ndarray]:
    """A sequence of 2-D images or an ``(n, h, w)`` stack -> list of 2-D arrays (dtype unchanged)."""
    if hasattr(X, "detach"):  # a torch tensor
        X = X.detach().cpu().numpy()
    if isinstance(X, np.ndarray):
        if X.ndim == 2:
            raise ShapeError(f"X must be a sequence of 2-D images or an (n, h, w) stack, got one 2-D image "
                             f"of shape {X.shape}; wrap it in a list: [image]")
        if X.ndim != 3:
            raise ShapeError(f"X must be a sequence of 2-D images or an (n, h, w) stack, got shape {X.shape}")
        if X.shape[-1] in (3, 4):
            raise ShapeError(f"X of shape {X.shape} looks like one colour image (h, w, channels), not an "
                             "(n, h, w) stack; convert it to gray and pass a list of 2-D images")
        items: Sequence[Any] = list(X)
    elif isinstance(X, Sequence) and not isinstance(X, str | bytes):
        items = X
    else:
        raise InvalidParameterError(f"X must be a sequence of 2-D gray images, got {type(X).__name__}")
    if len(items) == 0:
        raise ShapeError("X must hold at least one image, got an empty sequence")
    out = []
    for i, item in enumerate(items):
        arr = np.asarray(item)
        if arr.ndim != 2:
            colour = arr.ndim == 3 and arr.shape[-1] in (3, 4)
            hint = "; convert colour images to gray first" if colour else ""
            raise ShapeError(f"X[{i}] must be a 2-D gray image (h, w), got shape {arr.shape}{hint}")
        out.append(arr)
    return out


def _to_unit(arr: np.ndarray, i: int) -> tuple[np.ndarray, int]:
    """Image -> (float64 gray levels in [0, 1], number of gray levels - 1 of its type)."""
    if arr.dtype == np.uint8 or arr.dtype == np.uint16:
        levels = int(np.iinfo(arr.dtype).max)
        return arr.astype(np.float64) / levels, levels
    if arr.dtype.kind == "f":
        img = arr.astype(np.float64)
        if not np.isfinite(img).all():
            bad = int((~np.isfinite(img)).sum())
            raise NonFiniteError(f"X[{i}] must be finite, got {bad} NaN or infinite values")
        lo, hi = float(img.min()), float(img.max())
        if lo < 0.0 or hi > 1.0:
            raise InvalidParameterError(f"X[{i}] is a float image and must hold gray levels in [0, 1], "
                                        f"got values from {lo!r} to {hi!r}")
        return img, 255
    raise InvalidParameterError(f"X[{i}] must be uint8, uint16 or float in [0, 1], got dtype {arr.dtype}; "
                                "convert it, e.g. image.astype(np.uint8)")


def _downsample(img: np.ndarray, k: int) -> np.ndarray:
    if k == 1:
        return img
    h, w = (img.shape[0] // k) * k, (img.shape[1] // k) * k
    return img[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3))


def _lbp_histograms(img: np.ndarray, levels: int, radii: Sequence[int]) -> np.ndarray:
    """Uniform LBP histograms of ``img`` (in [0, 1]) quantised back to ``levels + 1`` integer gray levels."""
    from skimage.feature import local_binary_pattern

    gray = np.rint(img * levels).astype(np.uint16 if levels > 255 else np.uint8)
    out = []
    for r in radii:
        p = 8 * r
        codes = local_binary_pattern(gray, p, r, method="uniform")[r:-r, r:-r]
        hist = np.bincount(codes.astype(np.int64).ravel(), minlength=p + 2)[:p + 2]
        out.append(hist / max(codes.size, 1))
    return np.concatenate(out)


def _gabor_stats(img: np.ndarray, frequencies: Sequence[float], n_orient: int) -> np.ndarray:
    """Mean and std of the Gabor magnitude, ordered (frequency, orientation, [mean, std])."""
    import scipy.fft as sfft

    std = img.std()
    z = (img - img.mean()) / std if std > 0 else np.zeros_like(img)
    h, w = z.shape
    pad = int(np.ceil(3 * _SIGMA_PER_WAVELENGTH / min(frequencies)))
    py, px = min(pad, h - 1), min(pad, w - 1)
    big = np.pad(z, ((py, py), (px, px)), mode="reflect") if (py or px) else z
    shape = (sfft.next_fast_len(big.shape[0]), sfft.next_fast_len(big.shape[1]))
    spec = sfft.fft2(big.astype(np.complex64), s=shape, workers=1)
    u = sfft.fftfreq(shape[1]).astype(np.float32)[None, :]  # cycles per pixel along x (columns)
    v = sfft.fftfreq(shape[0]).astype(np.float32)[:, None]  # along y (rows)
    out = []
    for f in frequencies:
        sigma = _SIGMA_PER_WAVELENGTH / f
        for j in range(n_orient):
            theta = np.pi * j / n_orient
            # transform of exp(-|x|^2 / 2 sigma^2) exp(2 pi i f x'), x' = x cos(theta) + y sin(theta),
            # normalised to unit integral: a Gaussian of width 1 / (2 pi sigma) centred at f (cos, sin)
            du, dv = u - f * np.cos(theta), v - f * np.sin(theta)
            gain = np.exp(np.float32(-2 * np.pi ** 2 * sigma ** 2) * (du * du + dv * dv))
            resp = sfft.ifft2(spec * gain, workers=1)[py:py + h, px:px + w]
            mag = np.abs(resp)
            out += [float(mag.mean()), float(mag.std())]
    return np.asarray(out)


def _two_point(images: list[np.ndarray], max_radius: int) -> np.ndarray:
    """Radially averaged S2 of the Otsu-thresholded images (batched by shape)."""
    from skimage.filters import threshold_otsu

    out = np.empty((len(images), max_radius + 1))
    groups: dict[tuple[int, int], list[int]] = {}
    for i, img in enumerate(images):
        groups.setdefault(img.shape, []).append(i)
    for idx in groups.values():
        phases = []
        for i in idx:
            img = images[i]
            thr = threshold_otsu(img) if img.min() < img.max() else img.max()
            phases.append((img > thr).astype(np.float32))
        corr = autocorrelation(np.stack(phases), periodic=False, cutoff=max_radius)
        out[idx] = radial_average(np.asarray(corr, dtype=np.float64), max_radius)
    return out


class TextureFeatures(TransformerMixin, BaseEstimator):
    """Transformer: gray images -> LBP histograms, Gabor statistics and radial two-point statistics.

    See the module notes for the definitions. Nothing is learned: ``fit`` checks the parameters and
    the images, so the transformer slots into a :class:`~sklearn.pipeline.Pipeline` and
    cross-validation.

    Parameters
    ----------
    families
        Which families to compute, among ``"lbp"``, ``"gabor"``, ``"two_point"`` (columns always in
        that order).
    lbp_radii
        LBP radii, pixels (``8 R`` neighbours each): ``sum(8 R + 2)`` features (54 for ``(1, 2, 3)``).
    gabor_frequencies
        Gabor frequencies, cycles per pixel, in ``(0, 0.5]`` (periods of 16, 8 and 4 pixels by default).
    gabor_orientations
        Number of orientations over 180 degrees: ``2 * n_orientations * n_frequencies`` features.
    two_point_max_radius
        Largest radius of the two-point statistics, pixels: ``max_radius + 1`` features.
    downsample
        Integer block-averaging factor applied to every image first (speed; lengths then in reduced
        pixels).

    Attributes
    ----------
    n_features_out_
        Number of output columns.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = [rng.integers(0, 256, (64, 80), dtype=np.uint8), rng.random((50, 60))]
    >>> TextureFeatures().fit_transform(X).shape
    (2, 99)
    """

    def __init__(self, families: Sequence[str] = FAMILIES, lbp_radii: Sequence[int] = (1, 2, 3),
                 gabor_frequencies: Sequence[float] = (0.0625, 0.125, 0.25), gabor_orientations: int = 4,
                 two_point_max_radius: int = 20, downsample: int = 1) -> None:
        self.families = families
        self.lbp_radii = lbp_radii
        self.gabor_frequencies = gabor_frequencies
        self.gabor_orientations = gabor_orientations
        self.two_point_max_radius = two_point_max_radius
        self.downsample = downsample

    # -- parameters -------------------------------------------------------------------------------
    def _params(self) -> dict[str, Any]:
        fam = self.families
        if isinstance(fam, str) or not isinstance(fam, Sequence) or len(fam) == 0:
            raise InvalidParameterError(f"families must be a non-empty sequence of names from {FAMILIES}, "
                                        f"got {fam!r}")
        unknown = [f for f in fam if f not in FAMILIES]
        if unknown:
            raise UnknownNameError(f"families must be names from {FAMILIES}, got unknown {unknown!r}")
        radii = self.lbp_radii
        ok = isinstance(radii, Sequence) and len(radii) > 0 and all(_is_int(r) and r >= 1 for r in radii)
        if not ok:
            raise InvalidParameterError(f"lbp_radii must be a non-empty sequence of integers >= 1 (pixels), "
                                        f"got {radii!r}")
        freqs = self.gabor_frequencies
        ok = (isinstance(freqs, Sequence) and len(freqs) > 0
              and all(isinstance(f, int | float | np.number) and not isinstance(f, bool) and 0 < f <= 0.5
                      for f in freqs))
        if not ok:
            raise InvalidParameterError(f"gabor_frequencies must be a non-empty sequence of numbers in "
                                        f"(0, 0.5] (cycles per pixel), got {freqs!r}")
        n_orient = self.gabor_orientations
        if not _is_int(n_orient) or n_orient < 1:
            raise InvalidParameterError(f"gabor_orientations must be an integer >= 1, got {n_orient!r}")
        rmax = self.two_point_max_radius
        if not _is_int(rmax) or rmax < 0:
            raise InvalidParameterError(f"two_point_max_radius must be an integer >= 0 (pixels), "
                                        f"got {rmax!r}")
        k = self.downsample
        if not _is_int(k) or k < 1:
            raise InvalidParameterError(f"downsample must be an integer >= 1, got {k!r}")
        return {"families": tuple(f for f in FAMILIES if f in fam), "radii": tuple(int(r) for r in radii),
                "freqs": tuple(float(f) for f in freqs), "n_orient": int(n_orient), "rmax": int(rmax),
                "k": int(k)}

    def _min_size(self, p: dict[str, Any]) -> int:
        need = 1
        if "lbp" in p["families"]:
            need = max(need, 2 * max(p["radii"]) + 1)
        if "two_point" in p["families"]:
            need = max(need, p["rmax"] + 1)
        return need

    def _prepare(self, X: Any, p: dict[str, Any]) -> list[tuple[np.ndarray, int]]:
        images = _as_images(X)
        need = self._min_size(p)
        out = []
        for i, arr in enumerate(images):
            img, levels = _to_unit(arr, i)
            small = _downsample(img, p["k"])
            if min(small.shape) < need:
                after = f" after downsample={p['k']}" if p["k"] > 1 else ""
                raise ShapeError(
                    f"X[{i}] of shape {arr.shape} is too small{after}: the features need at least "
                    f"{need} pixels on each side (2 max(lbp_radii) + 1 and two_point_max_radius + 1), "
                    f"got {small.shape}")
            out.append((small, levels))
        return out

    # -- estimator API ----------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> TextureFeatures:
        """Check the parameters and images; nothing is learned. Returns ``self``."""
        p = self._params()
        self._prepare(X, p)
        self.n_features_out_ = len(self._names(p))
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Images (a sequence of 2-D arrays or an ``(n, h, w)`` stack) -> ``(n, n_features_out_)`` float64.

        Images may differ in size. ``uint8`` and ``uint16`` images are read as gray levels over their
        type's range; float images must lie in ``[0, 1]`` (LBP then sees them quantised to 256 levels).
        """
        check_is_fitted(self, "n_features_out_")
        p = self._params()
        prepared = self._prepare(X, p)
        blocks = []
        if "lbp" in p["families"]:
            blocks.append(np.stack([_lbp_histograms(img, lv, p["radii"]) for img, lv in prepared]))
        if "gabor" in p["families"]:
            blocks.append(np.stack([_gabor_stats(img, p["freqs"], p["n_orient"]) for img, _ in prepared]))
        if "two_point" in p["families"]:
            blocks.append(_two_point([img for img, _ in prepared], p["rmax"]))
        return np.concatenate(blocks, axis=1)

    def _names(self, p: dict[str, Any]) -> list[str]:
        names: list[str] = []
        if "lbp" in p["families"]:
            names += [f"lbp_r{r}_u{c}" for r in p["radii"] for c in range(8 * r + 2)]
        if "gabor" in p["families"]:
            for f in p["freqs"]:
                for j in range(p["n_orient"]):
                    deg = f"{180.0 * j / p['n_orient']:g}"
                    names += [f"gabor_f{f:g}_t{deg}_mean", f"gabor_f{f:g}_t{deg}_std"]
        if "two_point" in p["families"]:
            names += [f"s2_r{r}" for r in range(p["rmax"] + 1)]
        return names

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Column names: ``lbp_r{R}_u{code}``, ``gabor_f{f}_t{degrees}_{mean|std}``, ``s2_r{radius}``."""
        check_is_fitted(self, "n_features_out_")
        return np.asarray(self._names(self._params()), dtype=object)


def texture_svm(C: float = 10.0, gamma: float | str = "scale", *, features: TextureFeatures | None = None,
                class_weight: dict | str | None = None) -> Pipeline:
    """The classical baseline: :class:`TextureFeatures` -> standardisation -> RBF support-vector machine.

    Parameters
    ----------
    C, gamma
        Of the RBF :class:`~sklearn.svm.SVC` (``gamma="scale"``: ``1 / (n_features var(X))``).
    features
        The feature extractor (default: ``TextureFeatures()`` with every family).
    class_weight
        ``None`` or ``"balanced"`` (or a dict), as for :class:`~sklearn.svm.SVC`.

    Returns
    -------
    An unfitted :class:`~sklearn.pipeline.Pipeline` with steps ``"texture"``, ``"scale"``, ``"svm"``
    (deterministic: no random state). For probabilities wrap it in
    :class:`~sklearn.calibration.CalibratedClassifierCV` (scikit-learn deprecates ``SVC(probability=True)``).

    Examples
    --------
    >>> [name for name, _ in texture_svm().steps]
    ['texture', 'scale', 'svm']
    """
    if isinstance(C, bool) or not isinstance(C, int | float | np.number) or not C > 0:
        raise InvalidParameterError(f"C must be a number > 0, got {C!r}")
    if features is None:
        features = TextureFeatures()
    elif not isinstance(features, TextureFeatures):
        raise InvalidParameterError(f"features must be a TextureFeatures or None, "
                                    f"got {type(features).__name__}")
    return Pipeline([
        ("texture", features),
        ("scale", StandardScaler()),
        ("svm", SVC(kernel="rbf", C=float(C), gamma=gamma, class_weight=class_weight)),
    ])
