"""Diagnostic of issue 10: is the unstable validation accuracy a batch-norm running-statistics lag?

The Yang et al. ResNet uses Keras' batch-norm momentum (0.99, torch 0.01): its running
statistics average over about 100 steps. The paper had about 1,200 steps per epoch; our
150-simulation export gives about 50, so the statistics used at evaluation may lag the weights
by two epochs. This script takes each trained run's exported model (best validation loss),
scores the VALIDATION profiles as they are, then again after recomputing every batch-norm's
statistics as the exact average over all training crops (train-mode passes, no weight change).
It never touches the test side.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/strain/bn_recalibration.py --data benchmarks/ddd/cpu-v3 \\
        --runs microdl-work/strain-bench-v3/runs/yang2020-resnet microdl-work/strain-bench-v3/runs/yang2020-resnet-res4-l2
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import numpy as np
import torch


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--runs", nargs="+", required=True)
    ap.add_argument("--out", default="benchmarks/strain/bn_recalibration.json")
    args = ap.parse_args(argv)

    from microdl.analysis.strain_eval import profile_probabilities
    from microdl.data.strain_crops import strain_crops
    from microdl.models.registry import load_model
    from microdl.workflows.strain_train import load_strain_sides

    torch.set_num_threads(1)
    sides = load_strain_sides(args.data, mode="mean", sides=("train", "val"))
    results = {"data": args.data, "n_train": len(sides["train"]), "n_val": len(sides["val"]), "runs": {}}
    for run in args.runs:
        net, extra = load_model(Path(run) / "model.pt", device="cpu")
        crop = int(extra.get("crop", 64))
        kw = dict(crop=crop, antialias=bool(extra.get("antialias", False)), round_uint8=True)
        val_y = np.asarray(sides["val"].labels)
        before = profile_probabilities(net, sides["val"], **kw).argmax(1)
        recal = copy.deepcopy(net)
        for m in recal.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
                m.momentum = None  # cumulative average over every batch seen
        recal.train()
        with torch.no_grad():
            images = sides["train"].images
            for s in range(0, len(images), 3):  # 3 profiles = 72 crops, the training batch size
                x = torch.cat([strain_crops(im, **kw) for im in images[s:s + 3]])
                recal(x)
        after = profile_probabilities(recal, sides["val"], **kw).argmax(1)
        results["runs"][Path(run).name] = {"val_acc_as_trained": float((before == val_y).mean()),
                                           "val_acc_bn_recalibrated": float((after == val_y).mean()),
                                           "n_val": int(len(val_y))}
        print(Path(run).name, results["runs"][Path(run).name], file=sys.stderr)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
