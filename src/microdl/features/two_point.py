"""Two-point autocorrelation of strain profiles and the paper's classical baseline.

The baseline of Yang et al. (2020, section 2.1, Table 1: 68.24 %): the two-point
correlation of each strain profile, PCA for a reduced-order representation, then a
random forest. Here it is :func:`two_point_baseline`, a :class:`~sklearn.pipeline.Pipeline`
of :class:`TwoPointFeatures` -> :class:`~sklearn.decomposition.PCA` ->
:class:`~sklearn.ensemble.RandomForestClassifier`.

Definition
----------
For a field ``f`` on an ``h x w`` pixel grid and a displacement ``r = (ry, rx)`` in
pixels, the autocorrelation is the mean of ``f(x) f(x + r)`` over the pixel pairs
``(x, x + r)`` inside the image:

* non-periodic (``periodic=False``): ``A(r) = sum_{x, x+r in image} f(x) f(x+r) / N(r)``
  with ``N(r) = (h - |ry|) (w - |rx|)`` overlapping pairs, for ``|ry| <= h - 1``,
  ``|rx| <= w - 1``;
* periodic: ``A(r) = sum_x f(x) f((x + r) mod (h, w)) / (h w)``.

``A`` has the units of ``f`` squared (strain^2 for a strain profile, gray^2 for an
image); ``A(0)`` is the mean of ``f^2``, and for large ``|r|`` with no correlation
``A(r)`` tends to the square of the mean. For a two-phase indicator field it is the
probability that both ends of ``r`` fall in the phase.

This is PyMKS's ``two_point_stats`` / ``TwoPointCorrelation`` for one field correlated
with itself (pymks 0.4.1, ``pymks/fmks/correlations.py``): its cross-correlation is the
inverse FFT of ``conj(FFT(a)) FFT(b)``, shifted so that ``r = 0`` is at the centre,
divided by ``h w`` (periodic) or, non-periodic, by the same correlation of the
zero-padded ones-mask (= ``N(r)``), and cut to the window ``|ry|, |rx| <= cutoff``.
PyMKS pads by ``cutoff`` (enough for that window) and clamps ``cutoff`` to
``(min(h, w) - 1) // 2``; here ``cutoff`` may reach ``min(h, w) - 1`` in the
non-periodic case (larger values raise), and ``cutoff=None`` returns every displacement.

Computation: the shared n-dimensional engine of :mod:`microdl.features.correlations`
(``autocorrelation(f, periodic, c)`` is ``two_point_stats(f, periodic=periodic, cutoff=c)``, with
``cutoff=None`` here meaning ``cutoff="full"`` there): float32 real FFTs in torch on the fields' device (CPU for NumPy input),
zero-padded to the next 2-3-5-smooth size ``>= h + cutoff`` (``>= 2h - 1`` for the full map),
``N(r)`` computed exactly as integers. The FFT round-off of a displacement averaged over ``N(r)``
pairs is of order ``1e-7 * h w / N(r)`` relative (float32): small within a cutoff of
``(min(h, w) - 1) // 2`` (``N(r) >= h w / 4``), large at the corners of the full non-periodic map
(one pair). For non-periodic windows reaching beyond that cutoff the FFT therefore sees each field
minus its mean, and the terms in the mean are added from exact window sums (float64): the
round-off then scales with the fluctuations, not with the (often dominant) mean; a constant field
gives exactly its square. Pass ``dtype=torch.float64`` when the full map is needed to more digits.

References
----------
Yang, Z., Papanikolaou, S., Reid, A. C. E., Liao, W.-k., Choudhary, A. N., Campbell, C.,
Agrawal, A. (2020). Learning to predict crystal plasticity at the nanoscale: deep
residual networks and size effects in uniaxial compression discrete dislocation
simulations (seed 000), section 2.1 and Table 1.
PyMKS, ``two_point_stats`` (https://pymks.org): Brough, D. B., Wheeler, D., Kalidindi, S. R.
(2017). Materials Knowledge Systems in Python - a data science framework for accelerated
development of hierarchical materials. Integrating Materials and Manufacturing Innovation 6,
36-53, doi:10.1007/s40192-017-0089-0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted
from torch import Tensor

from microdl.data._validation import as_array
from microdl.exceptions import InvalidParameterError, ShapeError
from microdl.features.correlations import (
    _CHUNK_CPU,
    _CHUNK_GPU,
    _as_real,
    _check_bool,
    _check_dtype,
    _correlate,
    _ranges,
)

__all__ = ["autocorrelation", "max_cutoff", "TwoPointFeatures", "two_point_baseline"]

def max_cutoff(shape: tuple[int, int], periodic: bool = False) -> int:
    """Largest ``cutoff`` accepted for fields of ``shape`` ``(h, w)``.

    ``(min(h, w) - 1) // 2`` periodic (each displacement once, PyMKS's limit), ``min(h, w) - 1``
    non-periodic (at least one pair of pixels at every kept displacement).
    """
    m = min(int(shape[0]), int(shape[1]))
    return (m - 1) // 2 if periodic else m - 1


def _check_cutoff(cutoff: Any, shape: tuple[int, int], periodic: bool) -> int | None:
    if cutoff is None:
        return None
    if isinstance(cutoff, bool) or not isinstance(cutoff, int | np.integer) or cutoff < 0:
        raise InvalidParameterError(f"cutoff must be None or an integer >= 0, got {cutoff!r}")
    limit = max_cutoff(shape, periodic)
    if cutoff > limit:
        kind = "periodic" if periodic else "non-periodic"
        raise InvalidParameterError(
            f"cutoff must be <= {limit} for {kind} fields of shape {tuple(shape)}, got {cutoff}"
        )
    return int(cutoff)


@torch.no_grad()
def autocorrelation(fields: np.ndarray | Tensor, periodic: bool = False, cutoff: int | None = None,
                    *, dtype: torch.dtype = torch.float32) -> np.ndarray | Tensor:
    """Two-point autocorrelation of each 2D field of a batch (see the module notes for the definition).

    Parameters
    ----------
    fields
        ``(n, h, w)`` real array or tensor, finite. A tensor is processed on its device.
    periodic
        Circular displacements (``True``) or pairs inside the image only, each displacement
        normalised by its number of pairs ``N(r) = (h - |ry|)(w - |rx|)`` (``False``).
    cutoff
        Keep the displacements ``|ry|, |rx| <= cutoff`` (pixels): output ``(n, 2c+1, 2c+1)``
        with ``r = 0`` at ``[c, c]`` (PyMKS's ``cutoff``). ``None``: every displacement,
        ``(n, 2h-1, 2w-1)`` with ``r = 0`` at ``[h-1, w-1]`` (non-periodic) or ``(n, h, w)``
        with ``r = 0`` at ``[h//2, w//2]`` (periodic, as ``fftshift``).
        At most :func:`max_cutoff`.
    dtype
        ``torch.float32`` (default, fast) or ``torch.float64``.

    Returns
    -------
    ``A`` in the units of ``fields`` squared, ``out[:, cy + ry, cx + rx] = A(ry, rx)``;
    a NumPy array (of ``dtype``) for NumPy input, else a tensor on the input's device.

    Examples
    --------
    >>> import numpy as np
    >>> f = np.array([[[1.0, 0.0], [0.0, 1.0]]])
    >>> autocorrelation(f, cutoff=1)[0]
    array([[1. , 0. , 0. ],
           [0. , 0.5, 0. ],
           [0. , 0. , 1. ]], dtype=float32)
    """
    _check_dtype(dtype)
    _check_bool("periodic", periodic)
    numpy_in = not isinstance(fields, Tensor)
    x = _as_real(fields, "fields", dtype, ndims=(3,), layout="(n, h, w)")
    n, h, w = x.shape
    c = _check_cutoff(cutoff, (h, w), bool(periodic))
    lo, hi = _ranges((h, w), bool(periodic), "full" if c is None else c)
    chunk = _CHUNK_CPU if x.device.type == "cpu" else _CHUNK_GPU
    res = _correlate(lambda i, j: x[i:j, None], n, 1, (h, w), [(0, 0)], bool(periodic), lo, hi, dtype,
                     x.device, max_pixels=chunk)[:, 0]
    return res.cpu().numpy() if numpy_in else res


def _as_profiles(X: Any) -> list[np.ndarray]:
    """A 3D array or a sequence of 2D arrays -> list of finite float32 2D arrays."""
    if isinstance(X, Tensor):
        X = X.detach().cpu().numpy()
    if isinstance(X, np.ndarray):
        if X.ndim != 3:
            raise ShapeError(f"X must be (n, h, w) or a sequence of 2D profiles, got shape {X.shape}")
        items: Sequence[Any] = list(X)
    elif isinstance(X, Sequence) and not isinstance(X, str | bytes):
        items = X
    else:
        raise InvalidParameterError(f"X must be (n, h, w) or a sequence of 2D profiles, got {type(X).__name__}")
    if len(items) == 0:
        raise ShapeError("X must hold at least one profile, got 0")
    out = []
    for i, p in enumerate(items):
        arr = as_array(p, f"X[{i}]", ndim=2)
        if arr.dtype.kind not in "biuf":
            raise InvalidParameterError(f"X[{i}] must be real numbers, got dtype {arr.dtype}")
        if arr.size == 0:
            raise ShapeError(f"X[{i}] must be non-empty, got shape {arr.shape}")
        out.append(arr.astype(np.float32, copy=False))
    return out


class TwoPointFeatures(TransformerMixin, BaseEstimator):
    """Transformer: strain profiles -> flattened central windows of their autocorrelation.

    Size policy (a choice): every profile gives the window ``|ry|, |rx| <= cutoff`` of its
    autocorrelation, ``(2 cutoff + 1)^2`` float32 features whatever the profile's size,
    so profiles of different sizes (the DDD profiles come at their native size) share one
    feature space; displacements are then in pixels of each profile. With ``size=(h, w)``
    each profile is first resized to ``h x w`` (torch bilinear, ``align_corners=False``,
    antialiased), so that displacements are fixed fractions of the profile, like the paper's
    fixed-size crops. Profiles smaller than the window need (``min(h, w) >= cutoff + 1``,
    ``2 cutoff + 1`` if periodic) raise, naming the profile.

    Parameters
    ----------
    cutoff
        Half-size of the window of displacements, pixels (default 15: 31 x 31 = 961 features).
    size
        ``None`` (native size) or ``(h, w)`` to resize to first.
    periodic
        Periodic autocorrelation instead of the non-periodic, pair-normalised one (default).

    Examples
    --------
    >>> import numpy as np
    >>> X = [np.random.default_rng(0).random((40, 120)), np.ones((50, 90))]
    >>> TwoPointFeatures(cutoff=3).fit_transform(X).shape
    (2, 49)
    """

    def __init__(self, cutoff: int = 15, size: tuple[int, int] | None = None, periodic: bool = False) -> None:
        self.cutoff = cutoff
        self.size = size
        self.periodic = periodic

    def _check_params(self) -> tuple[int, tuple[int, int] | None]:
        if isinstance(self.cutoff, bool) or not isinstance(self.cutoff, int | np.integer) or self.cutoff < 0:
            raise InvalidParameterError(f"cutoff must be an integer >= 0, got {self.cutoff!r}")
        if not isinstance(self.periodic, bool | np.bool_):
            raise InvalidParameterError(f"periodic must be True or False, got {self.periodic!r}")
        size = self.size
        if size is not None:
            ok = (isinstance(size, Sequence) and len(size) == 2
                  and all(isinstance(s, int | np.integer) and not isinstance(s, bool) and s >= 1 for s in size))
            if not ok:
                raise InvalidParameterError(f"size must be None or two integers (h, w) >= 1, got {size!r}")
            size = (int(size[0]), int(size[1]))
            need = max_cutoff(size, bool(self.periodic))
            if self.cutoff > need:
                raise InvalidParameterError(
                    f"cutoff must be <= {need} for size {size} (periodic={bool(self.periodic)}), got {self.cutoff}")
        return int(self.cutoff), size

    def fit(self, X: Any, y: Any = None) -> TwoPointFeatures:
        """Validate parameters and profiles; nothing is learned. Returns ``self``."""
        c, _ = self._check_params()
        _as_profiles(X)
        self.n_features_out_ = (2 * c + 1) ** 2
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Profiles (``(n, h, w)`` or a sequence of 2D arrays) -> ``(n, (2 cutoff + 1)^2)`` float32."""
        check_is_fitted(self, "n_features_out_")
        c, size = self._check_params()
        profiles = _as_profiles(X)
        groups: dict[tuple[int, int], list[int]] = {}
        for i, p in enumerate(profiles):
            if size is None and max_cutoff(p.shape, bool(self.periodic)) < c:
                raise ShapeError(
                    f"X[{i}] of shape {p.shape} is too small for cutoff {c} (periodic={bool(self.periodic)});"
                    " pass a smaller cutoff or a size to resize to")
            groups.setdefault(p.shape, []).append(i)
        out = np.empty((len(profiles), (2 * c + 1) ** 2), np.float32)
        for shape, idx in groups.items():
            batch = torch.from_numpy(np.stack([profiles[i] for i in idx]))
            if size is not None and shape != size:
                batch = F.interpolate(batch[:, None], size=size, mode="bilinear", align_corners=False,
                                      antialias=True)[:, 0]
            corr = autocorrelation(batch, periodic=bool(self.periodic), cutoff=c)
            out[idx] = corr.reshape(len(idx), -1).numpy()
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``"r_{ry}_{rx}"`` for each displacement, row-major (``ry`` outer)."""
        check_is_fitted(self, "n_features_out_")
        c = int(self.cutoff)
        return np.asarray([f"r_{dy}_{dx}" for dy in range(-c, c + 1) for dx in range(-c, c + 1)], dtype=object)


def two_point_baseline(n_components: int = 20, n_estimators: int = 300, *, cutoff: int = 15,
                       size: tuple[int, int] | None = None, periodic: bool = False,
                       random_state: int | None = None, n_jobs: int | None = None) -> Pipeline:
    """The paper's baseline: two-point autocorrelation -> PCA -> random forest classifier.

    Parameters
    ----------
    n_components
        PCA components kept (a choice: the paper does not give it).
    n_estimators
        Trees of the :class:`~sklearn.ensemble.RandomForestClassifier` (otherwise defaults).
    cutoff, size, periodic
        See :class:`TwoPointFeatures`.
    random_state
        Seed of the PCA solver and of the forest.
    n_jobs
        Forest threads (``None``: one).

    Returns
    -------
    An unfitted :class:`~sklearn.pipeline.Pipeline` with steps ``"two_point"``, ``"pca"``,
    ``"forest"``; ``fit(profiles, labels)``, ``predict(profiles)``, ``predict_proba``.

    Examples
    --------
    >>> pipe = two_point_baseline(n_components=5, n_estimators=10, cutoff=4, random_state=0)
    >>> [name for name, _ in pipe.steps]
    ['two_point', 'pca', 'forest']
    """
    if isinstance(n_components, bool) or not isinstance(n_components, int | np.integer) or n_components < 1:
        raise InvalidParameterError(f"n_components must be an integer >= 1, got {n_components!r}")
    if isinstance(n_estimators, bool) or not isinstance(n_estimators, int | np.integer) or n_estimators < 1:
        raise InvalidParameterError(f"n_estimators must be an integer >= 1, got {n_estimators!r}")
    return Pipeline([
        ("two_point", TwoPointFeatures(cutoff=cutoff, size=size, periodic=periodic)),
        ("pca", PCA(n_components=n_components, random_state=random_state)),
        ("forest", RandomForestClassifier(n_estimators=n_estimators, random_state=random_state, n_jobs=n_jobs)),
    ])
