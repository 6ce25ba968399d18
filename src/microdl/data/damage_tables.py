"""Tables of the damage-site store (component ``damage``, version 1) on the platform's catalog backend.

The relationships of Kerzel et al.'s data infrastructure, as rows: an image (raw, processed or
a stitched panorama, each pointing at its parent) has candidate sites (one detection run per
image), a site has crops (files), labels (append-only: annotator and time on every row, so two
annotators never overwrite each other) and model predictions. Images and crops stay files; the
tables hold their metadata, paths and SHA-256. Portable column types only (see
:mod:`microdl.data._tables`), so SQLite and PostgreSQL behave the same.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, Table, Text, UniqueConstraint

from microdl.data._tables import Component, metadata, register

__all__ = ["images", "detections", "sites", "crops", "labels", "predictions", "DAMAGE"]

images = Table(
    "damage_images", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sha256", Text, nullable=False, unique=True),
    Column("path", Text, nullable=False),  # relative to the store root when the store holds the file
    Column("name", Text, nullable=False),  # the file name it was added under
    Column("kind", Text, nullable=False),  # 'raw', 'processed', 'panorama'
    Column("parent_id", Integer, ForeignKey("damage_images.id")),
    Column("sample", Text, nullable=False),
    Column("strain", Float),  # macroscopic strain of the sample when imaged (dimensionless)
    Column("height", Integer, nullable=False),
    Column("width", Integer, nullable=False),
    Column("pixel_size_um", Float),
    Column("meta", Text, nullable=False),  # JSON: microscope settings, preparation, date...
    Column("layout", Text),  # JSON: tiles of a stitched panorama
    Column("created_utc", Text, nullable=False),
)

detections = Table(
    "damage_detections", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("image_id", Integer, ForeignKey("damage_images.id"), nullable=False, unique=True),
    Column("config", Text, nullable=False),  # JSON of DetectConfig
    Column("n_sites", Integer, nullable=False),
    Column("created_utc", Text, nullable=False),
)

sites = Table(
    "damage_sites", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("image_id", Integer, ForeignKey("damage_images.id"), nullable=False),
    Column("detection_id", Integer, ForeignKey("damage_detections.id"), nullable=False),
    Column("x", Float, nullable=False),  # centroid, pixels (x = column)
    Column("y", Float, nullable=False),
    Column("area_px", Integer, nullable=False),
    Column("x0", Integer, nullable=False),
    Column("y0", Integer, nullable=False),
    Column("x1", Integer, nullable=False),
    Column("y1", Integer, nullable=False),
    Column("n_clusters", Integer, nullable=False),
    Index("damage_sites_image", "image_id"),
)

crops = Table(
    "damage_crops", metadata,
    Column("site_id", Integer, ForeignKey("damage_sites.id"), primary_key=True),
    Column("size", Integer, primary_key=True),  # side in pixels
    Column("path", Text, nullable=False),  # relative to the store root, content-addressed
    Column("sha256", Text, nullable=False),
)

labels = Table(
    "damage_labels", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("site_id", Integer, ForeignKey("damage_sites.id"), nullable=False),
    Column("label", Text, nullable=False),
    Column("annotator", Text, nullable=False),
    Column("created_utc", Text, nullable=False),
    Column("source", Text, nullable=False),  # 'browser', 'import:voc', 'api', ...
    Index("damage_labels_site", "site_id"),
)

predictions = Table(
    "damage_predictions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("site_id", Integer, ForeignKey("damage_sites.id"), nullable=False),
    Column("model", Text, nullable=False),
    Column("label", Text, nullable=False),  # may be 'uncertain'
    Column("confidence", Float, nullable=False),
    Column("probabilities", Text, nullable=False),  # JSON {class: p}
    Column("run_id", Text),  # catalog entry of the classification run
    Column("created_utc", Text, nullable=False),
    UniqueConstraint("site_id", "model", "run_id", name="damage_predictions_once"),
)

DAMAGE = Component(name="damage", version=1, tables=(images, detections, sites, crops, labels, predictions))
register(DAMAGE)
