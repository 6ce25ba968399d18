"""Annotation readers and writers: every format round-trips; files written by other tools read right."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from microdl.exceptions import DataFileError, InvalidParameterError, UnknownNameError
from microdl.io import _atomic, labels
from microdl.io.labels import (
    FORMATS,
    Annotation,
    guess_format,
    read_annotations,
    read_coco,
    read_cvat_xml,
    read_labelme,
    read_labels_csv,
    read_voc,
    write_annotations,
    write_coco,
    write_cvat_xml,
    write_labelme,
    write_labels_csv,
    write_voc,
)

ANNOTATIONS = [
    Annotation("site_001.tif", "inclusion", bbox=(0, 0, 10, 10), annotator="ak", time="2024-05-01T10:00:00Z",
               site="17"),
    Annotation("site_001.tif", "martensite", bbox=(12, 30, 40, 31)),
    Annotation("site_001.tif", "notch", point=(100.25, 7.5), annotator="jb"),
    Annotation("site_002.tif", "interface", bbox=(5, 6, 25, 46), point=(15, 20), site="a-3"),
    Annotation("site_002.tif", 'shadow, "dark" <&> ü', bbox=(1.5, 2.25, 3.75, 9.125)),
    Annotation("crops/site_003.png", "boundary crack", point=(0, 0), time="2024-05-02T08:30:00Z"),
]


def _path(tmp_path, fmt):
    names = {"voc": "voc", "labelme": "labelme", "coco": "a.json", "cvat": "a.xml", "csv": "a.csv"}
    return tmp_path / names[fmt]


def _key(a):
    return (a.image, a.label)


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_preserves_everything(tmp_path, fmt):
    path = _path(tmp_path, fmt)
    written = write_annotations(path, ANNOTATIONS, fmt)
    assert written and all(p.is_file() for p in written)
    assert guess_format(path) == fmt
    back = sorted(read_annotations(path), key=_key)
    assert len(back) == len(ANNOTATIONS)
    for want, got in zip(sorted(ANNOTATIONS, key=_key), back, strict=True):
        assert (got.image, got.label, got.annotator, got.time, got.site) == (
            want.image, want.label, want.annotator, want.time, want.site)
        assert got.point == want.point  # points are written exactly
        if want.bbox is None:
            assert got.bbox is None
        elif all(float(v).is_integer() for v in want.bbox):
            assert got.bbox == want.bbox  # integer boxes exactly, also through VOC's 1-based indices
        else:
            assert got.bbox == pytest.approx(want.bbox, abs=1e-12)
    assert not [p for p in tmp_path.rglob("*") if _atomic.TMP_MARK in p.name]


def test_explicit_format_and_image_sizes(tmp_path):
    sizes = {"site_001.tif": (768, 1024), "negative.tif": (64, 32)}  # (height, width)
    write_voc(tmp_path / "voc", ANNOTATIONS[:1], image_sizes=sizes)
    root = ET.parse(tmp_path / "voc" / "site_001.xml").getroot()
    assert (root.findtext("size/width"), root.findtext("size/height"), root.findtext("size/depth")) == (
        "1024", "768", "1")
    assert (tmp_path / "voc" / "negative.xml").is_file()  # a listed image without objects: a negative crop
    assert read_voc(tmp_path / "voc" / "negative.xml") == []
    write_coco(tmp_path / "c.json", ANNOTATIONS[:1], image_sizes=sizes)
    images = json.loads((tmp_path / "c.json").read_text())["images"]
    assert [(im["file_name"], im["width"], im["height"]) for im in images] == [
        ("site_001.tif", 1024, 768), ("negative.tif", 32, 64)]
    write_labelme(tmp_path / "lm", ANNOTATIONS[:1], image_sizes=sizes)
    doc = json.loads((tmp_path / "lm" / "site_001.json").read_text())
    assert (doc["imageWidth"], doc["imageHeight"], doc["imageData"]) == (1024, 768, None)
    write_cvat_xml(tmp_path / "a.xml", ANNOTATIONS[:1], image_sizes=sizes)
    image = ET.parse(tmp_path / "a.xml").getroot().find("image")
    assert (image.get("width"), image.get("height")) == ("1024", "768")
    for fmt in FORMATS:  # explicit format names; the CSV has no place for sizes
        path = _path(tmp_path / "all", fmt)
        files = write_annotations(path, ANNOTATIONS, fmt, image_sizes=sizes)
        assert len(files) == {"voc": 4, "labelme": 4}.get(fmt, 1)
        assert len(read_annotations(path, fmt)) == len(ANNOTATIONS)
    for bad in [(0, 5), (5,), (5.0, 5), 5, (True, 5)]:
        with pytest.raises(InvalidParameterError, match=r"image_sizes\['site_001.tif'\] must be \(height, w"):
            write_coco(tmp_path / "d.json", ANNOTATIONS[:1], image_sizes={"site_001.tif": bad})
    assert not (tmp_path / "d.json").exists()
    write_coco(tmp_path / "d.json", ANNOTATIONS[:1], image_sizes={"site_001.tif": np.zeros((7, 9)).shape})
    write_cvat_xml(tmp_path / "d.xml", ANNOTATIONS[:1], image_sizes={"site_001.tif": tuple(np.array([7, 9]))})
    assert json.loads((tmp_path / "d.json").read_text())["images"][0]["width"] == 9
    assert ET.parse(tmp_path / "d.xml").getroot().find("image").get("width") == "9"


def test_voc_is_one_based_inclusive(tmp_path):
    (tmp_path / "crop.xml").write_text(
        "<annotation><folder/><filename>crop_0001.png</filename><size><width>64</width><height>64</height>"
        "<depth>1</depth></size><object><name>inclusion</name><pose>Unspecified</pose><truncated>0</truncated>"
        "<difficult>0</difficult><bndbox><xmin>1</xmin><ymin>5</ymin><xmax>10</xmax><ymax>64</ymax></bndbox>"
        "</object></annotation>")
    (a,) = read_voc(tmp_path / "crop.xml")
    assert (a.image, a.label, a.bbox, a.point) == ("crop_0001.png", "inclusion", (0, 4, 10, 64), None)
    assert a.centre == (5, 34)
    write_voc(tmp_path / "out", [Annotation("crop_0001.png", "inclusion", bbox=(0, 4, 10, 64))])
    box = ET.parse(tmp_path / "out" / "crop_0001.xml").getroot().find("object/bndbox")
    assert [box.findtext(t) for t in ("xmin", "ymin", "xmax", "ymax")] == ["1", "5", "10", "64"]
    assert box.get("from") is None


def test_voc_folder_of_crops_like_kerzel(tmp_path):
    for i, cls in [(2, "martensite"), (1, "inclusion"), (3, "notch")]:
        (tmp_path / f"crop_{i}.xml").write_text(
            f"<annotation><filename>crop_{i}.png</filename><object><name>{cls}</name><bndbox><xmin>1</xmin>"
            "<ymin>1</ymin><xmax>100</xmax><ymax>100</ymax></bndbox></object></annotation>")
    (tmp_path / "notes.txt").write_text("not an annotation")
    (tmp_path / "._crop_1.xml").write_bytes(b"\x00\x05macOS resource fork")
    (tmp_path / f"crop_4{_atomic.TMP_MARK}123-abcd.xml").write_text("<annotation><filename>half")
    got = read_annotations(tmp_path)
    assert [(a.image, a.label, a.bbox) for a in got] == [
        (f"crop_{i}.png", c, (0, 0, 100, 100))
        for i, c in [(1, "inclusion"), (2, "martensite"), (3, "notch")]]


def test_voc_point_alone_gets_its_pixel_box(tmp_path):
    write_voc(tmp_path, [Annotation("a.png", "notch", point=(12.7, 3.2))])
    obj = ET.parse(tmp_path / "a.xml").getroot().find("object")
    assert obj.find("bndbox").get("from") == "point"
    assert [obj.findtext(f"bndbox/{t}") for t in ("xmin", "ymin", "xmax", "ymax")] == ["13", "4", "13", "4"]
    assert read_voc(tmp_path / "a.xml") == [Annotation("a.png", "notch", point=(12.7, 3.2))]


def test_labelme_polygon_rectangle_and_point(tmp_path):
    doc = {"version": "5.2.1", "flags": {}, "imagePath": "../img/site_9.tif", "imageData": None,
           "imageHeight": 100, "imageWidth": 200, "shapes": [
               {"label": "martensite", "points": [[10, 5], [30, 2], [25, 40], [8, 20]],
                "shape_type": "polygon",
                "group_id": None, "flags": {}, "description": "drawn quickly"},
               {"label": "inclusion", "points": [[50, 60], [40, 45]], "shape_type": "rectangle"},
               {"label": "notch", "points": [[7.5, 8.5]], "shape_type": "point", "description": "{not json"},
               {"label": "interface", "points": [[1, 1], [5, 1], [5, 9], [1, 9]], "shape_type": "rectangle"}]}
    (tmp_path / "site_9.json").write_text(json.dumps(doc))
    got = read_labelme(tmp_path / "site_9.json")
    assert [(a.image, a.label, a.bbox, a.point, a.annotator) for a in got] == [
        ("../img/site_9.tif", "martensite", (8, 2, 30, 40), None, None),
        ("../img/site_9.tif", "inclusion", (40, 45, 50, 60), None, None),
        ("../img/site_9.tif", "notch", None, (7.5, 8.5), None),
        ("../img/site_9.tif", "interface", (1, 1, 5, 9), None, None)]
    assert read_labelme(tmp_path) == got and guess_format(tmp_path) == "labelme"


def test_labelme_written_by_us_keeps_extras_in_description(tmp_path):
    second = Annotation("site_001.tif", "notch", bbox=(0, 0, 2, 2))
    (path,) = write_labelme(tmp_path, [ANNOTATIONS[0], second])
    shapes = json.loads(path.read_text())["shapes"]
    assert shapes[0]["shape_type"] == "rectangle" and shapes[0]["points"] == [[0, 0], [10, 10]]
    assert shapes[0]["flags"] == {} and json.loads(shapes[0]["description"]) == {
        "annotator": "ak", "time": "2024-05-01T10:00:00Z", "site": "17"}
    assert shapes[1]["description"] == ""


def test_coco_written_by_us_has_unique_ids_and_categories(tmp_path):
    path = write_coco(tmp_path / "coco.json", ANNOTATIONS)
    data = json.loads(path.read_text())
    cats = data["categories"]
    assert [c["id"] for c in cats] == list(range(1, len(cats) + 1))
    assert len({c["name"] for c in cats}) == len(cats) == len({a.label for a in ANNOTATIONS})
    assert [a["id"] for a in data["annotations"]] == list(range(1, len(ANNOTATIONS) + 1))
    assert [im["id"] for im in data["images"]] == [1, 2, 3]
    first, _, point = data["annotations"][:3]
    assert (first["bbox"], first["area"], first["iscrowd"]) == ([0, 0, 10, 10], 100, 0)
    assert first["category_id"] == 1
    assert first["attributes"] == {"occluded": False, "annotator": "ak", "time": "2024-05-01T10:00:00Z",
                                   "site": "17"}
    assert point["bbox"] == [99.75, 7, 1, 1] and point["attributes"]["point"] is True
    assert point["keypoints"] == [100.25, 7.5, 2]


def test_reads_coco_as_cvat_exports_it(tmp_path):
    doc = {"licenses": [{"name": "", "id": 0, "url": ""}],
           "info": {"contributor": "", "date_created": "", "description": "", "url": "", "version": "",
                    "year": ""},
           "categories": [{"id": 1, "name": "inclusion", "supercategory": ""},
                          {"id": 2, "name": "notch", "supercategory": ""}],
           "images": [{"id": 1, "width": 1024, "height": 768, "file_name": "sem_01.tif", "license": 0,
                       "flickr_url": "", "coco_url": "", "date_captured": 0}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 2, "segmentation": [], "area": 600.0,
                            "bbox": [10.0, 20.0, 30.0, 20.0], "iscrowd": 0,
                            "attributes": {"occluded": False, "rotation": 0.0, "annotator": "ak"}},
                           {"id": 2, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 5, 1, 5, 5]],
                            "area": 8.0, "bbox": [1.0, 1.0, 4.0, 4.0], "iscrowd": 0}]}
    (tmp_path / "instances_default.json").write_text(json.dumps(doc))
    got = read_annotations(tmp_path / "instances_default.json")
    assert got == [Annotation("sem_01.tif", "notch", bbox=(10, 20, 40, 40), annotator="ak"),
                   Annotation("sem_01.tif", "inclusion", bbox=(1, 1, 5, 5))]


def test_reads_cvat_xml_as_cvat_exports_it(tmp_path):
    (tmp_path / "annotations.xml").write_text("""<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta><task><id>7</id><name>damage</name><labels><label><name>inclusion</name></label></labels></task></meta>
  <image id="0" name="sem_01.tif" width="1024" height="768">
    <box label="inclusion" source="manual" occluded="0" xtl="10.50" ytl="20.00" xbr="40.00" ybr="44.25"
         z_order="0">
      <attribute name="annotator">ak</attribute>
      <attribute name="time">2024-05-01T10:00:00Z</attribute>
    </box>
    <points label="notch" source="manual" occluded="0" points="5.00,6.00;7.50,8.00" z_order="0"/>
    <polygon label="martensite" source="manual" occluded="0" points="1,2;9,3;4,8" z_order="0"/>
    <tag label="good image" source="manual"/>
  </image>
  <image id="1" name="sem_02.tif" width="1024" height="768"/>
</annotations>
""")
    assert guess_format(tmp_path / "annotations.xml") == "cvat"
    assert read_cvat_xml(tmp_path / "annotations.xml") == [
        Annotation("sem_01.tif", "inclusion", bbox=(10.5, 20, 40, 44.25), annotator="ak",
                   time="2024-05-01T10:00:00Z"),
        Annotation("sem_01.tif", "notch", point=(5, 6)),
        Annotation("sem_01.tif", "notch", point=(7.5, 8)),
        Annotation("sem_01.tif", "martensite", bbox=(1, 2, 9, 8))]


def test_xml_encoding_and_unsupported_cvat_content(tmp_path):
    (tmp_path / "latin.xml").write_bytes(
        '<?xml version="1.0" encoding="ISO-8859-1"?><annotation><filename>probe_ä.tif</filename><object>'
        '<name>Einschluss_ü</name><bndbox><xmin>3</xmin><ymin>3</ymin><xmax>9</xmax><ymax>9</ymax></bndbox>'
        '</object></annotation>'.encode("latin-1"))
    assert read_voc(tmp_path / "latin.xml") == [Annotation("probe_ä.tif", "Einschluss_ü", bbox=(2, 2, 9, 9))]
    (tmp_path / "mask.xml").write_text('<annotations><image id="0" name="a.png"><mask label="x" rle="1, 2" '
                                       'left="0" top="0" width="2" height="2"/></image></annotations>')
    with pytest.raises(DataFileError, match=r"image 'a.png', element 1 <mask>: expected a box, points"):
        read_cvat_xml(tmp_path / "mask.xml")
    (tmp_path / "video.xml").write_text('<annotations><track id="0" label="x"/></annotations>')
    with pytest.raises(DataFileError, match="video tracks"):
        read_annotations(tmp_path / "video.xml")


def test_csv_reads_a_subset_of_columns_and_ignores_others(tmp_path):
    (tmp_path / "points.csv").write_text("\ufeffimage, label ,x,y,comment\nsem.tif,notch,3,4.5,sharp\n\n")
    assert read_labels_csv(tmp_path / "points.csv") == [Annotation("sem.tif", "notch", point=(3, 4.5))]
    (tmp_path / "boxes.csv").write_text("label,x1,image,y1,x0,y0\ninclusion,10,a.png,12,0,2\n")
    assert read_annotations(tmp_path / "boxes.csv") == [Annotation("a.png", "inclusion", bbox=(0, 2, 10, 12))]
    path = write_labels_csv(tmp_path / "out.csv", ANNOTATIONS[:3])
    assert path.read_text().splitlines()[:4] == [
        "image,label,x0,y0,x1,y1,x,y,annotator,time,site",
        "site_001.tif,inclusion,0,0,10,10,,,ak,2024-05-01T10:00:00Z,17",
        "site_001.tif,martensite,12,30,40,31,,,,,",
        "site_001.tif,notch,,,,,100.25,7.5,jb,,"]


def test_annotation_validation():
    with pytest.raises(InvalidParameterError, match="x1 > x0"):
        Annotation("a.png", "notch", bbox=(5, 0, 5, 3))
    with pytest.raises(InvalidParameterError, match="y1 > y0"):
        Annotation("a.png", "notch", bbox=(0, 4, 5, 3))
    with pytest.raises(InvalidParameterError, match="finite"):
        Annotation("a.png", "notch", bbox=(0, 0, math.inf, 3))
    with pytest.raises(InvalidParameterError, match="point must be 2"):
        Annotation("a.png", "notch", point=(1, 2, 3))
    with pytest.raises(InvalidParameterError, match="bbox or point"):
        Annotation("a.png", "notch")
    for image, label in [("", "notch"), ("a.png", " "), ("a.png", None)]:
        with pytest.raises(InvalidParameterError, match="non-empty"):
            Annotation(image, label, point=(0, 0))
    a = Annotation("a.png", "notch", bbox=(0, 0, 4, 2), site=5, annotator="")
    assert (a.centre, a.site, a.annotator, a.bbox) == ((2.0, 1.0), "5", None, (0.0, 0.0, 4.0, 2.0))
    assert Annotation("a.png", "x", bbox=(0, 0, 4, 2), point=(3, 1)).centre == (3, 1)


def test_malformed_xml_is_a_data_file_error(tmp_path):
    (tmp_path / "bad.xml").write_text("<annotation><object><name>x</name></annotation>")
    for reader in (read_voc, read_cvat_xml, read_annotations):
        with pytest.raises(DataFileError, match="bad.xml.*not well-formed XML.*line 1"):
            reader(tmp_path / "bad.xml")
    (tmp_path / "other.xml").write_text("<svg/>")
    with pytest.raises(DataFileError, match="expected root element <annotation>, found <svg>"):
        read_voc(tmp_path / "other.xml")
    with pytest.raises(DataFileError, match=r"<annotations> \(CVAT\).*found \.xml file with \['svg'\]"):
        read_annotations(tmp_path / "other.xml")


def test_json_that_is_not_labelme_or_coco(tmp_path):
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "config.json").write_text('{"lr": 0.1}')
    (tmp_path / "broken.json").write_text('{"shapes": [')
    for name in ("list.json", "config.json"):
        with pytest.raises(DataFileError, match="not a LabelMe file"):
            read_labelme(tmp_path / name)
        with pytest.raises(DataFileError, match="not a COCO file"):
            read_coco(tmp_path / name)
        with pytest.raises(DataFileError, match="cannot tell the annotation format"):
            read_annotations(tmp_path / name)
    with pytest.raises(DataFileError, match="broken.json.*not valid JSON"):
        read_annotations(tmp_path / "broken.json")
    write_coco(tmp_path / "coco.json", ANNOTATIONS)
    with pytest.raises(DataFileError, match="not a LabelMe file"):
        read_labelme(tmp_path / "coco.json")


def test_bad_content_is_named(tmp_path):
    (tmp_path / "a.xml").write_text("<annotation><filename>a.png</filename><object><name>x</name><bndbox>"
                                    "<xmin>5</xmin><ymin>1</ymin><xmax>4</xmax><ymax>9</ymax></bndbox></object>"
                                    "</annotation>")
    with pytest.raises(DataFileError, match=r"a\.xml'?, <object> 1: bbox .*x1 > x0"):
        read_voc(tmp_path / "a.xml")
    (tmp_path / "b.xml").write_text("<annotation><filename>a.png</filename><object><name>x</name><bndbox>"
                                    "<xmin>one</xmin></bndbox></object></annotation>")
    with pytest.raises(DataFileError, match="<xmin> must be a finite number, got 'one'"):
        read_voc(tmp_path / "b.xml")
    (tmp_path / "c.json").write_text(json.dumps({"imagePath": "a.png", "shapes": [
        {"label": "x", "points": [[0, 0], [1, 1]], "shape_type": "line"}]}))
    with pytest.raises(DataFileError, match="shape 1: expected a rectangle.*'line'"):
        read_labelme(tmp_path / "c.json")
    with pytest.raises(DataFileError, match="does not exist"):
        read_coco(tmp_path / "missing.json")


def test_csv_errors_name_the_line(tmp_path):
    (tmp_path / "a.csv").write_text("image,label,x0,y0\na.png,x,1,2\n")
    with pytest.raises(DataFileError, match="header must have 'image', 'label' and either"):
        read_labels_csv(tmp_path / "a.csv")
    (tmp_path / "b.csv").write_text("image,label,x,y\na.png,x,1,2\na.png,x,1,two\n")
    with pytest.raises(DataFileError, match=r"b\.csv'?, line 3: column 'y' must be a finite number, got 'tw"):
        read_labels_csv(tmp_path / "b.csv")
    (tmp_path / "c.csv").write_text("image,label,x0,y0,x1,y1\na.png,x,1,2,,\n")
    with pytest.raises(DataFileError, match="line 2: columns x0,y0,x1,y1 must be all filled"):
        read_labels_csv(tmp_path / "c.csv")
    (tmp_path / "d.csv").write_text("image,label,x0,y0,x1,y1\n,x,1,2,3,4\n")
    with pytest.raises(DataFileError, match="line 2: annotation image must be a non-empty"):
        read_labels_csv(tmp_path / "d.csv")


def test_unknown_format_and_bad_arguments(tmp_path):
    with pytest.raises(UnknownNameError, match="one of voc, labelme, coco, cvat, csv; got 'yolo'"):
        read_annotations(tmp_path / "a.txt", "yolo")
    with pytest.raises(InvalidParameterError, match="got 'yolo'"):
        write_annotations(tmp_path / "a.txt", ANNOTATIONS, "yolo")
    with pytest.raises(DataFileError, match="cannot tell the annotation format"):
        read_annotations(tmp_path / "a.txt")
    with pytest.raises(InvalidParameterError, match=r"annotations\[1\] must be an Annotation"):
        write_labels_csv(tmp_path / "a.csv", [ANNOTATIONS[0], ("a.png", "x")])
    with pytest.raises(InvalidParameterError, match="would share the file 'a.xml'"):
        write_voc(tmp_path, [Annotation("a.png", "x", point=(1, 1)), Annotation("a.tif", "x", point=(1, 1))])
    assert not (tmp_path / "a.csv").exists() and not list(tmp_path.iterdir())


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_failed_write_leaves_the_old_file_and_no_partial_one(tmp_path, monkeypatch, fmt):
    path = _path(tmp_path, fmt)
    first = write_annotations(path, ANNOTATIONS[:1], fmt)
    before = {p: p.read_bytes() for p in first}

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(_atomic.os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_annotations(path, ANNOTATIONS, fmt)
    assert {p: p.read_bytes() for p in first} == before
    assert sorted(p for p in tmp_path.rglob("*") if p.is_file()) == sorted(first)


def test_module_obeys_the_io_layer_rule():
    source = open(labels.__file__).read()
    imports = {line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))}
    allowed = {"__future__", "csv", "io", "json", "math", "os", "xml.etree.ElementTree", "collections.abc",
               "dataclasses", "pathlib", "typing", "numpy", "microdl.exceptions", "microdl.io._atomic"}
    assert imports <= allowed
    assert len(source.splitlines()) <= 450
