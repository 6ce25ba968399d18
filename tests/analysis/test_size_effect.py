"""Power-law fits, noise and count measures of the size-effect analysis."""

from __future__ import annotations

import numpy as np
import pytest

from microdl.analysis.size_effect import count_at, fit_power_law, fit_power_law_of_means, flow_noise
from microdl.exceptions import InvalidParameterError


def test_power_law_fit_recovers_the_exponent():
    rng = np.random.default_rng(0)
    w = np.repeat([0.0625, 0.125, 0.25, 0.5, 1.0], 20)
    s = 80.0 * w**-0.55 * np.exp(rng.normal(0, 0.1, len(w)))
    fit = fit_power_law(w, s)
    assert fit["alpha"] == pytest.approx(0.55, abs=0.05)
    assert fit["alpha_ci95"][0] < 0.55 < fit["alpha_ci95"][1]
    assert fit["prefactor"] == pytest.approx(80.0, rel=0.1)
    means = fit_power_law_of_means(w, s)
    assert means["alpha"] == pytest.approx(0.55, abs=0.05)
    assert means["alpha_ci95"][0] < 0.55 < means["alpha_ci95"][1]
    # a heavy upper tail at small widths: the means see it, the log-log fit over samples less
    tail = np.where((w == 0.0625) & (np.arange(len(w)) % 4 == 0), 10.0, 1.0) * s
    assert fit_power_law_of_means(w, tail)["alpha"] > fit_power_law(w, tail)["alpha"]
    exact = fit_power_law([1.0, 2.0, 4.0], [10.0, 5.0, 2.5])
    assert exact["alpha"] == pytest.approx(1.0) and exact["r2"] == pytest.approx(1.0)
    with pytest.raises(InvalidParameterError):
        fit_power_law([1.0, 1.0], [2.0, 3.0])
    with pytest.raises(InvalidParameterError):
        fit_power_law([1.0, 2.0], [2.0, -3.0])


def test_flow_noise_and_counts_on_analytic_curves():
    strain = np.linspace(0, 0.01, 101)
    assert flow_noise(strain, 100.0 + 1e3 * strain, 0.005) == pytest.approx(0.0, abs=1e-12)  # a straight line
    assert flow_noise(strain, np.zeros_like(strain), 0.005) is None  # no positive mean
    assert flow_noise(strain[:3], strain[:3], 0.005) is None  # too few points
    counts = np.arange(101)
    assert count_at(strain, counts, 0.002) == 20 and count_at(strain, counts, 0.02) is None
