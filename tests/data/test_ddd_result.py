"""Files of one DDD simulation: result.npz + config.json, profile images, the curve as CSV."""

from __future__ import annotations

import json

import numpy as np
import pytest

from microdl.data.ddd_result import load_result, save_curve_csv, save_profile_images, save_result
from microdl.exceptions import DataFileError
from microdl.simulate.ddd import PillarConfig, simulate_pillar

SMALL = PillarConfig(width_um=0.0625, prior_strain=0.001, reload_strain=0.002, reload_snapshots=(0.001, 0.002))


@pytest.fixture(scope="module")
def small_result():
    return simulate_pillar(SMALL, seed=3)


def test_save_load_round_trip(small_result, tmp_path):
    save_result(small_result, tmp_path)
    back = load_result(tmp_path)
    assert back.config == small_result.config and back.seed == 3
    np.testing.assert_array_equal(back.profiles, small_result.profiles)
    np.testing.assert_array_equal(back.curve["stress_pa"], small_result.curve["stress_pa"])
    meta = json.loads((tmp_path / "config.json").read_text())
    assert meta["config"]["material"]["youngs_modulus_gpa"] == 70.0


def test_profile_images_and_curve_csv(small_result, tmp_path):
    paths = save_profile_images(small_result, tmp_path)
    assert sorted(p.name for p in paths) == sorted(
        f"strain_profile_reload{t}pct.{ext}" for t in ("0.10", "0.20") for ext in ("png", "npy"))
    np.testing.assert_array_equal(np.load(tmp_path / "strain_profile_reload0.20pct.npy"), small_result.profiles[1])
    csv = save_curve_csv(small_result, tmp_path)
    data = np.loadtxt(csv, delimiter=",", skiprows=1)
    assert csv.read_text().splitlines()[0].startswith("stage,step,time_s")
    np.testing.assert_allclose(data[:, 5], small_result.curve["stress_pa"], rtol=1e-8)
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]


def test_missing_or_corrupt_result_is_a_one_line_data_error(small_result, tmp_path):
    with pytest.raises(DataFileError, match="result.npz"):
        load_result(tmp_path)
    save_result(small_result, tmp_path)
    (tmp_path / "result.npz").write_bytes(b"not a zip file")
    with pytest.raises(DataFileError, match="result.npz") as err:
        load_result(tmp_path)
    assert "\n" not in str(err.value)
