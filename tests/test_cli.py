"""The command line: version, help, and user mistakes as one line with a non-zero exit."""

import json
import subprocess
import sys

import numpy as np
import pytest

from microdl import __version__
from microdl.cli import main


def run(capsys, *args):
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_version_and_help(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and __version__ in out
    for args in (["--help"], ["gnd", "--help"], ["ddd", "--help"], ["runs", "--help"], ["data", "--help"],
                 ["gnd", "predict", "--help"], ["gnd", "generate", "--help"]):
        code, out, _ = run(capsys, *args)
        assert code == 0 and "Usage" in out, args


def test_runs_list_json_is_one_object(capsys):
    code, out, _ = run(capsys, "runs", "list", "--json")
    assert code == 0
    obj = json.loads(out)
    assert obj["entries"] == []


@pytest.mark.parametrize(
    "setup, expect",
    [
        ("missing", "not found"),
        ("channels", "3 channels"),
        ("nan", "NaN"),
    ],
)
def test_predict_bad_input_is_one_clear_line(tmp_path, capsys, setup, expect):
    path = tmp_path / "map.npy"
    if setup == "channels":
        np.save(path, np.zeros((10, 10, 3)))
    elif setup == "nan":
        m = np.zeros((10, 10, 2))
        m[3, 4, 0] = np.nan
        np.save(path, m)
    code, out, err = run(capsys, "gnd", "predict", str(path), "--out", str(tmp_path / "o"), "--json")
    assert code == 2
    assert out == ""
    assert err.startswith("microdl: error:") and expect in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_negative_size_and_unknown_preset(tmp_path, capsys):
    code, _, err = run(capsys, "gnd", "generate", "--per-class", "-3", "--out", str(tmp_path / "x.h5"))
    assert code == 2 and "--per-class" in err
    code, _, err = run(capsys, "gnd", "benchmark", "--preset", "gpu9000", "--out", str(tmp_path))
    assert code == 2 and "unknown benchmark preset" in err


def test_console_script_exit_code(tmp_path):
    """The installed entry point (not just main()) exits non-zero without a traceback."""
    proc = subprocess.run([sys.executable, "-m", "microdl", "gnd", "predict", str(tmp_path / "none.npy"),
                           "--out", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "not found" in proc.stderr


def test_models_list_shows_paper_count(capsys):
    code, out, _ = run(capsys, "models", "list", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)["models"]}
    assert rows["zhang2019-gnd"]["parameters"] == rows["zhang2019-gnd"]["paper_parameters"] == 343_434


def test_models_list_reads_every_shipped_models_metrics(capsys):
    """Each shipped model's record uses the same metric names, so the table can show them all."""
    from microdl.models.pretrained import SHIPPED, shipped_info

    from microdl.models.registry import list_models

    gnd = [name for name in SHIPPED if name in list_models()]  # the GND models share a row format
    for name in SHIPPED:
        assert "test_metrics" in shipped_info(name), name
    for name in gnd:
        assert {"mape_rho_t", "n_accuracy"} <= set(shipped_info(name)["test_metrics"]), name
    assert shipped_info("micrograph-uhcs")["test_metrics"]["accuracy"] > 0.8
    code, out, _ = run(capsys, "models", "list")
    assert code == 0
    shipped_rows = [line for line in out.splitlines() if " % / " in line]
    assert len(shipped_rows) == len(gnd)


def test_negative_seed_is_a_user_error(tmp_path, capsys):
    code, _, err = run(capsys, "gnd", "generate", "--per-class", "5", "--seed", "-1", "--out", str(tmp_path / "g.h5"))
    assert code == 2 and "seed must be a non-negative integer" in err and "Traceback" not in err


def test_unexpected_errors_are_one_line(monkeypatch, capsys):
    import microdl.cli.catalog as cat

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(cat, "Catalog", boom)
    code, _, err = run(capsys, "runs", "list")
    assert code == 1 and "internal error: RuntimeError: disk on fire" in err
    assert len(err.strip().splitlines()) == 1
