"""``microdl ddd simulate``: one simulation with its files and catalog entry; limits before starting."""

from __future__ import annotations

import json
import time

import pytest

from microdl.cli import main


def test_cli_simulate_writes_outputs(tmp_path, capsys):
    from microdl.cli import main

    out = tmp_path / "run"
    code = main(["ddd", "simulate", "--width", "0.0625", "--prior", "0.1", "--reload", "0.1", "--seed", "0",
                 "--out", str(out), "--json", "--no-figures"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] > 0 and summary["profile_shape"] == [31, 125]
    assert (out / "strain_profile_reload0.10pct.png").is_file()
    assert (out / "strain_profile_reload0.10pct.npy").is_file()
    assert (out / "stress_strain.csv").is_file() and (out / "config.json").is_file()
    assert main(["runs", "list", "--json"]) == 0
    runs = json.loads(capsys.readouterr().out)["entries"]
    assert [r["name"] for r in runs if r["id"] == summary["id"]] == ["ddd-simulate"]
    code = main(["ddd", "simulate", "--width", "-1", "--out", str(out)])
    assert code == 2


@pytest.mark.parametrize("args, words", [
    (["--width", "1e6"], ["width_um", "[0.01, 20]", "1000000.0"]),
    (["--pixel", "1e-6"], ["pixel_size_nm", "50000000", "1e-06"]),
    (["--aspect", "100"], ["aspect", "[0.5, 10]", "100.0"]),
])
def test_cli_simulate_refuses_runaway_sizes_at_once(tmp_path, capsys, args, words):
    t0 = time.perf_counter()
    code = main(["ddd", "simulate", *args, "--out", str(tmp_path / "o"), "--json"])
    err = capsys.readouterr().err
    assert code == 2 and time.perf_counter() - t0 < 5
    assert len(err.strip().splitlines()) == 1 and all(w in err for w in words), err
    assert not (tmp_path / "o").exists()


def test_cli_simulate_out_naming_a_file_is_a_data_error(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("x")
    code = main(["ddd", "simulate", "--width", "0.0625", "--out", str(target), "--json"])
    err = capsys.readouterr().err
    assert code == 2 and "--out" in err and "file" in err and len(err.strip().splitlines()) == 1
