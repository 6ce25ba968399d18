"""Read and write object annotations (boxes, points) on images or crops in the formats labs use.

All formats read into and write from :class:`Annotation`: boxes ``(x0, y0, x1, y1)`` in pixels, ``x``
the column, exclusive end (columns 0..9 are ``x0=0, x1=10``; VOC's 1-based ``xmin=1, xmax=10``).
:data:`FORMATS`: Pascal VOC XML and LabelMe JSON (one file per image; a folder reads them all), COCO
JSON as CVAT exports it, CVAT for images 1.1 XML, CSV. Writers take ``image_sizes``: image name ->
``(height, width)`` as ``image.shape[:2]`` (unknown: 0; listed images without annotations: negatives).
Points and annotator/time/site travel in extensions other tools ignore (VOC ``<point>``, ``<annotator>``
tags; a LabelMe ``description`` JSON; COCO ``keypoints`` and ``attributes``; CVAT ``<attribute>``); where
a box is required, a point alone gets a small box marked as standing for it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from microdl.exceptions import DataFileError, InvalidParameterError, UnknownNameError
from microdl.io._atomic import TMP_MARK, write_json, write_text

__all__ = ["Annotation", "FORMATS", "CSV_COLUMNS", "read_annotations", "write_annotations", "guess_format",
           "read_voc", "write_voc", "read_labelme", "write_labelme", "read_coco", "write_coco",
           "read_cvat_xml", "write_cvat_xml", "read_labels_csv", "write_labels_csv"]

FORMATS = ("voc", "labelme", "coco", "cvat", "csv")
CSV_COLUMNS = ("image", "label", "x0", "y0", "x1", "y1", "x", "y", "annotator", "time", "site")
_EXTRA = ("annotator", "time", "site")
Sizes = dict[str, tuple[int, int]]
PathLike = str | os.PathLike


@dataclass(frozen=True)
class Annotation:
    """One labelled box and/or point on one image (coordinates become floats, an empty extra ``None``)."""

    image: str
    label: str
    bbox: tuple[float, float, float, float] | None = None
    point: tuple[float, float] | None = None
    annotator: str | None = None
    time: str | None = None
    site: str | None = None

    def __post_init__(self) -> None:
        for name in ("image", "label"):
            if not isinstance(value := getattr(self, name), str) or not value.strip():
                raise InvalidParameterError(f"annotation {name} must be a non-empty string, got {value!r}")
        for name, n in (("bbox", 4), ("point", 2)):
            if (value := getattr(self, name)) is not None:
                try:
                    coords = tuple(float(v) for v in value)
                except (TypeError, ValueError):
                    coords = ()
                if len(coords) != n or not all(map(math.isfinite, coords)):
                    raise InvalidParameterError(f"{name} must be {n} finite numbers, got {value!r}")
                object.__setattr__(self, name, coords)
        if self.bbox is not None and not (self.bbox[2] > self.bbox[0] and self.bbox[3] > self.bbox[1]):
            raise InvalidParameterError(f"bbox (x0, y0, x1, y1) needs x1 > x0 and y1 > y0, got {self.bbox}")
        if self.bbox is None and self.point is None:
            raise InvalidParameterError(f"annotation {self.label!r} on {self.image!r} needs bbox or point")
        for name in _EXTRA:  # strings, so that every format reads back what was written
            value = getattr(self, name)
            object.__setattr__(self, name, None if value is None or str(value) == "" else str(value))

    @property
    def centre(self) -> tuple[float, float]:
        """The point if known, else the centre of the box."""
        b = self.bbox or (0.0, 0.0, 0.0, 0.0)
        return self.point if self.point is not None else ((b[0] + b[2]) / 2, (b[1] + b[3]) / 2)

    def extras(self) -> dict[str, str]:
        """The annotator/time/site fields that are set."""
        return {k: getattr(self, k) for k in _EXTRA if getattr(self, k) is not None}


def _num(v: float) -> int | float:
    return int(v) if float(v).is_integer() and abs(v) < 2**53 else float(v)  # files show 10, not 10.0


def _make(where: str, **kw: Any) -> Annotation:
    try:
        return Annotation(**kw)
    except InvalidParameterError as exc:
        raise DataFileError(f"{where}: {exc}") from None


def _float(where: str, value: Any, what: str) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        out = math.nan
    if not math.isfinite(out):
        raise DataFileError(f"{where}: {what} must be a finite number, got {value!r}")
    return out


def _bounds(pts: list[tuple[float, float]]) -> tuple[float, ...]:
    xs, ys = zip(*pts, strict=True)
    return (min(xs), min(ys), max(xs), max(ys))


def _check(annotations: Iterable[Annotation]) -> list[Annotation]:
    out = list(annotations)
    for i, a in enumerate(out):
        if not isinstance(a, Annotation):
            raise InvalidParameterError(f"annotations[{i}] must be an Annotation, got {type(a).__name__}")
    return out


def _groups(annotations: Iterable[Annotation], sizes: Sizes | None, suffix: str = "") -> list[tuple]:
    """``(image, width, height, annotations, stem + suffix)`` per image, then the rest of ``sizes``."""
    groups: dict[str, list[Annotation]] = {}
    for a in _check(annotations):
        groups.setdefault(a.image, []).append(a)
    sizes, out, names = sizes or {}, [], set()
    for image in [*groups, *(k for k in sizes if k not in groups)]:
        hw = sizes.get(image, (0, 0))
        ok = isinstance(hw, (tuple, list)) and len(hw) == 2 and all(
            hasattr(v, "__index__") and not isinstance(v, bool) and v > 0 for v in hw)  # int, NumPy int
        if image in sizes and not ok:
            raise InvalidParameterError(f"image_sizes[{image!r}] must be (height, width) ints > 0, got {hw}")
        if (name := Path(image.replace("\\", "/")).stem + suffix) in names and suffix:
            raise InvalidParameterError(f"image {image!r} and another would share the file {name!r}")
        names.add(name)
        out.append((image, hw[1], hw[0], groups.get(image, []), name))
    return out


def _files(path: PathLike, suffix: str | None, what: str) -> list[Path]:
    """``[path]`` for a file; the sorted ``*suffix`` files of a folder if ``suffix`` is given."""
    path = Path(path)
    if suffix and path.is_dir():
        found = (p for p in path.iterdir() if p.suffix.lower() == suffix and p.is_file())
        return sorted(p for p in found if not p.name.startswith(".") and TMP_MARK not in p.name)
    if not path.is_file():
        raise DataFileError(f"{what} {os.fspath(path)!r} does not exist or is not a file")
    return [path]


def _read(path: Path, kind: str, root: str | None = None) -> Any:
    """``path`` parsed as ``kind``: "xml" (the root element, checked to be <root>), "json" or "text"."""
    try:
        raw = path.read_bytes()  # XML from bytes: the parser honours the declared encoding
        text = "" if kind == "xml" else raw.decode("utf-8-sig")
        out = ET.fromstring(raw) if kind == "xml" else json.loads(text) if kind == "json" else text
    except (OSError, UnicodeDecodeError) as exc:
        raise DataFileError(f"cannot read annotation file {os.fspath(path)!r}: {exc}") from exc
    except ET.ParseError as exc:
        raise DataFileError(f"{os.fspath(path)!r} is not well-formed XML: {exc}") from None
    except ValueError as exc:
        raise DataFileError(f"{os.fspath(path)!r} is not valid JSON: {exc}") from None
    if root and out.tag != root:
        raise DataFileError(f"{os.fspath(path)!r}: expected root element <{root}>, found <{out.tag}>")
    return out


def _el(parent: ET.Element | None, tag: str, value: Any = None, **attrib: str) -> ET.Element:
    """A new element; a dict ``value`` becomes child elements, anything else the text."""
    el = ET.Element(tag, attrib) if parent is None else ET.SubElement(parent, tag, attrib)
    if isinstance(value, dict):
        for k, v in value.items():
            _el(el, k, v)
    elif value is not None:
        el.text = str(_num(value) if isinstance(value, float) else value)
    return el


def _write_xml(path: PathLike, root: ET.Element) -> Path:
    ET.indent(root, space="  ")
    return write_text(path, '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, "unicode") + "\n")


def read_voc(path: PathLike) -> list[Annotation]:
    """Read a Pascal VOC XML file, or every ``*.xml`` of a folder (sorted by name)."""
    out: list[Annotation] = []
    for file in _files(path, ".xml", "VOC file"):
        root = _read(file, "xml", "annotation")
        image = (root.findtext("filename") or "").strip() or Path((root.findtext("path") or "").strip()).name
        for i, obj in enumerate(root.findall("object"), 1):
            where = f"{os.fspath(file)!r}, <object> {i}"
            box, pt, bbox = obj.find("bndbox"), obj.find("point"), None
            point = None if pt is None else [_float(where, pt.findtext(t), f"<point><{t}>") for t in "xy"]
            if box is not None and (box.get("from") != "point" or point is None):
                v = [_float(where, box.findtext(t), f"<{t}>") for t in ("xmin", "ymin", "xmax", "ymax")]
                bbox = (v[0] - 1, v[1] - 1, v[2], v[3])
            out.append(_make(where, image=image, label=(obj.findtext("name") or "").strip(), bbox=bbox,
                             point=point, **{k: (obj.findtext(k) or "").strip() for k in _EXTRA}))
    return out


def write_voc(folder: PathLike, annotations: Iterable[Annotation], *,
              image_sizes: Sizes | None = None) -> list[Path]:
    """Write one Pascal VOC file per image (``<image stem>.xml``) into ``folder``; return the files."""
    written = []
    for image, width, height, items, name in _groups(annotations, image_sizes, ".xml"):
        root = _el(None, "annotation", {"folder": "", "filename": image, "segmented": 0,
                                        "size": {"width": width, "height": height, "depth": 1}})
        for a in items:
            obj = _el(root, "object", {"name": a.label, "pose": "Unspecified", "truncated": 0,
                                       "difficult": 0, **a.extras()})
            px, py = (math.floor(v) for v in a.centre)  # a point alone: the box of its pixel
            x0, y0, x1, y1 = a.bbox or (px, py, px + 1, py + 1)
            _el(obj, "bndbox", {"xmin": x0 + 1.0, "ymin": y0 + 1.0, "xmax": float(x1), "ymax": float(y1)},
                **({} if a.bbox else {"from": "point"}))
            if a.point is not None:
                _el(obj, "point", {"x": a.point[0], "y": a.point[1]})
        written.append(_write_xml(Path(folder) / name, root))
    return written


def read_labelme(path: PathLike) -> list[Annotation]:
    """Read a LabelMe JSON file, or every ``*.json`` of a folder (sorted by name): rectangles (corners
    in any order) and polygons become boxes (their bounding box), points points; other shapes are errors."""
    out: list[Annotation] = []
    for file in _files(path, ".json", "LabelMe file"):
        data = _read(file, "json")
        if not isinstance(data, dict) or not isinstance(data.get("shapes"), list) or "imagePath" not in data:
            raise DataFileError(f"{os.fspath(file)!r} is not a LabelMe file: expected an object with "
                                "'shapes' (a list) and 'imagePath'")
        for i, shape in enumerate(data["shapes"], 1):
            where = f"{os.fspath(file)!r}, shape {i}"
            try:
                kind = shape.get("shape_type") or "polygon"
                pts = [(_float(where, x, "x"), _float(where, y, "y")) for x, y in shape["points"]]
            except (AttributeError, KeyError, TypeError, ValueError):
                raise DataFileError(f"{where}: expected an object with 'points' [[x, y], ...]") from None
            try:  # our {"annotator": .., "time": .., "site": .., "point": ..}, or any other text
                meta = json.loads(shape.get("description") or "")
                meta = meta if isinstance(meta, dict) and set(meta) <= {*_EXTRA, "point"} else {}
            except (TypeError, ValueError):
                meta = {}
            bbox, point = None, meta.get("point")
            if kind == "point" and len(pts) == 1:
                point = pts[0]
            elif (kind == "rectangle" and len(pts) in (2, 4)) or (kind == "polygon" and len(pts) >= 3):
                bbox = _bounds(pts)
            else:
                raise DataFileError(f"{where}: expected a rectangle (2 or 4 points), polygon (3 or more) or "
                                    f"point (1), found {kind!r} with {len(pts)} points")
            out.append(_make(where, image=str(data["imagePath"] or ""), label=str(shape.get("label") or ""),
                             bbox=bbox, point=point, **{k: meta.get(k) for k in _EXTRA}))
    return out


def write_labelme(folder: PathLike, annotations: Iterable[Annotation], *,
                  image_sizes: Sizes | None = None) -> list[Path]:
    """Write one LabelMe JSON file per image (``<image stem>.json``) into ``folder``; return the files."""
    written = []
    for image, width, height, items, name in _groups(annotations, image_sizes, ".json"):
        shapes = []
        for a in items:
            meta = a.extras() | ({"point": [_num(v) for v in a.point]} if a.bbox and a.point else {})
            pts = [a.bbox[:2], a.bbox[2:]] if a.bbox else [a.point]
            shapes.append({"label": a.label, "points": [[_num(v) for v in p] for p in pts], "group_id": None,
                           "shape_type": "rectangle" if a.bbox else "point", "flags": {},
                           "description": json.dumps(meta) if meta else ""})
        written.append(write_json(Path(folder) / name, {
            "version": "5.2.1", "flags": {}, "shapes": shapes, "imagePath": image, "imageData": None,
            "imageHeight": height, "imageWidth": width}))
    return written


def read_coco(path: PathLike) -> list[Annotation]:
    """Read a COCO JSON file: boxes, single keypoints as points, CVAT ``attributes``."""
    path = _files(path, None, "COCO file")[0]
    try:
        data = _read(path, "json")
        images = {im["id"]: str(im["file_name"]) for im in data["images"]}
        cats = {c["id"]: str(c["name"]) for c in data["categories"]}
        out, anns = [], list(data["annotations"])
    except (KeyError, TypeError) as exc:
        raise DataFileError(f"{os.fspath(path)!r} is not a COCO file: expected an object with 'images' "
                            "('id', 'file_name'), 'categories' ('id', 'name') and 'annotations'; "
                            f"missing or wrong: {exc}") from None
    for i, ann in enumerate(anns):
        where = f"{os.fspath(path)!r}, annotations[{i}]"
        if not (isinstance(ann, dict) and ann.get("image_id") in images and ann.get("category_id") in cats):
            raise DataFileError(f"{where}: expected an object whose image_id and category_id are listed")
        attrs = ann["attributes"] if isinstance(ann.get("attributes"), dict) else {}
        box, kps = ([_float(where, v, k) for v in (ann[k] if isinstance(ann.get(k), list) else [])]
                    for k in ("bbox", "keypoints"))
        bbox = (*box[:2], box[0] + box[2], box[1] + box[3]) if len(box) == 4 and min(box[2:]) > 0 else None
        point = (kps[0], kps[1]) if len(kps) == 3 and kps[2] else None
        if attrs.get("point") is True and bbox is not None:  # a point written as a box around it
            point, bbox = point or ((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2), None
        out.append(_make(where, image=images[ann["image_id"]], label=cats[ann["category_id"]], bbox=bbox,
                         point=point, **{k: attrs.get(k) for k in _EXTRA}))
    return out


def write_coco(path: PathLike, annotations: Iterable[Annotation], *,
               image_sizes: Sizes | None = None) -> Path:
    """Write one COCO JSON file like CVAT's export (ids from 1); return its path. A point becomes
    ``keypoints [x, y, 2]``; alone also ``bbox [x-0.5, y-0.5, 1, 1]`` and ``attributes.point = true``."""
    groups = _groups(annotations, image_sizes)
    cats = {lab: i for i, lab in enumerate(dict.fromkeys(a.label for g in groups for a in g[3]), 1)}
    images, anns = [], []
    for image_id, (image, width, height, items, _) in enumerate(groups, 1):
        images.append({"id": image_id, "width": width, "height": height, "file_name": image, "license": 0,
                       "flickr_url": "", "coco_url": "", "date_captured": 0})
        for a in items:
            p = a.point or (0.0, 0.0)
            x0, y0, x1, y1 = a.bbox or (p[0] - 0.5, p[1] - 0.5, p[0] + 0.5, p[1] + 0.5)
            entry = {"id": len(anns) + 1, "image_id": image_id, "category_id": cats[a.label],
                     "segmentation": [], "area": _num((x1 - x0) * (y1 - y0)),
                     "bbox": [_num(x0), _num(y0), _num(x1 - x0), _num(y1 - y0)], "iscrowd": 0,
                     "attributes": {"occluded": False, **a.extras(), **({} if a.bbox else {"point": True})}}
            if a.point is not None:
                entry.update(keypoints=[_num(p[0]), _num(p[1]), 2], num_keypoints=1)
            anns.append(entry)
    return write_json(path, {
        "licenses": [{"name": "", "id": 0, "url": ""}], "info": {"description": "", "version": ""},
        "categories": [{"id": i, "name": lab, "supercategory": ""} for lab, i in cats.items()],
        "images": images, "annotations": anns})


def _cvat_points(where: str, text: str | None) -> list[tuple[float, float]]:
    pairs = [pair.split(",") for pair in (text or "").split(";")]
    if not all(len(xy) == 2 for xy in pairs):
        raise DataFileError(f"{where}: points must be 'x,y;x,y;...', got {text!r}")
    return [(_float(where, x, "x"), _float(where, y, "y")) for x, y in pairs]


def read_cvat_xml(path: PathLike) -> list[Annotation]:
    """Read "CVAT for images 1.1" XML: boxes, points (one annotation each), polygons and polylines
    (their bounding box); image-level ``tag`` elements are skipped, other shapes (masks...) are errors."""
    path = _files(path, None, "CVAT XML file")[0]
    root = _read(path, "xml", "annotations")
    if root.find("track") is not None:
        raise DataFileError(f"{os.fspath(path)!r} holds CVAT video tracks; export 'CVAT for images 1.1'")
    out = []
    for image_el in root.findall("image"):
        image = image_el.get("name", "")
        for i, el in enumerate(image_el, 1):
            where = f"{os.fspath(path)!r}, image {image!r}, element {i} <{el.tag}>"
            attrs = {a.get("name"): (a.text or "").strip() for a in el.findall("attribute")}
            kw = {"image": image, "label": el.get("label", ""), **{k: attrs.get(k) for k in _EXTRA}}
            if el.tag == "box":
                bbox = tuple(_float(where, el.get(k), k) for k in ("xtl", "ytl", "xbr", "ybr"))
                point = _cvat_points(where, attrs["point"])[0] if attrs.get("point") else None
                out.append(_make(where, bbox=bbox, point=point, **kw))
            elif el.tag == "points":
                out.extend(_make(where, point=p, **kw) for p in _cvat_points(where, el.get("points")))
            elif el.tag in ("polygon", "polyline"):
                out.append(_make(where, bbox=_bounds(_cvat_points(where, el.get("points"))), **kw))
            elif el.tag != "tag":
                raise DataFileError(f"{where}: expected a box, points, polygon, polyline or tag")
    return out


def write_cvat_xml(path: PathLike, annotations: Iterable[Annotation], *,
                   image_sizes: Sizes | None = None) -> Path:
    """Write one "CVAT for images 1.1" XML file (image ids from 0); return its path. A box that also
    has a point carries it as ``<attribute name="point">x,y</attribute>``."""
    root = _el(None, "annotations", {"version": "1.1"})
    for image_id, (image, width, height, items, _) in enumerate(_groups(annotations, image_sizes)):
        image_el = _el(root, "image", id=str(image_id), name=image, width=str(width), height=str(height))
        for a in items:
            common = {"label": a.label, "source": "manual", "occluded": "0", "z_order": "0"}
            xy = f"{_num(a.point[0])},{_num(a.point[1])}" if a.point else ""
            if a.bbox is not None:
                corners = {k: str(_num(v)) for k, v in zip(("xtl", "ytl", "xbr", "ybr"), a.bbox, strict=True)}
                el = _el(image_el, "box", **common, **corners)
            else:
                el = _el(image_el, "points", **common, points=xy)
            for k, v in (({"point": xy} if a.bbox and xy else {}) | a.extras()).items():
                _el(el, "attribute", v, name=k)
    return _write_xml(path, root)


def read_labels_csv(path: PathLike) -> list[Annotation]:
    """Read a labels CSV: ``image,label`` and ``x0,y0,x1,y1`` and/or ``x,y`` columns (others ignored)."""
    path = _files(path, None, "labels CSV")[0]
    reader = csv.reader(io.StringIO(_read(path, "text"), newline=""))
    names = set(header := [h.strip() for h in next(reader, [])])
    if not ({"image", "label"} <= names and ({"x", "y"} <= names or {*CSV_COLUMNS[2:6]} <= names)):
        raise DataFileError(f"labels CSV {os.fspath(path)!r}: header must have 'image', 'label' and either "
                            f"'x0,y0,x1,y1' or 'x,y'; found {header}")
    out = []
    for row in reader:
        if not any(c.strip() for c in row):
            continue
        where = f"labels CSV {os.fspath(path)!r}, line {reader.line_num}"
        cells, geometry = {h: c.strip() for h, c in zip(header, row, strict=False)}, []
        for cols in (CSV_COLUMNS[2:6], CSV_COLUMNS[6:8]):
            if (n := sum(bool(cells.get(c)) for c in cols)) not in (0, len(cols)):
                raise DataFileError(f"{where}: columns {','.join(cols)} must be all filled or all empty")
            geometry.append(tuple(_float(where, cells[c], f"column {c!r}") for c in cols) if n else None)
        out.append(_make(where, image=cells.get("image", ""), label=cells.get("label", ""), bbox=geometry[0],
                         point=geometry[1], **{k: cells.get(k) for k in _EXTRA}))
    return out


def write_labels_csv(path: PathLike, annotations: Iterable[Annotation]) -> Path:
    """Write a labels CSV with the columns :data:`CSV_COLUMNS` (empty cells for missing values)."""
    rows = ([a.image, a.label, *([_num(v) for v in a.bbox] if a.bbox else [""] * 4),
             *([_num(v) for v in a.point] if a.point else [""] * 2), *(getattr(a, k) or "" for k in _EXTRA)]
            for a in _check(annotations))
    csv.writer(buf := io.StringIO(), lineterminator="\n").writerows([CSV_COLUMNS, *rows])
    return write_text(path, buf.getvalue())


def guess_format(path: PathLike) -> str:
    """The format of ``path``: a folder of ``*.xml`` is VOC, of ``*.json`` LabelMe; a ``.xml`` file is
    CVAT or VOC by its root element, a ``.json`` LabelMe or COCO by its keys; a ``.csv`` CSV."""
    found, suffix = "no known suffix", (path := Path(path)).suffix.lower()
    if path.is_dir():
        kinds = {p.suffix.lower() for p in path.iterdir()} & {".xml", ".json"}
        found = {".xml": "voc", ".json": "labelme"}[kinds.pop()] if len(kinds) == 1 else f"files {kinds}"
    elif suffix in (".xml", ".json"):
        data = _read(_files(path, None, "annotation file")[0], suffix[1:])
        keys = [data.tag] if suffix == ".xml" else list(data) if isinstance(data, dict) else []
        kinds = {"annotations": "cvat", "annotation": "voc", "shapes": "labelme", "categories": "coco"}
        found = next((kinds[k] for k in keys if k in kinds), f"{suffix} file with {keys[:6]}")
    elif suffix == ".csv":
        return "csv"
    if found not in FORMATS:
        raise DataFileError(f"cannot tell the annotation format of {os.fspath(path)!r}: expected a folder of "
                            "*.xml (VOC) or *.json (LabelMe), a .csv, a .xml with root <annotation> (VOC) or "
                            "<annotations> (CVAT), or a .json with 'shapes' (LabelMe) or 'categories' (COCO);"
                            f" found {found}")
    return found


def read_annotations(path: PathLike, format: str | None = None) -> list[Annotation]:
    """Read annotations in ``format`` (one of :data:`FORMATS`; ``None`` guesses it: :func:`guess_format`)."""
    if format is not None and format not in FORMATS:
        raise UnknownNameError(f"annotation format must be one of {', '.join(FORMATS)}; got {format!r}")
    return {"voc": read_voc, "labelme": read_labelme, "coco": read_coco, "cvat": read_cvat_xml,
            "csv": read_labels_csv}[format or guess_format(path)](path)


def write_annotations(path: PathLike, annotations: Iterable[Annotation], format: str, *,
                      image_sizes: Sizes | None = None) -> list[Path]:
    """Write annotations in ``format`` to ``path`` (a folder for VOC and LabelMe); return the files."""
    if format not in FORMATS:
        raise UnknownNameError(f"annotation format must be one of {', '.join(FORMATS)}; got {format!r}")
    if format == "csv":
        return [write_labels_csv(path, annotations)]
    out = {"voc": write_voc, "labelme": write_labelme, "coco": write_coco, "cvat": write_cvat_xml}[format](
        path, annotations, image_sizes=image_sizes)
    return out if isinstance(out, list) else [out]
