"""Benchmark of issue 13: UHCS 3-class accuracy per objective, against a texture baseline; few-label curve.

Block-wise cross-validation (``microdl.workflows.micrograph.split``): fold ``f`` tests block ``f`` of
``--folds`` contiguous blocks per class; a quarter of the rest (contiguous too) is the validation set
of early stopping, the remaining images train. For every fold and objective (``siamese``, ``triplet``,
``supervised``, ``simclr``) one encoder is trained (resumable run folders in ``--work``); the test
micrographs are embedded (mean of 9 grid crops) and classified by an SVM and by a 5-NN vote fitted on
the embeddings of the train + validation images (their labels; for simclr the labels are used only
here, by the probe). Precision@5 is leave-one-out retrieval among the test micrographs. The baseline
is ``features.texture.texture_svm`` (LBP + Gabor + two-point statistics, RBF SVM) fitted on the same
train + validation images, at the same downscaling.

Few labels (``--few``): on fold 0, siamese and supervised train on ``n`` labelled images per class
(early stopping still watches the full validation block: the curve measures what training on ``n``
labels gives, not model selection with ``n`` labels);
simclr's fold-0 encoder (trained on every training image, unlabelled) is probed with the same ``n``;
the baseline too. No hyper-parameter was tuned: every setting is the preset default, fixed before the
test sets were looked at, and the test blocks are used once, for these tables.

Everything is resumable: finished cells are read back from ``--work/cells/*.json`` (each records its
settings; a cell made with other settings stops the run). ``--summarise`` rebuilds the tables from
whatever cells are finished, e.g. after a session ended in the middle of a fold.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/micrograph/bench_micrograph.py --folds 5 --fold-list 0 1 2 3 4
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
PAPER = {"Sardeshmukh et al. (Siamese)": 98.16, "DeCost et al. (VGG16 features + SVM)": 96.6}
"""3-class accuracies (%) reported in seed 004."""


SETTINGS: dict = {}
"""What every cell depends on (folds, crop, downsample, epochs, patience); set by main()."""


def _done(path: Path) -> dict | None:
    """A finished cell, refused if it was made with other settings (stale results are never mixed in)."""
    if not path.is_file():
        return None
    cell = json.loads(path.read_text())
    if cell.get("settings", SETTINGS) != SETTINGS:
        raise SystemExit(f"{path} was made with {cell['settings']}, not {SETTINGS}: use another --work")
    return cell


def _save(path: Path, result: dict) -> dict:
    from microdl.io._atomic import write_json

    write_json(path, {**result, "settings": SETTINGS})
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default=str(HERE.parents[2] / "shared" / "data" / "uhcs"))
    p.add_argument("--work", default="microdl-work/micrograph-bench")
    p.add_argument("--out", default=str(HERE))
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--fold-list", type=int, nargs="+", default=[0])
    p.add_argument("--objectives", nargs="+", default=["siamese", "triplet", "supervised", "simclr"])
    p.add_argument("--few", type=int, nargs="*", default=[])
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--patience", type=int, default=8)
    p.add_argument("--crop", type=int, default=96)
    p.add_argument("--downsample", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--summarise", action="store_true", help="only rebuild the tables and figures from the "
                                                            "finished cells (after an interrupted run)")
    args = p.parse_args(argv)
    if args.summarise:
        args.fold_list, args.few = [], []

    import torch

    from microdl.analysis.micrograph import classification_scores, classify_embeddings, embed_images
    from microdl.analysis.similarity import precision_at_k
    from microdl.data.micrographs import few_label_subset
    from microdl.features.texture import texture_svm
    from microdl.io._atomic import write_json, write_text
    from microdl.provenance import environment
    from microdl.workflows.micrograph import EMBED_CROPS, load_encoder, load_folder, split
    from microdl.workflows.micrograph import train as train_run

    torch.set_num_threads(args.threads)
    SETTINGS.update(folds=args.folds, crop=args.crop, downsample=args.downsample, epochs=args.epochs,
                    patience=args.patience)
    work = Path(args.work)
    (work / "cells").mkdir(parents=True, exist_ok=True)
    t_load = time.perf_counter()
    mset = load_folder(args.data, downsample=args.downsample)
    names = list(mset.class_names)
    print(f"{len(mset.files)} micrographs, classes {names}, loaded in {time.perf_counter() - t_load:.0f} s",
          file=sys.stderr)
    overrides = dict(crop=args.crop, max_epochs=args.epochs, patience=args.patience, num_threads=args.threads,
                     precision="bf16-mixed", accelerator="cpu", devices=1)

    def scores(model_path: str, ref_idx: np.ndarray, test_idx: np.ndarray) -> dict:
        net, extra = load_encoder(model_path)
        t0 = time.perf_counter()
        emb = embed_images(net, [mset.images[i] for i in np.r_[ref_idx, test_idx]], crop=args.crop,
                           n_crops=EMBED_CROPS)
        per_image = (time.perf_counter() - t0) / len(emb)
        ref, test = emb[: len(ref_idx)], emb[len(ref_idx):]
        out = {"embed_s_per_image": per_image,
               "precision_at_5": precision_at_k(test, mset.labels[test_idx], k=5)}
        for method in ("svm", "knn"):
            pred = classify_embeddings(ref, mset.labels[ref_idx], test, method=method)
            out[method] = classification_scores(mset.labels[test_idx], pred, names)
        return out

    def texture(ref_idx: np.ndarray, test_idx: np.ndarray) -> dict:
        t0 = time.perf_counter()
        clf = texture_svm().fit([mset.images[i] for i in ref_idx], mset.labels[ref_idx])
        pred = clf.predict([mset.images[i] for i in test_idx])
        return {"svm": classification_scores(mset.labels[test_idx], pred, names),
                "wall_time_s": time.perf_counter() - t0}

    def trained(run_dir: Path, obj: str, fold: int, n: int | None, ref: np.ndarray, te: np.ndarray) -> dict:
        from microdl.io._atomic import read_json

        res = train_run(args.data, run_dir, preset=obj, folds=args.folds, fold=fold, downsample=args.downsample,
                        n_per_class=n, overrides=overrides, progress=False)
        keep = ("wall_time_s", "epochs_completed", "best_val_loss", "stopped_early", "n_train", "n_val", "n_test")
        return {"fold": fold, "n": n, "objective": obj, **{k: res[k] for k in keep},
                "config": read_json(run_dir / "config.json"),
                **scores(res["model_path"], ref, te)}

    for fold in args.fold_list:
        tr, va, te = split(mset.labels, args.folds, fold, mset.files)
        ref = np.sort(np.r_[tr, va])
        path = work / "cells" / f"f{fold}_texture.json"
        if _done(path) is None:
            _save(path, {"fold": fold, **texture(ref, te)})
        for obj in args.objectives:
            path = work / "cells" / f"f{fold}_{obj}.json"
            cell = _done(path) or _save(path, trained(work / f"f{fold}_{obj}", obj, fold, None, ref, te))
            print(f"fold {fold} {obj}: svm {cell['svm']['accuracy']:.3f} knn {cell['knn']['accuracy']:.3f} "
                  f"({cell['wall_time_s']:.0f} s)", file=sys.stderr)

    for n in args.few:
        tr, va, te = split(mset.labels, args.folds, 0, mset.files)
        few = few_label_subset(mset.labels, tr, n, rng=0, class_names=names)  # train()'s draw: seed + 1000 * fold
        path = work / "cells" / f"few{n}_texture.json"
        if _done(path) is None:
            _save(path, {"n": n, **texture(few, te)})
        # triplet is left out: its P x K batches need more images per class than a few-label set has
        for obj in [o for o in ("siamese", "supervised") if o in args.objectives]:
            path = work / "cells" / f"few{n}_{obj}.json"
            if _done(path) is None:
                _save(path, trained(work / f"few{n}_{obj}", obj, 0, n, few, te))
        simclr = work / "f0_simclr" / "model.pt"
        path = work / "cells" / f"few{n}_simclr.json"
        if simclr.is_file() and _done(path) is None:  # the fold-0 encoder (no labels), probed with n per class
            _save(path, {"n": n, "objective": "simclr", **scores(str(simclr), few, te)})

    cells = {p.stem: json.loads(p.read_text()) for p in sorted((work / "cells").glob("*.json"))}
    for key, c in cells.items():
        run_config = (c.get("config") or {}).get("config") or {}  # the run record's training config
        if os.path.isabs(run_config.get("data") or ""):  # committed results name paths relative to the repository
            run_config["data"] = os.path.relpath(run_config["data"], HERE.parents[1])
        if "objective" in c and (work / key).is_dir():
            c["val_knn_acc_best"] = val_at_best(work / key)
    summary = _summarise(cells, args, names)
    summary["figures"] = _figures(summary, work, mset, Path(args.out), args.crop)
    summary["environment"] = environment()
    summary["command"] = "python benchmarks/micrograph/bench_micrograph.py " + " ".join(argv or sys.argv[1:])
    summary["load_average"] = list(os.getloadavg())
    out = Path(args.out)
    write_json(out / "results.json", {**summary, "cells": cells})
    write_text(out / "results.md", _markdown(summary))
    print(_markdown(summary))
    return 0


def _figures(summary: dict, work: Path, mset, out: Path, crop: int) -> list[str]:
    """PCA (and, with umap-learn, UMAP) maps of every micrograph in the fold-0 encoders' embeddings;
    the few-label curve. Existing figures are kept."""
    from microdl.analysis.micrograph import embed_images, embedding_pca_figure
    from microdl.analysis.plots import curves, figure, save
    from microdl.exceptions import InvalidParameterError
    from microdl.workflows.micrograph import EMBED_CROPS, load_encoder

    written = []
    for obj in summary["cv"]:
        model = work / f"f0_{obj}" / "model.pt"
        todo = [(m, out / f"{m}_{obj}.png") for m in ("pca", "umap")]
        written += [p.name for _, p in todo if p.is_file()]
        todo = [(m, p) for m, p in todo if not p.is_file()]
        if obj == "texture" or not model.is_file() or not todo:
            continue
        net, _ = load_encoder(str(model))
        emb = embed_images(net, mset.images, crop=crop, n_crops=EMBED_CROPS)
        for method, path in todo:
            try:  # UMAP only where the optional umap-learn is installed
                save(embedding_pca_figure(emb, mset.labels, mset.class_names, method=method,
                                          title=f"{obj} encoder (fold 0), all 402 micrographs"
                                                + (", UMAP" if method == "umap" else "")), path)
                written.append(path.name)
            except InvalidParameterError as exc:
                print(f"no {method} figure: {exc}", file=sys.stderr)
    if summary["few_labels"]:
        fig, ax = figure(size=(5.0, 4.0))
        items = sorted(summary["few_labels"].items())
        curves(ax, [sorted(v) for _, v in items], [[100 * v[n] for n in sorted(v)] for _, v in items],
               xlabel="labelled micrographs per class", ylabel="test accuracy (%), fold 0",
               labels=[k for k, _ in items], marker="o")
        ax.set_xscale("log")
        ns = sorted({n for _, v in items for n in v})
        ax.set_xticks(ns, [str(n) for n in ns])
        ax.minorticks_off()
        save(fig, out / "few_labels.png")
        written.append("few_labels.png")
    return written


def val_at_best(run_dir: Path) -> float | None:
    """Validation 1-NN accuracy at the epoch of the lowest ``val_loss`` (the exported checkpoint)."""
    import csv

    path = run_dir / "metrics.csv"
    if not path.is_file():
        return None
    rows = [r for r in csv.DictReader(path.open()) if r.get("val_loss") and r.get("val_knn_acc")]
    return float(min(rows, key=lambda r: float(r["val_loss"]))["val_knn_acc"]) if rows else None


def _summarise(cells: dict, args, names: list[str]) -> dict:
    table = {}
    for key, c in cells.items():
        if re.match(r"f\d+_", key):
            obj = key.split("_", 1)[1]
            row = table.setdefault(obj, {"folds": [], "svm": [], "knn": [], "p5": [], "time": [], "val": []})
            row["folds"].append(c["fold"])
            row["svm"].append(c["svm"]["accuracy"])
            row["knn"].append(c["knn"]["accuracy"] if "knn" in c else None)
            row["p5"].append(c.get("precision_at_5"))
            row["time"].append(c.get("wall_time_s"))
            row["val"].append(c.get("val_knn_acc_best"))
    few = {}
    for key, c in cells.items():
        if key.startswith("few"):
            few.setdefault(key.split("_", 1)[1], {})[int(c["n"])] = c["svm"]["accuracy"]
    return {"paper": PAPER, "folds": args.folds, "downsample": args.downsample, "crop": args.crop,
            "classes": names, "cv": table, "few_labels": few}


def _fmt(vals: list) -> str:
    v = [x for x in vals if x is not None]
    if not v:
        return "-"
    return f"{100 * np.mean(v):.1f} ± {100 * np.std(v):.1f}" if len(v) > 1 else f"{100 * v[0]:.1f}"


def _markdown(s: dict) -> str:
    lines = ["# UHCS micrographs, 3 classes: block-wise cross-validation (issue 13)", "",
             f"Command: `{s.get('command', '')}`", "",
             f"Classes {', '.join(s['classes'])}; images area-downscaled x{s['downsample']}, crops "
             f"{s['crop']} px; {s['folds']} contiguous blocks per class, one tested per fold. Accuracy (%) on the "
             "test blocks, mean ± sd over the folds done (the `folds` column).", "",
             "| method | folds | SVM on embedding | 5-NN on embedding | precision@5 | val 1-NN (best epoch) | "
             "train time (s) |", "|---|---|---|---|---|---|---|"]
    for obj, r in sorted(s["cv"].items()):
        if obj == "texture":
            lines.append(f"| texture baseline (LBP + Gabor + two-point, SVM) | {len(r['folds'])} | "
                         f"{_fmt(r['svm'])} | - | - | - | {np.mean([t for t in r['time'] if t]):.0f} |")
            continue
        lines.append(f"| {obj} | {len(r['folds'])} | {_fmt(r['svm'])} | {_fmt(r['knn'])} | "
                     f"{np.mean([x for x in r['p5'] if x is not None]):.3f} | {_fmt(r['val'])} | "
                     f"{np.mean([t for t in r['time'] if t]):.0f} |")
    lines += ["", "Published (seed 004, their own splits, not block-wise): "
              + "; ".join(f"{k} {v} %" for k, v in s["paper"].items())
              + ". DeCost's ImageNet-VGG features cannot be reproduced here: no pretrained weights can be "
                "downloaded.", ""]
    folds = sorted({f for r in s["cv"].values() for f in r["folds"]})
    lines += ["## Per fold (the same test blocks for every method): SVM accuracy (%)", "",
              "| method | " + " | ".join(f"fold {f}" for f in folds) + " |", "|---" * (len(folds) + 1) + "|"]
    for obj, r in sorted(s["cv"].items()):
        acc = dict(zip(r["folds"], r["svm"], strict=True))
        lines.append(f"| {obj} | " + " | ".join(f"{100 * acc[f]:.1f}" if f in acc else "-" for f in folds) + " |")
    lines.append("")
    if s["few_labels"]:
        ns = sorted({n for v in s["few_labels"].values() for n in v})
        lines += ["## Few labels (fold 0): SVM accuracy (%) with n labelled images per class", "",
                  "| method | " + " | ".join(f"n = {n}" for n in ns) + " |", "|---" * (len(ns) + 1) + "|"]
        for obj, v in sorted(s["few_labels"].items()):
            lines.append(f"| {obj} | " + " | ".join(f"{100 * v[n]:.1f}" if n in v else "-" for n in ns) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
