"""Damage-site classification jobs on a store: train a stage, classify in two stages, import/export labels.

Kerzel et al.'s two stages: stage 1 decides inclusion vs the rest on 250 px crops (an
inclusion when its probability is at least 0.7), stage 2 separates the other classes on 64 px
windows. Training reads the consensus labels of the store (disputed sites are left out),
cutting any crop size the store does not hold yet from its image, and splits training and
validation sites by image when there are several images (sites of one panorama share its
contrast and specimen), else by a seeded random quarter per class.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from microdl.exceptions import InvalidParameterError

__all__ = ["STAGE1_CLASSES", "STAGE2_CLASSES", "site_crops_from_store", "train_stage", "classify_store",
           "import_labels", "export_labels"]

STAGE1_CLASSES = ("inclusion", "other")
STAGE2_CLASSES = ("notch", "shadow", "interface", "martensite")
_STAGE = {"stage1": ("kerzel2021-stage1", 250, STAGE1_CLASSES), "stage2": ("kerzel2021-nin", 64, STAGE2_CLASSES)}


def site_crops_from_store(store, sites: list[dict], size: int) -> np.ndarray:
    """Crops ``(n, size, size)`` of ``sites`` (rows of ``store.sites()``): stored ones, else cut and stored."""
    from PIL import Image

    from microdl.analysis.damage_candidates import site_crops

    out: list[np.ndarray | None] = [None] * len(sites)
    missing: dict[int, list[int]] = {}
    for i, s in enumerate(sites):
        path = (s.get("crops") or {}).get(size)
        if path and os.path.isfile(path):
            out[i] = np.asarray(Image.open(path))
        else:
            missing.setdefault(s["image_id"], []).append(i)
    for image_id, idx in missing.items():
        with store.open_image(image_id) as pano:
            crops = site_crops(pano, [sites[i] for i in idx], size)
        for i, crop in zip(idx, crops, strict=True):
            store.add_crop(sites[i]["id"], crop)
            out[i] = crop
    return np.stack(out) if out else np.zeros((0, size, size), np.uint8)


def _split(image_ids: np.ndarray, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Validation: whole images (at most 35 % of the sites, at least one image) when there are >= 4 images,
    else a random quarter of each class."""
    rng = np.random.default_rng(seed)
    images = np.unique(image_ids)
    if len(images) >= 4:
        val_images, n_val = [], 0
        for im in rng.permutation(images):  # whole images while the validation share stays <= 35 %
            n = int((image_ids == im).sum())
            if not val_images or n_val + n <= 0.35 * len(labels):
                val_images.append(im)
                n_val += n
        val = np.isin(image_ids, val_images)
    else:
        val = np.zeros(len(labels), bool)
        for c in np.unique(labels):
            idx = np.nonzero(labels == c)[0]
            pick = rng.permutation(idx)[: max(1, len(idx) // 4)] if len(idx) > 1 else []
            val[pick] = True
    return np.nonzero(~val)[0], np.nonzero(val)[0]


def train_stage(store, out: str | os.PathLike, *, stage: str = "stage2", model: str | None = None,
                crop: int | None = None, overrides: dict | None = None, init: str | os.PathLike | None = None,
                progress: bool = True) -> dict:
    """Train one stage on the store's labelled sites; returns the run result with the data counts.

    ``stage="stage1"`` learns inclusion vs other (every labelled site), ``"stage2"`` the
    other four classes (sites labelled with one of them). ``model`` and ``crop`` default to
    the stage's preset (``kerzel2021-stage1`` at 250 px, ``kerzel2021-nin`` at 64 px). ``init``
    starts from a pretrained encoder (``microdl damage pretrain``; then ``model`` is its
    ``micrograph-resnet-small``).
    """
    from microdl.train.tasks.damage import DamageTrainConfig, fit_damage

    if stage not in _STAGE:
        raise InvalidParameterError(f"stage must be one of {sorted(_STAGE)}, got {stage!r}")
    default_model, default_crop, classes = _STAGE[stage]
    crop = int(crop or default_crop)
    sites = [s for s in store.sites(with_crops=True) if s["label"] and s["label"] != "disputed"]
    if stage == "stage1":
        names = ["inclusion" if s["label"] == "inclusion" else "other" for s in sites]
    else:
        sites = [s for s in sites if s["label"] in classes]
        names = [s["label"] for s in sites]
    y = np.array([classes.index(n) for n in names], dtype=int)
    counts = {c: int((y == i).sum()) for i, c in enumerate(classes)}
    if len(sites) < 4 or sum(v > 0 for v in counts.values()) < 2:
        raise InvalidParameterError(f"{stage} needs labelled sites of at least two of its classes {list(classes)} "
                                    f"(at least 4 sites); the store has {counts}. Label more sites first "
                                    "('microdl damage label' or 'import').")
    x = site_crops_from_store(store, sites, crop)
    config = DamageTrainConfig(**{"model": model or default_model, "classes": classes, **(overrides or {})})
    tr, va = _split(np.array([s["image_id"] for s in sites]), y, config.seed)
    if len(va) == 0:
        raise InvalidParameterError(f"too few labelled sites for a validation set: {counts}")
    if init is not None:
        init = Path(init) / "model.pt" if Path(init).is_dir() else Path(init)
    result = fit_damage(config, (x[tr], y[tr]), (x[va], y[va]), out, progress=progress, init=init,
                        run_info={"stage": stage, "store": os.fspath(Path(store.root).resolve()),
                                  "init": os.fspath(Path(init).resolve()) if init else None})
    return {**result, "stage": stage, "classes": list(classes), "counts": counts, "crop": crop,
            "n_train": int(len(tr)), "n_val": int(len(va))}


def _probabilities(model_path: str | os.PathLike, store, sites: list[dict]) -> tuple[np.ndarray, list[str]]:
    """Class probabilities ``(n, k)`` of ``sites`` on crops of the model's training size, and its classes."""
    import torch

    from microdl.models.registry import load_model

    net, extra = load_model(_model_file(model_path))
    crops = site_crops_from_store(store, sites, int(extra["crop"]))
    net.eval()
    device = next(net.parameters()).device
    probs = []
    with torch.no_grad():
        for i in range(0, len(crops), 256):
            x = torch.from_numpy(crops[i:i + 256].astype(np.float32) / 255.0)[:, None].to(device)
            probs.append(torch.softmax(net.classify(x).float(), dim=1).cpu().numpy())
    out = np.concatenate(probs) if probs else np.zeros((0, len(extra["classes"])))
    return out, list(extra["classes"])


def classify_store(store, *, stage2: str | os.PathLike, stage1: str | os.PathLike | None = None,
                   threshold: float = 0.7, min_confidence: float = 0.5, image_id: int | None = None,
                   run_id: str | None = None) -> dict:
    """Classify every site (of one image, or all) and store the predictions; returns counts per class.

    A site is an inclusion when stage 1 gives it ``p(inclusion) >= threshold``; otherwise
    stage 2 names it, and a site whose stage-2 probability is below ``min_confidence`` is
    ``"uncertain"``. Without ``stage1`` the stage-2 model alone decides (it may know every
    class). Crop sizes are the models' training crops.
    """
    for name, v in (("threshold", threshold), ("min_confidence", min_confidence)):
        if not 0 <= v <= 1:
            raise InvalidParameterError(f"{name} must be a probability in [0, 1], got {v!r}")
    sites = store.sites(image_id=image_id, with_crops=True)
    p2, classes2 = _probabilities(stage2, store, sites)
    labels = [classes2[i] for i in p2.argmax(1)] if len(sites) else []
    conf = p2.max(1) if len(sites) else np.zeros(0)
    probs = [dict(zip(classes2, map(float, p), strict=True)) for p in p2]
    if stage1 is not None and sites:
        p1, classes1 = _probabilities(stage1, store, sites)
        p_incl = p1[:, classes1.index("inclusion")]
        for i, p in enumerate(p_incl):
            probs[i] = {"inclusion": float(p), **{k: v * (1 - float(p)) for k, v in probs[i].items()}}
            if p >= threshold:
                labels[i], conf[i] = "inclusion", p
    labels = [lab if c >= min_confidence else "uncertain" for lab, c in zip(labels, conf, strict=True)]
    model = "two-stage" if stage1 is not None else "stage2"
    store.add_predictions([{"site_id": s["id"], "label": lab, "confidence": float(c), "probabilities": p}
                           for s, lab, c, p in zip(sites, labels, conf, probs, strict=True)],
                          model=model, run_id=run_id)
    counts: dict[str, int] = {}
    for lab in labels:
        counts[lab] = counts.get(lab, 0) + 1
    return {"n_sites": len(sites), "model": model, "counts": counts, "run_id": run_id,
            "threshold": threshold, "min_confidence": min_confidence}


def _model_file(path: str | os.PathLike) -> Path:
    p = Path(path)
    return p / "model.pt" if p.is_dir() else p


def import_labels(store, path: str | os.PathLike, *, format: str | None = None, annotator: str | None = None,
                  tolerance_px: float = 10.0) -> dict:
    """Add the labels of an annotation file to the store's sites; nothing is added if one does not match.

    An annotation names its site by ``site`` (a store site id, as our exports write), or by its
    image's file name and a point or box centre within ``tolerance_px`` of a site's centroid.
    The annotator is the file's, else ``annotator``.
    """
    from microdl.io.labels import read_annotations

    anns = read_annotations(path, format)
    by_name: dict[str, list[dict]] = {}
    for img in store.images():
        by_name.setdefault(img["name"], []).extend(store.sites(image_id=img["id"]))
    all_ids = {s["id"] for sites in by_name.values() for s in sites}
    items: dict[str, list[tuple[int, str]]] = {}
    unmatched = []
    for a in anns:
        sid = int(a.site) if a.site and a.site.isdigit() and int(a.site) in all_ids else None
        if sid is None:
            cands = by_name.get(Path(a.image).name, [])
            if cands:
                cx, cy = a.centre
                d = [np.hypot(s["x"] - cx, s["y"] - cy) for s in cands]
                k = int(np.argmin(d))
                sid = cands[k]["id"] if d[k] <= tolerance_px else None
        who = a.annotator or annotator
        if sid is None or not who:
            unmatched.append(f"{a.image} {a.label}" + ("" if who else " (no annotator: pass --annotator)"))
            continue
        items.setdefault(who, []).append((sid, a.label))
    if unmatched:
        raise InvalidParameterError(f"{len(unmatched)} of {len(anns)} annotations in {os.fspath(path)} match no site "
                                    f"of the store (first: {', '.join(unmatched[:3])}); nothing was imported")
    fmt = format or "auto"
    n = sum(store.add_labels(v, annotator=who, source=f"import:{fmt}") for who, v in items.items())
    return {"n_labels": n, "annotators": sorted(items), "file": os.fspath(path)}


def export_labels(store, path: str | os.PathLike, *, format: str, history: bool = False) -> dict:
    """Write the store's labels (each annotator's latest, or every row with ``history``) with site boxes."""
    from microdl.io.labels import Annotation, write_annotations

    images = {img["id"]: img for img in store.images()}
    sites = {s["id"]: s for s in store.sites()}
    rows = store.labels()
    if not history:
        latest: dict[tuple, dict] = {}
        for r in rows:
            latest[(r["site_id"], r["annotator"])] = r
        rows = list(latest.values())
    anns = []
    for r in rows:
        s = sites[r["site_id"]]
        anns.append(Annotation(image=images[s["image_id"]]["name"], label=r["label"],
                               bbox=(s["x0"], s["y0"], s["x1"], s["y1"]), point=(s["x"], s["y"]),
                               annotator=r["annotator"], time=r["created_utc"], site=str(s["id"])))
    sizes = {img["name"]: (img["height"], img["width"]) for img in images.values()}
    written = write_annotations(path, anns, format, image_sizes=sizes)
    return {"n_labels": len(anns), "files": [os.fspath(p) for p in written], "format": format}
