"""Compare simulated strain-profile images with the 10 published ones (Yang et al. 2020).

Reads the published PNGs from ``../shared/data/ddd-strain-profiles`` (never copied) and
simulated profiles from

* a dataset folder written by ``microdl ddd dataset`` (``--dataset DIR``: one ``<key>.npz``
  per sample, read with :func:`microdl.data.ddd_profiles.load_sample`; the samples of
  ``--width`` / ``--slip``, default 0.125 um and two slip systems like every published
  image, at the published prior strains 0.1 / 1 / 10 %, each at every reload snapshot),
* result directories saved with :func:`microdl.data.ddd_result.save_result` (positional
  arguments; profiles in both the ``full`` and ``mean`` reference modes), or
* simulations run here (``--run``),

renders the simulated profiles with :func:`microdl.simulate.ddd.profile.render_uint8`
(rows across the width, columns along the loading axis: the orientation of the published
PNGs, loading axis horizontal) and reports per image: shape, fraction of non-zero pixels,
mean gray value, intensity percentiles of non-zero pixels and a line orientation
histogram (structure-tensor orientation of bright pixels, in degrees from the image's
horizontal = loading axis, folded into [0, 90]).

Usage::

    .venv/bin/python benchmarks/ddd/compare_profiles.py --dataset DATASET_DIR [--width 0.125 --slip two]
    .venv/bin/python benchmarks/ddd/compare_profiles.py --run --seeds 0 1 2 3 --priors 0.1 1
    .venv/bin/python benchmarks/ddd/compare_profiles.py RESULT_DIR [RESULT_DIR ...]

Writes to ``--out-dir`` (default ``benchmarks/ddd``):

* ``profile_stats.json`` / ``.md``: aggregated statistics (published: all and per prior;
  ours per (prior, reload[, mode])), then the per-image table;
* ``profiles_side_by_side.png``: one row per published prior strain, the published images
  on the left and up to ``--show`` of ours (``full`` mode) on the right;
* ``profiles_stats.png``: histograms of the non-zero fraction, of the non-zero
  intensities and the mean orientation histogram, published vs ours per reload.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import shlex
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from microdl.data.ddd_result import load_result, save_result
from microdl.simulate.ddd import PillarConfig, simulate_pillar
from microdl.simulate.ddd.profile import render_uint8

HERE = Path(__file__).resolve().parent
PUBLISHED = HERE.parents[1].parent / "shared" / "data" / "ddd-strain-profiles"
BINS = np.arange(0, 91, 15)
PUBLISHED_PRIORS = (0.1, 1.0, 10.0)  # percent: StrainPercent0.10 / 1.00 / 10.0
GRAY_BINS = np.arange(1, 257, 8)  # non-zero intensities 1..255 in 32 bins


def orientation_hist(img: np.ndarray) -> list[float]:
    """Intensity-weighted histogram of line orientations (deg from the horizontal, 0..90)."""
    f = img.astype(float)
    gx = ndimage.sobel(f, axis=1)
    gy = ndimage.sobel(f, axis=0)
    jxx = ndimage.gaussian_filter(gx * gx, 1.0)
    jyy = ndimage.gaussian_filter(gy * gy, 1.0)
    jxy = ndimage.gaussian_filter(gx * gy, 1.0)
    # orientation of the line = perpendicular to the dominant gradient
    theta = 0.5 * np.degrees(np.arctan2(2 * jxy, jxx - jyy)) + 90.0
    theta = np.mod(theta, 180.0)
    folded = np.where(theta > 90, 180 - theta, theta)
    mask = img > 0
    if not mask.any():
        return [0.0] * (len(BINS) - 1)
    h, _ = np.histogram(folded[mask], bins=BINS, weights=f[mask])
    return (h / h.sum()).round(3).tolist()


def stats(img: np.ndarray, name: str) -> dict:
    nz = img[img > 0]
    return {
        "name": name, "shape": list(img.shape), "nonzero_fraction": round(float((img > 0).mean()), 4),
        "mean_gray": round(float(img.mean()), 2),
        "nonzero_p50_p90_p99": np.percentile(nz, [50, 90, 99]).round(1).tolist() if nz.size else None,
        "orientation_hist_15deg": orientation_hist(img),
    }


def _pct(x: float) -> str:
    """Percent label: 0.1, 1, 10."""
    return f"{x:g}"


def _prior_of_published(name: str) -> float | None:
    m = re.search(r"StrainPercent([0-9]+(?:\.[0-9]+)?)", name)
    return float(m.group(1)) if m else None


def load_published() -> list[tuple[dict, np.ndarray]]:
    items = []
    for f in sorted(PUBLISHED.glob("*.png")):
        img = np.array(Image.open(f).convert("L"))
        row = stats(img, f.name)
        row.update(source="published", prior_percent=_prior_of_published(f.name), reload_percent=None,
                   mode=None)
        items.append((row, img))
    return items


def load_dataset(folder: Path, width: float, slip: str,
                 smooth: tuple[float, ...] = ()) -> tuple[list[tuple[dict, np.ndarray]], dict]:
    """Rendered images of the dataset samples of one width and slip type at the published priors."""
    from microdl.exceptions import DataFileError
    from microdl.data.ddd_profiles import load_sample

    files = sorted(p for p in folder.glob("*.npz") if ".tmp-" not in p.name)
    if not files:
        sys.exit(f"no <key>.npz sample files in {folder}")
    items: list[tuple[dict, np.ndarray]] = []
    info = {"folder": str(folder), "n_files": len(files), "n_selected": 0, "n_other": 0, "unreadable": []}
    for path in files:
        try:
            s = load_sample(path)
        except DataFileError as exc:
            info["unreadable"].append(path.name)
            print(f"skipping {path.name}: {exc}", file=sys.stderr)
            continue
        lab = s["meta"].get("labels", {})
        prior = 100 * float(lab.get("prior_strain", math.nan))
        if not (math.isclose(float(lab.get("width_um", math.nan)), width) and lab.get("slip") == slip
                and any(math.isclose(prior, p) for p in PUBLISHED_PRIORS)):
            info["n_other"] += 1
            continue
        info["n_selected"] += 1
        prior = min(PUBLISHED_PRIORS, key=lambda p: abs(p - prior))
        modes = [("full", "profiles")] + ([("mean", "profiles_mean")] if "profiles_mean" in s else [])
        # optional Gaussian smoothing of the float strain (sigma in pixels) before rendering:
        # a stand-in for the finite resolution of image correlation; labelled in the mode
        modes += [(f"{m}, smoothed {sig:g} px", a, sig) for m, a in list(modes) for sig in smooth]
        for mode, array, *sig in modes:
            for k, strain in enumerate(np.asarray(s["snapshot_strains"], dtype=float)):
                prof = s[array][k].astype(float)
                if sig:
                    prof = ndimage.gaussian_filter(prof, sig[0])
                img = render_uint8(prof)  # (nx, ny): loading axis horizontal, as published
                reload = round(100 * float(strain), 6)
                row = stats(img, f"{path.stem} reload {_pct(reload)}% ({mode})")
                row.update(source="dataset", key=path.stem, prior_percent=prior, reload_percent=reload, mode=mode)
                items.append((row, img))
    return items, info


def load_result_dirs(dirs: list[Path]) -> list[tuple[dict, np.ndarray]]:
    items = []
    for d in dirs:
        r = load_result(d)
        for strain in r.snapshot_strains:
            for mode in ("full", "mean"):
                img = render_uint8(r.profile(strain, mode=mode))
                row = stats(img, f"{d.name} reload {100 * strain:.1f}% ({mode})")
                row.update(source="results", key=d.name, prior_percent=round(100 * r.config.prior_strain, 6),
                           reload_percent=round(100 * float(strain), 6), mode=mode)
                items.append((row, img))
    return items


# ----------------------------------------------------------------------------- aggregation


def aggregate(label: str, items: list[tuple[dict, np.ndarray]]) -> dict:
    rows = [r for r, _ in items]
    nzf = np.array([r["nonzero_fraction"] for r in rows])
    pooled = np.concatenate([img[img > 0].ravel() for _, img in items]) if items else np.zeros(0)
    first = rows[0]
    return {
        "group": label,
        "source": first["source"],
        "prior_percent": first.get("prior_percent") if len({r.get("prior_percent") for r in rows}) == 1 else None,
        "reload_percent": first.get("reload_percent"),
        "mode": first.get("mode"),
        "count": len(rows),
        "nonzero_fraction_mean": round(float(nzf.mean()), 4),
        "nonzero_fraction_min": round(float(nzf.min()), 4),
        "nonzero_fraction_max": round(float(nzf.max()), 4),
        "mean_gray_mean": round(float(np.mean([r["mean_gray"] for r in rows])), 2),
        "nonzero_intensity_median": float(np.median(pooled)) if pooled.size else None,
        "orientation_hist_15deg_mean": np.mean([r["orientation_hist_15deg"] for r in rows], axis=0).round(3).tolist(),
    }


def _group_label(row: dict) -> str:
    if row["source"] == "published":
        return f"published, prior {_pct(row['prior_percent'])} %"
    mode = f" ({row['mode']} reference)" if row["source"] == "dataset" else f" ({row['source']}, {row['mode']})"
    return f"ours, prior {_pct(row['prior_percent'])} %, reload {_pct(row['reload_percent'])} %{mode}"


def aggregate_all(pub: list, ours: list) -> list[dict]:
    out = []
    if pub:
        out.append(aggregate("published, all", pub) | {"prior_percent": None})
    groups: dict[tuple, list] = {}
    for item in pub + ours:
        r = item[0]
        key = (r["source"] != "published", r["source"], r["prior_percent"] or 0.0, r["reload_percent"] or 0.0,
               r["mode"] or "")
        groups.setdefault(key, []).append(item)
    for key in sorted(groups):
        out.append(aggregate(_group_label(groups[key][0][0]), groups[key]))
    return out


# ----------------------------------------------------------------------------- figures


def _show(ax, img: np.ndarray, title: str) -> None:
    ax.imshow(img, cmap="gray", vmin=0, vmax=255, interpolation="nearest", aspect="equal")
    ax.set_title(title, fontsize=8.5, pad=3)
    ax.set_xticks([])
    ax.set_yticks([])


def figure_side_by_side(pub: list, ours: list, path: Path, show: int, ours_desc: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ours_full = [it for it in ours if it[0]["mode"] == "full"]
    reloads = sorted({it[0]["reload_percent"] for it in ours_full}, reverse=True)  # 1 % first
    n_rel = max(1, len(reloads))
    n_samples = max(1, math.ceil(show / n_rel))  # samples shown per prior, one column per reload
    pub_cols = 2
    pub_by = {p: [it for it in pub if it[0]["prior_percent"] == p] for p in PUBLISHED_PRIORS}
    sub_rows = max([n_samples] + [math.ceil(len(v) / pub_cols) for v in pub_by.values()])
    n_cols = pub_cols + n_rel
    fig, axes = plt.subplots(len(PUBLISHED_PRIORS) * sub_rows, n_cols, figsize=(16, 8), dpi=120,
                             squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, prior in enumerate(PUBLISHED_PRIORS):
        r0 = i * sub_rows
        for j, (row, img) in enumerate(pub_by[prior][: pub_cols * sub_rows]):
            ax = axes[r0 + j // pub_cols, j % pub_cols]
            ax.axis("on")
            sample = re.search(r"samplecnt(\d+)", row["name"])
            _show(ax, img, f"published #{sample.group(1) if sample else row['name']}: prior {_pct(prior)} %, "
                           "reload ?")
        mine = [it for it in ours_full if it[0]["prior_percent"] == prior]
        keys = sorted({it[0]["key"] for it in mine})[:n_samples]
        shown = 0
        for s, key in enumerate(keys):
            for c, rel in enumerate(reloads):
                hit = [it for it in mine if it[0]["key"] == key and it[0]["reload_percent"] == rel]
                if not hit or shown >= show:
                    continue
                shown += 1
                ax = axes[r0 + s, pub_cols + c]
                ax.axis("on")
                _show(ax, hit[0][1], f"ours {key}: prior {_pct(prior)} %, reload {_pct(rel)} %")
        if not mine:
            axes[r0, pub_cols].text(0.5, 0.5, f"(no simulated images at prior {_pct(prior)} %)",
                                    ha="center", va="center", fontsize=10, color="0.4",
                                    transform=axes[r0, pub_cols].transAxes)
    fig.suptitle("Strain profiles: published (left; Yang et al. 2020, w = 0.125 um, two slip) vs ours "
                 f"(right; {ours_desc}); gray 0-255, loading axis horizontal", fontsize=12)
    fig.subplots_adjust(left=0.05, right=0.995, top=0.93, bottom=0.01, wspace=0.04, hspace=0.35)
    for i, prior in enumerate(PUBLISHED_PRIORS):  # row labels, centred on each prior's block of panels
        top = axes[i * sub_rows, 0].get_position().y1
        bottom = axes[(i + 1) * sub_rows - 1, 0].get_position().y0
        fig.text(0.005, 0.5 * (top + bottom), f"prior\n{_pct(prior)} %", fontsize=12, fontweight="bold",
                 va="center")
        if i:
            fig.add_artist(matplotlib.lines.Line2D([0.005, 0.995], [top + 0.035] * 2, color="0.8", lw=0.8))
    # separator between the published and our columns
    x = 0.05 + (0.995 - 0.05) * pub_cols / n_cols
    fig.add_artist(matplotlib.lines.Line2D([x, x], [0.01, 0.93], color="0.5", lw=1))
    fig.savefig(path)
    plt.close(fig)


def figure_stats(pub: list, ours: list, path: Path, ours_desc: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ours_full = [it for it in ours if it[0]["mode"] == "full"]
    series = [("published", pub, "k")]
    colors = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    for n, rel in enumerate(sorted({it[0]["reload_percent"] for it in ours_full})):
        sel = [it for it in ours_full if it[0]["reload_percent"] == rel]
        series.append((f"ours, reload {_pct(rel)} %", sel, colors[n % len(colors)]))
    series = [s for s in series if s[1]]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.8), dpi=120)
    nzf_all = [it[0]["nonzero_fraction"] for _, items, _ in series for it in items]
    edges = np.linspace(0, max(0.05, 1.05 * max(nzf_all)), 21) if nzf_all else np.linspace(0, 1, 21)
    for k, (label, items, color) in enumerate(series):
        n = len(items)
        nzf = [it[0]["nonzero_fraction"] for it in items]
        axes[0].hist(nzf, bins=edges, weights=np.full(n, 1 / n), histtype="step", lw=2, color=color,
                     label=f"{label} (n={n})")
        pooled = np.concatenate([img[img > 0].ravel() for _, img in items])
        axes[1].hist(pooled, bins=GRAY_BINS, density=True, histtype="step", lw=2, color=color,
                     label=f"{label} (median {np.median(pooled):.0f})" if pooled.size else label)
        mean_or = np.mean([it[0]["orientation_hist_15deg"] for it in items], axis=0)
        bw = 15 / (len(series) + 0.5)
        axes[2].bar(BINS[:-1] + (k + 0.75) * bw, mean_or, width=bw, color=color, alpha=0.8, label=label)
    axes[0].set(xlabel="fraction of non-zero pixels", ylabel="fraction of images",
                title="(a) non-zero fraction per image")
    axes[1].set(xlabel="gray value (non-zero pixels)", ylabel="density", yscale="log",
                title="(b) intensities of non-zero pixels (pooled, normalised)")
    axes[2].set(xlabel="line orientation, deg from loading axis (folded)", ylabel="weight (mean over images)",
                title="(c) orientation histogram (mean)", xticks=BINS)
    for ax in axes:
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.suptitle(f"Published (w = 0.125 um, two slip) vs ours ({ours_desc}), all priors", fontsize=12)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ----------------------------------------------------------------------------- report


def _fmt(x) -> str:
    return "-" if x is None else f"{x:g}"


def write_report(out_dir: Path, command: str, selection: dict, groups: list[dict], rows_pub: list,
                 rows_sim: list) -> None:
    out = {"command": command, "selection": selection, "aggregate": groups, "published": rows_pub,
           "simulated": rows_sim}
    (out_dir / "profile_stats.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = ["# Strain-profile statistics: simulated vs published", "", f"Command: `{command}`", ""]
    if selection.get("dataset"):
        d = selection["dataset"]
        lines += [f"Dataset `{d['folder']}`: {d['n_files']} sample files, {d['n_selected']} at w = "
                  f"{selection['width_um']:g} um, {selection['slip']} slip, prior 0.1/1/10 % (each gives one "
                  f"image per reload snapshot); {d['n_other']} other samples ignored"
                  + (f", unreadable: {', '.join(d['unreadable'])}" if d["unreadable"] else "") + ".", ""]
    lines += ["Published images: w = 0.125 um, two slip systems; their reload strain is not given. Non-zero "
              "fraction as mean [min, max] over images; median intensity over the pooled non-zero pixels. "
              "Orientation histogram: 15-degree bins from 0 (loading axis) to 90; slip traces at +-30 degrees "
              "lie on the edge of the 15-30 and 30-45 bins.", "",
              "## Aggregated", "",
              "| group | count | non-zero fraction mean [min, max] | mean gray | median non-zero | "
              "orientation 0-15-30-45-60-75-90 |",
              "|---|---|---|---|---|---|"]
    for g in groups:
        lines.append(f"| {g['group']} | {g['count']} | {g['nonzero_fraction_mean']:.3f} "
                     f"[{g['nonzero_fraction_min']:.3f}, {g['nonzero_fraction_max']:.3f}] | "
                     f"{g['mean_gray_mean']:.2f} | {_fmt(g['nonzero_intensity_median'])} | "
                     f"{g['orientation_hist_15deg_mean']} |")
    lines += ["", "## Per image", "",
              "| image | shape | non-zero | mean gray | non-zero p50/p90/p99 | orientation 0-15-30-45-60-75-90 |",
              "|---|---|---|---|---|---|"]
    for r in rows_pub + rows_sim:
        lines.append(f"| {r['name']} | {r['shape'][0]}x{r['shape'][1]} | {r['nonzero_fraction']:.3f} | "
                     f"{r['mean_gray']:.2f} | {r['nonzero_p50_p90_p99']} | {r['orientation_hist_15deg']} |")
    (out_dir / "profile_stats.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("results", nargs="*", type=Path, help="Result directories saved with save_result.")
    ap.add_argument("--dataset", type=Path, help="Dataset folder written by `microdl ddd dataset`.")
    ap.add_argument("--width", type=float, default=0.125, help="Width (um) selected from --dataset.")
    ap.add_argument("--slip", choices=("one", "two"), default="two", help="Slip type selected from --dataset.")
    ap.add_argument("--show", type=int, default=4,
                    help="Our images per prior in profiles_side_by_side.png (samples x reload snapshots).")
    ap.add_argument("--out-dir", type=Path, default=HERE, help="Where the .json/.md/.png files go.")
    ap.add_argument("--smooth", type=float, nargs="*", default=[],
                    help="Also report --dataset profiles smoothed by a Gaussian of these sigmas (pixels).")
    ap.add_argument("--run", action="store_true", help="Simulate w = 0.125 um two-slip samples here.")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--priors", type=float, nargs="+", default=[0.1, 1.0], help="Prior strains (%%) for --run.")
    ap.add_argument("--save-dir", type=Path, default=Path("/tmp/ddd_compare"))
    args = ap.parse_args()
    command = shlex.join([".venv/bin/python", "benchmarks/ddd/compare_profiles.py", *sys.argv[1:]])
    args.out_dir.mkdir(parents=True, exist_ok=True)

    pub = load_published()
    if not pub:
        sys.exit(f"no published PNGs in {PUBLISHED}")
    dirs = list(args.results)
    if args.run:
        for p in args.priors:
            for s in args.seeds:
                cfg = PillarConfig(width_um=0.125, slip="two", prior_strain=p / 100, reload_strain=0.01,
                                   reload_snapshots=(0.001, 0.01))
                d = args.save_dir / f"w0.125_p{p}_s{s}"
                save_result(simulate_pillar(cfg, s), d)
                dirs.append(d)
                print(f"ran {d}", file=sys.stderr)
    selection: dict = {"width_um": args.width, "slip": args.slip}
    ours = []
    if args.dataset is not None:
        items, info = load_dataset(args.dataset, args.width, args.slip, tuple(args.smooth))
        selection["dataset"] = info
        ours += items
    ours += load_result_dirs(dirs)

    groups = aggregate_all(pub, ours)
    rows_pub = [r for r, _ in pub]
    rows_sim = [r for r, _ in ours]
    write_report(args.out_dir, command, selection, groups, rows_pub, rows_sim)
    written = ["profile_stats.json", "profile_stats.md"]
    if ours:
        desc = (f"w = {args.width:g} um, {args.slip} slip" if args.dataset is not None and not dirs
                else "dataset and result dirs" if args.dataset is not None else "result dirs, full mode")
        figure_side_by_side(pub, ours, args.out_dir / "profiles_side_by_side.png", args.show, desc)
        figure_stats(pub, ours, args.out_dir / "profiles_stats.png", desc)
        written += ["profiles_side_by_side.png", "profiles_stats.png"]
    print(json.dumps({"published": len(rows_pub), "simulated": len(rows_sim), "out_dir": str(args.out_dir),
                      "written": written}))


if __name__ == "__main__":
    main()
