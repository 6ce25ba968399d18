"""Taylor hardening: the arithmetic of Zhang et al. (2019), Table 2 and Fig. 6, by hand."""

from __future__ import annotations

import math

import pytest

from microdl.exceptions import InvalidParameterError, UnknownNameError
from microdl.features.taylor import get_material, taylor_stress, taylor_stress_change

# Table 2 of the paper: (sum |rho_gnd|, rho_t) in m^-2 and the measured stress (MPa)
TABLE2 = {("1", 4): (1.81e14, 9.28e14, 603.6), ("1", 10): (2.85e14, 1.16e15, 652.2),
          ("2", 1): (1.50e14, 8.80e14, 526.8), ("2", 6): (2.48e14, 1.17e15, 605.4),
          ("2", 10): (2.98e14, 1.26e15, 635.5)}
PAIRS = [(("1", 4), ("1", 10)), (("2", 1), ("2", 6)), (("2", 1), ("2", 10))]


def _by_hand(r1, r2):
    return 2.86 * 0.23 * 82e9 * 2.482e-10 * (math.sqrt(r2) - math.sqrt(r1)) / 1e6


def test_stress_changes_of_the_paper_from_its_published_densities():
    # by hand: M alpha' mu b = 13.39 Pa m; sample 1, 4 -> 10 % from rho_t: 13.39 * (3.406e7 - 3.046e7) Pa
    expected_rho_t = [48.1, 60.8, 78.1]
    expected_gnd = [45.9, 46.9, 67.1]
    for (a, b), e_t, e_g in zip(PAIRS, expected_rho_t, expected_gnd, strict=True):
        (g1, t1, s1), (g2, t2, s2) = TABLE2[a], TABLE2[b]
        d_t = taylor_stress_change(t1, t2, "alpha-Fe") / 1e6
        d_g = taylor_stress_change(g1, g2, "alpha-Fe") / 1e6
        assert d_t == pytest.approx(_by_hand(t1, t2), rel=1e-12)
        assert d_t == pytest.approx(e_t, abs=0.05)
        assert d_g == pytest.approx(e_g, abs=0.05)
        # the paper's claim (Fig. 6): rho_t is closer to the measured increase than the GND density
        assert abs(d_t - (s2 - s1)) < abs(d_g - (s2 - s1))
    # sample 1: the measured 48.6 MPa against 48.1 MPa from rho_t
    assert TABLE2[("1", 10)][2] - TABLE2[("1", 4)][2] == pytest.approx(48.6)


def test_taylor_stress_and_overrides():
    fe = get_material("alpha-Fe")
    assert fe.prefactor_pa_m == pytest.approx(2.86 * 0.23 * 82e9 * 2.482e-10)
    assert taylor_stress(1e14) == pytest.approx(fe.prefactor_pa_m * 1e7)
    stiff = get_material("alpha-Fe", mu_pa=164e9)
    assert taylor_stress(1e14, stiff) == pytest.approx(2 * taylor_stress(1e14))
    assert "mu_pa" in stiff.source
    assert get_material("Cu").b_m == pytest.approx(2.56e-10)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(UnknownNameError, match="presets"):
        get_material("unobtainium")
    with pytest.raises(InvalidParameterError, match="positive"):
        get_material("Al", M=-1)
    with pytest.raises(InvalidParameterError, match="unknown Taylor"):
        get_material("Al", G=1)
    with pytest.raises(InvalidParameterError, match=">= 0"):
        taylor_stress(-1e14)
