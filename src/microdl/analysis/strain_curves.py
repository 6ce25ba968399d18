"""Stress–strain curves of reloads predicted from nearest neighbours in feature space.

The recipe of Yang et al. (2020), section 2.2 and Figs 4–5: each strain profile is
represented by the second-to-last-layer (global-average-pool) features of its 24
crops, concatenated (24 x 64 = 1536 numbers for the proposed ResNet); for a test
profile its ``k`` nearest training profiles (Euclidean distance) are found, and the
mean of their reload stress–strain curves is the predicted curve up to 1 % reload.

Pieces: :func:`reload_curve` (reload curves on a common grid, MPa),
:func:`profile_features`, :class:`NeighbourCurves` (kNN on a scikit-learn index),
:func:`baseline_curves` (what a label alone gives), :func:`curve_errors` (RMSE and
0.2 %-offset yield error) and the figures :func:`neighbour_figure`, :func:`plot_errors`.

References
----------
Yang, Z., Papanikolaou, S., Reid, A. C. E., Liao, W., Choudhary, A., Campbell, C. &
Agrawal, A. (2020). Learning to predict crystal plasticity at the nanoscale: deep
residual networks and size effects in uniaxial compression discrete dislocation
simulations. Sci. Rep. 10, 8262, section 2.2, Figs 4 and 5.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.neighbors import NearestNeighbors
from sklearn.utils.validation import check_is_fitted
from torch import Tensor, nn

from microdl.analysis import plots
from microdl.exceptions import DataFileError, InvalidParameterError, NonFiniteError, ShapeError

__all__ = ["reload_curve", "reload_curves", "profile_features", "NeighbourCurves", "group_mean_curves",
           "baseline_curves", "initial_modulus", "offset_yield", "curve_errors", "plot_curve_prediction",
           "neighbour_figure", "plot_errors"]

_SLACK = 1e-6  # reload-strain tolerance when checking that a reload reaches max_strain
_STAGE_UNLOAD, _STAGE_RELOAD = 1, 2


def reload_curve(curves: Mapping[str, np.ndarray], key: str, *, max_strain: float = 0.01,
                 n_points: int = 101) -> tuple[np.ndarray, np.ndarray]:
    """The reload (stage 2) of one simulation on the grid ``0 .. max_strain`` of reload strain.

    The reload starts from the unloaded state, so the last unloading point (stage 1,
    reload strain 0) is the first point of the curve when the recorded reload starts
    above 0; the stress is interpolated linearly between recorded points.

    Parameters
    ----------
    curves
        Arrays ``<key>/stage`` (0 load, 1 unload, 2 reload), ``<key>/stress_pa``
        (compression positive, Pa) and ``<key>/reload_strain`` ((U - U0)/h), as in an
        exported data set's ``curves.npz``.
    key
        Simulation key.
    max_strain
        End of the grid (reload strain, 0.01 = 1 %). The reload must reach it
        (within 1e-6).
    n_points
        Grid points (101: steps of 1e-4 for 1 %).

    Returns
    -------
    strain_grid, stress_mpa
        ``(n_points,)`` reload strain and stress (MPa), float64.

    Raises
    ------
    DataFileError
        If an array of ``key`` is missing, or the reload is absent, not finite, goes
        backwards, does not start at 0 or stops before ``max_strain``.
    """
    if not (np.isfinite(max_strain) and max_strain > 0):
        raise InvalidParameterError(f"max_strain must be a finite number > 0, got {max_strain!r}")
    if int(n_points) != n_points or n_points < 2:
        raise InvalidParameterError(f"n_points must be an integer >= 2, got {n_points!r}")
    arrays = []
    for name in ("stage", "stress_pa", "reload_strain"):
        try:
            arrays.append(np.asarray(curves[f"{key}/{name}"], dtype=np.float64))
        except KeyError:
            raise DataFileError(f"curves have no array '{key}/{name}' for simulation key {key!r}") from None
    stage, stress, eps = arrays
    if not (stage.shape == stress.shape == eps.shape) or stage.ndim != 1:
        raise DataFileError(f"curves of {key!r}: stage, stress_pa and reload_strain must be 1D arrays of one "
                            f"length, got shapes {stage.shape}, {stress.shape}, {eps.shape}")
    reload = np.flatnonzero(stage == _STAGE_RELOAD)
    if not len(reload):
        raise DataFileError(f"curves of {key!r} have no reload (stage 2) points")
    x, y = eps[reload], stress[reload]
    if x[0] > _SLACK:
        unload = np.flatnonzero(stage == _STAGE_UNLOAD)
        if not len(unload):
            raise DataFileError(f"reload of {key!r} starts at reload strain {x[0]:.3g} and there is no "
                                "unloading point to start it from")
        x, y = np.r_[0.0, x], np.r_[stress[unload[-1]], y]
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise DataFileError(f"reload of {key!r} holds NaN or infinite values")
    if np.any(np.diff(x) < 0):
        raise DataFileError(f"reload strain of {key!r} must not decrease")
    if x[-1] < max_strain - _SLACK:
        raise DataFileError(f"reload of {key!r} reaches reload strain {x[-1]:.6g}, expected at least "
                            f"max_strain={max_strain:g}")
    grid = np.linspace(0.0, float(max_strain), int(n_points))
    return grid, np.interp(grid, x, y) / 1e6


def reload_curves(curves: Mapping[str, np.ndarray], keys: Sequence[str], *, max_strain: float = 0.01,
                  n_points: int = 101) -> tuple[np.ndarray, np.ndarray]:
    """:func:`reload_curve` of several keys: the grid and ``(len(keys), n_points)`` stress (MPa)."""
    if not len(keys):
        raise InvalidParameterError("keys must name at least one simulation")
    pairs = [reload_curve(curves, key, max_strain=max_strain, n_points=n_points) for key in keys]
    return pairs[0][0], np.stack([s for _, s in pairs])


def profile_features(model: nn.Module, crops: Tensor | np.ndarray | Sequence[Tensor | np.ndarray], *,
                     batch_profiles: int = 8, device: str | torch.device | None = None) -> np.ndarray:
    """Concatenated second-to-last-layer features of each profile's crops.

    Parameters
    ----------
    model
        A network with ``features(x) -> (n, F)`` such as
        :class:`~microdl.models.yang2020.Yang2020ResNet` (global-average-pool features).
        It runs in eval mode under :func:`torch.inference_mode`; its mode and device
        are restored afterwards.
    crops
        ``(n_profiles, n_crops, 1, c, c)`` or a list of ``(n_crops, 1, c, c)`` (from
        :func:`~microdl.data.strain_crops.strain_crops`: 24 crops, gray values 0..255).
    batch_profiles
        Profiles per forward pass.
    device
        Where to run; ``None``: where the model's parameters are.

    Returns
    -------
    numpy.ndarray
        ``(n_profiles, n_crops * F)`` float32, the crops' features in crop order
        (1536 for 24 crops of the proposed ResNet).
    """
    items = crops if isinstance(crops, (Tensor, np.ndarray)) else list(crops)
    if not len(items):
        raise InvalidParameterError("crops must hold at least one profile")
    first = tuple(items[0].shape)
    for i, c in enumerate(items):
        if len(c.shape) != 4 or tuple(c.shape) != first:
            raise ShapeError(f"crops of each profile must have one shape (n_crops, 1, c, c), got {tuple(c.shape)} "
                             f"for profile {i} and {first} for profile 0")
    if int(batch_profiles) != batch_profiles or batch_profiles < 1:
        raise InvalidParameterError(f"batch_profiles must be an integer >= 1, got {batch_profiles!r}")
    params = next(model.parameters(), None)
    home = params.device if params is not None else torch.device("cpu")
    dev = home if device is None else torch.device(device)
    was_training = model.training
    out = []
    try:
        model.to(dev).eval()
        with torch.inference_mode():
            for s in range(0, len(items), batch_profiles):
                chunk = [torch.as_tensor(c, dtype=torch.float32) for c in items[s:s + batch_profiles]]
                x = torch.stack(chunk).to(dev)
                f = model.features(x.reshape(-1, *first[1:]))
                out.append(f.reshape(len(chunk), -1).float().cpu().numpy())
    finally:
        model.to(home).train(was_training)
    return np.concatenate(out).astype(np.float32, copy=False)


def _matrix(name: str, a: Any, *, n: int | None = None, cols: int | None = None) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 2:
        raise ShapeError(f"{name} must be a 2D array (n, d), got shape {a.shape}")
    if n is not None and len(a) != n:
        raise ShapeError(f"{name} must have {n} rows, got {len(a)}")
    if cols is not None and a.shape[1] != cols:
        raise ShapeError(f"{name} must have {cols} columns, got {a.shape[1]}")
    if not np.isfinite(a).all():
        raise NonFiniteError(f"{name} holds NaN or infinite values")
    return a


class NeighbourCurves(BaseEstimator):
    """Predict a curve as the mean of the curves of the ``k`` nearest training profiles.

    Parameters
    ----------
    k
        Neighbours averaged by :meth:`predict` (the paper shows 1, 5 and 10).
    metric
        Distance of :class:`sklearn.neighbors.NearestNeighbors` (paper: Euclidean).

    Attributes
    ----------
    index_
        The fitted :class:`~sklearn.neighbors.NearestNeighbors`; ``curves_`` the ``(n_train,
        n_points)`` training curves (MPa, shared grid); ``n_features_in_`` the feature length.

    Examples
    --------
    >>> import numpy as np
    >>> nc = NeighbourCurves(k=2).fit(np.array([[0.0], [1.0], [5.0]]), np.array([[0.0], [2.0], [9.0]]))
    >>> nc.predict(np.array([[0.2]]))
    array([[1.]])
    """

    def __init__(self, k: int = 5, metric: str = "euclidean") -> None:
        self.k = k
        self.metric = metric

    def fit(self, features: np.ndarray, curves: np.ndarray) -> NeighbourCurves:
        """Index ``features`` ``(n, d)`` of the training profiles with their ``curves`` ``(n, n_points)``."""
        x = _matrix("features", features)
        y = _matrix("curves", curves, n=len(x))
        self._check_k(self.k, len(x))
        try:
            self.index_ = NearestNeighbors(metric=self.metric).fit(x)
        except ValueError as exc:
            raise InvalidParameterError(f"metric {self.metric!r} is not usable: {exc}") from None
        self.curves_ = y
        self.n_features_in_ = x.shape[1]
        return self

    @staticmethod
    def _check_k(k: Any, n_train: int) -> int:
        if isinstance(k, bool) or int(k) != k or not 1 <= k <= n_train:
            raise InvalidParameterError(f"k must be an integer in 1..{n_train} (training profiles), got {k!r}")
        return int(k)

    def kneighbors(self, features: np.ndarray, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Distances and training indices ``(n, k)`` of the nearest neighbours, nearest first."""
        check_is_fitted(self, "index_")
        x = _matrix("features", features, cols=self.n_features_in_)
        k = self._check_k(self.k if k is None else k, len(self.curves_))
        return self.index_.kneighbors(x, n_neighbors=k)

    def predict(self, features: np.ndarray, k: int | None = None) -> np.ndarray:
        """Mean training curve of the ``k`` nearest neighbours: ``(n, n_points)`` MPa."""
        _, idx = self.kneighbors(features, k)
        return self.curves_[idx].mean(axis=1)


def group_mean_curves(train_curves: np.ndarray, train_groups: Sequence[Hashable],
                      test_groups: Sequence[Hashable]) -> np.ndarray:
    """For each test item, the mean training curve of its group; NaN rows where no training item shares it."""
    y = _matrix("train_curves", train_curves)
    train_groups, test_groups = list(train_groups), list(test_groups)
    if len(train_groups) != len(y):
        raise ShapeError(f"train_groups must have one entry per training curve ({len(y)}), got {len(train_groups)}")
    members: dict[Hashable, list[int]] = {}
    for i, g in enumerate(train_groups):
        members.setdefault(g, []).append(i)
    nan = np.full(y.shape[1], np.nan)
    return np.array([y[members[g]].mean(axis=0) if g in members else nan for g in test_groups]).reshape(
        len(test_groups), y.shape[1])


def baseline_curves(train_curves: np.ndarray, train_subset: Sequence[Hashable], train_label: Sequence[Hashable],
                    test_subset: Sequence[Hashable], test_label: Sequence[Hashable]) -> dict[str, np.ndarray]:
    """The label-only baselines for the kNN curves, on the same test set.

    Parameters
    ----------
    train_curves
        ``(n_train, n_points)`` training curves (MPa, shared grid).
    train_subset, test_subset
        Subset of each profile, e.g. ``(width_um, slip)`` tuples or strings.
    train_label, test_label
        True prior-deformation label of each profile.

    Returns
    -------
    dict
        ``"subset"``: the mean training curve of the same subset whatever the prior
        strain (what width and slip alone give); ``"subset_label"``: the mean
        training curve of the same subset and the *true* label (an oracle: the best a
        perfect prior-strain classifier followed by averaging could do). Each
        ``(n_test, n_points)``; rows are NaN where the training set has no curve of
        that group (:func:`curve_errors` counts them).
    """
    n_train, n_test = len(train_subset), len(test_subset)
    if len(train_label) != n_train or len(test_label) != n_test:
        raise ShapeError(f"labels must match subsets: train {len(train_label)} vs {n_train}, "
                         f"test {len(test_label)} vs {n_test}")
    return {
        "subset": group_mean_curves(train_curves, train_subset, test_subset),
        "subset_label": group_mean_curves(train_curves, list(zip(train_subset, train_label, strict=True)),
                                          list(zip(test_subset, test_label, strict=True))),
    }


def _grid(strain_grid: Any, n_points: int) -> np.ndarray:
    x = np.asarray(strain_grid, dtype=np.float64)
    if x.shape != (n_points,):
        raise ShapeError(f"strain_grid must have shape ({n_points},), got {x.shape}")
    if not np.isfinite(x).all() or np.any(np.diff(x) <= 0):
        raise InvalidParameterError("strain_grid must be finite and strictly increasing")
    return x


def initial_modulus(strain_grid: np.ndarray, stress_mpa: np.ndarray, *, fit_strain: float = 2e-4) -> np.ndarray:
    """Initial slope (Pa) of each curve: least squares through its first point over ``fit_strain``.

    The slope ``sum(dx dy) / sum(dx^2)`` with ``dx = strain - strain[0]``, ``dy = stress -
    stress[0]`` over the grid points with ``0 < dx <= fit_strain`` (by default the first
    0.02 % of reload: 2 steps of the 1e-4 grid, where reloads of the simulated pillars
    are still elastic apart from heavily pre-strained ones). ``stress_mpa`` is ``(n,
    n_points)`` (result ``(n,)``) or one curve (0-d result). A slope that is not positive
    gives NaN.
    """
    y = np.asarray(stress_mpa, dtype=np.float64)
    x = _grid(strain_grid, y.shape[-1])
    dx = x - x[0]
    sel = (dx > 0) & (dx <= fit_strain * (1 + 1e-9))
    if not sel.any():
        raise InvalidParameterError(f"fit_strain={fit_strain!r} holds no grid point after the first "
                                    f"(grid step {x[1] - x[0]:.3g})")
    dy = y[..., sel] - y[..., :1]
    slope = (dy * dx[sel]).sum(-1) / (dx[sel] ** 2).sum() * 1e6
    return np.where(slope > 0, slope, np.nan)


def offset_yield(strain: np.ndarray, stress_mpa: np.ndarray, modulus_pa: float, *, offset: float = 0.002) -> float:
    """Offset yield stress (MPa) of one curve, interpolated; NaN if never reached.

    The plastic strain is ``(strain - strain[0]) - (stress - stress[0]) / modulus`` (the
    elastic line through the curve's first point); the yield stress is the stress where
    it first reaches ``offset``, linear between the two recorded points around it
    (:func:`microdl.simulate.ddd.protocol.yield_stress` takes the first point past it).
    """
    x, y = np.asarray(strain, dtype=np.float64), np.asarray(stress_mpa, dtype=np.float64)
    if not offset > 0:
        raise InvalidParameterError(f"offset must be > 0, got {offset!r}")
    if not (np.isfinite(modulus_pa) and modulus_pa > 0) or not np.isfinite(y).all():
        return float("nan")
    plastic = (x - x[0]) - (y - y[0]) * 1e6 / modulus_pa
    idx = np.flatnonzero(plastic >= offset)
    if not len(idx):
        return float("nan")
    i = int(idx[0])  # >= 1 because plastic[0] = 0 < offset
    t = (offset - plastic[i - 1]) / (plastic[i] - plastic[i - 1])
    return float(y[i - 1] + t * (y[i] - y[i - 1]))


def _stat(fn: Any, a: np.ndarray) -> float | None:
    a = a[np.isfinite(a)]
    return float(fn(a)) if len(a) else None


def curve_errors(true: np.ndarray, pred: np.ndarray, strain_grid: np.ndarray, *,
                 modulus_pa: float | np.ndarray | None = None, offset: float = 0.002, fit_strain: float = 2e-4,
                 min_strain: float = 0.0) -> dict[str, Any]:
    """RMSE and offset-yield error of predicted curves, per profile and summarised.

    Parameters
    ----------
    true, pred
        ``(n, n_points)`` stress (MPa) on ``strain_grid``. A ``pred`` row holding NaN
        (e.g. a baseline group absent from training) counts as missing.
    strain_grid
        ``(n_points,)`` reload strain.
    modulus_pa
        Elastic modulus (Pa) for the offset line, one or per profile; ``None``: the
        initial slope of each *true* curve (:func:`initial_modulus` with ``fit_strain``),
        used for its prediction too. A known modulus (the pillar's effective
        modulus) is steadier than the slope of a jerky reload.
    offset
        Plastic strain of the yield point (0.002: 0.2 % offset).
    fit_strain
        Fit range of :func:`initial_modulus`.
    min_strain
        RMSE over the grid points with ``strain >= min_strain`` (e.g. 0.001 to score
        only what was not given); the RMSE is the root mean square over those points.

    Returns
    -------
    dict
        Per profile (arrays, NaN where undefined): ``rmse_mpa``, ``modulus_pa``,
        ``yield_true_mpa``, ``yield_pred_mpa``, ``yield_error_mpa`` (pred - true);
        ``summary`` (JSON-friendly, ``None`` when empty): ``n``, ``n_pred_missing``,
        ``rmse_mpa_median``, ``rmse_mpa_mean``, ``n_yield_compared``,
        ``n_yield_true_missing`` and ``n_yield_pred_missing`` (offset never reached
        within the curve, or no usable modulus), ``yield_abs_error_mpa_median``,
        ``yield_abs_error_mpa_mean``, ``yield_error_mpa_median`` (bias).
    """
    t = _matrix("true", true)
    p = np.asarray(pred, dtype=np.float64)
    if p.shape != t.shape:
        raise ShapeError(f"pred must have the shape of true {t.shape}, got {p.shape}")
    if np.isinf(p).any():
        raise NonFiniteError("pred holds infinite values")
    x = _grid(strain_grid, t.shape[1])
    n = len(t)
    if modulus_pa is None:
        mod = initial_modulus(x, t, fit_strain=fit_strain)
    else:
        mod = np.asarray(modulus_pa, dtype=np.float64)
        if mod.ndim > 1 or mod.size not in (1, n):
            raise ShapeError(f"modulus_pa must be a number or have {n} entries, got shape {mod.shape}")
        mod = np.broadcast_to(mod.reshape(-1), (n,)).copy()
    window = x >= min_strain
    if not window.any():
        raise InvalidParameterError(f"min_strain={min_strain!r} is beyond the grid (max {x[-1]:g})")
    missing = ~np.isfinite(p).all(axis=1)
    rmse = np.sqrt(np.mean((p[:, window] - t[:, window]) ** 2, axis=1))
    rmse[missing] = np.nan
    y_true = np.array([offset_yield(x, t[i], mod[i], offset=offset) for i in range(n)])
    y_pred = np.array([offset_yield(x, p[i], mod[i], offset=offset) for i in range(n)])
    err = y_pred - y_true
    summary = {"n": n, "n_pred_missing": int(missing.sum()),
               "rmse_mpa_median": _stat(np.median, rmse), "rmse_mpa_mean": _stat(np.mean, rmse),
               "n_yield_compared": int(np.isfinite(err).sum()), "n_yield_true_missing": int(np.isnan(y_true).sum()),
               "n_yield_pred_missing": int((np.isnan(y_pred) & ~missing).sum()),
               "yield_abs_error_mpa_median": _stat(np.median, np.abs(err)),
               "yield_abs_error_mpa_mean": _stat(np.mean, np.abs(err)), "yield_error_mpa_median": _stat(np.median, err)}
    return {"rmse_mpa": rmse, "modulus_pa": mod, "yield_true_mpa": y_true, "yield_pred_mpa": y_pred,
            "yield_error_mpa": err, "summary": summary}


def plot_curve_prediction(ax: Any, strain_grid: np.ndarray, true_mpa: np.ndarray,
                          pred_mpa: np.ndarray | Mapping[str, np.ndarray], *, known_strain: float | None = 0.001,
                          title: str | None = None) -> Any:
    """True reload curve (red) and predicted ones (blue shades) against reload strain in %.

    ``pred_mpa`` is one curve or ``{label: curve}`` (e.g. ``{"k = 5": ...}``). The
    part up to ``known_strain`` (the 0.1 % reload whose profile was seen, Fig. 4 of
    the paper) is shaded.
    """
    x = _grid(strain_grid, np.shape(true_mpa)[-1]) * 100
    preds = dict(pred_mpa) if isinstance(pred_mpa, Mapping) else {"kNN mean": pred_mpa}
    if known_strain is not None:
        ax.axvspan(0, known_strain * 100, color="0.9", lw=0, label=f"given ({known_strain:.2%} reload)")
    ax.plot(x, np.asarray(true_mpa), color="tab:red", lw=1.5, label="true")
    blues = ("tab:blue", "navy", "tab:cyan", "slateblue", "steelblue")
    for i, (label, curve) in enumerate(preds.items()):
        ax.plot(x, np.asarray(curve), color=blues[i % len(blues)], lw=1.0, label=label)
    ax.set_xlabel("reload strain (%)")
    ax.set_ylabel("stress (MPa)")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return ax


def neighbour_figure(strain_grid: np.ndarray, true_mpa: np.ndarray, preds: Mapping[int, np.ndarray], *,
                     titles: Sequence[str] | None = None, known_strain: float | None = 0.001,
                     size_per_panel: tuple[float, float] = (3.0, 2.6)) -> tuple[Any, Any]:
    """Fig. 5 of the paper: one row per profile, one column per ``k`` (true vs mean of k neighbours).

    ``true_mpa`` is ``(m, n_points)``; ``preds`` maps ``k`` to ``(m, n_points)``;
    ``titles`` (one per profile, e.g. width and prior strain) head each row.
    Returns ``(Figure, axes)`` with ``axes`` of shape ``(m, len(preds))``.
    """
    t = np.atleast_2d(np.asarray(true_mpa, dtype=np.float64))
    m, ks = len(t), list(preds)
    if not ks:
        raise InvalidParameterError("preds must hold at least one k")
    for k in ks:
        if np.shape(preds[k]) != t.shape:
            raise ShapeError(f"preds[{k}] must have shape {t.shape}, got {np.shape(preds[k])}")
    if titles is not None and len(titles) != m:
        raise ShapeError(f"titles must have one entry per profile ({m}), got {len(titles)}")
    fig, axes = plots.figure(m, len(ks), size=(size_per_panel[0] * len(ks), size_per_panel[1] * m),
                             squeeze=False)
    for i in range(m):
        for j, k in enumerate(ks):
            head = f"{titles[i]}, k = {k}" if titles is not None else f"k = {k}"
            plot_curve_prediction(axes[i, j], strain_grid, t[i], {f"mean of {k}": np.asarray(preds[k])[i]},
                                  known_strain=known_strain, title=head)
    return fig, axes


def plot_errors(ax: Any, errors: Mapping[str, np.ndarray], *, ylabel: str = "RMSE (MPa)",
                title: str | None = None) -> Any:
    """Box plot of a per-profile error (e.g. RMSE) per method (``{"k = 1": ..., "subset mean": ...}``).

    NaN entries (missing predictions or yields) are left out; each box is labelled
    with the number of values it holds.
    """
    if not errors:
        raise InvalidParameterError("errors must hold at least one method")
    data = [np.asarray(v, dtype=np.float64).ravel() for v in errors.values()]
    data = [a[np.isfinite(a)] for a in data]
    ax.boxplot(data, tick_labels=[f"{name}\n(n={len(a)})" for name, a in zip(errors, data, strict=True)])
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", labelsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    return ax
