"""Images per (width, reload, prior) of a DDD image export, as the Markdown table of its README.

Counts the ``full``-mode rows of ``index.csv`` (both slip types together) and the simulations
per (width, prior) cell, so that a multi-session build can report where it stands.

Usage::

    .venv/bin/python benchmarks/ddd/export_table.py benchmarks/ddd/cpu-v3
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("export")
    args = ap.parse_args(argv)

    from microdl.data.ddd_export import exported_keys, load_images

    folder = Path(args.export)
    _, rows = load_images(folder)
    full = [r for r in rows if r["mode"] == "full"]
    images = Counter((float(r["width_um"]), float(r["reload_pct"]), float(r["prior_pct"])) for r in full)
    sims = Counter()
    for key in exported_keys(folder):  # w<width>_<slip>_p<prior>_i<index>
        width, _, prior, _ = key.split("_")
        sims[(float(width[1:]), float(prior[1:]))] += 1
    widths = sorted({w for w, _ in sims})
    priors = sorted({p for _, p in sims} | {p for _, _, p in images})
    reloads = sorted({r for _, r, _ in images})
    info = json.loads((folder / "index.json").read_text())
    print(f"{info['n_samples']} simulations: {info['n_images']} images kept (both modes), "
          f"{info['n_dropped_elastic']} dropped without visible slip, "
          f"{info['n_dropped_duplicates']} dropped as identical across labels.\n")
    print("| width (µm) | reload | " + " | ".join(f"{p:g} % prior" for p in priors) + " |")
    print("|---" * (2 + len(priors)) + "|")
    for w in widths:
        for r in reloads:
            cells = [f"{images[(w, r, p)]} ({sims[(w, p)]} sims)" if sims[(w, p)] else "-" for p in priors]
            print(f"| {w:g} | {r:g} % | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
