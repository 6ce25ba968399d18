"""Power-law fit over samples, noise and count measures, and the summary of the size-effect analysis."""

from __future__ import annotations

import numpy as np
import pytest

from microdl.analysis.size_effect import count_at, fit_power_law, flow_noise, stress_values, summarise
from microdl.exceptions import InvalidParameterError


def test_power_law_fit_over_samples_recovers_the_exponent():
    rng = np.random.default_rng(0)
    w = np.repeat([0.0625, 0.125, 0.25, 0.5, 1.0], 20)
    s = 80.0 * w**-0.55 * np.exp(rng.normal(0, 0.1, len(w)))
    fit = fit_power_law(w, s, n_boot=300)
    assert fit["alpha"] == pytest.approx(0.55, abs=0.05)
    assert fit["alpha_ci95"][0] < 0.55 < fit["alpha_ci95"][1]
    assert fit["prefactor"] == pytest.approx(80.0, rel=0.1)
    exact = fit_power_law([1.0, 2.0, 4.0], [10.0, 5.0, 2.5], n_boot=10)
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


def _sample(w: float, y: float | None, top: float, flow: float | None, slip: str = "two") -> dict:
    return {"width_um": w, "slip": slip, "yield_stress_mpa": y, "max_stress_mpa": top, "flow_stress_mpa": flow}


def test_yield_of_a_pillar_that_never_yields_is_censored_at_its_max_stress():
    rows = [_sample(0.5, 80.0, 90.0, 85.0), _sample(0.5, None, 400.0, 390.0), _sample(1.0, 70.0, 75.0, None)]
    w, v, c = stress_values(rows, "yield")
    assert v.tolist() == [80.0, 400.0, 70.0] and c.tolist() == [False, True, False]
    w, v, c = stress_values(rows, "flow")  # a missing flow stress is left out, never censored
    assert w.tolist() == [0.5, 0.5] and not c.any()
    with pytest.raises(InvalidParameterError):
        stress_values(rows, "ultimate")


def test_summary_reports_km_medians_intervals_and_fits_per_slip():
    rows = [_sample(w, None if (w == 0.25 and i < 2) else 100 * w**-0.5 + i, 300.0 + i, 90 * w**-0.4 + i)
            for w in (0.25, 0.5, 1.0) for i in range(5)] + [_sample(0.5, 150.0, 160.0, 150.0, slip="one")]
    s = summarise(rows, n_boot=50, seed=1)
    assert s == summarise(rows, n_boot=50, seed=1)  # seeded: reproducible
    e = next(x for x in s["per_width"] if x["slip"] == "two" and x["width_um"] == 0.25)
    assert e["n_no_yield"] == 2 and e["yield"]["n_censored"] == 2 and e["yield"]["median"] is not None
    assert e["yield"]["ci95"][0] <= e["yield"]["median"]
    assert set(s["fits"]["two"]) == {"yield", "flow", "yield_samples", "flow_samples"}
    assert s["fits"]["two"]["flow"]["alpha"] == pytest.approx(0.4, abs=0.05)
    assert s["fits"]["one"]["flow"] is None  # one width: no fit
