"""Benchmark of issue 10: prior deformation from DDD strain profiles, against the paper and the baseline.

Steps (each resumable: a rerun skips what is done, training resumes from its last checkpoint):

1. train the paper's three networks (``yang2020-resnet``, ``-res4``, ``-res4-l2``) on the train side of a
   ``microdl ddd export`` folder, early stopping on its validation side;
2. the validation table (models, ensemble, two-point baseline): the only table used to choose anything
   (here: the best single model for steps 4-5);
3. the test table, once: ``results.{json,md}`` and ``accuracy.png`` in ``--out``;
4. reload stress-strain curves of the test profiles from feature-space neighbours (k = 1, 5, 10) against
   the label-only baselines: ``curves/``;
5. transfer to the 10 published profiles (``../shared/data/ddd-strain-profiles``): the best model's
   predictions beside the published Keras model's;
6. optionally (``--deformed DIR``, an export made with ``--rendering deformed``) the same training of
   ``yang2020-resnet`` on deformed-configuration images, whose size gives the 10 % label away: what the
   published images' shortcut is worth.

Everything is written to ``--out`` with the command, config, timings and machine (``summary.{json,md}``).

Example::

    python benchmarks/strain/bench_strain.py --data benchmarks/ddd/cpu-v2 --work microdl-work/strain-bench \
        --crop 64 --epochs 60 --out benchmarks/strain
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

PAPER = {"two-point + PCA + random forest": 68.24, "yang2020-resnet": 92.48, "yang2020-resnet-res4-l2": 91.58,
         "yang2020-resnet-res4": 90.01, "ensemble (mean softmax)": 93.94}
"""Test accuracies (%) of Yang et al. (2020), Table 1 and text."""


def _done(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.is_file() else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="benchmarks/ddd/cpu-v2", help="microdl ddd export folder")
    p.add_argument("--work", default="microdl-work/strain-bench", help="run folders and intermediate results")
    p.add_argument("--out", default="benchmarks/strain", help="where the tables and figures go")
    p.add_argument("--crop", type=int, default=64)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--patience", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=72)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--precision", default="32-true", help="32-true or bf16-mixed (train_throughput.md)")
    p.add_argument("--mode", default="mean", choices=("mean", "full"))
    p.add_argument("--models", nargs="+", default=["yang2020-resnet", "yang2020-resnet-res4", "yang2020-resnet-res4-l2"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--deformed", default=None, help="export made with --rendering deformed (step 6)")
    p.add_argument("--published", default="../shared/data/ddd-strain-profiles")
    p.add_argument("--stop-after", choices=("train", "val"), default=None, help="stop after this step")
    args = p.parse_args(argv)

    from microdl.provenance import environment
    from microdl.train.tasks.strain import StrainTrainConfig
    from microdl.workflows.strain_analysis import predict_curves
    from microdl.workflows.strain_predict import import_keras
    from microdl.workflows.strain_train import evaluate_strain, train_strain

    work, out = Path(args.work), Path(args.out)
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.perf_counter()
    summary: dict = {"command": " ".join([Path(sys.argv[0]).as_posix(), *(argv or sys.argv[1:])]),
                     "args": vars(args), "environment": environment(), "steps": {}}

    def cfg(model: str) -> StrainTrainConfig:
        return StrainTrainConfig(model=model, crop=args.crop, max_epochs=args.epochs, patience=args.patience,
                                 batch_size=args.batch_size, seed=args.seed, num_threads=args.threads,
                                 precision=args.precision)

    # 1. training
    runs = {}
    for model in args.models:
        run = work / "runs" / model
        t0 = time.perf_counter()
        res = train_strain(args.data, run, cfg(model), mode=args.mode)
        runs[model] = run
        summary["steps"][f"train {model}"] = {
            "seconds_this_session": time.perf_counter() - t0, "epochs": res["epochs_completed"],
            "best_val_loss": res["best_val_loss"], "stopped_early": res["stopped_early"],
            "train_profiles": res["train_profiles"], "val_profiles": res["val_profiles"],
            "crops_per_second": res["train_crops"] * res["epochs_completed"] / max(res["wall_time_s"], 1e-9)
            if not res["resumed_from"] else None}
    if args.stop_after == "train":
        return _finish(summary, out, t_all)

    # 2. validation table (model choice)
    val = _done(work / "val" / "results.json") or evaluate_strain(list(runs.values()), args.data, side="val",
                                                                 out=work / "val")
    singles = {k: v for k, v in val["reports"].items() if k.split(" (")[0] in runs}
    best_name = max(singles, key=lambda k: singles[k]["accuracy"])
    best = runs[best_name.split(" (")[0]]
    summary["steps"]["val"] = {name: r["accuracy"] for name, r in val["reports"].items()}
    summary["best_single_model_by_val"] = best_name
    if args.stop_after == "val":
        return _finish(summary, out, t_all)

    # 3. test table, once
    test = _done(out / "results.json") or evaluate_strain(list(runs.values()), args.data, side="test", out=out)
    summary["steps"]["test"] = {name: {"accuracy": r["accuracy"], "n": r["n"],
                                       "per_width": {w: v["accuracy"] for w, v in r["per_width"].items()},
                                       "paper": PAPER.get(name.split(" (")[0])}
                                for name, r in test["reports"].items()}

    # 4. curves
    curves = _done(out / "curves" / "curves.json") or predict_curves(best, args.data, side="test",
                                                                     out=out / "curves")
    summary["steps"]["curves"] = curves["summary"]

    # 5. transfer to the published profiles (their own simulator), beside the published model
    pub = Path(args.published)
    if (pub / "labels.csv").is_file():
        published_model = work / "published-model"
        if not (published_model / "model.pt").is_file():
            import_keras(pub / "published_weights_keras.hdf5", published_model)
        transfer = _done(out / "published" / "results.json") or evaluate_strain(
            [best, published_model], pub / "labels.csv", side="all", baseline=False, ensemble=False,
            out=out / "published")
        summary["steps"]["published_profiles"] = {name: r["accuracy"] for name, r in transfer["reports"].items()}

    # 6. the deformed-configuration shortcut
    if args.deformed:
        run = work / "runs-deformed" / args.models[0]
        train_strain(args.deformed, run, cfg(args.models[0]), mode=args.mode)
        d_test = _done(out / "deformed" / "results.json") or evaluate_strain([run], args.deformed, side="test",
                                                                            out=out / "deformed")
        summary["steps"]["deformed"] = {name: r["accuracy"] for name, r in d_test["reports"].items()}
    return _finish(summary, out, t_all)


def _finish(summary: dict, out: Path, t0: float) -> int:
    from microdl.io._atomic import write_json

    summary["seconds_this_session"] = time.perf_counter() - t0
    write_json(out / "summary.json", summary)
    print(json.dumps({k: v for k, v in summary.items() if k != "environment"}, indent=1, default=str)[:4000])
    return 0


if __name__ == "__main__":
    os.environ.setdefault("MPLBACKEND", "Agg")
    raise SystemExit(main())
