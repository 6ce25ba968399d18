"""Ship the micrograph encoder of the benchmark inside the package, chosen on validation data only.

Run after ``bench_micrograph.py`` has trained fold 0 of the objectives:

    .venv/bin/python benchmarks/micrograph/export_pretrained.py [--work microdl-work/micrograph-bench]

The fold-0 encoder whose validation 1-NN accuracy (``val_knn_acc`` of its training log at the exported,
lowest-``val_loss`` epoch: the validation block, never the test block) is highest becomes ``src/microdl/pretrained/micrograph-uhcs.pt``
(ties: the lower validation loss of its objective is not comparable across objectives, so the
order siamese, triplet, supervised, simclr decides). Its reference embeddings are the training
and validation micrographs of fold 0, so its test block (81 micrographs) stays unseen; the JSON
record beside it carries that block's accuracy from the benchmark cell (measured once, there).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ORDER = ("siamese", "triplet", "supervised", "simclr")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--work", default="microdl-work/micrograph-bench")
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

    val = {o: val_at_best(work / f"f0_{o}") for o in cells}
    best = max(cells, key=lambda o: (val[o] or 0.0, -ORDER.index(o)))
    cell = cells[best]
    dest = PRETRAINED_DIR / SHIPPED.get("micrograph-uhcs")
    shutil.copyfile(work / f"f0_{best}" / "model.pt", dest)
    record = {
        "name": "micrograph-uhcs",
        "objective": best,
        "selection": "highest validation 1-NN accuracy (at the exported, lowest-val-loss epoch) of the fold-0 "
                     "encoders (validation block only): " + ", ".join(f"{o} {v}" for o, v in val.items()),
        "data": "UHCS 3-class subset (402 micrographs: network, pearlite, spheroidite), ../shared/data/uhcs",
        "split": "fold 0 of 5 contiguous blocks per class (test: 81 micrographs never seen in training, selection "
                 "or the reference set)",
        "train_config": cell.get("config"),
        "command": "python benchmarks/micrograph/bench_micrograph.py --folds 5 --fold-list 0; "
                   "python benchmarks/micrograph/export_pretrained.py",
        "test_metrics_fold0": {"svm_accuracy": cell["svm"]["accuracy"], "knn_accuracy": cell["knn"]["accuracy"],
                               "precision_at_5": cell.get("precision_at_5"), "confusion_svm": cell["svm"]["confusion"],
                               "class_names": cell["svm"]["class_names"]},
    }
    write_json(PRETRAINED_DIR / SHIPPED.metadata("micrograph-uhcs")["info"], record)
    print(f"shipped the fold-0 {best} encoder as {dest} ({dest.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
