"""The damage-site store on SQLite and on a real PostgreSQL server: images, sites, labels, queries."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import tifffile

from microdl.data.damage_store import DamageStore, consensus
from microdl.exceptions import DataFileError, InvalidParameterError


def _site(x, y):
    return {"x": x, "y": y, "area_px": 30, "bbox": (int(x) - 3, int(y) - 3, int(x) + 3, int(y) + 3)}


@pytest.fixture
def store(tmp_path, catalog_url):
    db = None if catalog_url.endswith(".sqlite") else catalog_url
    return DamageStore(tmp_path / "store", database=db)


def _image(path, value=100, shape=(64, 80)):
    tifffile.imwrite(path, np.full(shape, value, np.uint8), resolution=(1e4 / 0.1, 1e4 / 0.1),
                     resolutionunit="CENTIMETER")
    return path


def test_images_are_content_addressed_and_queried(tmp_path, store):
    a = store.add_image(_image(tmp_path / "a.tif"), sample="S1", strain=0.1, meta={"kV": 20})
    assert store.add_image(tmp_path / "a.tif", sample="S1") == a  # same content: same image
    b = store.add_image(_image(tmp_path / "b.tif", value=50), sample="S2", strain=0.3, kind="raw")
    c = store.add_image(_image(tmp_path / "c.tif", value=60), sample="S2", strain=0.3, kind="processed",
                        parent=b, copy=False)
    img = store.image(a)
    assert (img["height"], img["width"], img["pixel_size_um"]) == (64, 80, pytest.approx(0.1))
    assert img["meta"] == {"kV": 20} and img["path"].startswith("images/") and img["name"] == "a.tif"
    assert open(img["file"], "rb").read() == (tmp_path / "a.tif").read_bytes()
    assert store.image(c)["parent_id"] == b and store.image(c)["file"] == str((tmp_path / "c.tif").resolve())
    assert [i["id"] for i in store.images(sample="S2")] == [b, c]
    assert [i["id"] for i in store.images(kind="raw")] == [b]
    assert store.open_image(a).read(0, 0, 2, 2).tolist() == [[100, 100], [100, 100]]
    with pytest.raises(InvalidParameterError, match="kind"):
        store.add_image(tmp_path / "a.tif", sample="S1", kind="stitched")
    with pytest.raises(InvalidParameterError, match="no image"):
        store.image(999)


def test_sites_labels_consensus_and_query(tmp_path, store):
    a = store.add_image(_image(tmp_path / "a.tif"), sample="S1", strain=0.1)
    b = store.add_image(_image(tmp_path / "b.tif", value=7), sample="S1", strain=0.3)
    sa = store.add_sites(a, [_site(10, 10), _site(30, 30)], {"threshold": 20})
    sb = store.add_sites(b, [_site(10, 10), _site(40, 20), _site(60, 50)], {"threshold": 20})
    assert len(sa) == 2 and len(sb) == 3
    store.add_labels([(sa[0], "interface"), (sb[0], "interface"), (sb[1], "notch")], annotator="ann")
    store.add_labels([(sb[1], "interface")], annotator="bob")  # a tie with ann's notch
    store.add_labels([(sb[2], "martensite")], annotator="ann")
    store.add_labels([(sb[2], "shadow")], annotator="ann")  # ann corrects herself: latest wins
    got = store.sites(sample="S1", label="interface", min_strain=0.2)
    assert [s["id"] for s in got] == [sb[0]]
    by_id = {s["id"]: s for s in store.sites()}
    assert by_id[sb[1]]["label"] == "disputed" and by_id[sb[2]]["label"] == "shadow"
    assert by_id[sa[1]]["label"] is None and by_id[sb[1]]["annotations"] == {"ann": "notch", "bob": "interface"}
    assert len(store.labels(site_id=sb[2])) == 2  # the history is kept
    with pytest.raises(InvalidParameterError, match=r"no site\(s\) \[9999\]"):
        store.add_labels([(sb[0], "notch"), (9999, "notch")], annotator="ann")
    assert len(store.labels()) == 6  # nothing of the refused call was added
    with pytest.raises(InvalidParameterError, match="already has detected sites"):
        store.add_sites(a, [_site(1, 1)], {})
    with pytest.raises(InvalidParameterError, match="label"):
        store.add_sites(a, [_site(1, 1)], {}, replace=True)
    c = store.add_image(_image(tmp_path / "c.tif", value=9), sample="S3")
    store.add_sites(c, [_site(5, 5)], {"threshold": 20})
    assert len(store.add_sites(c, [_site(1, 1), _site(2, 2)], {"threshold": 30}, replace=True)) == 2
    assert len(store.sites(image_id=c)) == 2


def test_crops_and_predictions(tmp_path, store):
    a = store.add_image(_image(tmp_path / "a.tif"), sample="S1")
    (s,) = store.add_sites(a, [_site(10, 10)], {})
    crop = np.arange(16, dtype=np.uint8).reshape(4, 4)
    path = store.add_crop(s, crop)
    assert store.add_crop(s, crop) == path  # content-addressed, replaced not duplicated
    got = store.sites(with_crops=True)[0]
    assert got["crops"] == {4: path}
    from PIL import Image
    np.testing.assert_array_equal(np.asarray(Image.open(path)), crop)
    with pytest.raises(InvalidParameterError, match="square"):
        store.add_crop(s, np.zeros((3, 4)))
    rows = [{"site_id": s, "label": "inclusion", "confidence": 0.9, "probabilities": {"inclusion": 0.9}}]
    store.add_predictions(rows, model="two-stage", run_id="r1")
    store.add_predictions(rows, model="two-stage", run_id="r1")  # rerun of the same run replaces
    store.add_predictions(rows, model="two-stage", run_id="r2")
    preds = store.predictions(model="two-stage")
    assert len(preds) == 2 and preds[0]["probabilities"] == {"inclusion": 0.9}


def test_two_annotators_at_once_lose_nothing(tmp_path, store):
    a = store.add_image(_image(tmp_path / "a.tif"), sample="S1")
    ids = store.add_sites(a, [_site(i, i) for i in range(0, 60, 2)], {})
    errors = []

    def label(who, lab):
        try:
            other = DamageStore(store.root, database=str(store.db.url.render_as_string(hide_password=False))
                                if store.db.path is None else None)
            for sid in ids:
                other.add_labels([(sid, lab)], annotator=who, source="browser")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=label, args=(w, lab)) for w, lab in (("ann", "notch"), ("bob", "shadow"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(store.labels()) == 2 * len(ids)
    assert all(s["annotations"] == {"ann": "notch", "bob": "shadow"} for s in store.sites())


def test_consensus():
    assert consensus({}) is None
    assert consensus({"a": "x", "b": "x", "c": "y"}) == "x"
    assert consensus({"a": "x", "b": "y"}) == "disputed"


def test_store_root_is_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(DataFileError, match="is a file"):
        DamageStore(tmp_path / "f")
