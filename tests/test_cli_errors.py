"""The bad-input table: every user mistake ends as exit code 2 and one line, leaving nothing half-written.

Each row runs ``microdl.cli.main(argv)`` in-process and asserts exit code 2 and

* for usage mistakes (unknown command or option, missing argument, a value of the
  wrong type): click's usage block on stderr (``Usage: microdl ...``, ``Try ...``,
  ``Error: ...``) and nothing else;
* for every other mistake: exactly one line on stderr, starting ``microdl: error:``;

and in both cases nothing on stdout, no ``Traceback``, no ``internal error``, no
``*.tmp-*`` file anywhere under the test folder and no output file of a command
that failed before its work. Every row fails before any heavy work (the file runs
in a few seconds). Two process-level tests check the same through ``python -m microdl``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from microdl.cli import main

# ----------------------------------------------------------------------------- inputs


def _write_inputs(tmp: Path) -> dict[str, str]:
    """Small bad (and a few good) inputs in ``tmp``; returns the placeholders of the argv templates."""
    (tmp / "file.txt").write_text("a regular file\n")
    (tmp / "folder").mkdir()
    good = np.full((12, 12, 2), 1e14)
    np.save(tmp / "good.npy", good)
    nan = good.copy()
    nan[3, 4, 0] = np.nan
    np.save(tmp / "nan.npy", nan)
    np.save(tmp / "shape3.npy", np.zeros((10, 10, 3)))
    np.save(tmp / "flat.npy", np.zeros((10, 10)))
    for suffix in (".npy", ".npz", ".h5", ".csv"):
        (tmp / f"empty{suffix}").write_bytes(b"")
    np.savez(tmp / "truncated.npz", gnd=good)
    data = (tmp / "truncated.npz").read_bytes()
    (tmp / "truncated.npz").write_bytes(data[: len(data) // 3])
    (tmp / "garbage.h5").write_bytes(b"this is not HDF5\n" * 10)
    (tmp / "garbage.sqlite").write_bytes(b"this is not SQLite\n" * 100)

    # A grid folder whose one finished sample changed after it was written.
    grid = tmp / "grid_corrupt"
    grid.mkdir()
    key = "w0.0625_two_p0.1_s0000"
    (grid / "manifest.json").write_text(json.dumps(
        {"format": "microdl.jobs/1", "fn": "x", "jobs": [{"key": key, "suffix": ".npz", "params": {}}]}))
    (grid / f"{key}.npz").write_bytes(b"PK\x03\x04 cut short")
    (grid / f"{key}.json").write_text(json.dumps(
        {"key": key, "ok": True, "params": {}, "summary": {}, "output": f"{key}.npz", "output_kind": "file",
         "output_size": 123456, "output_sha256": "0" * 64}))
    # A grid folder with a damaged manifest; and one without any.
    (tmp / "grid_bad_manifest").mkdir()
    (tmp / "grid_bad_manifest" / "manifest.json").write_text('{"format": "microdl.jo')
    (tmp / "no_manifest").mkdir()
    # Exports made with other options, or not by export_images: a merge into them is refused.
    for name, info in (("export_class", {"format": "microdl.ddd-images/1", "elastic": "class",
                                         "duplicates": "error", "rendering": "reference"}),
                       ("export_other", {"format": "someone.else/9"})):
        (tmp / name).mkdir()
        (tmp / name / "index.json").write_text(json.dumps(info))
    return {"tmp": str(tmp), "file": str(tmp / "file.txt"), "folder": str(tmp / "folder"),
            "good": str(tmp / "good.npy")}


# ----------------------------------------------------------------------------- the table

USAGE = "usage"  # expect click's usage block instead of one line

ROWS = [
    # --- usage mistakes: click's usage block, exit 2
    pytest.param(["nosuchcommand"], USAGE, "No such command 'nosuchcommand'", (), id="unknown-command"),
    pytest.param(["gnd", "fly"], USAGE, "No such command 'fly'", (), id="unknown-subcommand"),
    pytest.param(["gnd", "predict", "{good}", "--out", "{tmp}/o", "--bogus"], USAGE, "No such option: --bogus",
                 ("o",), id="unknown-option"),
    pytest.param(["gnd", "predict", "--out", "{tmp}/o"], USAGE, "Missing argument", ("o",),
                 id="missing-argument"),
    pytest.param(["gnd", "generate"], USAGE, "Missing option '--out'", (), id="missing-option"),
    pytest.param(["gnd", "generate", "--per-class", "many", "--out", "{tmp}/g.h5"], USAGE, "Invalid value",
                 ("g.h5",), id="not-a-number"),
    pytest.param(["--catalog"], USAGE, "requires an argument", (), id="catalog-without-value"),
    # --- outputs that cannot be written
    pytest.param(["gnd", "generate", "--per-class", "2", "--out", "{folder}"], "--out", "folder", (),
                 id="generate-out-is-a-folder"),
    pytest.param(["gnd", "generate", "--per-class", "2", "--out", "{file}/g.h5"], "file.txt", "", (),
                 id="generate-out-under-a-file"),
    pytest.param(["gnd", "predict", "{good}", "--out", "{file}"], "file.txt", "", (), id="predict-out-is-a-file"),
    pytest.param(["gnd", "predict", "{good}", "--out", "{file}/out"], "file.txt", "", (),
                 id="predict-out-under-a-file"),
    pytest.param(["gnd", "train", "--train", "{good}", "--val", "{good}", "--out", "{file}"], "file.txt", "", (),
                 id="train-out-is-a-file"),
    pytest.param(["ddd", "simulate", "--out", "{file}"], "file.txt", "", (), id="simulate-out-is-a-file"),
    pytest.param(["ddd", "simulate", "--out", "{file}/out"], "file.txt", "", (), id="simulate-out-under-a-file"),
    pytest.param(["ddd", "dataset", "--preset", "smoke", "--out", "{file}"], "file.txt", "", (),
                 id="dataset-out-is-a-file"),
    pytest.param(["ddd", "export", "{grid_corrupt}", "--out", "{file}/x"], "", "", (),
                 id="export-out-under-a-file"),
    # --- catalogs that cannot be used
    pytest.param(["--catalog", "{file}/c.sqlite", "gnd", "generate", "--per-class", "2", "--out", "{tmp}/g.h5"],
                 "--catalog", "file.txt", ("g.h5",), id="catalog-option-under-a-file"),
    pytest.param(["--catalog", "{tmp}/garbage.sqlite", "runs", "list"], "garbage.sqlite", "", (),
                 id="catalog-not-sqlite"),
    pytest.param(["runs", "show", "nosuchid"], "nosuchid", "", (), id="runs-show-unknown-id"),
    # --- input files
    pytest.param(["gnd", "predict", "{tmp}/none.npy", "--out", "{tmp}/o"], "not found", "none.npy", ("o",),
                 id="predict-missing-file"),
    pytest.param(["gnd", "predict", "{folder}", "--out", "{tmp}/o"], "directory", "", ("o",),
                 id="predict-input-is-a-folder"),
    *[pytest.param(["gnd", "predict", f"{{tmp}}/empty{s}", "--out", "{tmp}/o"], "empty", f"empty{s}", ("o",),
                   id=f"predict-empty{s}") for s in (".npy", ".npz", ".h5", ".csv")],
    pytest.param(["gnd", "predict", "{tmp}/truncated.npz", "--out", "{tmp}/o"], "truncated", "", ("o",),
                 id="predict-truncated-npz"),
    pytest.param(["gnd", "predict", "{tmp}/garbage.h5", "--out", "{tmp}/o"], "garbage.h5", "", ("o",),
                 id="predict-corrupt-h5"),
    pytest.param(["gnd", "predict", "{tmp}/nan.npy", "--out", "{tmp}/o"], "NaN", "row 3, column 4", ("o",),
                 id="predict-nan"),
    pytest.param(["gnd", "predict", "{tmp}/shape3.npy", "--out", "{tmp}/o"], "3 channels", "", ("o",),
                 id="predict-3-channels"),
    pytest.param(["gnd", "predict", "{tmp}/flat.npy", "--out", "{tmp}/o"], "(H, W, 2)", "", ("o",),
                 id="predict-2d-array"),
    pytest.param(["gnd", "evaluate", "--data", "{tmp}/none.h5"], "not found", "none.h5", (),
                 id="evaluate-missing-file"),
    # --- strain profiles (Yang et al. 2020)
    pytest.param(["strain", "predict", "--model", "{tmp}/m", "{tmp}/shape3.npy"], "2D gray image", "", (),
                 id="strain-predict-not-2d"),
    pytest.param(["strain", "predict", "--model", "{tmp}/m", "{tmp}/empty.npy"], "empty", "", (),
                 id="strain-predict-empty-file"),
    pytest.param(["strain", "predict", "--model", "{tmp}/m", "{tmp}/flat.npy"], "does not exist", "", (),
                 id="strain-predict-missing-model"),
    pytest.param(["strain", "import-keras", "{tmp}/garbage.h5", "--out", "{tmp}/m"], "garbage.h5", "", ("m",),
                 id="strain-import-not-hdf5"),
    *[pytest.param(["gnd", "evaluate", "--data", f"{{tmp}}/empty{s}"], f"empty{s}", "", (),
                   id=f"evaluate-empty{s}") for s in (".h5", ".npy", ".csv")],
    pytest.param(["gnd", "evaluate", "--data", "{tmp}/garbage.h5"], "garbage.h5", "", (),
                 id="evaluate-corrupt-h5"),
    pytest.param(["gnd", "train", "--train", "{tmp}/none.h5", "--val", "{tmp}/none.h5", "--out", "{tmp}/run"],
                 "none.h5", "", ("run",), id="train-missing-data"),
    pytest.param(["gnd", "train", "--train", "{tmp}/empty.h5", "--val", "{tmp}/empty.h5", "--out", "{tmp}/run"],
                 "empty.h5", "", ("run",), id="train-empty-data"),
    # --- names and values
    pytest.param(["gnd", "predict", "{good}", "--out", "{tmp}/o", "--model", "nosuchmodel"], "nosuchmodel", "",
                 ("o",), id="predict-unknown-model"),
    pytest.param(["gnd", "predict", "{good}", "--out", "{tmp}/o", "--device", "quantum"], "--device", "quantum",
                 ("o",), id="predict-bad-device"),
    pytest.param(["gnd", "predict", "{good}", "--out", "{tmp}/o", "--border", "wrap"], "border", "wrap", ("o",),
                 id="predict-bad-border"),
    pytest.param(["gnd", "predict", "{good}", "--out", "{tmp}/o", "--batch-size", "0"], "--batch-size", "", ("o",),
                 id="predict-zero-batch"),
    pytest.param(["gnd", "evaluate", "--data", "{tmp}/none.h5", "--device", "quantum"], "", "", (),
                 id="evaluate-bad-device"),
    pytest.param(["gnd", "benchmark", "--preset", "gpu9000", "--out", "{tmp}/b"], "gpu9000", "", ("b",),
                 id="benchmark-unknown-preset"),
    pytest.param(["gnd", "train", "--train", "{tmp}/none.h5", "--val", "{tmp}/none.h5", "--out", "{tmp}/run",
                  "--model", "nosuchmodel"], "nosuchmodel", "", ("run",), id="train-unknown-model"),
    pytest.param(["gnd", "train", "--train", "{tmp}/none.h5", "--val", "{tmp}/none.h5", "--out", "{tmp}/run",
                  "--devices", "99"], "devices", "99", ("run",), id="train-devices-99"),
    pytest.param(["gnd", "train", "--train", "{tmp}/none.h5", "--val", "{tmp}/none.h5", "--out", "{tmp}/run",
                  "--epochs", "0"], "epochs", "", ("run",), id="train-zero-epochs"),
    pytest.param(["gnd", "train", "--train", "{tmp}/none.h5", "--val", "{tmp}/none.h5", "--out", "{tmp}/run",
                  "--ratio", "2"], "ratio", "", ("run",), id="train-ratio-out-of-range"),
    pytest.param(["gnd", "generate", "--per-class", "0", "--out", "{tmp}/g.h5"], "--per-class", "", ("g.h5",),
                 id="generate-zero-count"),
    pytest.param(["gnd", "generate", "--per-class", "-3", "--out", "{tmp}/g.h5"], "--per-class", "", ("g.h5",),
                 id="generate-negative-count"),
    pytest.param(["gnd", "generate", "--per-class", "2", "--seed", "-1", "--out", "{tmp}/g.h5"], "seed", "",
                 ("g.h5",), id="generate-negative-seed"),
    pytest.param(["ddd", "simulate", "--width", "1e6", "--out", "{tmp}/s"], "width", "1000000", ("s",),
                 id="simulate-huge-width"),
    pytest.param(["ddd", "simulate", "--pixel", "1e-6", "--out", "{tmp}/s"], "pixel", "1e-06", ("s",),
                 id="simulate-tiny-pixel"),
    pytest.param(["ddd", "simulate", "--width", "0", "--out", "{tmp}/s"], "--width", "", ("s",),
                 id="simulate-zero-width"),
    pytest.param(["ddd", "simulate", "--slip", "three", "--out", "{tmp}/s"], "three", "", ("s",),
                 id="simulate-unknown-slip"),
    pytest.param(["ddd", "simulate", "--seed", "-1", "--out", "{tmp}/s"], "--seed", "", ("s",),
                 id="simulate-negative-seed"),
    pytest.param(["ddd", "dataset", "--preset", "nosuchpreset", "--out", "{tmp}/d"], "nosuchpreset", "", ("d",),
                 id="dataset-unknown-preset"),
    pytest.param(["ddd", "dataset", "--preset", "smoke", "--samples", "0", "--out", "{tmp}/d"], "--samples", "",
                 ("d",), id="dataset-zero-samples"),
    pytest.param(["ddd", "dataset", "--preset", "smoke", "--workers", "0", "--out", "{tmp}/d"], "--workers", "",
                 ("d",), id="dataset-zero-workers"),
    pytest.param(["ddd", "dataset", "--preset", "smoke", "--widths", "abc", "--out", "{tmp}/d"], "--widths", "",
                 ("d",), id="dataset-bad-widths"),
    pytest.param(["ddd", "size-effect", "--samples", "0", "--out", "{tmp}/se"], "--samples", "", ("se",),
                 id="size-effect-zero-samples"),
    # --- grid folders
    pytest.param(["ddd", "status", "{tmp}/no_manifest"], "manifest", "", (), id="status-without-manifest"),
    pytest.param(["ddd", "status", "{tmp}/nowhere"], "manifest", "", (), id="status-missing-folder"),
    pytest.param(["ddd", "check", "{tmp}/nowhere"], "index.csv", "", (), id="check-not-an-export"),
    pytest.param(["ddd", "split", "{tmp}/nowhere", "--out", "{tmp}/s.json"], "index.csv", "", ("s.json",),
                 id="split-not-an-export"),
    pytest.param(["ddd", "export", "{tmp}/no_manifest", "--out", "{tmp}/e"], "manifest", "", ("e",),
                 id="export-without-manifest"),
    pytest.param(["ddd", "export", "{tmp}/grid_bad_manifest", "--out", "{tmp}/e"], "manifest", "", ("e",),
                 id="export-corrupt-manifest"),
    pytest.param(["ddd", "export", "{tmp}/grid_corrupt", "--out", "{tmp}/e"], "corrupt", ".npz", ("e",),
                 id="export-corrupt-sample"),
    pytest.param(["ddd", "dataset", "--preset", "smoke", "--out", "{tmp}/grid_bad_manifest"], "manifest", "",
                 ("grid_bad_manifest/dataset.json", "grid_bad_manifest/catalog_id"), id="dataset-corrupt-manifest"),
    # --- builds over several sessions: skip what an export holds, merge into it
    pytest.param(["ddd", "dataset", "--preset", "smoke", "--skip-exported", "{tmp}/nowhere", "--out", "{tmp}/d"],
                 "index.csv", "nowhere", ("d",), id="dataset-skip-exported-missing"),
    pytest.param(["ddd", "dataset", "--preset", "smoke", "--skip-exported", "{file}", "--out", "{tmp}/d"],
                 "index.csv", "file.txt", ("d",), id="dataset-skip-exported-a-file"),
    pytest.param(["ddd", "export", "{grid_corrupt}", "--out", "{tmp}/export_class", "--merge"], "--elastic",
                 "'class'", ("export_class/index.csv",), id="export-merge-other-options"),
    pytest.param(["ddd", "export", "{grid_corrupt}", "--out", "{tmp}/export_other", "--merge"], "cannot merge",
                 "someone.else/9", ("export_other/index.csv",), id="export-merge-not-an-export"),
]


def _fill(argv: list[str], values: dict[str, str]) -> list[str]:
    out = []
    for arg in argv:
        for name in ("grid_corrupt",):
            values.setdefault(name, f"{values['tmp']}/{name}")
        out.append(arg.format(**values))
    return out


def _leftovers(tmp: Path) -> list[str]:
    return sorted(str(p.relative_to(tmp)) for p in tmp.rglob("*") if ".tmp-" in p.name)


@pytest.mark.parametrize("argv, expect, also, absent", ROWS)
def test_bad_input_is_exit_2_and_one_line(tmp_path, capsys, argv, expect, also, absent):
    values = _write_inputs(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    code = main(_fill(argv, values))
    out, err = capsys.readouterr()

    assert code == 2, err
    assert out == ""
    assert "Traceback" not in err and "internal error" not in err, err
    if expect == USAGE:
        lines = err.strip().splitlines()  # click: "Usage: ...", "Try ... for help.", "", "Error: ..."
        assert lines[-1].startswith("Error: ") and also in lines[-1], err
        assert len(lines) == 1 or (lines[0].startswith("Usage: microdl") and len(lines) == 4), err
    else:
        assert err.startswith("microdl: error: "), err
        assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
        assert expect in err and also in err, err
    assert _leftovers(tmp_path) == []
    for name in absent:
        assert not (tmp_path / name).exists(), f"{name} was written by a command that failed"
    if expect == USAGE:
        assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_unwritable_catalog_from_the_environment_fails_before_the_work(tmp_path, capsys, monkeypatch):
    """MICRODL_CATALOG naming an impossible place: generate refuses before writing its file."""
    _write_inputs(tmp_path)
    monkeypatch.setenv("MICRODL_CATALOG", str(tmp_path / "file.txt" / "c.sqlite"))
    code = main(["gnd", "generate", "--per-class", "2", "--out", str(tmp_path / "g.h5"), "--no-progress"])
    _, err = capsys.readouterr()
    assert code == 2 and err.startswith("microdl: error: ") and err.count("\n") == 1, err
    assert "file.txt" in err
    assert not (tmp_path / "g.h5").exists() and _leftovers(tmp_path) == []


def test_catalog_option_applies_to_one_call_only(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MICRODL_CATALOG", str(tmp_path / "env.sqlite"))
    assert main(["--catalog", str(tmp_path / "opt.sqlite"), "runs", "list", "--json"]) == 0
    out, _ = capsys.readouterr()
    assert json.loads(out)["catalog"].endswith("opt.sqlite")
    import os

    assert os.environ["MICRODL_CATALOG"] == str(tmp_path / "env.sqlite")


def test_end_of_file_inside_a_library_is_not_reported_as_aborted(capsys, monkeypatch):
    """click turns an EOFError escaping a command into Abort ('Aborted!', exit 1): here it is one line, exit 2."""
    import microdl.cli.catalog as cat

    def eof(*args, **kwargs):
        raise EOFError("No data left in file")

    monkeypatch.setattr(cat, "Catalog", eof)
    code = main(["runs", "list"])
    _, err = capsys.readouterr()
    assert code == 2, err
    assert err.strip().splitlines()[-1].startswith("microdl: error: ") and "empty or truncated" in err
    assert "aborted" not in err.lower() and len(err.strip().splitlines()) == 1


# ----------------------------------------------------------------------------- real processes


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "microdl", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=120)


def test_process_usage_error_exits_2_without_traceback(tmp_path):
    proc = _run("nosuchcommand", cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert "Usage: microdl" in proc.stderr and "No such command 'nosuchcommand'" in proc.stderr


def test_process_data_file_error_exits_2_with_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = _run("ddd", "status", str(tmp_path / "empty"), cwd=tmp_path)  # DataFileError: no manifest
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == "" and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("microdl: error: ") and proc.stderr.count("\n") == 1, proc.stderr
    assert "manifest.json" in proc.stderr and sorted(p.name for p in tmp_path.iterdir()) == ["empty"]
