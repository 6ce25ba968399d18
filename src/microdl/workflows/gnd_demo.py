"""The end-to-end demo behind the README's first command.

Generates a small balanced data set of 7 x 7 GND windows, trains the
``zhang2019-gnd`` ConvNet briefly, evaluates it, the shipped pretrained model
and the centre-pixel baseline on held-out windows, predicts a whole generated
GND map whose true rho_t and N are known, and writes figures. A few minutes on
2 CPU cores.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from microdl.data.catalog import Catalog


def run_demo(
    out: str | os.PathLike,
    *,
    seed: int = 0,
    per_class: int = 1000,
    epochs: int = 3,
    map_pixels: int = 40,
    map_lines: int = 40,
    progress: bool = True,
    log: Callable[[str], None] = print,
    catalog: Catalog | None = None,
) -> dict[str, Any]:
    """Run the demo and return a summary with the paths of every figure it wrote.

    Parameters
    ----------
    out
        Output folder (created).
    seed
        Seed for data generation and training.
    per_class
        Training windows per line count N; validation and test get a fifth and a third.
    epochs
        Training epochs of the brief run.
    map_pixels, map_lines
        Size (pixels per side) and number of dislocation lines of the whole map
        predicted at the end.
    progress
        Progress bars on stderr.
    log
        Where status lines go.
    catalog
        Where the data sets and the training run are recorded; ``None``: the default catalog.

    Returns
    -------
    dict
        ``summary`` (sizes, metrics in percent / fractions, densities in m^-2,
        seconds) and ``figures`` (paths of the PNG files).
    """
    from microdl.analysis.gnd import evaluate_gnd, mape_percent, predict_map
    from microdl.analysis.gnd_figures import plot_map_prediction
    from microdl.data.catalog import Catalog
    from microdl.data.gnd_dataset import load_gnd_dataset, make_gnd_dataset
    from microdl.exceptions import DataFileError
    from microdl.features.centre_pixel import CentrePixelBaseline
    from microdl.io._atomic import check_output_folder, save_npy
    from microdl.models.gnd_io import load_gnd_model
    from microdl.models.pretrained import resolve_model_path
    from microdl.simulate.gnd_lines import GNDLineConfig, generate_map
    from microdl.train.tasks.gnd import GNDTrainConfig, fit_gnd

    out = check_output_folder(out)
    catalog = catalog if catalog is not None else Catalog()
    catalog.check_writable()
    t0 = time.perf_counter()
    summary: dict[str, Any] = {}
    figures: list[str] = []

    log(f"[1/5] generating GND windows ({per_class} per class) ...")
    stats = {}
    for split, n, off in (("train", per_class, 0), ("val", max(per_class // 5, 20), 1),
                          ("test", max(per_class // 3, 20), 2)):
        stats[split] = make_gnd_dataset(out / "data" / f"{split}.h5", n, seed=seed * 1000 + off,
                                        progress=progress, catalog=catalog)
    train, val, test = (load_gnd_dataset(out / "data" / f"{s}.h5") for s in ("train", "val", "test"))
    summary["windows_train_val_test"] = [len(train.rho_t), len(val.rho_t), len(test.rho_t)]
    summary["pearson_n_rho_t"] = round(stats["train"]["pearson_n_rho_t"], 3)
    summary["generator_windows_per_second"] = round(stats["train"].get("windows_per_second", float("nan")))

    log(f"[2/5] training gnd-fcn7 for {epochs} epochs (MSLE, ratio 0.5) ...")
    cfg = GNDTrainConfig(model="gnd-fcn7", ratio=0.5, reg="msle", max_epochs=epochs, patience=epochs,
                         seed=seed)
    fit_gnd(cfg, train, val, out / "run", resume=True, progress=progress, catalog=catalog)
    brief = load_gnd_model(out / "run" / "model.pt")

    log("[3/5] evaluating on held-out windows ...")
    m_brief = evaluate_gnd(brief, test.gnd, test.rho_t, test.n_lines, figures_dir=out / "figures" / "brief")
    summary["brief_model_mape_rho_t_percent"] = round(m_brief["mape_rho_t"], 1)
    summary["brief_model_n_accuracy"] = round(m_brief["n_accuracy"], 3)
    best = brief
    for name in ("zhang2019-gnd", "gnd-fcn7", "gnd-anchored"):
        try:
            shipped = load_gnd_model(resolve_model_path(name))
        except DataFileError as exc:
            log(f"      (no shipped model: {exc})")
            continue
        m_ship = evaluate_gnd(shipped, test.gnd, test.rho_t, test.n_lines,
                              figures_dir=out / "figures" / f"shipped-{name}")
        summary[f"shipped_{name}_mape_rho_t_percent"] = round(m_ship["mape_rho_t"], 1)
        summary[f"shipped_{name}_n_accuracy"] = round(m_ship["n_accuracy"], 3)
    try:
        best = load_gnd_model(resolve_model_path("default"))
    except DataFileError:
        pass
    # The stronger of the two centre-pixel baselines (gradient boosting on screw, edge, |rho_GND|).
    base = CentrePixelBaseline(method="gbdt", random_state=seed).fit(train.gnd, train.rho_t, train.n_lines)
    rho_b, n_b = base.predict(test.gnd)
    summary["centre_pixel_gbdt_mape_rho_t_percent"] = round(float(mape_percent(test.rho_t, rho_b)), 1)
    summary["centre_pixel_gbdt_n_accuracy"] = round(float((n_b == test.n_lines).mean()), 3)

    log(f"[4/5] predicting a whole {map_pixels} x {map_pixels} map with {map_lines} lines ...")
    # Longer walks than the 21 x 21 training maps so that lines also reach the map's centre.
    nodes = map_pixels + 1
    gmap = generate_map(map_lines, grid_pixels=map_pixels, rng=seed + 7,
                        config=GNDLineConfig(min_walk_nodes=2 * nodes, max_walk_nodes=8 * nodes))
    t_map = time.perf_counter()
    rho_map, n_map, spread = predict_map(best, gmap.gnd[..., :2])
    summary["map_predict_seconds"] = round(time.perf_counter() - t_map, 3)
    inside = gmap.n_lines > 0
    summary["map_mean_rho_t_true_per_m2"] = float(f"{gmap.rho_t[inside].mean():.4g}")
    summary["map_mean_rho_t_pred_per_m2"] = float(f"{rho_map[inside].mean():.4g}")
    summary["map_mean_rho_gnd_per_m2"] = float(f"{gmap.gnd[..., 2][inside].mean():.4g}")
    save_npy(out / "map_gnd.npy", gmap.gnd[..., :2])
    figures.append(str(plot_map_prediction(
        gmap.gnd[..., :2], rho_map, n_map, out / "figures" / "map_prediction.png",
        truth_rho_t=gmap.rho_t, truth_n_lines=gmap.n_lines, log_spread=spread,
        title="generated map: prediction (top) and truth (bottom)")))

    log("[5/5] done")
    figures += sorted(str(p) for p in (out / "figures").rglob("*.png") if str(p) not in figures)
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    summary["out"] = str(out)
    return {"summary": summary, "figures": figures}
