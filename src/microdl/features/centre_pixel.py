"""Centre-pixel baselines for total density and line count from GND windows.

The "local" estimate criticised by Zhang & Ngan (2019, section 4): predict the
total density rho_t and the number of lines N of a pixel from the GND density
*of that pixel only*, ``rho_t(x) = g(rho_GND(x))``. A network that uses the 7 x 7
neighbourhood must beat these to show that the neighbourhood carries
information.

* :class:`CentrePixel` - transformer ``(n, 7, 7, 3) -> (n, k)`` centre-pixel
  features, usable in :class:`sklearn.pipeline.Pipeline`;
* :class:`CentrePixelBaseline` - ``method="isotonic"``: a monotone fit of
  ``log10 rho_t`` (and of N, rounded) against ``log10 |rho_GND(centre)|``;
  ``method="gbdt"``: histogram gradient boosting on the centre pixel's three
  channels (regressor for ``log10 rho_t``, classifier for N).

References
----------
Zhang, Y. & Ngan, A. H. W. (2019). Extracting dislocation microstructures by deep learning. Int. J. Plasticity,
section 4, eqn (2) vs g(rho_GND(x)).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.isotonic import IsotonicRegression
from sklearn.utils.validation import check_is_fitted

from microdl.exceptions import InvalidParameterError
from microdl.data._validation import check_positive_densities
from microdl.data.gnd import N_CLASSES, WINDOW, check_gnd_windows

__all__ = ["CentrePixel", "CentrePixelBaseline", "centre_pixel"]

_C = WINDOW // 2


def centre_pixel(gnd: np.ndarray) -> np.ndarray:
    """Centre-pixel values ``(n, 3)`` [screw, edge, |rho_GND|] in m^-2 of ``(n, 7, 7, 3)`` windows."""
    return check_gnd_windows(gnd)[:, _C, _C, :].astype(np.float64)


class CentrePixel(TransformerMixin, BaseEstimator):
    """Transformer: GND windows -> features of the centre pixel.

    Parameters
    ----------
    channels
        ``"all"``: the three channels [screw, edge, |rho_GND|] (m^-2);
        ``"magnitude"``: only |rho_GND| (m^-2), shape ``(n, 1)``.
    log10_magnitude
        Replace the magnitude by ``log10(|rho_GND| + rho_floor_per_m2)``.
    rho_floor_per_m2
        Floor added before the logarithm (|rho_GND| can be exactly 0 where
        lines cancel), m^-2.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros((2, 7, 7, 3), np.float32); x[:, 3, 3, 2] = 1e14
    >>> CentrePixel(channels="magnitude").fit_transform(x).shape
    (2, 1)
    """

    def __init__(self, channels: Literal["all", "magnitude"] = "all",
                 log10_magnitude: bool = False, rho_floor_per_m2: float = 1e12) -> None:
        self.channels = channels
        self.log10_magnitude = log10_magnitude
        self.rho_floor_per_m2 = rho_floor_per_m2

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> CentrePixel:
        """Validate parameters and input; nothing is learned. Returns ``self``."""
        if self.channels not in ("all", "magnitude"):
            raise InvalidParameterError(
                f"channels must be 'all' or 'magnitude', got {self.channels!r}"
            )
        if not self.rho_floor_per_m2 > 0:
            raise InvalidParameterError(
                f"rho_floor_per_m2 must be > 0, got {self.rho_floor_per_m2!r}"
            )
        check_gnd_windows(X, "X")
        self.n_features_out_ = 3 if self.channels == "all" else 1
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """``(n, 7, 7, 3)`` windows -> ``(n, 3)`` or ``(n, 1)`` float64 features."""
        check_is_fitted(self, "n_features_out_")
        c = centre_pixel(X)
        if self.log10_magnitude:
            c[:, 2] = np.log10(c[:, 2] + self.rho_floor_per_m2)
        return c if self.channels == "all" else c[:, 2:3]

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        mag = "log10_abs_rho_gnd" if self.log10_magnitude else "abs_rho_gnd"
        names = ["screw", "edge", mag] if self.channels == "all" else [mag]
        return np.asarray(names, dtype=object)


class CentrePixelBaseline(BaseEstimator):
    """Predict (rho_t, N) from the centre pixel of GND windows only.

    Parameters
    ----------
    method
        ``"isotonic"``: ``log10 rho_t`` as a non-decreasing function of
        ``log10(|rho_GND(centre)| + rho_floor)`` (:class:`~sklearn.isotonic.IsotonicRegression`,
        clipped outside the training range); N likewise, rounded to the
        nearest of 1..5 (a monotone step classifier).
        ``"gbdt"``: :class:`~sklearn.ensemble.HistGradientBoostingRegressor` on the
        centre pixel's [screw, edge, |rho_GND|] for ``log10 rho_t`` and
        :class:`~sklearn.ensemble.HistGradientBoostingClassifier` for N.
    rho_floor_per_m2
        Floor added to |rho_GND| before the logarithm, m^-2.
    max_iter
        Boosting iterations (``"gbdt"`` only).
    random_state
        Seed of the boosting models (``"gbdt"`` only; used for early stopping
        splits on large data).

    Attributes
    ----------
    rho_model_
        Fitted regressor of ``log10 rho_t``.
    n_model_
        Fitted model of N.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> gnd = rng.uniform(1e13, 1e15, (200, 7, 7, 3)).astype(np.float32)
    >>> rho = 3.0 * gnd[:, 3, 3, 2]; n = np.clip(rho // 6e14 + 1, 1, 5).astype(int)
    >>> est = CentrePixelBaseline().fit(gnd, rho, n)
    >>> rho_hat, n_hat = est.predict(gnd)
    """

    def __init__(self, method: Literal["isotonic", "gbdt"] = "isotonic",
                 rho_floor_per_m2: float = 1e12, max_iter: int = 200,
                 random_state: int | None = None) -> None:
        self.method = method
        self.rho_floor_per_m2 = rho_floor_per_m2
        self.max_iter = max_iter
        self.random_state = random_state

    def _features(self, gnd: np.ndarray) -> np.ndarray:
        c = centre_pixel(gnd)
        c[:, 2] = np.log10(c[:, 2] + self.rho_floor_per_m2)
        return c[:, 2] if self.method == "isotonic" else c

    def fit(self, gnd: np.ndarray, rho_t: np.ndarray, n_lines: np.ndarray | None = None
            ) -> CentrePixelBaseline:
        """Fit on windows ``(n, 7, 7, 3)`` (m^-2), ``rho_t`` (n,) m^-2, ``n_lines`` (n,) 1..5.

        ``n_lines=None`` fits the density model only. Returns ``self``.
        """
        if self.method not in ("isotonic", "gbdt"):
            raise InvalidParameterError(
                f"method must be 'isotonic' or 'gbdt', got {self.method!r}"
            )
        if not self.rho_floor_per_m2 > 0:
            raise InvalidParameterError(
                f"rho_floor_per_m2 must be > 0, got {self.rho_floor_per_m2!r}"
            )
        x = self._features(gnd)
        n = x.shape[0]
        rho = check_positive_densities(rho_t, "rho_t", n=n)
        y = np.log10(rho)
        if self.method == "isotonic":
            self.rho_model_ = IsotonicRegression(out_of_bounds="clip").fit(x, y)
        else:
            self.rho_model_ = HistGradientBoostingRegressor(
                max_iter=self.max_iter, random_state=self.random_state).fit(x, y)
        self.n_model_ = None
        if n_lines is not None:
            lines = np.asarray(n_lines)
            if lines.shape != (n,) or lines.min() < 1 or lines.max() > N_CLASSES:
                raise InvalidParameterError(
                    f"n_lines must be ({n},) integers in 1..{N_CLASSES}, got shape "
                    f"{lines.shape} range {lines.min()}..{lines.max()}"
                )
            if self.method == "isotonic":
                self.n_model_ = IsotonicRegression(
                    y_min=1, y_max=N_CLASSES, out_of_bounds="clip").fit(x, lines)
            else:
                self.n_model_ = HistGradientBoostingClassifier(
                    max_iter=self.max_iter, random_state=self.random_state).fit(x, lines)
        return self

    def predict_rho(self, gnd: np.ndarray) -> np.ndarray:
        """Total density ``(n,)`` in m^-2."""
        check_is_fitted(self, "rho_model_")
        return 10.0 ** self.rho_model_.predict(self._features(gnd))

    def predict_n(self, gnd: np.ndarray) -> np.ndarray:
        """Line count ``(n,)`` int64 in 1..5 (needs ``n_lines`` at fit)."""
        check_is_fitted(self, "n_model_")
        if self.n_model_ is None:
            raise InvalidParameterError("n_lines must be given to fit before predicting N")
        pred = self.n_model_.predict(self._features(gnd))
        return np.clip(np.rint(pred), 1, N_CLASSES).astype(np.int64)

    def predict(self, gnd: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """``(rho_t (n,) m^-2, N (n,))``; N is ``None`` if fitted without ``n_lines``."""
        rho = self.predict_rho(gnd)
        return rho, (self.predict_n(gnd) if self.n_model_ is not None else None)
