"""Damage-site jobs (seed 003): detect candidates in a panorama, into a folder and/or a store."""

from __future__ import annotations

import csv
import io
import os
import sys
import time
from pathlib import Path

import numpy as np

from microdl.analysis.damage_candidates import DetectConfig, detect_sites, site_crops
from microdl.exceptions import InvalidParameterError
from microdl.io.panorama import open_image

__all__ = ["detect", "ingest", "synthetic_panoramas"]

SITE_COLUMNS = ("site", "x", "y", "x_um", "y_um", "area_px", "area_um2", "x0", "y0", "x1", "y1", "n_clusters")


def _sites_csv(sites: list[dict], size_um: float | None) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SITE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for s in sites:
        x0, y0, x1, y1 = s["bbox"]
        writer.writerow({"site": s["site"], "x": f"{s['x']:.2f}", "y": f"{s['y']:.2f}",
                         "x_um": f"{s['x'] * size_um:.3f}" if size_um else "",
                         "y_um": f"{s['y'] * size_um:.3f}" if size_um else "", "area_px": s["area_px"],
                         "area_um2": f"{s['area_px'] * size_um ** 2:.4f}" if size_um else "",
                         "x0": x0, "y0": y0, "x1": x1, "y1": y1, "n_clusters": s["n_clusters"]})
    return buf.getvalue()


def detect(image: str | os.PathLike, *, out: str | os.PathLike | None = None, store=None,
           sample: str | None = None, strain: float | None = None, pixel_size_um: float | None = None,
           config: DetectConfig | None = None, crop_sizes: tuple[int, ...] = (), figure: bool = True,
           replace: bool = False, progress: bool = False) -> dict:
    """Find the candidate damage sites of one image or panorama.

    Parameters
    ----------
    image
        TIFF (any size; read band by band), PNG/JPEG, ``.npy``, or a layout CSV of a stitched
        panorama.
    out
        Folder for ``sites.csv``, ``detection.json``, ``sites.png`` (sites over an overview
        of the image) and ``crops/<size>/site_<n>.png``.
    store
        A :class:`~microdl.data.damage_store.DamageStore`: the image (as a panorama of
        ``sample`` at ``strain``), its sites and crops are added to it.
    config
        Detection settings (the authors' defaults if ``None``).
    crop_sizes
        Crop sides (pixels) to cut around every site, e.g. ``(250, 64)`` for the two stages.

    Returns
    -------
    dict
        ``image``, ``shape``, ``pixel_size_um``, ``area_mm2``, ``n_sites``, ``sites_per_mm2``,
        ``config``, ``wall_time_s``, ``sites`` (each with ``site``, ``x``, ``y``, ``area_px``,
        ``bbox``, ``n_clusters``, and the store's ``site_id`` when a store is given), the
        written ``files`` and, with a store, ``image_id``.
    """
    from microdl.io._atomic import check_output_folder, save_png, write_json, write_text
    from microdl.provenance import environment

    config = config or DetectConfig()
    if store is not None and not sample:
        raise InvalidParameterError("a sample name is needed to add the image to a store (--sample)")
    if any(int(c) <= 0 for c in crop_sizes):
        raise InvalidParameterError(f"crop sizes must be positive pixel counts, got {list(crop_sizes)}")
    out_dir = check_output_folder(out) if out is not None else None
    t0 = time.perf_counter()
    with open_image(image, pixel_size_um=pixel_size_um) as pano:
        sites = detect_sites(pano, config, progress=progress)
        wall = time.perf_counter() - t0
        size_um = pano.pixel_size_um
        area_mm2 = pano.shape[0] * pano.shape[1] * size_um ** 2 * 1e-6 if size_um else None
        result = {"image": os.fspath(image), "shape": list(pano.shape), "pixel_size_um": size_um,
                  "area_mm2": area_mm2, "n_sites": len(sites),
                  "sites_per_mm2": len(sites) / area_mm2 if area_mm2 else None,
                  "config": config.to_dict(), "wall_time_s": wall, "sites": sites, "files": []}
        crops = {int(c): site_crops(pano, sites, int(c)) for c in crop_sizes}
        if store is not None:
            image_id = store.add_image(image, sample=sample, strain=strain, pixel_size_um=pixel_size_um)
            ids = store.add_sites(image_id, sites, config.to_dict(), replace=replace)
            for sid, s in zip(ids, sites, strict=True):
                s["site_id"] = sid
            for arr in crops.values():
                for sid, crop in zip(ids, arr, strict=True):
                    store.add_crop(sid, crop)
            result["image_id"] = image_id
        if out_dir is not None:
            write_text(out_dir / "sites.csv", _sites_csv(sites, size_um))
            files = ["sites.csv"]
            for size, arr in crops.items():
                for s, c in zip(sites, arr, strict=True):
                    save_png(out_dir / "crops" / str(size) / f"site_{s['site']:05d}.png", c)
                files.append(f"crops/{size}/")
            if figure:
                from microdl.analysis.damage_figures import sites_overlay
                from microdl.analysis.plots import figure as new_figure
                from microdl.analysis.plots import save

                thumb, factor = pano.thumbnail(2048)
                aspect = thumb.shape[0] / max(thumb.shape[1], 1)
                fig, ax = new_figure(size=(8, 8 * aspect + 0.6))
                sites_overlay(ax, thumb, factor, sites, pixel_size_um=size_um,
                              title=f"{Path(image).name}: {len(sites)} candidate sites")
                save(fig, out_dir / "sites.png")
                files.append("sites.png")
            result["files"] = files + ["detection.json"]
            write_json(out_dir / "detection.json", {**result, "environment": environment()})
            from microdl.data.catalog import Catalog

            result["id"] = Catalog().record("run", "damage-detect", config={"image": os.fspath(image),
                                            **config.to_dict()}, path=out_dir,
                                            metrics={"n_sites": len(sites), "wall_time_s": wall})
    return result


def synthetic_panoramas(out: str | os.PathLike, *, n_images: int = 2, height_px: int = 2048,
                        width_px: int = 2048, loading: str = "uniaxial", strains: tuple[float, ...] = (0.1, 0.3),
                        sites_per_mm2: float = 4000.0, seed: int = 0, progress: bool = False) -> dict:
    """Write synthetic DP-steel panoramas (tiled TIFFs) and their true site labels, for demos and tests.

    Image ``k`` is at strain ``strains[k % len(strains)]`` with ``sites_per_mm2`` scaled by the
    strain relative to the first (damage grows with strain). ``truth.csv`` (the labels CSV
    format, annotator ``synthetic-truth``) and ``images.csv`` (file, sample, strain) are written
    beside them. These images are synthetic: never report results on them as real.
    """
    import tifffile

    from microdl.io._atomic import atomic_path, check_output_folder, write_text
    from microdl.io.labels import Annotation, write_labels_csv
    from microdl.simulate.dp_steel import DPSteelConfig, iter_tiles, plan_scene

    out_dir = check_output_folder(out)
    if n_images < 1 or not strains:
        raise InvalidParameterError(f"n_images must be >= 1 and strains non-empty, got {n_images}, {strains}")
    anns, rows = [], ["file,sample,strain,loading"]
    for k in range(n_images):
        strain = float(strains[k % len(strains)])
        density = sites_per_mm2 * strain / float(strains[0]) if strains[0] > 0 else sites_per_mm2
        cfg = DPSteelConfig(height_px=height_px, width_px=width_px, sites_per_mm2=density, loading=loading)
        scene = plan_scene(cfg, rng=np.random.default_rng([seed, k]))
        name = f"synthetic_{k:03d}.tif"
        with atomic_path(out_dir / name) as tmp:
            tifffile.imwrite(tmp, iter_tiles(scene, 512), shape=(height_px, width_px), dtype=np.uint8,
                             tile=(512, 512), compression="zlib", bigtiff=height_px * width_px > 2**31,
                             resolution=(1e4 / cfg.pixel_size_um,) * 2, resolutionunit="CENTIMETER")
        anns += [Annotation(image=name, label=s["label"], bbox=tuple(float(v) for v in s["bbox"]),
                            point=(s["x"], s["y"]), annotator="synthetic-truth") for s in scene.sites]
        rows.append(f"{name},synthetic-{loading},{strain},{loading}")
    write_labels_csv(out_dir / "truth.csv", anns)
    write_text(out_dir / "images.csv", "\n".join(rows) + "\n")
    return {"out": os.fspath(out_dir), "n_images": n_images, "n_sites": len(anns),
            "files": [f"synthetic_{k:03d}.tif" for k in range(n_images)] + ["truth.csv", "images.csv"]}



def ingest(images_csv: str | os.PathLike, store, *, config: DetectConfig | None = None,
           crop_sizes: tuple[int, ...] = (), progress: bool = False) -> dict:
    """Detect the sites of every image listed in a CSV into ``store``; images already detected are skipped.

    The CSV has a header with ``file`` (relative to the CSV's folder) and ``sample``, and optionally
    ``strain`` and ``pixel_size_um``; ``microdl damage synth`` writes one (``images.csv``). Rerunning
    after an interruption continues with the images not yet in the store.
    """
    from microdl.exceptions import DataFileError

    path = Path(images_csv)
    try:
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataFileError(f"could not read the image list {path}: {exc}") from None
    if not rows or not {"file", "sample"} <= set(rows[0]):
        raise DataFileError(f"{path} needs a header with at least the columns file and sample, and one row")

    def number(row: dict, key: str, line: int) -> float | None:
        text = (row.get(key) or "").strip()
        try:
            return float(text) if text else None
        except ValueError:
            raise DataFileError(f"{path}, line {line}: {key} must be a number, got {text!r}") from None

    detected = store.detections()
    done = {img["name"] for img in store.images() if img["id"] in detected}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(rows), desc="images", unit="image", file=sys.stderr)
    results, skipped = [], []
    for line, row in enumerate(rows, start=2):
        name = Path(row["file"]).name
        if name in done:
            skipped.append(name)
        else:
            res = detect(path.parent / row["file"], store=store, sample=row["sample"].strip(),
                         strain=number(row, "strain", line), pixel_size_um=number(row, "pixel_size_um", line),
                         config=config, crop_sizes=crop_sizes)
            results.append({"file": row["file"], "image_id": res["image_id"], "n_sites": res["n_sites"]})
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return {"n_images": len(results), "n_sites": sum(r["n_sites"] for r in results), "images": results,
            "skipped": skipped}

