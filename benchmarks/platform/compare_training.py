"""Same seed, same numbers: train one GND configuration with the code of another checkout and with this one.

Used for issue 8 (the platform restructure) to show that the generic runner trains exactly as the
old ``train/gnd.py`` did. Make the other checkout with ``git worktree add /tmp/base 4e697d1`` (the last
commit before the restructure), then run, from the repository root::

    .venv/bin/python benchmarks/platform/compare_training.py --old-src /tmp/base/src \\
        --train TRAIN.h5 --val VAL.h5 --limit 20000 --epochs 2

Each side runs in its own process and prints best validation loss, epochs and a SHA-256 of the
exported weights; the two lines must agree. Measured on 2 cores, no GPU: identical at 200 windows
per class (2 epochs), 3,000 windows (3 epochs) and the cpu preset's 20,000 windows (2 epochs).
"""

from __future__ import annotations

import argparse
import subprocess
import sys

_CHILD = r'''
import hashlib, os, shutil, sys
old_src, train, val, limit, epochs, out, ratio, reg, model = sys.argv[1:10]
if old_src:
    sys.path.insert(0, old_src)
    from microdl.train.gnd import GNDTrainConfig, fit_gnd
else:
    from microdl.train.tasks.gnd import GNDTrainConfig, fit_gnd
import torch
os.environ["MICRODL_CATALOG"] = out + ".sqlite"
shutil.rmtree(out, ignore_errors=True)
cfg = GNDTrainConfig(model=model, ratio=float(ratio), reg=reg, batch_size=64, max_epochs=int(epochs), patience=3,
                     seed=0, num_threads=1, limit_train_windows=int(limit))
r = fit_gnd(cfg, train, val, out, progress=False)
sd = torch.load(r["model_path"], weights_only=True)
sd = sd.get("state_dict", sd)
h = hashlib.sha256(b"".join(v.numpy().tobytes() for k, v in sorted(sd.items()) if hasattr(v, "numpy")))
print(repr(r["best_val_loss"]), r["epochs_completed"], h.hexdigest()[:16])
'''


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old-src", required=True, help="src folder of the other checkout (e.g. a git worktree).")
    ap.add_argument("--train", required=True)
    ap.add_argument("--val", required=True)
    ap.add_argument("--limit", type=int, default=3000, help="Training windows used (seeded subset).")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--ratio", type=float, default=0.0)
    ap.add_argument("--reg", default="mse")
    ap.add_argument("--model", default="zhang2019-gnd")
    ap.add_argument("--work", default="/tmp/compare-training")
    a = ap.parse_args()
    for side, src in (("old", a.old_src), ("new", "")):
        out = subprocess.run([sys.executable, "-c", _CHILD, src, a.train, a.val, str(a.limit), str(a.epochs),
                              f"{a.work}-{side}", str(a.ratio), a.reg, a.model],
                             capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        print(f"{side}: best_val_loss epochs weights_sha = {out}")


if __name__ == "__main__":
    main()
