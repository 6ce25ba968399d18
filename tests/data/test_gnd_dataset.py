import h5py
import numpy as np
import pytest

from microdl.data.catalog import Catalog
from microdl.data.gnd_dataset import load_gnd_dataset, make_gnd_dataset, window_statistics
from microdl.exceptions import DataFileError, InvalidParameterError
from microdl.simulate.gnd_lines import GNDWindows


def test_make_dataset_writes_arrays_provenance_and_catalog(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    s = make_gnd_dataset(tmp_path / "a.h5", 30, seed=5, progress=False, catalog=cat)
    assert s["n_windows"] == 150 and s["class_counts"] == {1: 30, 2: 30, 3: 30, 4: 30, 5: 30}
    with h5py.File(tmp_path / "a.h5") as f:
        assert f["gnd"].shape == (150, 7, 7, 3) and f["rho_t"].shape == (150,) and f["n_lines"].shape == (150,)
        assert "config" in f.attrs and "environment" in f.attrs
    entry = cat.get(s["id"])
    assert entry.kind == "dataset" and entry.seed == 5 and entry.checksum == s["checksum"]
    # same seed, identical arrays; reuse skips regeneration
    make_gnd_dataset(tmp_path / "b.h5", 30, seed=5, progress=False, catalog=cat)
    a, b = load_gnd_dataset(tmp_path / "a.h5"), load_gnd_dataset(tmp_path / "b.h5")
    for k in ("gnd", "rho_t", "n_lines"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
    again = make_gnd_dataset(tmp_path / "a.h5", 30, seed=5, progress=False, catalog=cat)
    assert again["reused"] is True
    other = make_gnd_dataset(tmp_path / "a.h5", 30, seed=6, progress=False, catalog=cat)
    assert "reused" not in other


def test_statistics_by_hand():
    n = np.array([1, 1, 2, 2])
    rho = np.array([1.0, 3.0, 5.0, 7.0])
    w = GNDWindows(gnd=np.zeros((4, 7, 7, 3), np.float32), rho_t=rho, n_lines=n)
    s = window_statistics(w)
    assert s["pearson_n_rho_t"] == pytest.approx(np.corrcoef(n, rho)[0, 1])
    assert s["rho_t_mean_per_m2"] == 4.0 and s["class_mean_rho_t_per_m2"] == {1: 2.0, 2: 6.0}


def test_errors(tmp_path):
    with pytest.raises(InvalidParameterError, match="n_per_class"):
        make_gnd_dataset(tmp_path / "x.h5", 0, seed=0)
    with pytest.raises(DataFileError, match="not found"):
        load_gnd_dataset(tmp_path / "missing.h5")
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f["gnd"] = np.zeros((2, 7, 7, 3))
    with pytest.raises(DataFileError, match="lacks"):
        load_gnd_dataset(tmp_path / "bad.h5")
