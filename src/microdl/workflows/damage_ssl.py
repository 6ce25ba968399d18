"""Few labels for damage sites: self-supervised pretraining on every candidate, clusters, a probe.

The store holds far more candidate sites than anyone labels. SimCLR (the micrograph
capability's objective, :mod:`microdl.train.tasks.micrograph`) learns an encoder from all of
them without labels: two augmented views of one site's crop are pulled together, views of
other sites pushed apart. Its embeddings are then (a) clustered by k-means, shown as example
crops per cluster, so a person can name clusters rather than sites, and (b) classified by a
linear probe (logistic regression) fitted on the few labelled sites; or (c) the encoder
initialises a classifier that is fine-tuned on them (``microdl damage train --init RUN``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from microdl.exceptions import InvalidParameterError

__all__ = ["pretrain", "embed_sites", "cluster_sites", "probe_sites", "SSL_STORE_CROP", "SSL_CROP"]

SSL_STORE_CROP = 96
"""Crop side cut around each site for pretraining; random views of :data:`SSL_CROP` px are drawn from it."""
SSL_CROP = 64


def _site_set(store, sites: list[dict], labels: list[str] | None = None):
    from microdl.data.micrographs import MicrographSet
    from microdl.workflows.damage_classify import site_crops_from_store

    crops = site_crops_from_store(store, sites, SSL_STORE_CROP)
    names = tuple(sorted(set(labels))) if labels else ()
    codes = np.array([names.index(x) for x in labels]) if labels else None
    return MicrographSet(list(crops), tuple(f"site{s['id']}.png" for s in sites), codes, names)


def pretrain(store, out: str | os.PathLike, *, overrides: dict | None = None, progress: bool = True) -> dict:
    """Train a SimCLR encoder on the crops of every site in the store (no labels; 10 % for validation)."""
    from microdl.train.tasks.micrograph import fit_micrograph, preset_config

    sites = store.sites(with_crops=True)
    if len(sites) < 20:
        raise InvalidParameterError(f"self-supervised pretraining needs at least 20 candidate sites, the store has "
                                    f"{len(sites)}; detect sites in more images first")
    data = _site_set(store, sites)
    config = preset_config("simclr", **{"crop": SSL_CROP, "batch_size": 128, "crops_per_image": 1,
                                        **(overrides or {})})
    order = np.random.default_rng(config.seed).permutation(len(sites))
    n_val = max(2, len(sites) // 10)
    result = fit_micrograph(config, data, np.sort(order[n_val:]), np.sort(order[:n_val]), out, progress=progress,
                            run_info={"damage_store": os.fspath(Path(store.root).resolve()),
                                      "store_crop": SSL_STORE_CROP, "downsample": 1})
    return {**result, "n_sites": len(sites)}


def embed_sites(store, model: str | os.PathLike, sites: list[dict], *, data=None) -> np.ndarray:
    """Unit embeddings ``(n, d)`` of sites: the encoder on the central :data:`SSL_CROP` px of each crop.

    ``data``: the sites' :class:`MicrographSet` when the caller has it already.
    """
    from microdl.analysis.micrograph import embed_images
    from microdl.workflows.micrograph import load_encoder

    path = Path(model)
    net, extra = load_encoder(path / "model.pt" if path.is_dir() else path)
    data = data if data is not None else _site_set(store, sites)
    return embed_images(net, data.images, crop=int(extra["crop"]), n_crops=1)


def cluster_sites(store, model: str | os.PathLike, out: str | os.PathLike, *, k: int = 8, examples: int = 10,
                  seed: int = 0) -> dict:
    """k-means on the embeddings of every site; ``clusters.csv``, ``clusters.json`` and ``clusters.png``.

    The figure has one row per cluster with ``examples`` crops nearest its centre. When some
    sites are labelled, each cluster's label composition is reported too.
    """
    from sklearn.cluster import KMeans

    from microdl.analysis.damage_figures import crops_grid
    from microdl.io._atomic import check_output_folder, write_json, write_text

    if k < 2:
        raise InvalidParameterError(f"k must be >= 2 clusters, got {k}")
    out_dir = check_output_folder(out)
    sites = store.sites(with_crops=True)
    if len(sites) < k:
        raise InvalidParameterError(f"k = {k} clusters need at least {k} sites, the store has {len(sites)}")
    data = _site_set(store, sites)
    emb = embed_sites(store, model, sites, data=data)
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(emb)
    dist = np.linalg.norm(emb - km.cluster_centers_[km.labels_], axis=1)
    crops = np.stack(data.images)  # the same crops, as floats 0..1
    rows, titles, composition = [], [], []
    for c in range(k):
        members = np.flatnonzero(km.labels_ == c)
        near = members[np.argsort(dist[members])][:examples]
        labels = [sites[i]["label"] for i in members if sites[i]["label"]]
        comp = {lab: labels.count(lab) for lab in sorted(set(labels))}
        composition.append({"cluster": c, "n_sites": int(len(members)), "labels": comp})
        for j in range(examples):
            if j < len(near):
                rows.append(crops[near[j]])
                titles.append(f"c{c} n={len(members)}" if j == 0 else f"site {sites[near[j]]['id']}")
            else:
                rows.append(np.zeros_like(crops[0]))
                titles.append("")
    from microdl.analysis.plots import save
    from matplotlib.figure import Figure

    fig = Figure(figsize=(1.2 * examples, 1.3 * k), dpi=100)
    crops_grid(fig, np.stack(rows), titles, ncols=examples)
    save(fig, out_dir / "clusters.png")
    write_text(out_dir / "clusters.csv", "site,cluster,distance\n" + "".join(
        f"{s['id']},{int(c)},{d:.4f}\n" for s, c, d in zip(sites, km.labels_, dist, strict=True)))
    result = {"k": k, "n_sites": len(sites), "clusters": composition, "inertia": float(km.inertia_),
              "files": ["clusters.png", "clusters.csv", "clusters.json"]}
    write_json(out_dir / "clusters.json", result)
    return result


def probe_sites(store, model: str | os.PathLike, *, min_confidence: float = 0.5, run_id: str | None = None) -> dict:
    """Fit a linear probe (standardised logistic regression) on the labelled sites' embeddings; predict every
    site into the store."""
    from microdl.analysis.micrograph import linear_probe

    sites = store.sites(with_crops=True)
    labelled = [i for i, s in enumerate(sites) if s["label"] and s["label"] != "disputed"]
    classes = sorted({sites[i]["label"] for i in labelled})
    if len(classes) < 2:
        raise InvalidParameterError(f"the probe needs labelled sites of at least 2 classes, the store has {classes}")
    emb = embed_sites(store, model, sites)
    clf = linear_probe().fit(emb[labelled], [sites[i]["label"] for i in labelled])
    proba = clf.predict_proba(emb)
    names = list(clf.classes_)
    rows, counts = [], {}
    for s, p in zip(sites, proba, strict=True):
        j = int(p.argmax())
        lab = names[j] if p[j] >= min_confidence else "uncertain"
        counts[lab] = counts.get(lab, 0) + 1
        rows.append({"site_id": s["id"], "label": lab, "confidence": float(p[j]),
                     "probabilities": dict(zip(names, map(float, p), strict=True))})
    store.add_predictions(rows, model="ssl-probe", run_id=run_id)
    return {"n_sites": len(sites), "n_labelled": len(labelled), "classes": names, "counts": counts,
            "model": "ssl-probe"}
