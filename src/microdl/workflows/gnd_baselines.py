"""The baselines of the GND benchmark, scored exactly as the networks are.

Each baseline is fitted on training windows, gets a density scale fitted on the validation
windows (:func:`microdl.analysis.gnd_stats.mape_scale`) and is scored on the test windows
with bootstrap intervals of the scaled predictions: the same protocol as every network row
of :mod:`microdl.workflows.gnd_benchmark`, so "the strongest simple baseline" is a fair one.

* ``isotonic``: monotone fit on the centre pixel's |rho_GND| (paper-sized training set);
* ``gbdt-centre``: gradient boosting on the centre pixel's three channels, log loss (paper-sized);
* ``gbdt-centre-canonical``: the centre pixel made sign-canonical, log loss;
* ``gbdt-window``: the whole sign-canonical 7 x 7 window (147 features), log loss.

The last two are trained on the preset's ``baseline_per_class`` windows.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from microdl.analysis.gnd import gnd_metrics
from microdl.analysis.gnd_stats import bootstrap_intervals, mape_scale, pearson_log
from microdl.data.gnd import GNDWindows
from microdl.features.centre_pixel import CentrePixelBaseline
from microdl.features.gnd_gbdt import GBDTBaseline

__all__ = ["BASELINES", "score_baselines"]

#: name -> (description, which training set, factory(seed))
BASELINES: dict[str, tuple[str, str, Any]] = {
    "isotonic": ("isotonic on the centre pixel's GND magnitude", "train",
                 lambda seed: CentrePixelBaseline(method="isotonic")),
    "gbdt-centre": ("gradient boosting, centre pixel, log loss", "train",
                    lambda seed: CentrePixelBaseline(method="gbdt", random_state=seed)),
    "gbdt-centre-canonical": ("gradient boosting, sign-canonical centre pixel, log loss", "baseline_train",
                              lambda seed: GBDTBaseline(region="centre", loss="log", random_state=seed)),
    "gbdt-window": ("gradient boosting, sign-canonical 7 x 7 window, log loss", "baseline_train",
                    lambda seed: GBDTBaseline(region="window", loss="log", random_state=seed)),
}


def score_baselines(sets: dict[str, GNDWindows], *, seed: int = 0, bootstrap: int = 1000,
                    names: tuple[str, ...] | None = None) -> dict[str, dict[str, Any]]:
    """Fit, calibrate on validation and score every baseline on the test windows.

    Parameters
    ----------
    sets
        ``train``, ``baseline_train``, ``val`` and ``test`` windows.
    seed
        Seed of the boosting models' internal early-stopping split.
    bootstrap
        Bootstrap resamples of the test metrics (0: no intervals).
    names
        Baselines to run (default: all of :data:`BASELINES`).

    Returns
    -------
    dict
        Per baseline: ``description``, ``train_windows``, ``mape_rho_t`` (raw, percent),
        ``val_scale``, ``scaled`` (``mape_rho_t``, ``median_ape_rho_t`` of the scaled
        prediction), ``n_accuracy``, ``mape_rho_t_by_n``, ``pearson_log_rho_t``, ``confusion``,
        ``intervals`` (of the scaled predictions) and ``seconds``.
    """
    val, test = sets["val"], sets["test"]
    out: dict[str, dict[str, Any]] = {}
    for name in names or tuple(BASELINES):
        description, which, factory = BASELINES[name]
        train = sets[which]
        t0 = time.perf_counter()
        est = factory(seed).fit(train.gnd, train.rho_t, train.n_lines)
        scale = mape_scale(val.rho_t, est.predict_rho(val.gnd))
        rho, n_pred = est.predict(test.gnd)
        row = gnd_metrics(test.rho_t, rho, test.n_lines, n_pred)
        scaled = scale * rho
        ape = np.abs(scaled - test.rho_t) / test.rho_t * 100.0
        row.update(description=description, train_windows=len(train), val_scale=scale,
                   scaled={"scale": scale, "mape_rho_t": float(ape.mean()), "median_ape_rho_t": float(np.median(ape))},
                   pearson_log_rho_t=pearson_log(test.rho_t, rho))
        if bootstrap:
            row["intervals"] = bootstrap_intervals(test.rho_t, scaled, test.n_lines, n_pred, n_boot=bootstrap,
                                                   seed=seed)
        row["seconds"] = time.perf_counter() - t0
        out[name] = row
    return out
