"""Monotonic loading, flow-stress measures and the power-law fit of the size-effect benchmark."""

from __future__ import annotations

import numpy as np
import pytest

from microdl.data.jobs import run_jobs
from microdl.exceptions import InvalidParameterError
from microdl.simulate.ddd import PillarConfig, simulate_pillar
from microdl.simulate.ddd.protocol import flow_stress, simulate_loading, yield_stress
from microdl.simulate.ddd.size_effect import (
    fit_power_law,
    fit_power_law_of_means,
    load_curve,
    load_samples,
    run_loading_sample,
    size_effect_jobs,
    summarise,
)


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


def test_jobs_have_independent_seeds_and_bad_input_is_refused():
    jobs = size_effect_jobs([0.0625, 0.125], ["two"], n_seeds=2)
    assert len(jobs) == 4 and len({j.params["seed"] for j in jobs}) == 4
    assert jobs[0].params["width_um"] == 0.125  # widest first
    with pytest.raises(InvalidParameterError):
        size_effect_jobs([0.1], ["three"])
    with pytest.raises(InvalidParameterError):
        size_effect_jobs([0.1], max_strain=0.001)  # below the 0.2 % offset


def test_grid_runs_resumes_and_summarises(tmp_path):
    jobs = size_effect_jobs([0.0625, 0.125], ["two"], n_seeds=1, max_strain=0.004)
    rep = run_jobs(run_loading_sample, jobs, tmp_path, workers=1, progress=False)
    assert rep.n_ran == 2 and rep.n_failed == 0
    again = run_jobs(run_loading_sample, jobs, tmp_path, workers=1, progress=False)
    assert again.n_ran == 0 and again.n_done_before == 2
    samples = load_samples(tmp_path)
    assert [r["width_um"] for r in samples] == [0.0625, 0.125]
    curve = load_curve(tmp_path / f"{jobs[0].key}.npz")
    assert curve["strain"][-1] == pytest.approx(0.004)
    summary = summarise(samples)
    assert [e["width_um"] for e in summary["per_width"]] == [0.0625, 0.125]
    assert set(summary["fits"]) == {"two"}
    assert set(summary["fits"]["two"]) == {"yield", "flow", "yield_of_means", "flow_of_means"}


def test_cli_size_effect_writes_report_and_resumes(tmp_path, capsys):
    import json

    from microdl.cli import main

    out = tmp_path / "se"
    args = ["ddd", "size-effect", "--out", str(out), "--widths", "0.0625,0.125", "--samples", "1",
            "--strain", "0.4", "--workers", "1", "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["n_samples"] == 2 and first["n_failed"] == 0
    res = json.loads((out / "results.json").read_text())
    assert res["size_effect_exponent"] == first["size_effect_exponent"]
    assert {e["width_um"] for e in res["per_width"]} == {0.0625, 0.125}
    assert res["command"].startswith("microdl ddd size-effect --out") and "--widths 0.0625,0.125" in res["command"]
    assert (out / "size_effect.png").stat().st_size > 0 and (out / "results.md").is_file()
    assert main(args) == 0  # rerun: nothing recomputed, same report
    again = json.loads(capsys.readouterr().out)
    assert again["size_effect_exponent"] == first["size_effect_exponent"]
    assert json.loads((out / "results.json").read_text())["jobs"]["ran"] == 0
    assert again["id"] == first["id"]  # one catalog entry per output folder
    assert main(["ddd", "size-effect", "--out", str(out), "--slips", "three"]) == 2
