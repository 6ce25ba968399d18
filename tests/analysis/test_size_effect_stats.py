"""Kaplan-Meier medians, bootstrap intervals and exponents of per-width medians."""

from __future__ import annotations

import numpy as np
import pytest

from microdl.analysis.size_effect_stats import (
    bootstrap_width_medians,
    fit_medians,
    fit_power_law_of_medians,
    km_median,
    percentile_interval,
)
from microdl.exceptions import InvalidParameterError


def test_km_median_against_hand_computed_cases():
    # 100 (event): S = 4/5; 150 censored; 200: S = 4/5 * 2/3 = 0.533; 250: S = 0.533 * 1/2 = 0.267 -> 250
    assert km_median([100, 150, 200, 250, 300], [False, True, False, False, True]) == pytest.approx(250.0)
    # the median of the three yields alone (200) would be biased low
    # S = 3/4 after 10, exactly 0.5 after 20 until the next event at 40: midpoint 30
    assert km_median([10, 20, 30, 40], [False, False, True, False]) == pytest.approx(30.0)
    assert km_median([4.0, 1.0, 3.0, 2.0]) == pytest.approx(2.5)  # no censoring: the sample median
    assert km_median([100, 200, 300], [False, True, True]) is None  # S = 2/3 > 0.5 throughout
    assert km_median([100, 200], [True, True]) is None and km_median([]) is None
    with pytest.raises(InvalidParameterError):
        km_median([1.0, 2.0], [True])


def test_percentile_interval_keeps_undefined_replicates_above_all():
    assert percentile_interval(np.arange(1, 1001)) == pytest.approx([25.0, 975.0], abs=1)  # order statistics
    lo, hi = percentile_interval(np.r_[np.arange(1, 901), np.full(100, np.inf)])
    assert lo == pytest.approx(25.0, abs=1) and hi is None
    assert percentile_interval(np.array([])) == [None, None]


def test_bootstrap_interval_brackets_the_median_and_is_reproducible():
    rng = np.random.default_rng(3)
    v = 100 * np.exp(rng.normal(0, 0.3, 12))
    c = np.zeros(12, bool)
    c[[0, 5]] = True
    w = np.full(12, 0.5)
    a = bootstrap_width_medians(w, v, c, n_boot=400, seed=7)
    lo, hi = a["ci95"][0]
    assert lo < a["median"][0] < hi
    assert a["median"][0] == km_median(v, c) and a["n_censored"] == [2] and a["n"] == [12]
    assert a["lower_bound"][0] == pytest.approx(np.median(v)) and a["lower_bound"][0] <= a["median"][0]
    b = bootstrap_width_medians(w, v, c, n_boot=400, seed=7)
    assert b["ci95"] == a["ci95"] and np.array_equal(a["replicates"], b["replicates"])
    assert not np.array_equal(bootstrap_width_medians(w, v, c, n_boot=400, seed=8)["replicates"], a["replicates"])
    with pytest.raises(InvalidParameterError):
        bootstrap_width_medians(w, -v, c, n_boot=10)
    with pytest.raises(InvalidParameterError):
        bootstrap_width_medians(w, v, c, n_boot=0)


def test_exponent_of_medians_recovers_alpha_with_noise_and_censoring():
    rng = np.random.default_rng(0)
    w = np.repeat([0.25, 0.5, 1.0, 2.0], 40)
    true = 80.0 * w**-0.55 * np.exp(rng.normal(0, 0.25, len(w)))
    limit = 80.0 * w**-0.55 * np.exp(rng.normal(0.4, 0.3, len(w)))  # highest stress reached in the strain range
    censored = true > limit
    assert 0.05 < censored.mean() < 0.3
    fit = fit_power_law_of_medians(w, np.minimum(true, limit), censored, n_boot=300, seed=1)
    assert fit["alpha"] == pytest.approx(0.55, abs=0.08)
    assert fit["alpha_ci95"][0] < 0.55 < fit["alpha_ci95"][1]
    assert fit["widths_used"] == [0.25, 0.5, 1.0, 2.0] and fit["n_boot_used"] == 300
    assert len(fit["local"]) == 3 and all(loc["alpha_ci95"][0] < loc["alpha"] < loc["alpha_ci95"][1]
                                          for loc in fit["local"])
    assert fit["per_width"]["n_censored"] == [int(censored[w == x].sum()) for x in (0.25, 0.5, 1.0, 2.0)]


def test_local_exponents_tell_a_step_from_a_power_law_and_undefined_medians_are_left_out():
    w = np.repeat([0.25, 0.5, 1.0, 2.0], 3)
    step = np.repeat([300.0, 100.0, 100.0, 100.0], 3)
    fit = fit_medians(bootstrap_width_medians(w, step, n_boot=20, seed=0))
    assert [loc["alpha"] for loc in fit["local"]] == pytest.approx([np.log2(3), 0.0, 0.0])
    censored = np.repeat([True, False, False, False], 3)  # every 0.25 um pillar censored
    fit = fit_medians(bootstrap_width_medians(w, step, censored, n_boot=20, seed=0))
    assert fit["widths_left_out"] == [0.25] and fit["local"][0]["alpha"] is None
    assert fit["alpha"] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(InvalidParameterError, match="at least two widths"):
        fit_power_law_of_medians(w[:3], step[:3], n_boot=10)
