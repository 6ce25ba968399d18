import h5py
import numpy as np
import pytest

from microdl.data.catalog import Catalog
from microdl.data.gnd_dataset import load_gnd_dataset, make_gnd_dataset, window_statistics
from microdl.exceptions import DataFileError, InvalidParameterError
from microdl.data.gnd import GNDWindows


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


# ------------------------------------------------------------------ the GNDWindows contract

def _ok(n=4):
    return np.ones((n, 7, 7, 3), np.float32), np.full(n, 1e15), np.arange(n) % 5 + 1


@pytest.mark.parametrize("change, err, words", [
    (lambda g, r, n: (g[:, :5], r, n), "ShapeError", "(n, 7, 7, 3)"),
    (lambda g, r, n: (np.where(g > 0, np.nan, g), r, n), "NonFiniteError", "gnd must be finite"),
    (lambda g, r, n: (g, -r, n), "InvalidParameterError", "rho_t must be >= 0"),
    (lambda g, r, n: (g, r[:2], n), "ShapeError", "same length"),
    (lambda g, r, n: (g, r, n + 5), "InvalidParameterError", "n_lines must be in [1, 5]"),
    (lambda g, r, n: (g, r, n.astype(float)), "InvalidParameterError", "integers"),
])
def test_gnd_windows_validation_errors(change, err, words):
    import microdl.exceptions as exc

    with pytest.raises(getattr(exc, err)) as info:
        GNDWindows(*change(*_ok()))
    assert words in str(info.value) and "\n" not in str(info.value)


def test_gnd_windows_subset_tensors_and_dtypes():
    g, r, n = _ok(6)
    w = GNDWindows(g.astype(np.float64), r, n.astype(np.int32))
    assert w.gnd.dtype == np.float32 and w.rho_t.dtype == np.float64 and w.n_lines.dtype == np.int64
    sub = w.subset(np.array([0, 2]))
    assert len(sub) == 2 and sub.n_lines.tolist() == [1, 3]
    x, rho, lines = w.to_tensors()[0]
    assert tuple(x.shape) == (3, 7, 7) and lines.item() == 1


def test_make_dataset_checks_before_generating_and_locks(tmp_path):
    from microdl.io._atomic import acquire_lock

    (tmp_path / "folder.h5").mkdir()
    with pytest.raises(DataFileError, match="folder"):
        make_gnd_dataset(tmp_path / "folder.h5", 5, seed=0, progress=False)
    out = tmp_path / "x.h5"
    holder = acquire_lock(out, folder=False)
    try:
        with pytest.raises(InvalidParameterError, match="in use"):
            make_gnd_dataset(out, 5, seed=0, progress=False)
    finally:
        holder.release()
    assert not out.exists()
    bad_catalog = tmp_path / "afile"
    bad_catalog.write_text("x")
    with pytest.raises(DataFileError):
        make_gnd_dataset(out, 5, seed=0, progress=False, catalog=Catalog(bad_catalog / "c.sqlite"))
    assert not out.exists()


def test_load_rejects_labels_outside_the_contract(tmp_path):
    g, r, n = _ok()
    with h5py.File(tmp_path / "w.h5", "w") as f:
        f["gnd"], f["rho_t"], f["n_lines"] = g, r, n + 7
    with pytest.raises(DataFileError, match="n_lines"):
        load_gnd_dataset(tmp_path / "w.h5")
