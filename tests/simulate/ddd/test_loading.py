"""Monotonic loading and the flow- and yield-stress measures of a curve (physics of the size effect)."""

from __future__ import annotations

import numpy as np
import pytest

from microdl.exceptions import InvalidParameterError
from microdl.simulate.ddd import PillarConfig, simulate_pillar
from microdl.simulate.ddd.protocol import flow_stress, simulate_loading, yield_stress


def test_loading_is_stage_one_of_the_full_protocol():
    cfg = PillarConfig(width_um=0.0625, prior_strain=0.004, reload_strain=0.001)
    full = simulate_pillar(cfg, seed=3)
    load = simulate_loading(cfg, seed=3, max_strain=0.004)
    stage0 = full.curve["stage"] == 0
    np.testing.assert_array_equal(load.curve["stress_pa"], full.curve["stress_pa"][stage0])
    np.testing.assert_array_equal(load.curve["strain"], full.curve["strain"][stage0])
    assert load.max_strain == pytest.approx(0.004)
    # plane strain, 1:4, clamped ends: stiffer than free lateral contraction, E / (1 - nu^2),
    # softer than fully confined, E (1 - nu) / ((1 + nu)(1 - 2 nu)); close to the first for h = 4 w
    e, nu = 70e9, 0.33
    assert e / (1 - nu**2) < load.stats["elastic_modulus_pa"] < 1.05 * e / (1 - nu**2)
    assert load.stats["n_dislocations_final"] == load.curve["n_dislocations"][-1]


def test_flow_and_yield_stress_on_an_analytic_curve():
    e = 80e9
    strain = np.linspace(0, 0.01, 1001)
    stress = np.minimum(e * strain, 100e6)  # elastic-perfectly plastic at 100 MPa
    assert flow_stress(strain, stress, 0.005, 0.01) == pytest.approx(100e6)
    assert flow_stress(strain, stress, 0.005, 0.02) is None  # curve does not reach 2 %
    # 0.2 % offset: plastic strain = eps - 100 MPa / E reaches 0.002 at eps = 0.00325
    assert yield_stress(strain, stress, e) == pytest.approx(100e6)
    assert yield_stress(strain[:300], stress[:300], e) is None
    with pytest.raises(InvalidParameterError):
        flow_stress(strain, stress, 0.01, 0.005)
