"""End-to-end checks of small pillar simulations: determinism, containment, work, checkpoints."""

from __future__ import annotations


import numpy as np
import pytest

from microdl.exceptions import InvalidParameterError
from microdl.simulate.ddd import PillarConfig, simulate_pillar
from microdl.simulate.ddd.dynamics import PillarModel

SMALL = PillarConfig(width_um=0.0625, prior_strain=0.005, reload_strain=0.002, reload_snapshots=(0.001, 0.002))


@pytest.fixture(scope="module")
def small_result():
    return simulate_pillar(SMALL, seed=3)


def test_same_seed_gives_identical_arrays(small_result):
    again = simulate_pillar(SMALL, seed=3)
    assert small_result.stats["nucleated"] > 0  # the run actually did plasticity
    np.testing.assert_array_equal(again.profiles, small_result.profiles)
    for key, val in small_result.curve.items():
        np.testing.assert_array_equal(again.curve[key], val)
    np.testing.assert_array_equal(again.dislocations["x_m"], small_result.dislocations["x_m"])
    other = PillarModel(SMALL, np.random.default_rng(4))  # another seed, other sources
    assert not np.array_equal(other.src_x, small_result.sources["x_m"])


def test_outputs_shapes_and_unloading(small_result):
    r = small_result
    assert r.profiles.shape == (2, 31, 125)  # w / 2 nm x h / 2 nm, 1:4
    assert r.pixel_size_m[1] == pytest.approx(2e-9)
    assert set(np.unique(r.curve["stage"])) == {0, 1, 2}
    # unloading ends at zero force (U0 found exactly) and reload starts from U0
    unload = r.curve["stage"] == 1
    assert abs(r.curve["stress_pa"][unload][-1]) < 1e3
    assert r.curve["displacement_m"][unload][-1] == pytest.approx(r.unload_displacement_m)
    assert 0 < r.unload_displacement_m < SMALL.prior_strain * SMALL.height_um * 1e-6
    assert r.stats["steps_load"] == 1000 and r.stats["steps_reload"] == 400


def test_profiles_use_the_exact_jump_operator(small_result):
    from microdl.simulate.ddd.profile import strain_profile

    r = small_result
    assert r.jump_snapshots.shape == r.profiles.shape and r.jump_unloaded.shape == r.profiles.shape[1:]
    for k in range(len(r.snapshot_strains)):
        exact = strain_profile(r.u_snapshots[k], r.u_unloaded, r.pixel_size_m[1],
                               correction_current=r.jump_snapshots[k], correction_reference=r.jump_unloaded)
        np.testing.assert_allclose(r.profiles[k], exact, rtol=0, atol=1e-15)
    corner_only = strain_profile(r.u_snapshots[-1], r.u_unloaded, r.pixel_size_m[1])
    assert not np.allclose(r.profiles[-1], corner_only)  # the slip traces differ from corner sampling
    # the exact operator moves strain between pixels; it does not create or destroy it
    assert r.profiles[-1].sum() == pytest.approx(corner_only.sum(), rel=1e-3)


def test_plastic_work_is_non_negative(small_result):
    r = small_result
    assert r.stats["dissipation_j_per_m"] >= 0.0
    assert r.stats["dissipation_j_per_m"] > 0.0 or r.stats["nucleated"] == 0
    c = r.curve
    cyc = c["stage"] <= 1
    # work of the platen over load + unload = dissipated + stored energy >= 0
    w_m = SMALL.width_um * 1e-6
    work = np.trapezoid(c["stress_pa"][cyc] * w_m, c["displacement_m"][cyc])
    assert work >= -1e-3 * np.abs(c["stress_pa"][cyc] * w_m).max() * SMALL.prior_strain * 1e-6


def test_no_dislocation_ever_outside_the_sample():
    cfg = PillarConfig(width_um=0.125, prior_strain=0.01, reload_strain=0.001, source_strength_mean_mpa=30.0)
    model = PillarModel(cfg, np.random.default_rng(1))
    du = cfg.strain_rate_per_s * model.dt * model.height
    seen = 0
    for k in range(1, 1200):
        model.step(k * du)
        x, y, *_ = model.dislocation_arrays()
        seen = max(seen, len(x))
        assert np.all((x >= 0) & (x <= model.width) & (y >= 0) & (y <= model.height))
    assert seen > 0 and model.stats.exited > 0


def test_checkpoint_resume_reproduces_reload(small_result):
    resumed = simulate_pillar(SMALL, seed=3, unloaded=small_result.unloaded_checkpoint)
    np.testing.assert_array_equal(resumed.profiles, small_result.profiles)


def test_bad_parameters_raise_clear_errors():
    with pytest.raises(InvalidParameterError, match="slip"):
        PillarConfig(slip="three")
    with pytest.raises(InvalidParameterError, match="fractions"):
        PillarConfig(prior_strain=10.0)
    with pytest.raises(InvalidParameterError, match="reload_snapshots"):
        PillarConfig(reload_strain=0.001, reload_snapshots=(0.01,))
    with pytest.raises(InvalidParameterError, match="seed"):
        simulate_pillar(SMALL, seed=-1)


def test_source_starved_pillar_is_refused_before_it_runs():
    starved = PillarConfig(width_um=0.0625, prior_strain=0.1, reload_strain=0.01)
    with pytest.raises(InvalidParameterError, match="source-starved"):
        simulate_pillar(starved, seed=0)


def test_unloading_reaches_zero_force_from_a_high_stress():
    # an elastic pillar (no sources) loaded to 1.6 GPa needs 2 % of unloading: more than
    # max_unload_strain, so the bound follows the peak stress instead of cutting unloading short
    cfg = PillarConfig(width_um=0.0625, prior_strain=0.02, reload_strain=0.001, source_density_per_um2=0.0,
                       min_sources=0, max_unload_strain=0.005)
    r = simulate_pillar(cfg, seed=0)
    unload = r.curve["stage"] == 1
    assert r.stats["steps_unload"] >= 0.95 * r.stats["steps_load"]  # unloaded all the way (not 25 %)
    assert abs(r.curve["stress_pa"][unload][-1]) < 1e3
    assert abs(r.unload_displacement_m) < 1e-12  # elastic: back to the start


def test_pillar_without_obstacles_glides():
    """Regression: a small pillar with no obstacle at all used to raise IndexError on glide."""
    from microdl.simulate.ddd import PillarConfig, simulate_pillar

    cfg = PillarConfig(width_um=0.0625, slip="one", prior_strain=0.001, reload_strain=0.002,
                       obstacle_density_per_um2=0.0)
    res = simulate_pillar(cfg, seed=1)
    assert res.stats["n_obstacles"] == 0 and res.stats["nucleated"] > 0
    assert res.stats["steps_reload"] > 0
