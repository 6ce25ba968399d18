"""MicrographSet, load_micrograph_folder, scale-bar cropping and the block / group / few-label splits."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from microdl.data.micrographs import (
    MicrographSet,
    block_folds,
    crop_scale_bar,
    detect_scale_bar,
    few_label_subset,
    group_folds,
    load_micrograph_folder,
    natural_key,
)
from microdl.exceptions import DataFileError, InvalidParameterError, ShapeError


def _image(seed: int, h: int = 40, w: int = 50) -> np.ndarray:
    return np.random.default_rng(seed).integers(20, 230, (h, w)).astype(np.uint8)


def _write_folder(root: Path, rows: list[dict[str, object]], *, suffix: str = ".png",
                  extra: dict[str, list[str]] | None = None, write_csv: bool = True) -> Path:
    """``root/micrographs/<file>`` for each row (a random image) and ``root/labels.csv``."""
    (root / "micrographs").mkdir(parents=True)
    for i, r in enumerate(rows):
        Image.fromarray(_image(i)).save(root / "micrographs" / str(r["file"]))
    if write_csv:
        columns = list(rows[0]) + list(extra or {})
        with (root / "labels.csv").open("w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=columns)
            w.writeheader()
            for i, r in enumerate(rows):
                w.writerow({**r, **{k: v[i] for k, v in (extra or {}).items()}})
    return root


def _rows(n_per_class: int = 3, names: tuple[str, ...] = ("ferrite", "pearlite"), suffix: str = ".png"):
    return [{"file": f"m{c * 10 + i}{suffix}", "label": c, "class_name": name}
            for c, name in enumerate(names) for i in range(n_per_class)]


# -------------------------------------------------------------------------------------------- the container


def test_micrograph_set_scales_dtypes_to_unit_float32():
    images = [np.full((4, 5), 255, np.uint8), np.full((4, 5), 65535, np.uint16), np.full((4, 5), 0.25)]
    s = MicrographSet(images, ("a", "b", "c"))
    assert [im.dtype for im in s.images] == [np.float32] * 3
    assert [float(im.max()) for im in s.images] == [1.0, 1.0, 0.25]
    assert s.labels is None and not s.labelled


def test_micrograph_set_validates_its_fields():
    ims = [np.zeros((4, 5), np.uint8)] * 2
    with pytest.raises(InvalidParameterError, match="labels"):
        MicrographSet(ims, ("a", "b"), np.array([0, 2]), ("x", "y"))
    with pytest.raises(ShapeError, match="same length"):
        MicrographSet(ims, ("a",))
    with pytest.raises(ShapeError, match="2D gray image"):
        MicrographSet([np.zeros((4, 5, 3))], ("a",))
    with pytest.raises(InvalidParameterError, match="unique"):
        MicrographSet(ims, ("a", "a"))
    with pytest.raises(ShapeError, match="metadata column 'specimen'"):
        MicrographSet(ims, ("a", "b"), metadata={"specimen": ("s1",)})
    with pytest.raises(InvalidParameterError, match="NaN"):
        MicrographSet([np.full((4, 5), np.nan)], ("a",))


def test_subset_keeps_labels_and_metadata_in_order():
    ims = [np.full((4, 5), i, np.uint8) for i in range(4)]
    s = MicrographSet(ims, ("a", "b", "c", "d"), np.array([0, 1, 0, 1]), ("x", "y"), {"sp": ("1", "2", "3", "4")})
    sub = s.subset([3, 0])
    assert sub.files == ("d", "a") and sub.labels.tolist() == [1, 0] and sub.metadata["sp"] == ("4", "1")
    assert sub.images[0][0, 0] == pytest.approx(3 / 255)


# -------------------------------------------------------------------------------------------- the folder


def test_labelled_folder_keeps_csv_order_classes_and_metadata(tmp_path):
    rows = _rows(3)[::-1]  # CSV order is not the natural order: it must be kept
    _write_folder(tmp_path, rows, extra={"specimen": ["s1", "s1", "s2", "s3", "s3", "s4"]})
    s = load_micrograph_folder(tmp_path)
    assert s.files == tuple(r["file"] for r in rows)
    assert s.class_names == ("ferrite", "pearlite")
    assert s.labels.tolist() == [1, 1, 1, 0, 0, 0] and s.labels.dtype == np.int64
    assert s.metadata == {"specimen": ("s1", "s1", "s2", "s3", "s3", "s4")}
    assert Path(s.root) == tmp_path / "micrographs"
    assert all(im.dtype == np.float32 and im.shape == (40, 50) for im in s.images)
    assert np.allclose(s.images[0], _image(0) / 255.0)
    assert s.skipped == ()


def test_class_names_default_to_the_labels_and_string_labels_are_coded(tmp_path):
    rows = [{"file": f"m{i}.png", "label": lab} for i, lab in enumerate(["b", "a", "b", "c10", "c2"])]
    _write_folder(tmp_path, rows)
    s = load_micrograph_folder(tmp_path)
    assert s.class_names == ("a", "b", "c2", "c10")  # natural order of the values
    assert [s.class_names[c] for c in s.labels] == ["b", "a", "b", "c10", "c2"]


def test_unlabelled_folder_is_sorted_naturally(tmp_path):
    rows = [{"file": f"micrograph{i}.png"} for i in (10, 2, 1)]
    _write_folder(tmp_path, rows, write_csv=False)
    (tmp_path / "micrographs" / "notes.txt").write_text("not an image")
    s = load_micrograph_folder(tmp_path)
    assert s.files == ("micrograph1.png", "micrograph2.png", "micrograph10.png")
    assert s.labels is None and s.class_names == ()
    assert sorted(["a10", "a2", "a1"], key=natural_key) == ["a1", "a2", "a10"]


def test_labels_csv_none_ignores_the_csv_and_a_named_missing_csv_is_an_error(tmp_path):
    _write_folder(tmp_path, _rows(2))
    assert load_micrograph_folder(tmp_path, labels_csv=None).labels is None
    with pytest.raises(DataFileError, match="labels_csv not found.*other.csv"):
        load_micrograph_folder(tmp_path, labels_csv="other.csv")


def test_unknown_files_in_the_csv_give_one_error_with_count_and_examples(tmp_path):
    rows = _rows(2)
    _write_folder(tmp_path, rows)
    with (tmp_path / "labels.csv").open("a", newline="") as fh:
        for i in range(7):
            fh.write(f"ghost{i}.png,0,ferrite\n")
    with pytest.raises(DataFileError, match="7 files that are not in") as err:
        load_micrograph_folder(tmp_path)
    msg = str(err.value)
    assert sum(f"ghost{i}.png" in msg for i in range(7)) == 5


def test_corrupt_jpeg_among_good_ones_is_skipped_with_one_warning_naming_it(tmp_path):
    rows = _rows(3, suffix=".jpg")
    _write_folder(tmp_path, rows)
    bad = tmp_path / "micrographs" / "m11.jpg"
    bad.write_bytes(bad.read_bytes()[:300])  # truncated
    with pytest.warns(UserWarning) as record:
        s = load_micrograph_folder(tmp_path)
    msgs = [str(w.message) for w in record if issubclass(w.category, UserWarning)]
    assert len(msgs) == 1 and "m11.jpg" in msgs[0]
    assert len(s) == 5 and "m11.jpg" not in s.files and s.skipped[0][0] == "m11.jpg"
    assert s.labels.tolist() == [0, 0, 0, 1, 1]
    with pytest.raises(DataFileError, match="m11.jpg"):
        load_micrograph_folder(tmp_path, on_bad_image="error")


def test_inconsistent_label_and_class_name_pairs_are_errors(tmp_path):
    rows = _rows(2)
    rows[1]["class_name"] = "martensite"
    _write_folder(tmp_path / "a", rows)
    with pytest.raises(DataFileError, match="label '0' has several class_name"):
        load_micrograph_folder(tmp_path / "a")
    rows = _rows(2)
    for r in rows:
        r["class_name"] = "ferrite"
    _write_folder(tmp_path / "b", rows)
    with pytest.raises(DataFileError, match="used by several labels"):
        load_micrograph_folder(tmp_path / "b")


def test_csv_errors_name_the_problem(tmp_path):
    rows = _rows(2)
    _write_folder(tmp_path, rows)
    (tmp_path / "labels.csv").write_text("file,class\nm0.png,a\n")
    with pytest.raises(DataFileError, match="missing \\['label'\\]"):
        load_micrograph_folder(tmp_path)
    (tmp_path / "labels.csv").write_text("file,label\nm0.png,0\nm0.png,1\n")
    with pytest.raises(DataFileError, match="twice.*m0.png"):
        load_micrograph_folder(tmp_path)
    with pytest.raises(InvalidParameterError, match="on_bad_image"):
        load_micrograph_folder(tmp_path, on_bad_image="ignore")
    with pytest.raises(DataFileError, match="not found"):
        load_micrograph_folder(tmp_path / "nope")


def test_scale_bar_rows_are_removed_on_loading(tmp_path):
    _write_folder(tmp_path, _rows(1))
    assert load_micrograph_folder(tmp_path, scale_bar=10).images[0].shape == (30, 50)
    assert load_micrograph_folder(tmp_path, scale_bar="auto").images[0].shape == (40, 50)  # no bar: unchanged


# -------------------------------------------------------------------------------------------- scale bars


def _micrograph(seed: int = 0, h: int = 200, w: int = 260) -> np.ndarray:
    """Blurred noise with grains, gray values 0.2..0.8, like an SEM micrograph."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0.5, 0.1, (h, w))
    x = (x + np.roll(x, 1, 0) + np.roll(x, 1, 1) + np.roll(x, (1, 1), (0, 1))) / 4
    return np.clip(x, 0.2, 0.8)


def _with_bar(image: np.ndarray, rows: int, *, bar: float, ink: float, border: bool = False) -> np.ndarray:
    out = image.copy()
    h, w = out.shape
    rng = np.random.default_rng(1)
    out[h - rows:] = bar + rng.normal(0, 0.01, (rows, w))  # compression noise
    for x0 in range(10, w - 20, 14):  # glyphs: strokes of text in the middle of the bar
        out[h - rows + 8:h - 8, x0:x0 + 2] = ink
        out[h - rows + 8:h - rows + 10, x0:x0 + 8] = ink
    out[h - 6:h - 4, 20:120] = ink  # the scale bar itself
    if border:
        out[h - rows] = ink
    return np.clip(out, 0, 1)


@pytest.mark.parametrize(("bar", "ink", "border"), [(0.0, 1.0, False), (1.0, 0.0, False), (0.0, 1.0, True)])
def test_auto_detects_a_data_bar_with_text(bar, ink, border):
    img = _with_bar(_micrograph(), 30, bar=bar, ink=ink, border=border)
    assert abs(detect_scale_bar(img) - 30) <= 2
    cropped = crop_scale_bar(img, "auto")
    assert abs(cropped.shape[0] - 170) <= 2 and cropped.shape[1] == 260
    assert np.shares_memory(cropped, img)  # a view, nothing copied


@pytest.mark.parametrize("seed", range(3))
def test_auto_removes_nothing_from_plain_noise(seed):
    rng = np.random.default_rng(seed)
    for img in (_micrograph(seed), rng.uniform(0, 1, (120, 150)), rng.normal(0.5, 0.15, (120, 150))):
        assert crop_scale_bar(img, "auto").shape == img.shape


def test_auto_on_a_uint8_image_with_a_black_bar():
    img = (_with_bar(_micrograph(3), 25, bar=0.0, ink=1.0) * 255).astype(np.uint8)
    assert abs(crop_scale_bar(img, "auto").shape[0] - 175) <= 2


def test_crop_scale_bar_with_a_number_of_rows_and_bad_values():
    img = _micrograph()
    assert crop_scale_bar(img, 0) is img or crop_scale_bar(img, 0).shape == img.shape
    assert np.array_equal(crop_scale_bar(img, 12), img[:-12])
    with pytest.raises(InvalidParameterError, match="band must be in"):
        crop_scale_bar(img, 199)
    with pytest.raises(InvalidParameterError, match="band"):
        crop_scale_bar(img, "bottom")
    with pytest.raises(ShapeError):
        crop_scale_bar(np.zeros((3, 4, 5)), 1)


# -------------------------------------------------------------------------------------------- splits


def _check_folds(folds, n):
    tests = [te for _, te in folds]
    assert np.array_equal(np.sort(np.concatenate(tests)), np.arange(n))  # disjoint and covering
    for tr, te in folds:
        assert np.intersect1d(tr, te).size == 0 and tr.size + te.size == n


def test_block_folds_small_example():
    folds = block_folds([0, 0, 0, 0, 0, 1, 1, 1, 1], 2)
    assert [te.tolist() for _, te in folds] == [[0, 1, 2, 5, 6], [3, 4, 7, 8]]
    assert folds[0][0].tolist() == [3, 4, 7, 8] and folds[0][0].dtype == np.int64


def test_block_folds_are_contiguous_per_class_in_file_order():
    rng = np.random.default_rng(0)
    numbers = rng.permutation(60)  # file numbers, listed out of order
    labels = numbers // 20  # consecutive numbers share a class, as in UHCS
    folds = block_folds(labels, 4, order=numbers)
    _check_folds(folds, 60)
    for i, (_, te) in enumerate(folds):
        for c in range(3):
            got = np.sort(numbers[te][labels[te] == c])
            assert got.size == 5 and np.array_equal(got, np.arange(got[0], got[0] + 5))  # one contiguous run
            assert got[0] == c * 20 + 5 * i
    by_name = block_folds(labels, 4, order=[f"micrograph{n}.jpg" for n in numbers])  # natural sort of names
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, by_name, strict=True))


def test_block_folds_validate_k():
    with pytest.raises(InvalidParameterError, match="k must be an integer >= 2"):
        block_folds([0, 1, 0, 1], 1)
    with pytest.raises(InvalidParameterError, match=r"k must be <= the smallest class size \(class 1\) \(2\), got 3"):
        block_folds([0, 0, 0, 1, 1], 3)
    with pytest.raises(ShapeError, match="order"):
        block_folds([0, 1, 0, 1], 2, order=[1, 2])


def test_group_folds_keep_each_group_on_one_side():
    groups = np.repeat([f"s{i}" for i in range(10)], 3)
    labels = np.repeat(np.arange(10) % 2, 3)
    for folds in (group_folds(groups, 5), group_folds(groups, 5, labels=labels, rng=1)):
        _check_folds(folds, 30)
        for tr, te in folds:
            assert not set(groups[tr]) & set(groups[te])
    strat = group_folds(groups, 5, labels=labels, rng=1)
    assert all(set(labels[te]) == {0, 1} for _, te in strat)  # stratified: both classes in every test fold
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(strat, group_folds(groups, 5, labels=labels, rng=1),
                                                          strict=True))
    with pytest.raises(InvalidParameterError, match=r"k must be <= the number of groups \(10\), got 11"):
        group_folds(groups, 11)


def test_few_label_subset_draws_n_per_class_from_the_training_set():
    labels = np.repeat([0, 1, 2], 20)
    train = np.r_[0:15, 20:35, 40:55]
    a = few_label_subset(labels, train, 4, 0)
    assert np.bincount(labels[a]).tolist() == [4, 4, 4] and set(a) <= set(train)
    assert np.array_equal(a, few_label_subset(labels, train, 4, 0))
    assert not np.array_equal(a, few_label_subset(labels, train, 4, 1))
    with pytest.raises(InvalidParameterError, match="class 'pearlite' \\(code 1\\): 2, got 3"):
        few_label_subset(labels, np.r_[0:10, 20:22, 40:50], 3, 0, class_names=("network", "pearlite", "sph"))
    with pytest.raises(InvalidParameterError, match="n_per_class"):
        few_label_subset(labels, train, 0, 0)


# -------------------------------------------------------------------------------------------- real data


@pytest.fixture
def uhcs(shared_data) -> Path:
    folder = shared_data / "uhcs"
    if not (folder / "labels.csv").is_file():
        pytest.skip(f"UHCS micrographs not available at {folder}")
    return folder


def test_real_uhcs_folder_and_block_folds(uhcs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every real image must read cleanly
        s = load_micrograph_folder(uhcs)
    assert len(s) == 402 and s.skipped == ()
    assert s.class_names == ("network", "pearlite", "spheroidite") and s.class_counts().tolist() == [134] * 3
    assert s.files[0] == "micrograph0.jpg" and s.images[0].shape == (475, 645)
    assert all(0 <= im.min() and im.max() <= 1 for im in s.images[:10])
    folds = block_folds(s.labels, 5)
    _check_folds(folds, 402)
    for _, te in folds:
        for c in range(3):
            members = np.flatnonzero(s.labels == c)  # the class in file order
            where = np.flatnonzero(np.isin(members, te))
            assert where.size in (26, 27) and np.array_equal(where, np.arange(where[0], where[-1] + 1))
