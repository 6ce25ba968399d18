"""Damage statistics of a store: sites per class per mm² per panorama and against strain, with figures."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from microdl.exceptions import InvalidParameterError

__all__ = ["damage_stats"]

SOURCES = ("predictions", "labels")


def _class_of_sites(store, source: str, model: str | None) -> tuple[dict[int, str], str | None]:
    if source == "labels":
        return {s["id"]: s["label"] for s in store.sites() if s["label"]}, None
    rows = store.predictions(model=model)
    if not rows:
        raise InvalidParameterError("the store has no predictions" + (f" of model {model!r}" if model else "") +
                                    "; run 'microdl damage classify' first or use --source labels")
    model = model or rows[-1]["model"]
    run = [r for r in rows if r["model"] == model][-1]["run_id"]  # the latest run of that model
    return {r["site_id"]: r["label"] for r in rows if r["model"] == model and r["run_id"] == run}, model


def damage_stats(store, out: str | os.PathLike, *, source: str = "predictions", model: str | None = None,
                 overlays: int = 4) -> dict:
    """Count sites per class per image, per mm² and per sample/strain; write tables and figures to ``out``.

    Parameters
    ----------
    source
        ``"predictions"`` (the latest run of ``model``, or of the latest model) or ``"labels"``
        (the annotators' consensus; unlabelled sites are not counted).
    overlays
        How many images get a figure of their sites coloured by class.

    Returns
    -------
    dict
        ``classes``, ``images`` (per image: sample, strain, area, counts and densities),
        ``by_strain`` (per sample and strain: summed counts over summed area), ``files``.
    """
    from microdl.analysis.damage_figures import class_counts_bar, sites_overlay
    from microdl.analysis.plots import figure, save
    from microdl.io._atomic import check_output_folder, write_json, write_text

    if source not in SOURCES:
        raise InvalidParameterError(f"source must be one of {SOURCES}, got {source!r}")
    out_dir = check_output_folder(out)
    cls, model = _class_of_sites(store, source, model)
    classes = sorted(set(cls.values()))
    images = []
    for img in store.images():
        sites = store.sites(image_id=img["id"])
        counted = [s for s in sites if s["id"] in cls]
        counts = {c: sum(cls[s["id"]] == c for s in counted) for c in classes}
        area = img["height"] * img["width"] * img["pixel_size_um"] ** 2 * 1e-6 if img["pixel_size_um"] else None
        images.append({"image_id": img["id"], "name": img["name"], "sample": img["sample"], "strain": img["strain"],
                       "area_mm2": area, "n_sites": len(sites), "n_classified": len(counted), "counts": counts,
                       "per_mm2": {c: n / area for c, n in counts.items()} if area else None})
    groups: dict[tuple, dict] = {}
    for im in images:
        g = groups.setdefault((im["sample"], im["strain"]), {"sample": im["sample"], "strain": im["strain"],
                                                              "area_mm2": 0.0, "counts": dict.fromkeys(classes, 0),
                                                              "n_images": 0})
        g["n_images"] += 1
        g["area_mm2"] = g["area_mm2"] + im["area_mm2"] if im["area_mm2"] and g["area_mm2"] is not None else None
        for c in classes:
            g["counts"][c] += im["counts"][c]
    for g in groups.values():
        g["per_mm2"] = {c: n / g["area_mm2"] for c, n in g["counts"].items()} if g["area_mm2"] else None
    by_strain = sorted(groups.values(), key=lambda g: (g["sample"], g["strain"] if g["strain"] is not None else -1))

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["image_id", "name", "sample", "strain", "area_mm2", "class", "count", "per_mm2"])
    for im in images:
        for c in classes:
            w.writerow([im["image_id"], im["name"], im["sample"], im["strain"], im["area_mm2"], c, im["counts"][c],
                        im["per_mm2"][c] if im["per_mm2"] else ""])
    files = [write_text(out_dir / "stats.csv", buf.getvalue())]
    if classes and images:
        total_area = sum(im["area_mm2"] or 0 for im in images)
        totals = {c: sum(im["counts"][c] for im in images) for c in classes}
        fig, ax = figure(size=(5, 3.6))
        if total_area:
            class_counts_bar(ax, {c: n / total_area for c, n in totals.items()}, ylabel="sites per mm²",
                             title=f"{source}: {sum(totals.values())} sites on {total_area:.3g} mm²")
        else:
            class_counts_bar(ax, totals, ylabel="sites", title=f"{source}: {sum(totals.values())} sites")
        files.append(save(fig, out_dir / "classes.png"))
        strained = [g for g in by_strain if g["strain"] is not None and g["per_mm2"]]
        if strained:
            fig, ax = figure(size=(5, 3.6))
            samples = sorted({g["sample"] for g in strained})
            for c in classes:
                for sample in samples:
                    pts = [(g["strain"], g["per_mm2"][c]) for g in strained if g["sample"] == sample]
                    ax.plot(*zip(*pts, strict=True), "o-", label=c if len(samples) == 1 else f"{c} ({sample})")
            ax.set_xlabel("strain")
            ax.set_ylabel("sites per mm²")
            ax.legend(fontsize=6)
            files.append(save(fig, out_dir / "density_vs_strain.png"))
        for im in images[:overlays]:
            sites = [s for s in store.sites(image_id=im["image_id"]) if s["id"] in cls]
            with store.open_image(im["image_id"]) as pano:
                thumb, factor = pano.thumbnail(1600)
                size_um = pano.pixel_size_um
            fig, ax = figure(size=(7, 7 * thumb.shape[0] / max(thumb.shape[1], 1) + 0.5))
            sites_overlay(ax, thumb, factor, sites, labels=[cls[s["id"]] for s in sites], pixel_size_um=size_um,
                          title=f"{im['name']} ({im['sample']}, strain {im['strain']})")
            files.append(save(fig, out_dir / f"sites_image{im['image_id']}.png"))
    result = {"source": source, "model": model, "classes": classes, "images": images, "by_strain": by_strain,
              "files": [Path(f).name for f in files] + ["stats.json"]}
    write_json(out_dir / "stats.json", result)
    return result
