"""Strain-profile data contract: validation, CSV labels, DDD exports, splits by sample, crops."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from microdl.data.strain_crops import N_CROPS, strain_crops
from microdl.data.strain_datamodule import StrainCropDataModule, profile_crops
from microdl.data.strain_profiles import (
    StrainProfiles,
    class_of,
    from_ddd_export,
    from_label_csv,
    split_profiles,
    subset_name,
)
from microdl.exceptions import DataFileError, InvalidParameterError, NonFiniteError, ShapeError


def _profiles(n_samples=12, shape=(20, 60), seed=0):
    rng = np.random.default_rng(seed)
    ims, labels, meta = [], [], []
    for s in range(n_samples):
        for r in (0.1, 1.0):
            ims.append(rng.integers(0, 50, shape).astype(np.uint8))
            labels.append(s % 3)
            meta.append({"file": f"s{s}_r{r}.png", "sample": f"s{s}", "width_um": 0.125, "slip": "one",
                         "reload_pct": r})
    return StrainProfiles(tuple(ims), np.array(labels), tuple(meta))


def test_class_of_reads_percent_labels_and_refuses_others():
    assert [class_of(v) for v in ("0.1", 1, "10%", 10.0, " 1 % ")] == [0, 1, 2, 2, 1]
    for bad in ("5", "elastic", "", None):
        with pytest.raises(InvalidParameterError, match="prior strain"):
            class_of(bad)
    with pytest.raises(InvalidParameterError, match="--elastic drop"):
        class_of("elastic")


def test_container_validates_once_and_fills_metadata():
    p = StrainProfiles((np.zeros((4, 9), np.uint8), np.ones((5, 7, 1))), np.array([0, 2]), ({"file": "a"}, {}))
    assert p.meta[0]["sample"] == "a" and p.meta[1]["file"] == "profile1" and p.meta[1]["width_um"] is None
    assert p.images[1].shape == (5, 7) and p.counts() == {"0.1": 1, "1": 0, "10": 1, "samples": 2}
    assert subset_name({"width_um": 0.25, "reload_pct": 1.0, "slip": "two"}) == "w0.25 um, reload 1 %, two slip"
    with pytest.raises(ShapeError, match="empty"):
        StrainProfiles((np.zeros((0, 5)),), np.array([0]), ({},))
    with pytest.raises(ShapeError, match="2D"):
        StrainProfiles((np.zeros((2, 3, 4)),), np.array([0]), ({},))
    with pytest.raises(NonFiniteError, match="NaN"):
        StrainProfiles((np.full((4, 4), np.nan),), np.array([0]), ({"file": "nan.npy"},))
    with pytest.raises(InvalidParameterError, match="0..2"):
        StrainProfiles((np.zeros((4, 4)),), np.array([3]), ({},))
    with pytest.raises(InvalidParameterError, match="one entry per profile"):
        StrainProfiles((np.zeros((4, 4)),), np.array([0, 1]), ({},))


def _write_csv(tmp_path, rows, header="file,prior_pct,sample,width_um,slip,reload_pct"):
    (tmp_path / "labels.csv").write_text(header + "\n" + "\n".join(rows) + "\n")
    return tmp_path / "labels.csv"


def test_label_csv_reads_images_and_metadata(tmp_path):
    Image.fromarray(np.arange(60, dtype=np.uint8).reshape(6, 10)).save(tmp_path / "a.png")
    np.save(tmp_path / "b.npy", np.linspace(0, 1, 40).reshape(4, 10))
    path = _write_csv(tmp_path, ["a.png,0.1,s1,0.125,one,0.1", "b.npy,10,,,,"])
    p = from_label_csv(path)
    assert list(p.labels) == [0, 2] and p.images[0].dtype == np.uint8 and p.images[1].dtype == np.float64
    assert p.meta[0] == {"file": "a.png", "sample": "s1", "width_um": 0.125, "slip": "one", "reload_pct": 0.1}
    assert p.meta[1]["sample"] == "b.npy" and p.meta[1]["width_um"] is None


def test_label_csv_errors_name_the_problem(tmp_path):
    Image.fromarray(np.zeros((6, 10), np.uint8)).save(tmp_path / "a.png")
    with pytest.raises(DataFileError, match="2 file.*do not exist.*m1.png, m2.png"):
        from_label_csv(_write_csv(tmp_path, ["a.png,1,,,,", "m1.png,1,,,,", "m2.png,1,,,,"]))
    with pytest.raises(DataFileError, match="columns 'file' and 'prior_pct'"):
        from_label_csv(_write_csv(tmp_path, ["a.png"], header="file"))
    with pytest.raises(InvalidParameterError, match="line 2"):
        from_label_csv(_write_csv(tmp_path, ["a.png,3,,,,"]))
    with pytest.raises(DataFileError, match="does not exist"):
        from_label_csv(tmp_path / "nope.csv")
    np.save(tmp_path / "nan.npy", np.full((4, 4), np.nan))
    with pytest.raises(NonFiniteError, match="nan.npy"):
        from_label_csv(_write_csv(tmp_path, ["nan.npy,1,,,,"]))
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(DataFileError, match="empty"):
        from_label_csv(_write_csv(tmp_path, ["empty.png,1,,,,"]))


def test_split_by_sample_is_balanced_and_keeps_a_sample_together():
    p = _profiles(n_samples=24)
    parts = split_profiles(p, seed=0)
    samples = {s: {m["sample"] for m in parts[s].meta} for s in parts}
    assert not (samples["train"] & samples["val"]) and not (samples["train"] & samples["test"])
    assert not (samples["val"] & samples["test"])
    assert sum(len(v) for v in parts.values()) == len(p)
    for side, part in parts.items():  # 8 samples per class: 2 test, 1 val, 5 train each
        expected = {"test": 2, "val": 1, "train": 5}[side]
        assert part.counts() == {"0.1": 2 * expected, "1": 2 * expected, "10": 2 * expected,
                                 "samples": 3 * expected}, side
    assert split_profiles(p, seed=0)["test"].meta == parts["test"].meta  # deterministic


def test_split_refuses_identical_images_under_two_labels():
    p = _profiles(n_samples=6)
    images = list(p.images)
    images[2] = images[0].copy()  # sample s1 (class 1) gets a picture of s0 (class 0)
    bad = StrainProfiles(tuple(images), p.labels, p.meta)
    with pytest.raises(DataFileError, match="identical images carry different labels"):
        split_profiles(bad)


def test_ddd_export_reader(tmp_path):
    from microdl.data.ddd_splits import make_splits

    rng = np.random.default_rng(1)
    header = ("file,key,mode,width_um,slip,prior_pct,reload_pct,seed,index,rows,cols,pixel_x_nm,pixel_y_nm,"
              "median_strain,scale_strain,yield_stress_mpa,n_dislocations_final,label,plastic,slip_pixels,"
              "reload_events,rendering,digest")
    lines = []
    for i in range(8):
        for prior in (0.1, 10.0):
            key = f"w0.125_one_p{prior:g}_i{i:04d}"
            for mode in ("full", "mean"):
                f = f"{key}_r1{'_mean' if mode == 'mean' else ''}.png"
                Image.fromarray(rng.integers(0, 255, (8, 24), dtype=np.uint8)).save(tmp_path / f)
                lines.append(f"{f},{key},{mode},0.125,one,{prior:g},1.0,1,{i},8,24,2,2,0,1,,3,{prior:g},1,5,2,"
                             "reference,x")
    (tmp_path / "index.csv").write_text(header + "\n" + "\n".join(lines) + "\n")
    everything = from_ddd_export(tmp_path)
    assert len(everything) == 16 and all(m["mode"] == "mean" for m in everything.meta)
    assert set(everything.labels.tolist()) == {0, 2}
    with pytest.raises(DataFileError, match="ddd split"):
        from_ddd_export(tmp_path, side="test")
    make_splits(tmp_path)
    sides = {s: from_ddd_export(tmp_path, side=s, mode="full") for s in ("train", "val", "test")}
    assert sum(len(v) for v in sides.values()) == 16
    keys = [{m["sample"] for m in v.meta} for v in sides.values()]
    assert not (keys[0] & keys[2]) and not (keys[1] & keys[2]) and not (keys[0] & keys[1])
    with pytest.raises(InvalidParameterError, match="mode"):
        from_ddd_export(tmp_path, mode="deformed")
    with pytest.raises(DataFileError, match="no index.csv"):
        from_ddd_export(tmp_path / "nowhere")


def test_crops_are_the_rounded_strain_crops_and_the_datamodule_keeps_profiles_in_order():
    p = _profiles(n_samples=3, shape=(12, 40))
    crops = profile_crops(p, 16)
    assert crops.shape == (6, N_CROPS, 1, 16, 16) and crops.dtype.is_floating_point is False
    ref = strain_crops(p.images[1], 16, round_uint8=True)
    assert np.array_equal(crops[1].numpy(), ref.numpy().astype(np.uint8))
    dm = StrainCropDataModule(p.subset([0, 1, 2, 3]), p.subset([4, 5]), crop=16, batch_size=30, seed=1)
    assert dm.sizes == {"train_profiles": 4, "val_profiles": 2, "train_crops": 96, "val_crops": 48}
    xb, yb = next(iter(dm.val_dataloader()))
    assert xb.shape[0] == 24 and (yb == int(p.labels[4])).all()  # whole profiles, in order
    first = [b[1].tolist() for b in dm.train_dataloader()]
    assert first == [b[1].tolist() for b in dm.train_dataloader()]  # seeded shuffling
    with pytest.raises(InvalidParameterError, match="val must hold profiles"):
        StrainCropDataModule(p, p.subset([]), crop=16)


def test_hdf5_reader(tmp_path):
    import h5py

    from microdl.data.strain_profiles import from_hdf5

    path = tmp_path / "p.h5"
    with h5py.File(path, "w") as f:
        f["profiles"] = np.random.default_rng(0).random((3, 8, 24))
        f["prior_pct"] = [0.1, 1.0, 10.0]
        f["sample"] = [b"a", b"a", b"b"]
        f["width_um"] = [0.25, 0.25, np.nan]
    p = from_hdf5(path)
    assert list(p.labels) == [0, 1, 2] and p.meta[0]["sample"] == "a" and p.meta[2]["width_um"] is None
    assert p.meta[1]["file"] == "p.h5[1]" and p.meta[1]["slip"] is None
    with h5py.File(tmp_path / "bad.h5", "w") as f:
        f["profiles"] = np.zeros((2, 4, 4))
    with pytest.raises(DataFileError, match="prior_pct"):
        from_hdf5(tmp_path / "bad.h5")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(DataFileError, match="not a readable HDF5"):
        from_hdf5(tmp_path / "junk.h5")
    with h5py.File(tmp_path / "nan.h5", "w") as f:
        f["profiles"] = np.full((1, 4, 4), np.nan)
        f["prior_pct"] = [1.0]
    with pytest.raises(NonFiniteError, match="nan.h5"):
        from_hdf5(tmp_path / "nan.h5")
