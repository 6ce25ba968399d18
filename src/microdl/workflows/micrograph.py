"""Micrograph representations end to end: train, embed, evaluate, find similar (``microdl micrograph``).

* :func:`load_folder`: a labelled or unlabelled folder (:func:`~microdl.data.micrographs.load_micrograph_folder`),
  area-downscaled by an integer factor (default 2: a 645 x 475 UHCS micrograph becomes
  322 x 237, and a 96 px crop then covers 192 native pixels);
* :func:`split`: test fold ``fold`` of ``folds`` contiguous blocks per class, and a
  validation block cut from the training side the same way;
* :func:`train`: one objective (:data:`~microdl.train.tasks.micrograph.PRESETS`) on that
  split, then the reference embeddings of the training side are stored in ``model.pt``, so
  that :func:`evaluate` can classify any new folder without retraining;
* :func:`embed` writes a :class:`~microdl.analysis.similarity.SimilarityIndex` folder;
  :func:`similar` queries it with a new micrograph; :func:`evaluate` scores a labelled folder.

A model is a ``model.pt`` path, a run folder or the name of a shipped model
(:data:`~microdl.models.pretrained.SHIPPED`, default ``micrograph-uhcs``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from microdl.exceptions import DataFileError, InvalidParameterError, ShapeError

__all__ = ["DEFAULT_MODEL", "DEFAULT_DOWNSAMPLE", "load_folder", "split", "train", "attach_reference",
           "load_encoder", "embed", "evaluate", "similar"]

DEFAULT_MODEL = "micrograph-uhcs"
DEFAULT_DOWNSAMPLE = 2
EMBED_CROPS = 9
"""Grid crops per micrograph when embedding (3 x 3 covers a whole UHCS image at crop 96, factor 2)."""
INDEX_INFO = "embedding.json"


def load_folder(folder: str | os.PathLike, *, downsample: int = DEFAULT_DOWNSAMPLE,
                scale_bar: int | str | None = None, labels_csv: str | None = "labels.csv") -> Any:
    """A :class:`~microdl.data.micrographs.MicrographSet` with every image downscaled by ``downsample``."""
    from dataclasses import replace

    from microdl.data.micrograph_aug import downscale
    from microdl.data.micrographs import load_micrograph_folder

    mset = load_micrograph_folder(folder, labels_csv=labels_csv, scale_bar=scale_bar)
    if downsample == 1:
        return mset
    return replace(mset, images=[downscale(im, downsample) for im in mset.images])


def split(labels: np.ndarray, folds: int = 5, fold: int = 0,
          files: list[str] | tuple[str, ...] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(train, val, test)`` image indices: test block ``fold`` of ``folds``; val a quarter of the rest.

    Both cuts are contiguous blocks per class in file order
    (:func:`~microdl.data.micrographs.block_folds`; ``files`` sets the order, naturally sorted, else
    the index order), so no specimen straddles them.
    """
    from microdl.data.micrographs import block_folds

    if isinstance(fold, bool) or not isinstance(fold, (int, np.integer)) or not 0 <= fold < folds:
        raise InvalidParameterError(f"fold must be an integer in [0, {folds - 1}], got {fold!r}")
    order = None if files is None else list(files)
    side, test = block_folds(labels, folds, order=order)[fold]
    inner_train, inner_val = block_folds(np.asarray(labels)[side], 4,
                                         order=None if order is None else [order[i] for i in side])[0]  # a quarter of the rest validates
    return side[inner_train], side[inner_val], test


def load_encoder(model: str | os.PathLike = DEFAULT_MODEL, device: str | None = None) -> tuple[Any, dict]:
    """The encoder and its metadata (``crop``, ``downsample``, ``class_names``, ``reference``...)."""
    from microdl.models.pretrained import resolve_model_path
    from microdl.models.registry import load_model

    net, extra = load_model(resolve_model_path(model), device=device)
    if not hasattr(net, "embedding_dim") or "crop" not in extra or "downsample" not in extra:
        raise InvalidParameterError(f"model {os.fspath(model)!r} is not a micrograph encoder of "
                                    "'microdl micrograph train' (no embedding head, crop or downsample)")
    return net, extra


def attach_reference(model_path: str | os.PathLike, mset: Any, index: np.ndarray, **updates: Any) -> dict[str, Any]:
    """Store the embeddings of ``mset.images[index]`` (labels, files) and ``updates`` in ``model.pt``'s metadata."""
    import torch

    from microdl.analysis.micrograph import embed_images
    from microdl.models.registry import save_model

    net, extra = load_encoder(model_path)
    emb = embed_images(net, [mset.images[i] for i in index], crop=int(extra["crop"]), n_crops=EMBED_CROPS)
    extra.update(updates)
    extra["reference"] = {"embeddings": torch.from_numpy(emb.astype(np.float32)),
                          "labels": [int(mset.labels[i]) for i in index],
                          "files": [mset.files[i] for i in index]}
    save_model(net, model_path, extra=extra)
    return extra


def train(data_dir: str | os.PathLike, run_dir: str | os.PathLike, *, preset: str = "siamese", folds: int = 5,
          fold: int = 0, downsample: int = DEFAULT_DOWNSAMPLE, n_per_class: int | None = None,
          scale_bar: int | str | None = None, overrides: dict[str, Any] | None = None, progress: bool = True,
          catalog: Any = None) -> dict[str, Any]:
    """Train preset ``preset`` on fold ``fold`` of a labelled folder; ``model.pt`` carries its reference set.

    ``n_per_class`` trains on that many labelled images per class of the training side
    (the few-label curve); ``simclr`` still sees every training image, unlabelled, and its
    reference set holds only the ``n_per_class`` labelled ones. Returns the fit result with
    ``split`` (file lists) and ``n_train`` / ``n_val`` / ``n_test``.
    """
    from microdl.data.micrographs import few_label_subset
    from microdl.io._atomic import write_json
    from microdl.train.tasks.micrograph import fit_micrograph, preset_config

    config = preset_config(preset, **dict(overrides or {}))
    mset = load_folder(data_dir, downsample=downsample, scale_bar=scale_bar)
    if mset.labels is None or len(mset.class_names) < 2:
        raise InvalidParameterError(f"training needs a labelled folder with >= 2 classes; {os.fspath(data_dir)!r} "
                                    f"has {len(mset.class_names)} (add a labels.csv)")
    tr, va, te = split(mset.labels, folds, fold, mset.files)
    labelled = tr
    if n_per_class is not None:
        labelled = few_label_subset(mset.labels, tr, n_per_class, rng=config.seed + 1000 * fold,
                                    class_names=mset.class_names)
    fit_train = tr if config.objective == "simclr" else labelled
    run = Path(run_dir)
    info = {"data": os.path.abspath(data_dir), "folds": folds, "fold": fold, "downsample": downsample,
            "n_per_class": n_per_class, "preset": preset}
    res = fit_micrograph(config, mset, fit_train, va, run, scale_bar=scale_bar, run_info=info, progress=progress,
                         catalog=catalog)
    reference = labelled if n_per_class is not None else np.sort(np.r_[labelled, va])
    attach_reference(res["model_path"], mset, reference)
    sides = {"train": fit_train, "labelled": labelled, "val": va, "test": te}
    write_json(run / "split.json", {k: [mset.files[i] for i in v] for k, v in sides.items()})
    return {**res, "split": str(run / "split.json"), "n_train": int(len(fit_train)),
            "n_labelled": int(len(labelled)), "n_val": int(len(va)), "n_test": int(len(te))}


def _embed_set(mset: Any, net: Any, extra: dict, progress: bool) -> np.ndarray:
    from microdl.analysis.micrograph import embed_images

    crop = int(extra["crop"])
    small = [f for f, im in zip(mset.files, mset.images, strict=True) if min(im.shape) < crop]
    if small:
        raise ShapeError(f"{len(small)} image(s) are smaller than the model's crop of {crop} px after "
                         f"downscaling by {extra['downsample']}, e.g. {small[0]!r}")
    return embed_images(net, mset.images, crop=crop, n_crops=EMBED_CROPS, progress=progress)


def embed(data_dir: str | os.PathLike, out_dir: str | os.PathLike, *, model: str | os.PathLike = DEFAULT_MODEL,
          progress: bool = True) -> dict[str, Any]:
    """Embed every micrograph of a folder and write a similarity index to ``out_dir``."""
    from microdl.analysis.similarity import SimilarityIndex
    from microdl.io._atomic import write_json

    net, extra = load_encoder(model)
    mset = load_folder(data_dir, downsample=int(extra["downsample"]), scale_bar=extra.get("scale_bar"))
    emb = _embed_set(mset, net, extra, progress)
    labels = None if mset.labels is None else [mset.class_names[c] for c in mset.labels]
    root = Path(mset.root)
    index = SimilarityIndex.build(emb, [str(root / f) for f in mset.files], labels=labels, metric="cosine")
    out = index.save(out_dir, root=root)
    from microdl.models.pretrained import SHIPPED

    name = os.fspath(model) if os.fspath(model) in SHIPPED else os.path.abspath(model)
    info = {"model": name, "root": os.fspath(root.resolve()), "crop": extra["crop"],
            "downsample": extra["downsample"], "n_images": len(mset.files),
            "skipped": [list(s) for s in mset.skipped]}
    write_json(Path(out_dir) / INDEX_INFO, info)
    return {"index": os.fspath(out), **info}


def evaluate(data_dir: str | os.PathLike, *, model: str | os.PathLike = DEFAULT_MODEL, method: str = "svm",
             k: int = 5, out_dir: str | os.PathLike | None = None, progress: bool = True) -> dict[str, Any]:
    """Classify a labelled folder with the model's reference set; accuracy, confusion, precision@k.

    The classes of the folder must be among the model's (matched by name). With
    ``out_dir``: ``confusion.png``, ``embedding_pca.png`` and ``evaluation.json``.
    """
    from microdl.analysis.micrograph import classification_scores, classify_embeddings, embedding_pca_figure
    from microdl.analysis.plots import confusion_matrix, figure, save
    from microdl.analysis.similarity import precision_at_k
    from microdl.io._atomic import write_json

    net, extra = load_encoder(model)
    ref = extra.get("reference")
    if not ref:
        raise DataFileError(f"model {os.fspath(model)!r} has no reference embeddings to classify with")
    names = list(extra["class_names"])
    mset = load_folder(data_dir, downsample=int(extra["downsample"]), scale_bar=extra.get("scale_bar"))
    if mset.labels is None:
        raise InvalidParameterError(f"evaluate needs a labelled folder (labels.csv); {os.fspath(data_dir)!r} has none")
    unknown = sorted(set(mset.class_names) - set(names))
    if unknown:
        raise InvalidParameterError(f"the folder's classes {unknown} are not among the model's {names}")
    y = np.array([names.index(mset.class_names[c]) for c in mset.labels])
    same = set(mset.files) & set(ref.get("files") or [])
    if same:
        import warnings

        warnings.warn(f"{len(same)} of the {len(mset.files)} micrographs share file names with the model's "
                      "reference (training) images; if they are the same images, the accuracy is optimistic",
                      UserWarning, stacklevel=2)
    emb = _embed_set(mset, net, extra, progress)
    ref_emb = np.asarray(ref["embeddings"], dtype=np.float64)
    pred = classify_embeddings(ref_emb, np.asarray(ref["labels"]), emb, method=method, k=k)
    result = {"model": os.fspath(model), "data": os.fspath(data_dir), "method": method,
              **classification_scores(y, pred, names),
              f"precision_at_{k}": precision_at_k(emb, y, k=min(k, len(y) - 1)) if len(y) > 1 else None,
              "skipped": [list(s) for s in mset.skipped]}
    if out_dir is not None:
        out = Path(out_dir)
        fig, ax = figure(size=(4.5, 4.0))
        confusion_matrix(ax, result["confusion"], class_names=names, title=f"accuracy {100 * result['accuracy']:.1f} %")
        save(fig, out / "confusion.png")
        if len(emb) >= 3:
            save(embedding_pca_figure(emb, y, names), out / "embedding_pca.png")
        write_json(out / "evaluation.json", result)
        result["figures"] = [str(out / "confusion.png"), str(out / "embedding_pca.png")]
    return result


def similar(index_dir: str | os.PathLike, query: str | os.PathLike, *, k: int = 5,
            model: str | os.PathLike | None = None, figure_path: str | os.PathLike | None = None) -> dict[str, Any]:
    """The ``k`` micrographs of an index most similar to ``query`` (cosine distance), with a figure."""
    from microdl.analysis.micrograph import embed_images
    from microdl.analysis.similarity import SimilarityIndex, neighbours_figure
    from microdl.data.micrograph_aug import downscale
    from microdl.data.micrographs import crop_scale_bar, to_unit_float
    from microdl.io._atomic import read_json
    from microdl.io.images import read_gray_image

    folder = Path(index_dir)
    info = read_json(folder / INDEX_INFO, what="micrograph index description")
    index = SimilarityIndex.load(folder, root=info["root"])
    model = model if model is not None else info["model"]
    net, extra = load_encoder(model)
    if int(extra["crop"]) != int(info["crop"]) or int(extra["downsample"]) != int(info["downsample"]):
        raise InvalidParameterError(f"model {os.fspath(model)!r} does not match the index (crop/downsample "
                                    f"{extra['crop']}/{extra.get('downsample', 1)} vs {info['crop']}/"
                                    f"{info['downsample']}); embed the folder again with this model")
    ds = int(info["downsample"])
    image = to_unit_float(read_gray_image(query), os.fspath(query))
    if extra.get("scale_bar") is not None:
        image = crop_scale_bar(image, extra["scale_bar"])
    image = downscale(image, ds)
    z = embed_images(net, [image], crop=int(info["crop"]), n_crops=EMBED_CROPS)
    dist, idx = index.query(z, k=min(int(k), len(index)))
    names = [index.names[i] for i in idx[0]]
    hits = [{"file": n, "distance": float(d), "label": None if index.labels is None else str(index.labels[i])}
            for n, d, i in zip(names, dist[0], idx[0], strict=True)]
    result = {"query": os.fspath(query), "index": os.fspath(folder), "metric": "cosine distance",
              "neighbours": hits}
    if figure_path is not None:
        from microdl.analysis.plots import save

        imgs = [read_gray_image(n) for n in names]
        fig = neighbours_figure(read_gray_image(query), imgs, dist[0], names, query_name=Path(query).name,
                                metric="cosine distance")
        result["figure"] = str(save(fig, figure_path))
    return result
