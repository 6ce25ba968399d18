"""Ship the micrograph encoder of the benchmark inside the package, chosen on validation data only.

Run after ``bench_micrograph.py`` has trained fold 0 of the objectives:

    .venv/bin/python benchmarks/micrograph/export_pretrained.py [--work microdl-work/micrograph-bench]

The fold-0 encoder whose embeddings best classify the validation block (an SVM fitted on the embeddings
of its training images, the way ``microdl micrograph evaluate`` uses the model; the test block is never
looked at) becomes ``src/microdl/pretrained/micrograph-uhcs.pt``; ties go to the higher validation 1-NN
accuracy of its training log, then to the order siamese, triplet, supervised, simclr. Its reference
embeddings are the training and validation micrographs of fold 0, so its test block (81 micrographs)
stays unseen; the JSON record beside it carries that block's accuracy from the benchmark cell
(measured once, there).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ORDER = ("siamese", "triplet", "supervised", "simclr")


def val_svm_accuracy(run_dir: Path, data: str) -> float:
    """Accuracy on the run's validation images of an SVM fitted on its training images' embeddings."""
    import numpy as np

    from microdl.analysis.micrograph import classify_embeddings, embed_images
    from microdl.workflows.micrograph import EMBED_CROPS, load_encoder, load_folder

    split = json.loads((run_dir / "split.json").read_text())
    net, extra = load_encoder(str(run_dir / "model.pt"))
    mset = load_folder(data, downsample=int(extra["downsample"]))
    pos = {f: i for i, f in enumerate(mset.files)}
    tr, va = [pos[f] for f in split["labelled"]], [pos[f] for f in split["val"]]
    emb = embed_images(net, [mset.images[i] for i in tr + va], crop=int(extra["crop"]), n_crops=EMBED_CROPS)
    pred = classify_embeddings(emb[: len(tr)], mset.labels[tr], emb[len(tr):])
    return float(np.mean(pred == mset.labels[va]))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", default="microdl-work/micrograph-bench")
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data" / "uhcs"))
    args = p.parse_args(argv)

    from microdl.io._atomic import write_json
    from microdl.models.pretrained import PRETRAINED_DIR, SHIPPED

    work = Path(args.work)
    cells = {o: json.loads((work / "cells" / f"f0_{o}.json").read_text()) for o in ORDER
             if (work / "cells" / f"f0_{o}.json").is_file()}
    if not cells:
        print(f"no fold-0 cells in {work / 'cells'}; run bench_micrograph.py first", file=sys.stderr)
        return 2
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_micrograph import val_at_best

    val = {o: val_svm_accuracy(work / f"f0_{o}", args.data) for o in cells}
    knn = {o: val_at_best(work / f"f0_{o}") for o in cells}
    best = max(cells, key=lambda o: (val[o], knn[o] or 0.0, -ORDER.index(o)))
    cell = cells[best]
    dest = PRETRAINED_DIR / SHIPPED.get("micrograph-uhcs")
    shutil.copyfile(work / f"f0_{best}" / "model.pt", dest)
    record = {
        "name": "micrograph-uhcs",
        "objective": best,
        "selection": "highest validation accuracy of an SVM fitted on the training images' embeddings (the use "
                     "'evaluate' makes of the model), then validation 1-NN, of the fold-0 encoders: "
                     + ", ".join(f"{o} {val[o]:.4f} / {knn[o]}" for o in cells),
        "data": "UHCS 3-class subset (402 micrographs: network, pearlite, spheroidite), ../shared/data/uhcs",
        "split": "fold 0 of 5 contiguous blocks per class (test: 81 micrographs never seen in training, selection "
                 "or the reference set)",
        "train_config": cell.get("config"),
        "command": "python benchmarks/micrograph/bench_micrograph.py --folds 5 --fold-list 0; "
                   "python benchmarks/micrograph/export_pretrained.py",
        "test_metrics": {"accuracy": cell["svm"]["accuracy"], "n": cell["svm"]["n"],
                         "what": "SVM on the embedding, fold-0 test block (81 UHCS micrographs never seen)"},
        "test_metrics_fold0": {"svm_accuracy": cell["svm"]["accuracy"], "knn_accuracy": cell["knn"]["accuracy"],
                               "precision_at_5": cell.get("precision_at_5"), "confusion_svm": cell["svm"]["confusion"],
                               "class_names": cell["svm"]["class_names"]},
    }
    write_json(PRETRAINED_DIR / SHIPPED.metadata("micrograph-uhcs")["info"], record)
    print(f"shipped the fold-0 {best} encoder as {dest} ({dest.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
