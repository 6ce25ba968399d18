"""Tests of the resumable job runner ``microdl.data.jobs``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from microdl.data.jobs import Job, run_jobs, status
from microdl.exceptions import DataFileError, InvalidParameterError

HELPERS = Path(__file__).resolve().parent
if str(HELPERS) not in sys.path:  # worker processes inherit sys.path
    sys.path.insert(0, str(HELPERS))

from _jobs_helpers import grid, log_lines, require_complete, square, write_folder  # noqa: E402


def _tmp_files(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if ".tmp-" in p.name)


def _mtimes(out: Path) -> dict[str, int]:
    """Modification times of the job files (not the manifest or the lock, which hold the last run)."""
    return {p.name: p.stat().st_mtime_ns for p in out.iterdir()
            if p.name not in ("manifest.json", ".microdl.lock")}


def _starts(log: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for e in log_lines(log):
        if e["event"] == "start":
            counts[e["key"]] = counts.get(e["key"], 0) + 1
    return counts


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _wait_dead(pids: set[int], timeout: float = 10.0) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.05)
    return {p for p in pids if _alive(p)}


# ----------------------------------------------------------------------------- local runs


def test_all_jobs_write_outputs_summaries_and_manifest(tmp_path):
    out, log = tmp_path / "out", tmp_path / "log.jsonl"
    jobs = grid(5, log=log)
    report = run_jobs(square, jobs, out, workers=2, progress=False)

    assert (report.n_total, report.n_done_before, report.n_ran, report.n_failed) == (5, 0, 5, 0)
    assert report.ok and report.failed == ()
    for i, job in enumerate(jobs):
        assert job.output_path(out).read_text() == f"partial\n{i * i}\ncomplete\n"
        summary = json.loads((out / f"{job.key}.json").read_text())
        assert summary["summary"] == {"y": i * i}
        assert summary["params"] == job.params and summary["seconds"] >= 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert [j["key"] for j in manifest["jobs"]] == [j.key for j in jobs]
    assert manifest["fn"].endswith("square")
    assert _tmp_files(out) == []
    st = status(out)
    assert st.done == tuple(j.key for j in jobs) and st.pending == () and st.failed == {}
    assert len({e["pid"] for e in log_lines(log)}) <= 2  # at most `workers` processes


def test_rerun_runs_nothing_and_touches_no_file(tmp_path):
    out, log = tmp_path / "out", tmp_path / "log.jsonl"
    run_jobs(square, grid(4, log=log), out, workers=2, progress=False)
    before, n_lines = _mtimes(out), len(log_lines(log))
    time.sleep(0.05)

    report = run_jobs(square, grid(4, log=log), out, workers=2, progress=False)

    assert (report.n_done_before, report.n_ran, report.n_failed) == (4, 0, 0) and report.ok
    assert _mtimes(out) == before
    assert len(log_lines(log)) == n_lines


def test_failing_job_is_recorded_and_the_rest_finish(tmp_path):
    out = tmp_path / "out"
    jobs = grid(4)
    bad = Job("j002", {**jobs[2].params, "fail": True}, suffix=".txt")
    jobs[2] = bad
    report = run_jobs(square, jobs, out, workers=2, progress=False)

    assert report.failed == ("j002",) and report.n_ran == 4 and not report.ok
    err = json.loads((out / "j002.error.json").read_text())
    assert err["error"]["type"] == "ValueError"
    assert err["error"]["message"] == "boom in j002"
    assert "Traceback" in err["error"]["traceback"] and "square" in err["error"]["traceback"]
    assert not (out / "j002.txt").exists() and not (out / "j002.json").exists()
    assert all((out / f"j00{i}.txt").exists() for i in (0, 1, 3))
    assert status(out).failed == {"j002": "ValueError: boom in j002"}
    assert _tmp_files(out) == []

    # A rerun retries only the failed job; once it succeeds its error file goes.
    jobs[2] = grid(4)[2]
    again = run_jobs(square, jobs, out, workers=2, progress=False)
    assert (again.n_done_before, again.n_ran, again.n_failed) == (3, 1, 0)
    assert not (out / "j002.error.json").exists() and (out / "j002.txt").exists()


def test_retries_rerun_a_flaky_job_within_the_call(tmp_path):
    out = tmp_path / "out"
    params = {"key": "flaky", "x": 3, "fail_first_n": 1, "counter": str(tmp_path / "count")}
    report = run_jobs(square, [Job("flaky", params, ".txt")], out, workers=1,
                      progress=False, retries=1)
    assert report.ok and report.n_ran == 1
    assert (tmp_path / "count").read_text() == "xx"
    assert not (out / "flaky.error.json").exists()


def test_crashing_worker_fails_only_its_own_job(tmp_path):
    out = tmp_path / "out"
    jobs = grid(5, sleep_s=0.1)
    jobs[1] = Job("j001", {**jobs[1].params, "crash": True}, suffix=".txt")
    report = run_jobs(square, jobs, out, workers=2, progress=False)

    assert report.failed == ("j001",) and report.n_ran == 5
    assert json.loads((out / "j001.error.json").read_text())["error"]["type"] == "WorkerCrashed"
    assert sorted(status(out).done) == ["j000", "j002", "j003", "j004"]


def test_stale_temporaries_and_unfinished_outputs_are_redone(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "j000.tmp-99999-deadbeef.txt").write_text("partial\n")
    (out / "j001.tmp-99999-cafecafe.txt").mkdir()  # a directory output (e.g. Zarr)
    (out / "j001.json.tmp-99999-00000000").write_text("{")
    (out / "j002.txt").write_text("partial\n")  # output renamed, summary never written
    (out / "unrelated.npy").write_text("keep me")

    report = run_jobs(square, grid(3), out, workers=2, progress=False)

    assert (report.n_done_before, report.n_ran) == (0, 3)
    assert _tmp_files(out) == []
    assert (out / "j002.txt").read_text() == "partial\n4\ncomplete\n"
    assert (out / "unrelated.npy").read_text() == "keep me"


def test_done_job_with_other_params_is_refused(tmp_path):
    out = tmp_path / "out"
    run_jobs(square, grid(2), out, workers=1, progress=False)
    changed = grid(2)
    changed[1] = Job("j001", {**changed[1].params, "x": 7}, ".txt")
    with pytest.raises(InvalidParameterError, match="j001.*already done"):
        run_jobs(square, changed, out, workers=1, progress=False)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["jobs"][1]["params"]["x"] == 1  # the refused grid did not replace it


def test_summary_records_size_and_checksum(tmp_path):
    from microdl.provenance import sha256_file

    out = tmp_path / "out"
    run_jobs(square, grid(1), out, workers=1, progress=False)
    summary = json.loads((out / "j000.json").read_text())
    assert summary["output"] == "j000.txt" and summary["output_kind"] == "file"
    assert summary["output_size"] == (out / "j000.txt").stat().st_size
    assert summary["output_sha256"] == sha256_file(out / "j000.txt")


def test_truncated_output_is_corrupt_and_recomputed(tmp_path):
    out, log = tmp_path / "out", tmp_path / "log.jsonl"
    run_jobs(square, grid(3, log=log), out, workers=1, progress=False)
    with open(out / "j001.txt", "r+") as fh:  # a copy cut short, a full disk, ...
        fh.truncate(4)

    st = status(out)
    assert st.corrupt == ("j001",) and "j001" in st.pending and "j001" not in st.done
    assert st.done == ("j000", "j002")

    report = run_jobs(square, grid(3, log=log), out, workers=1, progress=False)
    assert report.corrupt == ("j001",) and report.ok
    assert (report.n_done_before, report.n_ran) == (2, 1)
    assert (out / "j001.txt").read_text() == "partial\n1\ncomplete\n"
    assert _starts(log) == {"j000": 1, "j001": 2, "j002": 1}
    assert status(out).corrupt == () and len(status(out).done) == 3


def test_same_size_edit_is_caught_by_the_checksum(tmp_path):
    out = tmp_path / "out"
    run_jobs(square, grid(2), out, workers=1, progress=False)
    text = (out / "j001.txt").read_text()
    (out / "j001.txt").write_text(text.replace("1", "9"))
    report = run_jobs(square, grid(2), out, workers=1, progress=False)
    assert report.corrupt == ("j001",) and (out / "j001.txt").read_text() == text


def _as_old_summary(path: Path) -> None:
    """Drop what this version adds to a summary, as a summary of an older version."""
    record = json.loads(path.read_text())
    for key in ("output_kind", "output_size", "output_sha256"):
        record.pop(key)
    path.write_text(json.dumps(record))


def test_validate_failure_is_recomputed_and_old_summaries_still_count(tmp_path):
    out, log = tmp_path / "out", tmp_path / "log.jsonl"
    run_jobs(square, grid(3, log=log), out, workers=1, progress=False)
    for i in range(3):
        _as_old_summary(out / f"j00{i}.json")
    (out / "j002.txt").write_text("partial\n")  # an output the old version let through

    # Without a validator an old summary is trusted as before.
    assert status(out).done == ("j000", "j001", "j002")
    assert status(out, validate=require_complete).corrupt == ("j002",)

    report = run_jobs(square, grid(3, log=log), out, workers=1, progress=False,
                      validate=require_complete)
    assert report.corrupt == ("j002",) and (report.n_done_before, report.n_ran) == (2, 1)
    assert _starts(log) == {"j000": 1, "j001": 1, "j002": 2}
    assert (out / "j002.txt").read_text().endswith("complete\n")
    with pytest.raises(InvalidParameterError, match="validate"):
        run_jobs(square, grid(1), out, progress=False, validate="yes")


def test_directory_outputs_are_checked_for_existence_only(tmp_path):
    out = tmp_path / "out"
    jobs = [Job(f"d{i}", {"x": i}, suffix=".zarr") for i in range(2)]
    run_jobs(write_folder, jobs, out, workers=1, progress=False)
    assert json.loads((out / "d0.json").read_text())["output_kind"] == "directory"
    (out / "d0.zarr" / "x.txt").write_text("edited")  # not checksummed
    import shutil

    shutil.rmtree(out / "d1.zarr")
    assert status(out).done == ("d0",) and status(out).pending == ("d1",)
    report = run_jobs(write_folder, jobs, out, workers=1, progress=False)
    assert (report.n_done_before, report.n_ran, report.corrupt) == (1, 1, ())
    assert (out / "d1.zarr" / "x.txt").read_text() == "1"


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Job("bad key", {}), "Job.key"),
        (lambda: Job("../up", {}), "Job.key"),
        (lambda: Job("manifest", {}), "reserved"),
        (lambda: Job("a.error", {}), "reserved"),
        (lambda: Job("a", {}, suffix=".json"), "Job.suffix"),
        (lambda: Job("a", {}, suffix="npz"), "Job.suffix"),
        (lambda: Job("a", [1, 2]), "Job.params"),
    ],
)
def test_job_validation(make, match):
    with pytest.raises(InvalidParameterError, match=match):
        make()


def test_run_jobs_validation(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(InvalidParameterError, match="unique"):
        run_jobs(square, [Job("a", {}), Job("a", {})], out, progress=False)
    with pytest.raises(InvalidParameterError, match="top-level"):
        run_jobs(lambda p, o: {}, [Job("a", {})], out, progress=False)
    with pytest.raises(InvalidParameterError, match="JSON"):
        run_jobs(square, [Job("a", {"x": object()})], out, progress=False)
    with pytest.raises(InvalidParameterError, match="workers"):
        run_jobs(square, [Job("a", {})], out, workers=0, progress=False)
    with pytest.raises(InvalidParameterError, match="retries"):
        run_jobs(square, [Job("a", {})], out, retries=-1, progress=False)
    with pytest.raises(InvalidParameterError, match="not both"):
        run_jobs(square, [Job("a", {})], out, scheduler="tcp://x:1", cluster=object())
    with pytest.raises(DataFileError, match="manifest"):
        status(tmp_path / "nowhere")


@pytest.mark.parametrize("content", ["{not json", '{"format": "someone-else/2"}'])
def test_foreign_or_damaged_manifest_is_refused_and_kept(tmp_path, content):
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_text(content)
    (out / "notes.tmp-1-keep").write_text("not ours")
    with pytest.raises(DataFileError, match="manifest.json.*damaged or was not written by run_jobs"):
        run_jobs(square, grid(1), out, progress=False)
    assert (out / "manifest.json").read_text() == content
    assert (out / "notes.tmp-1-keep").exists() and not (out / "j000.txt").exists()
    with pytest.raises(DataFileError, match="manifest"):
        status(out)


def test_out_dir_that_is_a_file_is_a_data_file_error(tmp_path):
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(DataFileError, match="out_dir.*folder"):
        run_jobs(square, grid(1), tmp_path / "f.txt", progress=False)
    with pytest.raises(DataFileError, match="out_dir"):
        run_jobs(square, grid(1), tmp_path / "f.txt" / "sub", progress=False)


def test_second_runner_on_same_out_dir_is_refused(tmp_path):
    import fcntl

    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".microdl.lock", "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(InvalidParameterError, match="in use"):
            run_jobs(square, grid(1), out, progress=False)


def test_progress_bar_counts_skipped_jobs(tmp_path, capsys):
    out = tmp_path / "out"
    run_jobs(square, grid(2), out, workers=1, progress=False)
    run_jobs(square, grid(3), out, workers=1, progress=True)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "2/3" in captured.err and "3/3" in captured.err


# ----------------------------------------------------------------------------- interrupted runs

_SCRIPT = """
import json, sys
sys.path.insert(0, {helpers!r})
from _jobs_helpers import grid, square
from microdl.data.jobs import run_jobs

if __name__ == "__main__":
    try:
        run_jobs(square, grid({n}, log={log!r}, sleep_s={sleep_s}), {out!r}, workers=2,
                 progress=False)
    except KeyboardInterrupt:
        sys.exit(130)
"""


def _start_script(tmp_path: Path, n: int, sleep_s: float | list[float]) -> tuple[subprocess.Popen, Path, Path]:
    out, log = tmp_path / "out", tmp_path / "log.jsonl"
    script = tmp_path / "run_grid.py"
    script.write_text(textwrap.dedent(_SCRIPT.format(
        helpers=str(HELPERS), n=n, log=str(log), sleep_s=sleep_s, out=str(out))))
    proc = subprocess.Popen([sys.executable, str(script)], start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return proc, out, log


def _wait_for_done(out: Path, n: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if out.is_dir() and sum(1 for p in out.glob("j*.json")  # finished summaries only
                                 if ".error" not in p.name and ".tmp-" not in p.name) >= n:
            return
        if proc.poll() is not None:
            pytest.fail(f"runner exited early: {proc.communicate()}")
        time.sleep(0.02)
    proc.kill()
    pytest.fail("jobs did not finish in time")


def test_killed_run_resumes_without_redoing_finished_jobs(tmp_path):
    n = 12
    # Four quick jobs, then slow ones: the kill must land while jobs are in flight, even on a
    # loaded machine (with equal short jobs it could land between two jobs).
    proc, out, log = _start_script(tmp_path, n, sleep_s=[0.3] * 4 + [5.0] * (n - 4))
    _wait_for_done(out, 4, proc)
    deadline = time.monotonic() + 20
    while not _tmp_files(out) and time.monotonic() < deadline:
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # the runner only: its workers must die with it
    proc.communicate(timeout=10)
    assert _wait_dead({e["pid"] for e in log_lines(log)}) == set()

    finished = set(status(out).done)
    assert 4 <= len(finished) < n
    assert _tmp_files(out), "jobs in flight leave half-written temporary files"
    assert not set(status(out).pending) & finished and status(out).failed == {}
    before = {k: v for k, v in _mtimes(out).items() if k.split(".")[0] in finished}

    report = run_jobs(square, grid(n, log=log, sleep_s=0.3), out, workers=2, progress=False)

    assert (report.n_done_before, report.n_ran, report.n_failed) == (len(finished),
                                                                      n - len(finished), 0)
    assert {k: v for k, v in _mtimes(out).items() if k in before} == before
    starts = _starts(log)
    assert all(starts[k] == 1 for k in finished)
    assert set(starts) == {j.key for j in grid(n)}
    assert _tmp_files(out) == [] and len(status(out).done) == n
    for i in range(n):
        assert (out / f"j{i:03d}.txt").read_text().endswith("complete\n")


@pytest.mark.parametrize("to_group", [True, False], ids=["ctrl-c", "runner-only"])
def test_interrupt_stops_quickly_and_keeps_finished_files(tmp_path, to_group):
    # Two quick jobs, then long ones: only stopping the workers makes the exit quick.
    n = 8
    sleeps = [0.2, 0.2] + [30.0] * (n - 2)
    proc, out, log = _start_script(tmp_path, n, sleep_s=sleeps)
    _wait_for_done(out, 2, proc)
    deadline = time.monotonic() + 20
    while len(log_lines(log)) < 6 and time.monotonic() < deadline:  # two long jobs started
        time.sleep(0.02)
    if to_group:
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the whole process group
    else:
        os.kill(proc.pid, signal.SIGINT)  # the runner alone must stop its workers
    t0 = time.monotonic()
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err.decode()
    assert time.monotonic() - t0 < 10  # far less than the 30 s the jobs in flight need
    assert _wait_dead({e["pid"] for e in log_lines(log)}, timeout=5) == set()
    st = status(out)
    assert st.done == ("j000", "j001") and st.failed == {}
    events = [(e["key"], e["event"]) for e in log_lines(log)]
    assert len(events) == 6 and sum(ev == "end" for _, ev in events) == 2  # none ended later

    # Unfinished jobs may change params (here: no sleep); the finished ones are skipped.
    quick = grid(n, log=log, sleep_s=sleeps[:2] + [0.0] * (n - 2))
    report = run_jobs(square, quick, out, workers=2, progress=False)
    assert (report.n_done_before, report.n_ran) == (2, n - 2) and report.ok
    assert _tmp_files(out) == []


# ----------------------------------------------------------------------------- Dask


@pytest.fixture(scope="module")
def local_cluster():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address="127.0.0.1:0")
    yield cluster
    cluster.close()


def test_dask_cluster_runs_grid_and_resumes(tmp_path, local_cluster):
    out, log = tmp_path / "out", tmp_path / "log.jsonl"
    jobs = grid(6, log=log, sleep_s=0.05)
    jobs[4] = Job("j004", {**jobs[4].params, "fail": True}, ".txt")

    report = run_jobs(square, jobs, out, cluster=local_cluster, progress=False)
    assert report.failed == ("j004",) and report.n_ran == 6
    assert json.loads((out / "j004.error.json").read_text())["error"]["type"] == "ValueError"
    assert len(status(out).done) == 5
    worker_pids = {e["pid"] for e in log_lines(log)}
    assert os.getpid() not in worker_pids  # ran in the cluster's worker processes

    # Through the scheduler address: only the failed job runs again.
    before = _mtimes(out)
    again = run_jobs(square, grid(6, log=log, sleep_s=0.05), out,
                     scheduler=local_cluster.scheduler_address, progress=False)
    assert (again.n_done_before, again.n_ran, again.n_failed) == (5, 1, 0)
    assert {k: v for k, v in _mtimes(out).items() if not k.startswith("j004")} == {
        k: v for k, v in before.items() if not k.startswith("j004")}
    assert _starts(log)["j004"] == 2 and _starts(log)["j000"] == 1


def test_unreachable_scheduler_is_a_clear_error(tmp_path):
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        t0 = time.monotonic()
        with pytest.raises(InvalidParameterError, match="scheduler.*tcp://127.0.0.1:9"):
            run_jobs(square, grid(1), tmp_path / "out", scheduler="tcp://127.0.0.1:9",
                     progress=False)
    assert time.monotonic() - t0 < 15


def test_missing_distributed_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(InvalidParameterError, match=r"pip install 'microdl\[cluster\]'"):
        run_jobs(square, grid(1), tmp_path / "out", scheduler="tcp://127.0.0.1:9",
                 progress=False)
