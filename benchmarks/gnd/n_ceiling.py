"""How much the line rule (random or self-avoiding walks) limits the N accuracy (issue 11, item 5).

For each walk, on freshly generated windows (not the benchmark's data sets), measures

* Pearson(N, rho_t) (paper: 0.898);
* N accuracy from the *exact* rho_t alone (gradient boosting on ln rho_t): how much the
  total density says about N;
* N accuracy from the 7 x 7 window (the ``gbdt-window`` baseline of the benchmark);
* N accuracy from the window *and* the exact rho_t (an oracle: the most a window model that
  also knew the density could reach; an estimate of the ceiling, not a proof).

Writes ``n_ceiling.json`` and ``n_ceiling.md`` beside this script.

Usage::

    .venv/bin/python benchmarks/gnd/n_ceiling.py --per-class 20000 --test-per-class 4000
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def _accuracy(clf, x_train, n_train, x_test, n_test) -> float:
    return float(np.mean(clf.fit(x_train, n_train).predict(x_test) == n_test))


def measure(walk: str, per_class: int, test_per_class: int, seed: int) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier

    from microdl.data.gnd import generate_windows
    from microdl.features.gnd_gbdt import CanonicalWindow, GBDTBaseline
    from microdl.simulate.gnd_lines import GNDLineConfig

    cfg = GNDLineConfig(walk=walk)
    t0 = time.perf_counter()
    train = generate_windows(per_class, config=cfg, rng=seed)
    test = generate_windows(test_per_class, config=cfg, rng=seed + 1)

    def boost():
        return HistGradientBoostingClassifier(max_iter=500, early_stopping=True, random_state=0)

    log_rho = np.log(train.rho_t)[:, None], np.log(test.rho_t)[:, None]
    feats = CanonicalWindow("window").fit(train.gnd)
    win = feats.transform(train.gnd), feats.transform(test.gnd)
    window_model = GBDTBaseline("window").fit(train.gnd, train.rho_t, train.n_lines)
    return {
        "walk": walk,
        "pearson_n_rho_t": float(np.corrcoef(train.n_lines, train.rho_t)[0, 1]),
        "n_accuracy_from_exact_rho_t": _accuracy(boost(), log_rho[0], train.n_lines, log_rho[1], test.n_lines),
        "n_accuracy_from_window": float(np.mean(window_model.predict_n(test.gnd) == test.n_lines)),
        "n_accuracy_from_window_and_exact_rho_t": _accuracy(
            boost(), np.hstack([win[0], log_rho[0]]), train.n_lines, np.hstack([win[1], log_rho[1]]), test.n_lines),
        "train_windows": len(train.rho_t),
        "test_windows": len(test.rho_t),
        "seconds": time.perf_counter() - t0,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-class", type=int, default=20_000)
    ap.add_argument("--test-per-class", type=int, default=4_000)
    ap.add_argument("--seed", type=int, default=500)
    ap.add_argument("--out", default=str(HERE))
    args = ap.parse_args(argv)

    from microdl.io._atomic import write_json, write_text
    from microdl.provenance import environment

    rows = [measure(w, args.per_class, args.test_per_class, args.seed) for w in ("random", "self-avoiding")]
    command = "python " + shlex.join(["benchmarks/gnd/n_ceiling.py", *(argv if argv is not None else sys.argv[1:])])
    out = Path(args.out)
    write_json(out / "n_ceiling.json", {"command": command, "rows": rows, "environment": environment()})
    lines = [
        "# How much the line rule limits N accuracy (issue 11, item 5)", "",
        f"Command: `{command}`", "",
        f"Fresh windows per walk: {rows[0]['train_windows']:,} for training, {rows[0]['test_windows']:,} for "
        "testing (class-balanced, N = 1..5; chance is 20 %). Gradient-boosted classifiers; 'exact rho_t' is the "
        "true total density, which no window model has: the last column is an oracle, an estimate of the ceiling.",
        "",
        "| walk | Pearson(N, rho_t) | N acc. from exact rho_t | N acc. from the 7 x 7 window | N acc. from window + exact rho_t |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['walk']} | {r['pearson_n_rho_t']:.3f} | {100 * r['n_accuracy_from_exact_rho_t']:.1f} % | "
                     f"{100 * r['n_accuracy_from_window']:.1f} % | {100 * r['n_accuracy_from_window_and_exact_rho_t']:.1f} % |")
    lines += ["", "Paper (Zhang & Ngan 2019): Pearson 0.898, best N accuracy in Table 1 62.8 %.", ""]
    write_text(out / "n_ceiling.md", "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
