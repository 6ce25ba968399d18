"""``microdl damage ...``: damage sites in SEM panoramas of dual-phase steel (seed 003)."""

from __future__ import annotations

from pathlib import Path

import typer

from microdl.cli._common import JSON_OPTION, report

app = typer.Typer(help="Damage sites in SEM panoramas: detect candidates, store, label, classify, count.",
                  no_args_is_help=True)

_STORE = typer.Option(None, "--store", help="Store folder (images, crops; store.sqlite unless --database).")
_DATABASE = typer.Option(None, "--database", help="Store database: postgresql://USER@HOST/DB for a shared "
                                                  "lab server (default: STORE/store.sqlite).")
_PROGRESS = typer.Option(True, "--progress/--no-progress", help="Progress bars on stderr.")


def _open_store(store: Path | None, database: str | None):
    if store is None:
        if database is not None:
            raise typer.BadParameter("--database needs --store (the folder that keeps the files)")
        return None
    from microdl.data.damage_store import DamageStore

    return DamageStore(store, database=database)


def _sizes(text: str) -> tuple[int, ...]:
    from microdl.exceptions import InvalidParameterError

    try:
        return tuple(int(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise InvalidParameterError(f"--crops must be comma-separated pixel sizes like 250,64, got {text!r}") from None


@app.command()
def detect(
    image: Path = typer.Argument(..., help="Panorama: TIFF (any size), PNG, JPEG, .npy, or a layout CSV "
                                           "(file, x, y) of a stitched panorama."),
    out: Path = typer.Option(None, "--out", help="Folder for sites.csv, detection.json, sites.png and crops."),
    store: Path = _STORE,
    database: str = _DATABASE,
    sample: str = typer.Option(None, "--sample", help="Sample name (needed with --store)."),
    strain: float = typer.Option(None, "--strain", help="Macroscopic strain of the sample (e.g. 0.25)."),
    pixel_size_um: float = typer.Option(None, "--pixel-size-um", help="Pixel size in µm (default: from the "
                                                                      "file's metadata)."),
    threshold: float = typer.Option(20.0, "--threshold", help="Dark below this gray level (0-255 scale)."),
    method: str = typer.Option("components", "--method", help="components (fast) or dbscan (the authors' "
                                                              "DBSCAN eps=1, exactly)."),
    min_samples: int = typer.Option(5, "--min-samples", help="DBSCAN core count in the 5-pixel cross."),
    min_area: int = typer.Option(20, "--min-area", help="Keep clusters of more than this many pixels."),
    merge_radius: float = typer.Option(50.0, "--merge-radius", help="Merge sites whose centroids are closer "
                                                                    "(pixels); 0: off."),
    fill_holes: bool = typer.Option(True, "--fill-holes/--no-fill-holes", help="Fill holes of each cluster."),
    crops: str = typer.Option("", "--crops", help="Crop sides to cut around each site, e.g. 250,64."),
    replace: bool = typer.Option(False, "--replace", help="Redo the detection of an image already in the store."),
    progress: bool = _PROGRESS,
    as_json: bool = JSON_OPTION,
) -> None:
    """Find candidate damage sites (dark clusters) in a panorama, band by band."""
    from microdl.analysis.damage_candidates import DetectConfig
    from microdl.workflows.damage import detect as run

    config = DetectConfig(threshold=threshold, method=method, min_samples=min_samples, min_area_px=min_area,
                          fill_holes=fill_holes, merge_radius_px=merge_radius)
    result = run(image, out=out, store=_open_store(store, database), sample=sample, strain=strain,
                 pixel_size_um=pixel_size_um, config=config, crop_sizes=_sizes(crops), replace=replace,
                 progress=progress)
    density = f", {result['sites_per_mm2']:.0f} per mm²" if result["sites_per_mm2"] else ""
    human = (f"{result['n_sites']} candidate sites in {image.name} ({result['shape'][0]} x {result['shape'][1]} px"
             f"{density}) in {result['wall_time_s']:.1f} s")
    if out is not None:
        human += f"\nwritten to {out}: {', '.join(result['files'])}"
    if "image_id" in result:
        human += f"\nstore: image {result['image_id']}, {result['n_sites']} sites"
    report(result, as_json=as_json, human=human)
