"""Grids of DDD samples: jobs, files, resuming after a kill, Dask, loading, CLI wrappers.

The runs use a cheap grid (w = 62.5 nm, reload to 0.1 %, snapshots at 0.05 % and
0.1 %) so the file stays well under a minute on a loaded 2-core machine; the physics of
one sample is tested in ``test_protocol.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from microdl.data.catalog import Catalog
from microdl.data.jobs import status
from microdl.exceptions import DataFileError, InvalidParameterError, UnknownNameError
from microdl.data.ddd_export import export_images, load_images
from microdl.data.ddd_profiles import DATASET_JSON, load_profiles, load_sample
from microdl.simulate.ddd.profile import render_uint8
from microdl.workflows.ddd_grid import PAPER_TABLE3
from microdl.workflows.ddd_dataset import (
    PRESETS,
    DDDGridPreset,
    get_preset,
    grid_jobs,
    run_dataset,
    sample_key,
    sample_seed,
)

# Real sources and obstacles, short reload: a few seconds per sample.
TINY = DDDGridPreset(
    name="tiny", widths_um=(0.0625,), slips=("one", "two"), priors=(0.001,),
    reload_snapshots=(0.0005, 0.001), n_samples=2,
    pillar_overrides=(("obstacle_density_per_um2", 400.0),),
)
# Purely elastic (no sources), 0.05 % strains: the cheapest samples, for the kill / Dask runs.
ELASTIC = TINY.replace(name="elastic", priors=(0.0005,), reload_snapshots=(0.0002, 0.0005),
                       pillar_overrides=(("source_density_per_um2", 0.0), ("min_sources", 0)))


def _mtimes(out: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in out.glob("w*") if ".tmp-" not in p.name}


# ----------------------------------------------------------------------------- jobs


def test_smoke_preset_builds_one_job_per_sample_with_both_snapshots():
    preset = get_preset("smoke")
    jobs = grid_jobs(preset)
    assert len(jobs) == preset.n_jobs == len(preset.widths_um) * len(preset.slips) * len(preset.priors) * 2
    keys = [j.key for j in jobs]
    assert len(set(keys)) == len(keys)
    assert len({j.params["seed"] for j in jobs}) == len(jobs)  # independent samples
    for j in jobs:
        assert j.suffix == ".npz"
        assert j.params["reload_snapshots"] == [0.001, 0.01]  # both images from one reload
        assert j.params["reload_strain"] == 0.01
        assert j.key == sample_key(j.params["width_um"], j.params["slip"], j.params["prior_strain"],
                                   j.params["index"])
    # sample-major order: every subset gets sample 0 before any gets sample 1
    assert [j.params["index"] for j in jobs] == sorted(j.params["index"] for j in jobs)


def test_presets_match_the_issue():
    paper = PRESETS.get("paper")
    assert paper.widths_um == (2.0, 1.0, 0.5, 0.25, 0.125, 0.0625)
    assert paper.priors == (0.001, 0.01, 0.1) and paper.reload_snapshots == (0.001, 0.01)
    assert set(paper.slips) == {"one", "two"}
    assert len(paper.widths_um) * len(paper.reload_snapshots) * len(paper.slips) == 24  # subsets
    # Table 3: ~50 simulations per (width, slip, prior), both reload images from one; 3648 profiles
    assert sum(PAPER_TABLE3.values()) == 3648 and len(PAPER_TABLE3) == 24
    for w in paper.widths_um:
        for slip in paper.slips:
            larger = max(PAPER_TABLE3[(w, r, slip)] for r in (0.1, 1.0))  # the fewest that cover both subsets
            assert 3 * paper.samples_for(w, slip) - 3 < larger <= 3 * paper.samples_for(w, slip)
    assert {paper.samples_for(w, "two") for w in paper.widths_um} == {52}
    # the 62.5 nm / 10 % cells are refused (source-starved pillars, PillarConfig.check_source_supply)
    refused = {(w, s, p) for w, s, p, _ in paper.refused_cells()}
    assert refused == {(0.0625, "one", 0.1), (0.0625, "two", 0.1)}
    full = sum(paper.samples_for(w, s) for w in paper.widths_um for s in paper.slips) * 3
    assert full == 1833 and abs(2 * full - 3648) < 20  # the paper's count before the refusal
    assert paper.n_jobs == len(grid_jobs(paper)) == full - paper.samples_for(0.0625, "one") - paper.samples_for(
        0.0625, "two")
    assert paper.replace(n_samples=3).n_jobs == (6 * 2 * 3 - 2) * 3  # --samples sets every cell
    cpu = PRESETS.get("cpu")
    assert set(cpu.widths_um) == {0.0625, 0.125, 0.25, 0.5} <= set(paper.widths_um)
    assert set(cpu.slips) == {"one", "two"} and cpu.n_samples >= 20 and cpu.n_jobs == 480 - 2 * 20
    assert cpu.priors == paper.priors and cpu.reload_snapshots == paper.reload_snapshots
    assert PRESETS.get("smoke").n_jobs == 4


def test_keys_and_seeds_are_stable_under_grid_overrides():
    a = {j.key: j.params["seed"] for j in grid_jobs("paper", widths=[0.125], samples=3)}
    b = {j.key: j.params["seed"] for j in grid_jobs("paper", widths=[0.0625, 0.125], samples=5)}
    assert a.items() <= b.items()  # adding widths or samples keeps the existing samples
    assert sample_key(0.0625, "two", 0.001, 7) == "w0.0625_two_p0.1_i0007"
    assert sample_key(2.0, "one", 0.1, 149) == "w2_one_p10_i0149"
    assert sample_seed(0, 0.125, "one", 0.01, 0) != sample_seed(0, 0.125, "two", 0.01, 0)


@pytest.mark.parametrize("kwargs, match", [
    ({"widths_um": ()}, "widths_um"),
    ({"widths_um": (-1.0,)}, "widths"),
    ({"slips": ("three",)}, "slips"),
    ({"priors": (1.0,)}, "priors"),
    ({"reload_snapshots": (0.0,)}, "reload_snapshots"),
    ({"n_samples": 0}, "samples"),
    ({"pillar_overrides": (("width_um", 1.0),)}, "pillar_overrides"),
    ({"pillar_overrides": (("nonsense", 1.0),)}, "pillar_overrides"),
    ({"widths_um": (0.0625, 1e6)}, "width_um"),  # PillarConfig limits, before anything runs
    ({"pillar_overrides": (("pixel_size_nm", 1e-6),)}, "pixel_size_nm"),
])
def test_preset_validation(kwargs, match):
    with pytest.raises(InvalidParameterError, match=match):
        TINY.replace(**kwargs)


def test_unknown_preset_is_a_clear_error():
    with pytest.raises(UnknownNameError, match="preset.*'huge'"):
        grid_jobs("huge")


# ----------------------------------------------------------------------------- runs


def test_run_writes_loadable_files_and_rerun_runs_nothing(tmp_path):
    out = tmp_path / "grid"
    jobs = grid_jobs(TINY)[:2]  # one slip, two slips
    report = run_dataset(jobs, out, workers=2, progress=False)
    assert report.ok and report.n_ran == 2, status(out)

    # one compressed file per sample: profiles (float32, both snapshots), curve, dislocations, config
    s = load_sample(out / f"{jobs[0].key}.npz")
    cfg = s["meta"]["config"]
    assert cfg["width_um"] == 0.0625 and cfg["slip"] == jobs[0].params["slip"]
    assert cfg["obstacle_density_per_um2"] == 400.0 and s["seed"] == jobs[0].params["seed"]
    assert s["profiles"].dtype == np.float32 and s["profiles"].shape == (2, 31, 125)
    assert np.allclose(s["snapshot_strains"], [0.0005, 0.001]) and np.all(np.isfinite(s["profiles"]))
    assert s["curve"]["stress_pa"].size > 10 and set(s["curve"]["stage"]) == {0, 1, 2}
    assert {"x_m", "y_m", "sign"} <= set(s["dislocations"])
    # the mean reload strain of the 0.1 % image is about 0.1 % (elastic reload, compression < 0)
    assert 0.5e-3 < abs(float(s["profiles"][1].mean())) < 1.5e-3

    profiles, labels = load_profiles(out)
    assert len(profiles) == 4 and all(p.shape == (31, 125) for p in profiles)
    assert sorted(set(labels["reload"])) == [0.0005, 0.001]
    assert set(labels["key"]) == {j.key for j in jobs}
    assert set(labels) >= {"width_um", "slip", "prior", "reload", "seed"}
    k = int(np.flatnonzero((labels["key"] == jobs[0].key) & (labels["reload"] == 0.001))[0])
    assert np.array_equal(profiles[k], s["profiles"][1])
    # "mean" reference (only the mean unloaded strain subtracted): stored beside, same shapes
    mean_mode, _ = load_profiles(out, mode="mean")
    assert len(mean_mode) == 4 and np.array_equal(mean_mode[k], s["profiles_mean"][1])
    assert all(m.shape == f.shape for m, f in zip(mean_mode, profiles, strict=True))
    with pytest.raises(InvalidParameterError):
        load_profiles(out, mode="other")
    only, lab = load_profiles(out, reload=0.0005, slips=["two"])
    assert len(only) == int(np.sum((labels["slip"] == "two") & (labels["reload"] == 0.0005)))

    info = json.loads((out / DATASET_JSON).read_text())
    assert info["counts"]["n_done"] == 2 and info["counts"]["n_images"] == 4 and info["complete"]
    assert info["summary"] and info["summary"][0]["profile_shape"] == [31, 125]
    entry = Catalog().get(info["catalog_id"])
    assert entry.kind == "dataset" and entry.name == "ddd-profiles" and entry.status == "done"

    # compact export: 8-bit PNGs (as published) + index + curves, read back
    exp = tmp_path / "images"
    meta = export_images(out, exp, elastic="class")  # short reloads may stay elastic: keep them, labelled
    assert meta["n_images"] + meta["n_dropped_elastic"] == 8 and meta["n_images"] == 8 and meta["n_samples"] == 2  # 2 samples x 2 reloads x 2 reference modes
    images, rows = load_images(exp)
    assert len(images) == 8 and all(im.dtype == np.uint8 and im.shape == (31, 125) for im in images)
    assert {row["mode"] for row in rows} == {"full", "mean"}
    r = next(i for i, row in enumerate(rows)
             if row["key"] == jobs[0].key and row["reload_pct"] == 0.1 and row["mode"] == "full")
    assert np.array_equal(images[r], render_uint8(s["profiles"][1]))
    assert rows[r]["scale_strain"] == pytest.approx(float(np.max(np.abs(s["profiles"][1] - np.median(s["profiles"][1])))))
    with np.load(exp / "curves.npz") as z:
        np.testing.assert_allclose(z[f"{jobs[0].key}/stress_pa"], s["curve"]["stress_pa"], rtol=1e-6)
    from microdl.cli import main

    assert main(["ddd", "export", str(out), "--out", str(tmp_path / "cli-images"), "--elastic", "class",
                 "--json"]) == 0
    assert sorted(p.name for p in (tmp_path / "cli-images").glob("*.png")) == sorted(r["file"] for r in rows)
    assert main(["ddd", "export", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2

    before = _mtimes(out)
    again = run_dataset(jobs, out, workers=2, progress=False)
    assert (again.n_done_before, again.n_ran) == (2, 0)
    assert _mtimes(out) == before
    assert len(Catalog().list("dataset")) == 1  # the rerun updated the same entry


_SCRIPT = """
import sys
sys.path.insert(0, {tests!r})
from test_ddd_dataset import ELASTIC
from microdl.workflows.ddd_dataset import grid_jobs, run_dataset

if __name__ == "__main__":
    run_dataset(grid_jobs(ELASTIC, samples={n}), {out!r}, workers=1, progress=False)
"""


def test_killed_dataset_run_resumes_without_redoing_finished_samples(tmp_path):
    n_samples = 2  # 4 jobs, one worker
    out = tmp_path / "grid"
    script = tmp_path / "run_grid.py"
    script.write_text(textwrap.dedent(_SCRIPT.format(tests=str(Path(__file__).parent), n=n_samples,
                                                     out=str(out))))
    proc = subprocess.Popen([sys.executable, str(script)], start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            # a finished summary, not an atomic write's temporary (``w0000.tmp-<pid>-<hex>.json``)
            names = [p.name for p in out.glob("w*.json") if ".tmp-" not in p.name] if out.is_dir() else []
            if errors := [n for n in names if n.endswith(".error.json")]:
                pytest.fail(f"a sample failed: {(out / errors[0]).read_text()}")
            if names:
                break
            if proc.poll() is not None:
                pytest.fail(f"runner exited early: {proc.communicate()}")
            time.sleep(0.05)
        else:
            pytest.fail("no sample finished in time")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # runner and worker: a hard crash midway
        proc.communicate(timeout=10)

    st = status(out)
    finished = set(st.done)
    assert 1 <= len(finished) < 4 and st.failed == {}
    started = {k: json.loads((out / f"{k}.json").read_text())["started_utc"] for k in finished}
    before = {k: v for k, v in _mtimes(out).items() if k.split(".")[0] in finished}

    report = run_dataset(grid_jobs(ELASTIC, samples=n_samples), out, workers=2, progress=False)

    assert (report.n_done_before, report.n_ran, report.n_failed) == (len(finished), 4 - len(finished), 0)
    assert {k: v for k, v in _mtimes(out).items() if k in before} == before  # not redone
    assert {k: json.loads((out / f"{k}.json").read_text())["started_utc"] for k in finished} == started
    assert len(status(out).done) == 4 and not [p for p in out.iterdir() if ".tmp-" in p.name]
    profiles, labels = load_profiles(out)
    assert len(profiles) == 8 and len(set(labels["key"])) == 4


@pytest.mark.slow  # ~20 s on a loaded 2-core machine; the runner's Dask path is also in tests/data
def test_dask_local_cluster_runs_a_tiny_grid(tmp_path):
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "grid"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address="127.0.0.1:0") as cluster:
        report = run_dataset(grid_jobs(ELASTIC, samples=1), out, scheduler=cluster.scheduler_address,
                             progress=False)
        assert report.ok and report.n_ran == 2
        pids = {json.loads(p.read_text())["pid"] for p in out.glob("w*.json")}
        assert os.getpid() not in pids  # ran in the cluster's worker processes
        again = run_dataset(grid_jobs(ELASTIC, samples=1), out, cluster=cluster, progress=False)
        assert (again.n_done_before, again.n_ran) == (2, 0)
    assert len(load_profiles(out)[0]) == 4


# ----------------------------------------------------------------------------- CLI wrappers


@pytest.fixture
def cli():
    import typer

    from microdl.cli.ddd_dataset import dataset, status as status_cmd

    app = typer.Typer()
    app.command("dataset")(dataset)
    app.command("status")(status_cmd)
    return app


def test_cli_dataset_passes_overrides_and_prints_one_json(cli, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import microdl.workflows.ddd_dataset as ds

    seen = {}

    def fake_run(grid, out, **kw):
        seen.update(grid=grid, out=out, **kw)
        n = grid.n_jobs
        return ds.JobsReport(n_total=n, n_done_before=1, n_ran=n - 1, n_failed=0, failed=(), seconds=0.5)

    monkeypatch.setattr(ds, "run_dataset", fake_run)
    res = CliRunner().invoke(cli, ["dataset", "--preset", "paper", "--out", str(tmp_path / "o"),
                                   "--widths", "0.0625, 0.125", "--samples", "3", "--workers", "2", "--priors", "0.1,1",
                                   "--json"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)  # exactly one JSON object
    assert obj["n_total"] == 2 * 2 * 2 * 3 and obj["ok"] and obj["widths_um"] == [0.0625, 0.125]
    assert seen["grid"].widths_um == (0.0625, 0.125) and seen["grid"].n_samples == 3
    assert seen["grid"].priors == (0.001, 0.01) and seen["grid"].reload_snapshots == (0.001, 0.01)
    assert seen["workers"] == 2 and seen["scheduler"] is None and seen["progress"] is False


def test_cli_dataset_skip_exported_counts_the_exported_samples(cli, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    import microdl.workflows.ddd_dataset as ds
    from microdl.data.ddd_export import INDEX_COLUMNS

    seen = {}

    def fake_run(grid, out, **kw):
        seen.update(kw)
        return ds.JobsReport(n_total=grid.n_jobs - 1, n_done_before=0, n_ran=grid.n_jobs - 1, n_failed=0, failed=(),
                             seconds=0.1)

    monkeypatch.setattr(ds, "run_dataset", fake_run)
    exp = tmp_path / "export"  # an export whose one sample was dropped (no visible slip)
    exp.mkdir()
    (exp / "index.csv").write_text(",".join(INDEX_COLUMNS) + "\n")
    key = sample_key(0.0625, "one", 0.001, 0)
    (exp / "index.json").write_text(json.dumps({"dropped": [{"file": f"{key}_r0.1.png", "reason": "elastic"}]}))
    res = CliRunner().invoke(cli, ["dataset", "--preset", "smoke", "--out", str(tmp_path / "o"), "--skip-exported",
                                   str(exp), "--json"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert obj["n_already_exported"] == 1 and obj["n_total"] == 3 and seen["skip_exported"] == exp


@pytest.mark.parametrize("args, error", [
    (["--preset", "huge"], UnknownNameError),
    (["--widths", "a,b"], InvalidParameterError),
    (["--samples", "0"], InvalidParameterError),
    (["--priors", "100"], InvalidParameterError),
    (["--workers", "2", "--scheduler", "tcp://127.0.0.1:9"], InvalidParameterError),
])
def test_cli_dataset_user_errors(cli, tmp_path, args, error):
    from typer.testing import CliRunner

    res = CliRunner().invoke(cli, ["dataset", "--out", str(tmp_path / "o"), *args])
    assert isinstance(res.exception, error), res.output
    assert not (tmp_path / "o").exists()


def test_cli_status_counts_done_failed_pending(cli, tmp_path):
    from typer.testing import CliRunner

    from microdl.data.jobs import Job, run_jobs
    from microdl.exceptions import DataFileError

    out = tmp_path / "o"
    jobs = [Job("a", {}, ".txt"), Job("b", {}, ".txt")]
    run_jobs(_write_or_fail, jobs, out, workers=1, progress=False)
    res = CliRunner().invoke(cli, ["status", str(out), "--json"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)
    assert (obj["n_total"], obj["n_done"], obj["n_failed"], obj["n_pending"]) == (2, 1, 1, 0)
    assert "boom" in obj["failed"]["b"]
    res = CliRunner().invoke(cli, ["status", str(tmp_path / "nothing")])
    assert isinstance(res.exception, DataFileError)


def _write_or_fail(params, out_path):
    if Path(out_path).name.startswith("b"):
        raise RuntimeError("boom")
    Path(out_path).write_text("ok")
    return {}


def test_cli_export_check_and_split(tmp_path, capsys):
    import typer
    from typer.testing import CliRunner

    from microdl.cli.ddd_dataset import check, export, split

    app = typer.Typer()
    for name, fn in (("export", export), ("check", check), ("split", split)):
        app.command(name)(fn)
    out = tmp_path / "grid"
    assert run_dataset(grid_jobs(ELASTIC, samples=1), out, workers=1, progress=False).ok
    exp = tmp_path / "images"
    res = CliRunner().invoke(app, ["export", str(out), "--out", str(exp), "--json"])
    assert res.exit_code == 0, res.output
    obj = json.loads(res.stdout)  # purely elastic samples: every image dropped by default
    assert (obj["n_images"], obj["n_dropped_elastic"], obj["n_samples"]) == (0, 8, 2) and obj["check"]["ok"]
    res = CliRunner().invoke(app, ["export", str(out), "--out", str(exp), "--elastic", "class", "--json"])
    obj = json.loads(res.stdout)
    assert obj["n_images"] == 8 and obj["splits"]["file"] == "splits.json"
    assert {"out", "n_images", "n_samples"} <= set(obj)  # the keys of earlier versions
    res = CliRunner().invoke(app, ["export", str(out), "--out", str(exp), "--elastic", "class", "--merge", "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["n_samples"] == 2  # exported again: replaced, not doubled
    res = CliRunner().invoke(app, ["check", str(exp), "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout)["splits"].endswith("splits.json")
    res = CliRunner().invoke(app, ["split", str(exp), "--out", str(tmp_path / "s.json"), "--seed", "3", "--json"])
    obj = json.loads(res.stdout)
    assert res.exit_code == 0 and obj["seed"] == 3 and sum(v["images"] for v in obj["counts"].values()) == 8
    saved = json.loads((tmp_path / "s.json").read_text())
    assert saved["format"] == "microdl.ddd-splits/1" and saved["check"]["ok"]
    res = CliRunner().invoke(app, ["export", str(out), "--out", str(exp), "--rendering", "sideways"])
    assert isinstance(res.exception, InvalidParameterError)


# ----------------------------------------------------------------------------- several sessions


def test_skip_exported_runs_only_the_samples_the_export_lacks(tmp_path):
    from microdl.workflows.ddd_dataset import build_dataset, skip_exported_jobs

    one = ELASTIC.replace(slips=("one",))  # the cheapest grid: one sample per session
    catalog = Catalog(tmp_path / "catalog.sqlite")
    exp = tmp_path / "export"
    assert run_dataset(grid_jobs(one, samples=1), tmp_path / "session1", workers=1, progress=False,
                       catalog=catalog).ok
    assert export_images(tmp_path / "session1", exp, elastic="class")["n_samples"] == 1
    sides = json.loads((exp / "splits.json").read_text())["simulations"]
    # session 2: a fresh work folder; the grid has grown to 2 samples, the first is exported
    work = tmp_path / "session2"
    result, text = build_dataset(one.replace(n_samples=2), work, skip_exported=exp, workers=1, progress=False,
                                 catalog=catalog)
    assert (result["n_total"], result["n_ran"], result["n_already_exported"]) == (1, 1, 1) and result["ok"]
    assert "already exported: 1" in text
    assert list(status(work).done) == [sample_key(0.0625, "one", 0.0005, 1)]
    info = json.loads((work / DATASET_JSON).read_text())
    assert info["complete"] and info["counts"]["n_already_exported"] == 1 and info["skip_exported"] == str(exp)
    merged = export_images(work, exp, elastic="class", merge=True)
    assert merged["n_samples"] == 2 and merged["n_images"] == 8
    grown = json.loads((exp / "splits.json").read_text())["simulations"]
    assert all(set(keys) <= set(grown[side]) for side, keys in sides.items())  # nobody changed sides
    # session 3: everything exported, nothing to run; the build counts as complete
    again = run_dataset(grid_jobs(one, samples=2), tmp_path / "session3", progress=False, catalog=catalog,
                        skip_exported=exp)
    assert (again.n_total, again.n_ran) == (0, 0) and again.ok
    assert json.loads((tmp_path / "session3" / DATASET_JSON).read_text())["complete"]
    # an export of another base seed (same keys, other samples) is refused, and so is a folder that is no export
    with pytest.raises(InvalidParameterError, match="seed"):
        skip_exported_jobs(grid_jobs(one.replace(base_seed=1), samples=1), exp)
    with pytest.raises(DataFileError, match="index.csv"):
        skip_exported_jobs(grid_jobs(one), tmp_path / "session1")
