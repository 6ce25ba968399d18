"""The damage-site store: images, sites, crops, labels and predictions in one folder and database.

A store is a folder: ``images/`` and ``crops/`` hold files named by their SHA-256 (so a file
is stored once however often it is added, and a path can never point at changed content),
and the database holds everything else (:mod:`microdl.data.damage_tables`). The database is
``<root>/store.sqlite`` by default or any catalog location (``postgresql://USER@HOST/DB`` for a
lab server that several annotators share; see ``docs/catalog.md``).

Labels are append-only rows with annotator and time: two annotators labelling the same site
at the same moment both keep their label, and a correction is a newer row. The label of a
site for statistics and training is the consensus of each annotator's latest label
(:func:`consensus`).

Examples
--------
>>> store = DamageStore("my-store")                                   # doctest: +SKIP
>>> img = store.add_image("pano.tif", sample="S1", strain=0.25, kind="panorama")  # doctest: +SKIP
>>> store.sites(sample="S1", label="interface", min_strain=0.2)       # doctest: +SKIP
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import and_, func, select

from microdl.data import damage_tables as T
from microdl.data.catalog import Catalog
from microdl.exceptions import DataFileError, InvalidParameterError
from microdl.io._atomic import atomic_path, save_png
from microdl.provenance import sha256_file, to_jsonable

__all__ = ["DamageStore", "consensus", "IMAGE_KINDS"]

IMAGE_KINDS = ("raw", "processed", "panorama")
_DB_NAME = "store.sqlite"


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _where_equal(table, **equal):
    """``SELECT * FROM table WHERE col = value ...`` (``None`` values ignored), ordered by id."""
    q = select(table).order_by(table.c.id)
    for col, value in equal.items():
        if value is not None:
            q = q.where(table.c[col] == value)
    return q


def consensus(latest: dict[str, str]) -> str | None:
    """The site label from each annotator's latest label: the majority, ``"disputed"`` on a tie."""
    if not latest:
        return None
    counts = Counter(latest.values()).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return "disputed"
    return counts[0][0]


class DamageStore:
    """Open (or create) a store in ``root``; ``database`` overrides ``<root>/store.sqlite``."""

    def __init__(self, root: str | os.PathLike, *, database: str | None = None) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise DataFileError(f"store {self.root} is a file; expected a folder")
        try:
            for sub in ("images", "crops"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataFileError(f"cannot create the store folder {self.root}: {exc.strerror or exc}") from None
        self.db = Catalog(database or self.root / _DB_NAME)

    def __repr__(self) -> str:
        return f"DamageStore({os.fspath(self.root)!r}, database={str(self.db.url)!r})"

    # images -----------------------------------------------------------------------------------
    def add_image(self, path: str | os.PathLike, *, sample: str, strain: float | None = None,
                  kind: str = "panorama", parent: int | None = None, pixel_size_um: float | None = None,
                  meta: dict[str, Any] | None = None, copy: bool = True) -> int:
        """Add an image file and return its id (the existing id if the same content is stored).

        ``copy=False`` records the file where it is (its absolute path) instead of copying it
        into the store, for panoramas too big to duplicate. Height, width, pixel size (if the
        file records one) and a stitched panorama's tile layout come from the file.
        """
        from microdl.io.panorama import open_image

        if kind not in IMAGE_KINDS:
            raise InvalidParameterError(f"kind must be one of {IMAGE_KINDS}, got {kind!r}")
        if not sample:
            raise InvalidParameterError("sample must be a non-empty name")
        if strain is not None and not np.isfinite(strain):
            raise InvalidParameterError(f"strain must be a finite number, got {strain!r}")
        src = Path(path)
        with open_image(src, pixel_size_um=pixel_size_um) as pano:
            shape, size, layout = pano.shape, pano.pixel_size_um, pano.layout
        sha = sha256_file(src)
        with self.db.transaction() as conn:
            found = conn.execute(select(T.images.c.id).where(T.images.c.sha256 == sha)).scalar()
        if found is not None:
            return int(found)
        if copy and not layout:  # a stitched panorama's layout CSV is referenced, its tiles stay put
            rel = Path("images") / sha[:2] / f"{sha}{src.suffix.lower()}"
            dest = self.root / rel
            if not dest.is_file():
                dest.parent.mkdir(parents=True, exist_ok=True)
                with atomic_path(dest) as tmp:
                    shutil.copyfile(src, tmp)
            stored = rel.as_posix()
        else:
            stored = os.fspath(src.resolve())
        row = {"sha256": sha, "path": stored, "name": src.name, "kind": kind, "parent_id": parent,
               "sample": sample, "strain": strain, "height": shape[0], "width": shape[1],
               "pixel_size_um": size, "meta": json.dumps(to_jsonable(meta or {})),
               "layout": json.dumps(layout) if layout else None, "created_utc": _now()}
        with self.db.transaction(write=True) as conn:
            again = conn.execute(select(T.images.c.id).where(T.images.c.sha256 == sha)).scalar()
            if again is not None:  # added by someone else meanwhile
                return int(again)
            return int(conn.execute(T.images.insert().returning(T.images.c.id), row).scalar_one())

    def image(self, image_id: int) -> dict:
        """The image row as a dict (``meta`` and ``layout`` decoded, ``file`` its absolute path)."""
        with self.db.transaction() as conn:
            row = conn.execute(select(T.images).where(T.images.c.id == image_id)).mappings().first()
        if row is None:
            raise InvalidParameterError(f"no image with id {image_id} in {self}")
        return self._image_dict(row)

    def images(self, *, sample: str | None = None, kind: str | None = None) -> list[dict]:
        """All images, optionally of one sample or kind, in the order they were added."""
        q = _where_equal(T.images, sample=sample, kind=kind)
        with self.db.transaction() as conn:
            return [self._image_dict(r) for r in conn.execute(q).mappings()]

    def _image_dict(self, row) -> dict:
        d = dict(row)
        d["meta"] = json.loads(d["meta"])
        d["layout"] = json.loads(d["layout"]) if d["layout"] else []
        p = Path(d["path"])
        d["file"] = os.fspath(p if p.is_absolute() else self.root / p)
        return d

    def open_image(self, image_id: int):
        """The stored image as a :class:`~microdl.io.panorama.Panorama` (windowed reading)."""
        from microdl.io.panorama import open_image

        img = self.image(image_id)
        return open_image(img["file"], pixel_size_um=img["pixel_size_um"])

    # sites ------------------------------------------------------------------------------------
    def add_sites(self, image_id: int, found: list[dict], config: dict, *, replace: bool = False) -> list[int]:
        """Record the candidate sites of one detection run on an image; returns their ids.

        An image has one detection. Running it again with ``replace=False`` is an error; with
        ``replace=True`` the old sites go, unless a site is labelled, crops or predictions
        then stay with their sites, and the call fails rather than drop labels.
        """
        self.image(image_id)
        with self.db.transaction(write=True) as conn:
            old = conn.execute(select(T.detections.c.id).where(T.detections.c.image_id == image_id)).scalar()
            if old is not None:
                if not replace:
                    raise InvalidParameterError(
                        f"image {image_id} already has detected sites; pass replace=True (--replace) to redo it")
                old_sites = select(T.sites.c.id).where(T.sites.c.detection_id == old)
                n_lab = conn.execute(select(func.count()).select_from(T.labels)
                                     .where(T.labels.c.site_id.in_(old_sites))).scalar()
                if n_lab:
                    raise InvalidParameterError(
                        f"image {image_id}: {n_lab} label(s) refer to its sites; export them before redetecting")
                for table in (T.predictions, T.crops):
                    conn.execute(table.delete().where(table.c.site_id.in_(old_sites)))
                conn.execute(T.sites.delete().where(T.sites.c.detection_id == old))
                conn.execute(T.detections.delete().where(T.detections.c.id == old))
            det = conn.execute(T.detections.insert().returning(T.detections.c.id), {
                "image_id": image_id, "config": json.dumps(to_jsonable(config)), "n_sites": len(found),
                "created_utc": _now()}).scalar_one()
            rows = [{"image_id": image_id, "detection_id": det, "x": float(s["x"]), "y": float(s["y"]),
                     "area_px": int(s["area_px"]), "x0": int(s["bbox"][0]), "y0": int(s["bbox"][1]),
                     "x1": int(s["bbox"][2]), "y1": int(s["bbox"][3]), "n_clusters": int(s.get("n_clusters", 1))}
                    for s in found]
            if not rows:
                return []
            ids = [int(r.id) for r in conn.execute(T.sites.insert().returning(T.sites.c.id, sort_by_parameter_order=True),
                                                    rows)]
        return ids

    def detections(self) -> dict[int, dict]:
        """``{image_id: {"config", "n_sites", "created_utc"}}`` of every image that has been detected."""
        with self.db.transaction() as conn:
            rows = conn.execute(_where_equal(T.detections)).mappings().all()
        return {r["image_id"]: {"config": json.loads(r["config"]), "n_sites": r["n_sites"],
                                "created_utc": r["created_utc"]} for r in rows}

    def sites(self, *, image_id: int | None = None, sample: str | None = None, label: str | None = None,
              min_strain: float | None = None, max_strain: float | None = None,
              site_ids: list[int] | None = None, with_crops: bool = False) -> list[dict]:
        """Sites with their image's sample and strain and their consensus ``label`` (``None`` if unlabelled).

        Filters combine: e.g. ``sites(sample="S", label="interface", min_strain=0.2, with_crops=True)``.
        ``with_crops`` adds ``crops``: ``{size: absolute path}``.
        """
        q = (select(T.sites, T.images.c.sample, T.images.c.strain, T.images.c.pixel_size_um)
             .join(T.images, T.images.c.id == T.sites.c.image_id).order_by(T.sites.c.id))
        conds = []
        if image_id is not None:
            conds.append(T.sites.c.image_id == image_id)
        if sample is not None:
            conds.append(T.images.c.sample == sample)
        if min_strain is not None:
            conds.append(T.images.c.strain >= min_strain)
        if max_strain is not None:
            conds.append(T.images.c.strain <= max_strain)
        if site_ids is not None:
            conds.append(T.sites.c.id.in_([int(i) for i in site_ids]))
        if conds:
            q = q.where(and_(*conds))
        with self.db.transaction() as conn:
            rows = [dict(r) for r in conn.execute(q).mappings()]
            ids = [r["id"] for r in rows]
            latest = self._latest_labels(conn, ids)
            crop_rows = conn.execute(select(T.crops).where(T.crops.c.site_id.in_(ids))).all() if with_crops else []
        by_site: dict[int, dict[int, str]] = {}
        for c in crop_rows:
            by_site.setdefault(c.site_id, {})[c.size] = os.fspath(self.root / c.path)
        out = []
        for r in rows:
            r["annotations"] = latest.get(r["id"], {})
            r["label"] = consensus(r["annotations"])
            if label is not None and r["label"] != label:
                continue
            if with_crops:
                r["crops"] = by_site.get(r["id"], {})
            out.append(r)
        return out

    # crops ------------------------------------------------------------------------------------
    def add_crop(self, site_id: int, image: np.ndarray) -> str:
        """Store a square crop (uint8/uint16 2D) of a site as a content-addressed PNG; returns its path."""
        image = np.asarray(image)
        if image.ndim != 2 or image.shape[0] != image.shape[1]:
            raise InvalidParameterError(f"a crop must be a square 2D image, got shape {image.shape}")
        sha = hashlib.sha256(image.dtype.str.encode() + image.tobytes()).hexdigest()
        rel = Path("crops") / sha[:2] / f"{sha}.png"
        if not (self.root / rel).is_file():
            save_png(self.root / rel, image)
        with self.db.transaction(write=True) as conn:
            key = and_(T.crops.c.site_id == site_id, T.crops.c.size == image.shape[0])
            conn.execute(T.crops.delete().where(key))
            conn.execute(T.crops.insert(), {"site_id": site_id, "size": image.shape[0], "path": rel.as_posix(),
                                            "sha256": sha})
        return os.fspath(self.root / rel)

    # labels -----------------------------------------------------------------------------------
    def add_labels(self, items: list[tuple[int, str]], *, annotator: str, source: str = "api",
                   time: str | None = None) -> int:
        """Append labels ``[(site_id, label), ...]`` by one annotator; returns how many were added.

        Every site must exist (checked first: nothing is added if one does not).
        """
        if not annotator:
            raise InvalidParameterError("annotator must be a non-empty name")
        if not items:
            return 0
        ids = sorted({int(s) for s, _ in items})
        bad = [lab for _, lab in items if not isinstance(lab, str) or not lab.strip()]
        if bad:
            raise InvalidParameterError(f"labels must be non-empty strings, got {bad[:3]!r}")
        when = time or _now()
        with self.db.transaction(write=True) as conn:
            known = set(conn.execute(select(T.sites.c.id).where(T.sites.c.id.in_(ids))).scalars())
            missing = [i for i in ids if i not in known]
            if missing:
                raise InvalidParameterError(f"no site(s) {missing[:10]} in {self}; nothing was labelled")
            conn.execute(T.labels.insert(), [
                {"site_id": int(s), "label": lab.strip(), "annotator": annotator, "created_utc": when,
                 "source": source} for s, lab in items])
        return len(items)

    def labels(self, *, site_id: int | None = None, annotator: str | None = None) -> list[dict]:
        """Every label row (history included), oldest first."""
        q = _where_equal(T.labels, site_id=site_id, annotator=annotator)
        with self.db.transaction() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    @staticmethod
    def _latest_labels(conn, site_ids: list[int]) -> dict[int, dict[str, str]]:
        """``{site: {annotator: latest label}}`` (latest = highest row id)."""
        if not site_ids:
            return {}
        rows = conn.execute(select(T.labels.c.site_id, T.labels.c.annotator, T.labels.c.label)
                            .where(T.labels.c.site_id.in_(site_ids)).order_by(T.labels.c.id)).all()
        out: dict[int, dict[str, str]] = {}
        for r in rows:
            out.setdefault(r.site_id, {})[r.annotator] = r.label
        return out

    # predictions ------------------------------------------------------------------------------
    def add_predictions(self, rows: list[dict], *, model: str, run_id: str | None = None) -> int:
        """Record predictions ``{"site_id", "label", "confidence", "probabilities"}`` of one model run."""
        now = _now()
        with self.db.transaction(write=True) as conn:
            conn.execute(T.predictions.delete().where(and_(T.predictions.c.model == model,
                                                          T.predictions.c.run_id == run_id,
                                                          T.predictions.c.site_id.in_([r["site_id"] for r in rows]))))
            if rows:
                conn.execute(T.predictions.insert(), [
                    {"site_id": int(r["site_id"]), "model": model, "label": r["label"],
                     "confidence": float(r["confidence"]), "probabilities": json.dumps(to_jsonable(r["probabilities"])),
                     "run_id": run_id, "created_utc": now} for r in rows])
        return len(rows)

    def predictions(self, *, model: str | None = None, site_ids: list[int] | None = None) -> list[dict]:
        """Prediction rows (``probabilities`` decoded), oldest first."""
        q = _where_equal(T.predictions, model=model)
        if site_ids is not None:
            q = q.where(T.predictions.c.site_id.in_([int(i) for i in site_ids]))
        with self.db.transaction() as conn:
            rows = [dict(r) for r in conn.execute(q).mappings()]
        for r in rows:
            r["probabilities"] = json.loads(r["probabilities"])
        return rows
