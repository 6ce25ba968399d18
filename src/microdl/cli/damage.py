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


def _need_store(store: Path | None, database: str | None):
    if store is None:
        raise typer.BadParameter("--store is required")
    return _open_store(store, database)


@app.command()
def synth(
    out: Path = typer.Option(..., "--out", help="Folder for the panoramas, truth.csv and images.csv."),
    n_images: int = typer.Option(2, "--n-images", help="Number of panoramas."),
    height: int = typer.Option(2048, "--height", help="Panorama height (px)."),
    width: int = typer.Option(2048, "--width", help="Panorama width (px)."),
    loading: str = typer.Option("uniaxial", "--loading", help="uniaxial or biaxial (site morphology)."),
    strains: str = typer.Option("0.1,0.3", "--strains", help="Strains of the images in turn, e.g. 0.1,0.3."),
    density: float = typer.Option(4000.0, "--density", help="Sites per mm² at the first strain."),
    seed: int = typer.Option(0, "--seed", help="Seed of the scenes."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write SYNTHETIC DP-steel panoramas with known sites (for demos and tests, never real results)."""
    from microdl.exceptions import InvalidParameterError
    from microdl.workflows.damage import synthetic_panoramas

    try:
        values = tuple(float(s) for s in strains.split(",") if s.strip())
    except ValueError:
        raise InvalidParameterError(f"--strains must be comma-separated numbers, got {strains!r}") from None
    result = synthetic_panoramas(out, n_images=n_images, height_px=height, width_px=width, loading=loading,
                                 strains=values, sites_per_mm2=density, seed=seed)
    report(result, as_json=as_json, human=f"{result['n_images']} synthetic panoramas with {result['n_sites']} "
                                          f"known sites in {out} (truth.csv, images.csv)")


@app.command("import")
def import_(
    labels: Path = typer.Argument(..., help="Annotation file or folder: Pascal VOC XML, LabelMe JSON, COCO/CVAT "
                                            "JSON, CVAT XML or CSV."),
    store: Path = _STORE,
    database: str = _DATABASE,
    format: str = typer.Option(None, "--format", help="voc, labelme, coco, cvat or csv (default: guessed)."),
    annotator: str = typer.Option(None, "--annotator", help="Annotator for annotations that name none."),
    tolerance: float = typer.Option(10.0, "--tolerance", help="Max distance (px) from a site's centroid."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Add labels from an annotation file to the store's sites (all or nothing)."""
    from microdl.workflows.damage_classify import import_labels

    result = import_labels(_need_store(store, database), labels, format=format, annotator=annotator,
                           tolerance_px=tolerance)
    report(result, as_json=as_json, human=f"imported {result['n_labels']} labels by "
                                          f"{', '.join(result['annotators'])}")


@app.command()
def export(
    path: Path = typer.Argument(..., help="File (coco, cvat, csv) or folder (voc, labelme) to write."),
    store: Path = _STORE,
    database: str = _DATABASE,
    format: str = typer.Option("csv", "--format", help="voc, labelme, coco, cvat or csv."),
    history: bool = typer.Option(False, "--history", help="Every label row, not each annotator's latest."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write the store's labels with their site boxes in a labelling tool's format."""
    from microdl.workflows.damage_classify import export_labels

    result = export_labels(_need_store(store, database), path, format=format, history=history)
    report(result, as_json=as_json, human=f"exported {result['n_labels']} labels as {format} to {path}")


@app.command()
def train(
    out: Path = typer.Option(..., "--out", help="Run folder (config, checkpoints, metrics, model.pt)."),
    store: Path = _STORE,
    database: str = _DATABASE,
    stage: str = typer.Option("stage2", "--stage", help="stage1 (inclusion vs other, 250 px) or stage2 (notch / "
                                                        "shadow / interface / martensite, 64 px)."),
    model: str = typer.Option(None, "--model", help="kerzel2021-stage1, kerzel2021-nin, damage-nin-small, "
                                                    "micrograph-resnet-small... (default: the stage's)."),
    crop: int = typer.Option(None, "--crop", help="Crop side in px (default: 250 for stage1, 64 for stage2)."),
    epochs: int = typer.Option(40, "--epochs", help="Maximum number of epochs."),
    patience: int = typer.Option(8, "--patience", help="Early stopping patience (epochs) on val loss."),
    batch_size: int = typer.Option(64, "--batch-size", help="Crops per batch."),
    lr: float = typer.Option(1e-3, "--lr", help="AdamW learning rate."),
    seed: int = typer.Option(0, "--seed", help="Seed of the weights, split and augmentations."),
    threads: int = typer.Option(None, "--threads", help="Torch CPU threads."),
    accelerator: str = typer.Option("auto", "--accelerator", help="auto (GPU if present), cpu, gpu."),
    init: Path = typer.Option(None, "--init", help="Start from a pretrained encoder (run folder of 'damage "
                                                   "pretrain'; use --model micrograph-resnet-small)."),
    progress: bool = _PROGRESS,
    as_json: bool = JSON_OPTION,
) -> None:
    """Train one classification stage on the store's labelled sites; an interrupted run resumes."""
    from microdl.workflows.damage_classify import train_stage

    overrides = dict(max_epochs=epochs, patience=patience, batch_size=batch_size, lr=lr, seed=seed,
                     num_threads=threads, accelerator=accelerator)
    result = train_stage(_need_store(store, database), out, stage=stage, model=model, crop=crop,
                         overrides=overrides, init=init, progress=progress)
    report(result, as_json=as_json, human=f"trained {stage} on {result['n_train']} sites ({result['n_val']} for "
                                          f"validation) {result['counts']}: best val loss "
                                          f"{result['best_val_loss']:.4f}\nmodel: {result['model_path']}")


@app.command()
def classify(
    store: Path = _STORE,
    database: str = _DATABASE,
    stage2: Path = typer.Option(..., "--stage2", help="Stage-2 run folder or model.pt."),
    stage1: Path = typer.Option(None, "--stage1", help="Stage-1 run folder or model.pt (inclusion vs other)."),
    threshold: float = typer.Option(0.7, "--threshold", help="Inclusion when stage 1 gives at least this."),
    min_confidence: float = typer.Option(0.5, "--min-confidence", help="Below this stage-2 probability: "
                                                                       "'uncertain'."),
    image_id: int = typer.Option(None, "--image", help="Only this image of the store."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Classify the store's sites in two stages and record the predictions."""
    from microdl.workflows.damage_classify import classify_store

    result = classify_store(_need_store(store, database), stage2=stage2, stage1=stage1, threshold=threshold,
                            min_confidence=min_confidence, image_id=image_id)
    report(result, as_json=as_json, human=f"classified {result['n_sites']} sites: {result['counts']}")


@app.command()
def stats(
    out: Path = typer.Option(..., "--out", help="Folder for stats.csv, stats.json and figures."),
    store: Path = _STORE,
    database: str = _DATABASE,
    source: str = typer.Option("predictions", "--source", help="predictions (latest classify run) or labels."),
    model: str = typer.Option(None, "--model", help="Which predictions: two-stage or stage2 (default: latest)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Sites per class per mm², per panorama and against strain, with figures."""
    from microdl.workflows.damage_stats import damage_stats

    result = damage_stats(_need_store(store, database), out, source=source, model=model)
    lines = [f"{im['name']} ({im['sample']}, strain {im['strain']}): "
             + ", ".join(f"{c} {n}" for c, n in im["counts"].items()) for im in result["images"]]
    report(result, as_json=as_json, human="\n".join(lines + [f"written to {out}: {', '.join(result['files'])}"]))


@app.command()
def label(
    store: Path = _STORE,
    database: str = _DATABASE,
    port: int = typer.Option(8765, "--port", help="Port on 127.0.0.1 (0: any free port)."),
    annotator: str = typer.Option("", "--annotator", help="Pre-filled annotator name (editable on the page)."),
    classes: str = typer.Option(",".join(("inclusion", "martensite", "interface", "notch", "shadow", "not damage")),
                                "--classes", help="Comma-separated class buttons, in keyboard order 1-9."),
    crop: int = typer.Option(96, "--crop", help="Site crop side (px)."),
    context: int = typer.Option(320, "--context", help="Context view side (px)."),
) -> None:
    """Serve a labelling page on localhost: crops in context, class buttons and keys, agreement (Ctrl-C stops)."""
    from microdl.cli._common import info
    from microdl.workflows.damage_label import make_server

    names = tuple(c.strip() for c in classes.split(",") if c.strip())
    server = make_server(_need_store(store, database), port=port, classes=names, annotator=annotator, crop=crop,
                         context=context)
    host, bound = server.server_address[:2]
    info(f"labelling page: http://{host}:{bound}/  (Ctrl-C to stop)")
    try:
        server.serve_forever()
    finally:
        server.server_close()


@app.command()
def pretrain(
    out: Path = typer.Option(..., "--out", help="Run folder of the self-supervised encoder."),
    store: Path = _STORE,
    database: str = _DATABASE,
    epochs: int = typer.Option(40, "--epochs", help="Maximum number of epochs."),
    patience: int = typer.Option(8, "--patience", help="Early stopping patience (epochs)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the weights, views and split."),
    threads: int = typer.Option(None, "--threads", help="Torch CPU threads."),
    accelerator: str = typer.Option("auto", "--accelerator", help="auto (GPU if present), cpu, gpu."),
    progress: bool = _PROGRESS,
    as_json: bool = JSON_OPTION,
) -> None:
    """Self-supervised (SimCLR) encoder from every candidate site of the store, no labels needed."""
    from microdl.workflows.damage_ssl import pretrain as run

    result = run(_need_store(store, database), out, progress=progress,
                 overrides=dict(max_epochs=epochs, patience=patience, seed=seed, num_threads=threads,
                                accelerator=accelerator))
    report(result, as_json=as_json, human=f"pretrained on {result['n_sites']} sites in {result['wall_time_s']:.0f} s"
                                          f"\nmodel: {result['model_path']}")


@app.command()
def cluster(
    model: Path = typer.Option(..., "--model", help="Encoder run folder or model.pt ('damage pretrain')."),
    out: Path = typer.Option(..., "--out", help="Folder for clusters.png, clusters.csv, clusters.json."),
    store: Path = _STORE,
    database: str = _DATABASE,
    k: int = typer.Option(8, "-k", help="Number of clusters."),
    seed: int = typer.Option(0, "--seed", help="k-means seed."),
    as_json: bool = JSON_OPTION,
) -> None:
    """k-means clusters of the sites' embeddings, with example crops per cluster."""
    from microdl.workflows.damage_ssl import cluster_sites

    result = cluster_sites(_need_store(store, database), model, out, k=k, seed=seed)
    lines = [f"cluster {c['cluster']}: {c['n_sites']} sites {c['labels'] or ''}" for c in result["clusters"]]
    report(result, as_json=as_json, human="\n".join(lines + [f"figure: {out / 'clusters.png'}"]))


@app.command()
def probe(
    model: Path = typer.Option(..., "--model", help="Encoder run folder or model.pt ('damage pretrain')."),
    store: Path = _STORE,
    database: str = _DATABASE,
    min_confidence: float = typer.Option(0.5, "--min-confidence", help="Below this probability: 'uncertain'."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Classify every site with a linear probe on the encoder, fitted on the labelled sites."""
    from microdl.workflows.damage_ssl import probe_sites

    result = probe_sites(_need_store(store, database), model, min_confidence=min_confidence)
    report(result, as_json=as_json, human=f"probe on {result['n_labelled']} labelled sites; {result['n_sites']} "
                                          f"sites classified: {result['counts']}")


@app.command()
def sites(
    store: Path = _STORE,
    database: str = _DATABASE,
    sample: str = typer.Option(None, "--sample", help="Only sites of this sample."),
    label: str = typer.Option(None, "--label", help="Only sites whose consensus label is this."),
    min_strain: float = typer.Option(None, "--min-strain", help="Only images at this strain or above."),
    max_strain: float = typer.Option(None, "--max-strain", help="Only images at this strain or below."),
    image_id: int = typer.Option(None, "--image", help="Only sites of this image."),
    crops: bool = typer.Option(False, "--crops", help="Add the stored crop files of each site."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Query the store's sites, e.g. every interface decohesion of sample S above strain 0.2, with crops."""
    rows = _need_store(store, database).sites(sample=sample, label=label, min_strain=min_strain,
                                              max_strain=max_strain, image_id=image_id, with_crops=crops)
    lines = [f"site {r['id']}: image {r['image_id']} ({r['sample']}, strain {r['strain']}) at x {r['x']:.0f}, "
             f"y {r['y']:.0f}, {r['area_px']} px, label {r['label']}"
             + (f", crops {sorted(r['crops'])}" if crops else "") for r in rows]
    report({"n_sites": len(rows), "sites": rows}, as_json=as_json,
           human="\n".join(lines + [f"{len(rows)} site(s)"]))


@app.command()
def images(
    store: Path = _STORE,
    database: str = _DATABASE,
    sample: str = typer.Option(None, "--sample", help="Only images of this sample."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List the store's images with sample, strain, size and pixel size."""
    rows = _need_store(store, database).images(sample=sample)
    lines = [f"image {r['id']}: {r['name']} ({r['kind']}, {r['sample']}, strain {r['strain']}) {r['height']} x "
             f"{r['width']} px, {r['pixel_size_um']} µm/px" for r in rows]
    report({"n_images": len(rows), "images": rows}, as_json=as_json, human="\n".join(lines + [f"{len(rows)} image(s)"]))


@app.command()
def ingest(
    images_csv: Path = typer.Argument(..., help="CSV of images: file (relative to the CSV), sample, and optionally "
                                                "strain and pixel_size_um ('damage synth' writes images.csv)."),
    store: Path = _STORE,
    database: str = _DATABASE,
    crops: str = typer.Option("", "--crops", help="Crop sides to store for each site, e.g. 250,64."),
    threshold: float = typer.Option(20.0, "--threshold", help="Dark below this gray level (0-255 scale)."),
    method: str = typer.Option("components", "--method", help="components or dbscan."),
    min_area: int = typer.Option(20, "--min-area", help="Keep clusters of more than this many pixels."),
    progress: bool = _PROGRESS,
    as_json: bool = JSON_OPTION,
) -> None:
    """Detect the sites of every listed image into the store (images already there are skipped: resumable)."""
    from microdl.analysis.damage_candidates import DetectConfig
    from microdl.workflows.damage import ingest as run

    config = DetectConfig(threshold=threshold, method=method, min_area_px=min_area)
    result = run(images_csv, _need_store(store, database), config=config, crop_sizes=_sizes(crops),
                 progress=progress)
    report(result, as_json=as_json, human=f"{result['n_images']} image(s), {result['n_sites']} sites added"
                                          + (f"; {len(result['skipped'])} already in the store" if result["skipped"]
                                             else ""))
