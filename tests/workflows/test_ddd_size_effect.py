"""The size-effect study: jobs, resumable grid, report and the ``ddd size-effect`` command."""

from __future__ import annotations

import pytest

from microdl.analysis.size_effect import summarise
from microdl.data.jobs import run_jobs
from microdl.exceptions import InvalidParameterError
from microdl.workflows.size_effect import load_curve, load_samples, run_loading_sample, size_effect_jobs


def test_jobs_have_independent_seeds_and_bad_input_is_refused():
    jobs = size_effect_jobs([0.0625, 0.125], ["two"], n_seeds=2)
    assert len(jobs) == 4 and len({j.params["seed"] for j in jobs}) == 4
    assert jobs[0].params["width_um"] == 0.125  # widest first
    with pytest.raises(InvalidParameterError):
        size_effect_jobs([0.1], ["three"])
    with pytest.raises(InvalidParameterError):
        size_effect_jobs([0.1], max_strain=0.001)  # below the 0.2 % offset
    with pytest.raises(InvalidParameterError, match="width_um"):
        size_effect_jobs([0.0625, 1e6])  # physical range, checked before any job runs


def test_grid_runs_resumes_and_summarises(tmp_path):
    jobs = size_effect_jobs([0.0625, 0.125], ["two"], n_seeds=1, max_strain=0.004)
    rep = run_jobs(run_loading_sample, jobs, tmp_path, workers=1, progress=False)
    assert rep.n_ran == 2 and rep.n_failed == 0
    again = run_jobs(run_loading_sample, jobs, tmp_path, workers=1, progress=False)
    assert again.n_ran == 0 and again.n_done_before == 2
    samples = load_samples(tmp_path)
    assert [r["width_um"] for r in samples] == [0.0625, 0.125]
    assert load_samples(tmp_path, max_strain=0.004) == samples and load_samples(tmp_path, max_strain=0.03) == []
    curve = load_curve(tmp_path / f"{jobs[0].key}.npz")
    assert curve["strain"][-1] == pytest.approx(0.004)
    summary = summarise(samples, n_boot=20)
    assert [e["width_um"] for e in summary["per_width"]] == [0.0625, 0.125]
    assert set(summary["fits"]) == {"two"}
    assert set(summary["fits"]["two"]) == {"yield", "flow", "yield_samples", "flow_samples"}


def test_cli_size_effect_runs_end_to_end_and_resumes(tmp_path, capsys):
    import json

    from microdl.cli import main

    out = tmp_path / "se"
    args = ["ddd", "size-effect", "--out", str(out), "--widths", "0.0625", "--samples", "1",
            "--strain", "0.5", "--workers", "1", "--json"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["n_samples"] == 1 and first["n_failed"] == 0
    assert first["size_effect_exponent"] is None  # one width: medians, no exponent
    res = json.loads((out / "results.json").read_text())
    assert "per-width medians" in res["size_effect_exponent_definition"]
    assert "Kaplan-Meier" in res["yield_stress_exponent_definition"]
    (entry,) = res["per_width"]
    assert entry["width_um"] == 0.0625 and entry["flow"]["n"] == 1
    assert entry["flow"]["median"] == pytest.approx(entry["flow_stress_mpa"]["median"])
    assert res["command"].startswith("microdl ddd size-effect --out") and "--widths 0.0625 " in res["command"]
    assert (out / "size_effect.png").stat().st_size > 0
    assert "| two | 0.0625 | 1 |" in (out / "results.md").read_text()
    assert main(args) == 0  # rerun: nothing recomputed, same report
    again = json.loads(capsys.readouterr().out)
    assert again["yield_stress_exponent"] == first["yield_stress_exponent"]
    assert json.loads((out / "results.json").read_text())["jobs"]["ran"] == 0
    assert again["id"] == first["id"]  # one catalog entry per output folder
    assert main(["ddd", "size-effect", "--out", str(out), "--slips", "three"]) == 2
