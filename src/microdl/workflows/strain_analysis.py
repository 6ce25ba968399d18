"""What a trained strain-profile network knows: reload curves from its feature space, saliency, filters.

* :func:`predict_curves`: for the 0.1 %-reload profiles of one side of a DDD export, the
  reload stress–strain curve up to 1 % predicted as the mean curve of the ``k`` nearest
  training profiles in the network's feature space (Yang et al. 2020, Figs 4–5), its RMSE
  and 0.2 %-offset yield error, against the label-only baselines on the same profiles;
  also the PCA projection of the features per subset (Fig. 3);
* :func:`explain_profiles`: saliency maps of profile files (plain gradient, guided
  backpropagation...) and the maximised filters of one layer (Figs 6–7).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["predict_curves", "explain_profiles"]


def _model_and_preprocessing(model_dir: str | os.PathLike, device: str | None) -> tuple[Any, dict[str, Any]]:
    from microdl.workflows.strain_predict import load_strain_model

    model, extra = load_strain_model(model_dir, device=device)
    pre = dict(extra.get("preprocessing") or {})
    pre.setdefault("crop", 224)
    pre.setdefault("antialias", False)
    return model, pre


def _features_pca_figure(f_train: Any, y_train: Any, subsets: Sequence[str]) -> Any:
    """PCA (2 components, fitted on all training profiles) per subset, coloured by prior strain."""
    import numpy as np
    from sklearn.decomposition import PCA

    from microdl.analysis import plots
    from microdl.data.strain_profiles import CLASS_LABELS

    z = PCA(n_components=2, random_state=0).fit_transform(f_train)
    names = sorted(set(subsets))
    ncols = min(4, len(names))
    nrows = -(-len(names) // ncols)
    fig, axes = plots.figure(nrows, ncols, size=(3.2 * ncols, 3.0 * nrows), squeeze=False)
    subsets = np.asarray(subsets)
    for ax, name in zip(axes.ravel(), names, strict=False):
        sel = subsets == name
        for k, c in enumerate(CLASS_LABELS):
            m = sel & (np.asarray(y_train) == k)
            ax.scatter(z[m, 0], z[m, 1], s=8, label=f"{c} %")
        ax.set_title(name, fontsize=8)
        ax.set_xlabel("PC 1")
        ax.set_ylabel("PC 2")
    axes.ravel()[0].legend(fontsize=7, title="prior", title_fontsize=7)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    return fig


def predict_curves(model_dir: str | os.PathLike, data: str | os.PathLike, *, side: str = "test",
                   ks: Sequence[int] = (1, 5, 10), profile: str | None = None, out: str | os.PathLike | None = None,
                   mode: str | None = None, modulus_pa: float | None = None, n_examples: int = 4,
                   device: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Reload curves of held-out profiles from their nearest training neighbours in feature space.

    Parameters
    ----------
    model_dir
        A trained (``microdl strain train``) or imported model.
    data
        A ``microdl ddd export`` folder: its split, its 0.1 %-reload profiles and ``curves.npz``.
    side
        Profiles to predict (``"test"``, or ``"val"`` while choosing settings).
    ks
        Neighbour counts (paper: 1, 5, 10).
    profile
        Predict only this profile (its file name in the export), e.g. for one figure.
    out
        Folder for ``curves.json``, ``curves.md``, ``curves.png`` (examples), ``curve_errors.png``
        and ``features_pca.png``; ``None``: nothing written.
    mode
        DDD reference mode (default the model's, else ``"mean"``).
    modulus_pa
        Elastic modulus of the offset line of the yield stress; default the median initial
        slope of the training curves (a jerky reload's own slope is unreliable).
    n_examples
        Profiles shown in ``curves.png``.

    Returns
    -------
    dict
        ``n_train``, ``n_predicted``, ``modulus_pa``, ``summary`` (method -> RMSE and yield
        error statistics), ``profiles`` (per predicted profile: file, RMSE per method),
        ``seconds`` and the written ``files``.

    Raises
    ------
    DataFileError
        ``data`` is not an export folder with curves, or ``profile`` is not a 0.1 %-reload
        profile of ``side``.
    """
    import numpy as np

    from microdl.analysis import plots
    from microdl.analysis.strain_curves import (
        NeighbourCurves,
        baseline_curves,
        curve_errors,
        initial_modulus,
        neighbour_figure,
        plot_errors,
        profile_features,
        reload_curves,
    )
    from microdl.data.strain_datamodule import profile_crops
    from microdl.exceptions import DataFileError, InvalidParameterError
    from microdl.io._atomic import check_output_folder, write_json, write_text
    from microdl.data.ddd_result import read_npz
    from microdl.workflows.strain_train import load_strain_sides

    if side not in ("val", "test"):
        raise InvalidParameterError(f"side must be 'val' or 'test', got {side!r}")
    if not ks or any(int(k) != k or k < 1 for k in ks):
        raise InvalidParameterError(f"ks must be integers >= 1, got {list(ks)!r}")
    folder = Path(data)
    if not (folder / "curves.npz").is_file():
        raise DataFileError(f"{os.fspath(folder)!r} holds no curves.npz: give a 'microdl ddd export' folder")
    if out is not None:
        check_output_folder(out, create=False)
    t0 = time.perf_counter()
    model, pre = _model_and_preprocessing(model_dir, device)
    mode = mode or pre.get("mode") or "mean"
    parts = load_strain_sides(folder, mode=mode, sides=("train", side))
    train = parts["train"].subset([i for i, m in enumerate(parts["train"].meta) if m["reload_pct"] == 0.1])
    target = parts[side].subset([i for i, m in enumerate(parts[side].meta) if m["reload_pct"] == 0.1])
    if profile is not None:
        target = target.subset([i for i, m in enumerate(target.meta) if m["file"] == Path(profile).name])
        if len(target) == 0:
            raise DataFileError(f"profile {profile!r} is not a 0.1 %-reload profile on the {side!r} side of "
                                f"{os.fspath(folder)!r}")
    if len(train) == 0 or len(target) == 0:
        raise DataFileError(f"need 0.1 %-reload profiles on the train and {side!r} sides, got {len(train)} and "
                            f"{len(target)}")
    if max(ks) > len(train):
        raise InvalidParameterError(f"ks must be <= the {len(train)} training profiles, got {max(ks)}")
    curves = read_npz(folder / "curves.npz", what="export curves")
    grid, c_train = reload_curves(curves, [m["sample"] for m in train.meta])
    _, c_target = reload_curves(curves, [m["sample"] for m in target.meta])

    def features(profiles: Any) -> Any:
        return profile_features(model, profile_crops(profiles, int(pre["crop"]), antialias=bool(pre["antialias"]),
                                                     progress=progress))

    f_train, f_target = features(train), features(target)
    if modulus_pa is None:
        slopes = initial_modulus(grid, c_train)
        modulus_pa = float(np.nanmedian(slopes)) if np.isfinite(slopes).any() else None
    knn = NeighbourCurves().fit(f_train, c_train)
    preds = {f"kNN k={k}": knn.predict(f_target, k=int(k)) for k in ks}

    def subset(m: dict) -> tuple:
        return (m["width_um"], m["slip"])

    base = baseline_curves(c_train, [subset(m) for m in train.meta], list(train.labels),
                           [subset(m) for m in target.meta], list(target.labels))
    preds["mean of same width and slip"] = base["subset"]
    preds["mean of same width, slip and true prior (oracle)"] = base["subset_label"]
    errors = {name: curve_errors(c_target, p, grid, modulus_pa=modulus_pa) for name, p in preds.items()}
    result: dict[str, Any] = {
        "model_dir": os.fspath(model_dir), "data": os.fspath(folder), "side": side, "mode": mode,
        "n_train": len(train), "n_predicted": len(target), "modulus_pa": modulus_pa,
        "summary": {name: e["summary"] for name, e in errors.items()},
        "profiles": [{"file": m["file"], "sample": m["sample"],
                      "rmse_mpa": {name: float(e["rmse_mpa"][i]) for name, e in errors.items()}}
                     for i, m in enumerate(target.meta)],
        "files": [],
    }
    if out is not None:
        dest = check_output_folder(out)
        show = list(range(min(n_examples, len(target))))
        fig, _ = neighbour_figure(grid, c_target[show], {int(k): preds[f"kNN k={k}"][show] for k in ks},
                                  titles=[target.meta[i]["sample"] for i in show])
        plots.save(fig, dest / "curves.png")
        fig, ax = plots.figure(size=(7.5, 4.0))
        plot_errors(ax, {name.replace(" (oracle)", "\n(oracle)"): e["rmse_mpa"] for name, e in errors.items()})
        plots.save(fig, dest / "curve_errors.png")
        plots.save(_features_pca_figure(f_train, train.labels, train.subsets()), dest / "features_pca.png")
        lines = [f"# Reload curves from nearest neighbours ({side} side, {len(target)} profiles, "
                 f"{len(train)} training profiles)", "",
                 "| method | median RMSE (MPa) | mean RMSE (MPa) | median abs. yield error (MPa) |",
                 "|---|---|---|---|"]
        for name, s in result["summary"].items():
            lines.append(f"| {name} | {_fmt(s.get('rmse_mpa_median'))} | {_fmt(s.get('rmse_mpa_mean'))} | "
                         f"{_fmt(s.get('yield_abs_error_mpa_median'))} |")
        write_text(dest / "curves.md", "\n".join(lines) + "\n")
        result["files"] = [os.fspath(dest / n) for n in ("curves.json", "curves.md", "curves.png",
                                                         "curve_errors.png", "features_pca.png")]
    result["seconds"] = time.perf_counter() - t0
    if out is not None:
        write_json(Path(out) / "curves.json", result)
    return result


def _fmt(v: float | None) -> str:
    return "–" if v is None else f"{v:.1f}"


def explain_profiles(model_dir: str | os.PathLike, files: Sequence[str | os.PathLike], out: str | os.PathLike, *,
                     methods: Sequence[str] = ("gradient", "guided"), layer: str | None = "stages.0.1.convs.2",
                     top: int = 16, steps: int = 100, seed: int = 0, device: str | None = None) -> dict[str, Any]:
    """Saliency figures of profile files and the maximised filters of one layer.

    Parameters
    ----------
    model_dir
        A trained or imported strain-profile model.
    files
        Profiles (PNG/TIFF 8/16 bit, ``.npy``); each gives ``saliency_<stem>.png``.
    out
        Output folder.
    methods
        Saliency rules (:data:`microdl.analysis.saliency.METHODS`).
    layer
        Module name (``model.named_modules()``) whose channels are maximised
        (``filters.png``, the ``top`` most activated); ``None``: no filters.
    steps, seed
        Gradient-ascent steps from seeded noise (paper: 100).
    """
    import torch

    from microdl.analysis import plots
    from microdl.analysis.saliency import maximise_layer, plot_filter_grid, plot_profile_saliency
    from microdl.data.strain_crops import to_gray255
    from microdl.data.strain_profiles import CLASS_LABELS
    from microdl.exceptions import InvalidParameterError
    from microdl.io._atomic import check_output_folder
    from microdl.io.images import read_gray_image

    if not files and layer is None:
        raise InvalidParameterError("give profile files or a layer to visualise")
    images = [read_gray_image(f) for f in files]
    for f, im in zip(files, images, strict=True):
        to_gray255(im, str(f))
    check_output_folder(out, create=False)
    model, pre = _model_and_preprocessing(model_dir, device)
    dest = check_output_folder(out)
    t0 = time.perf_counter()
    written = []
    for f, im in zip(files, images, strict=True):
        fig = plot_profile_saliency(model, im, int(pre["crop"]), methods=tuple(methods),
                                    class_names=[f"{c} %" for c in CLASS_LABELS])
        written.append(plots.save(fig, dest / f"saliency_{Path(f).stem}.png"))
    activations = None
    if layer is not None:
        imgs, act = maximise_layer(model, layer, size=int(pre["crop"]), steps=steps,
                                   generator=torch.Generator().manual_seed(seed))
        fig = plot_filter_grid(imgs, activations=act, top=top, title=f"{layer}: {steps} ascent steps from noise")
        written.append(plots.save(fig, dest / "filters.png"))
        activations = [float(a) for a in act]
    return {"model_dir": os.fspath(model_dir), "files": [os.fspath(p) for p in written], "methods": list(methods),
            "layer": layer, "activations": activations, "seconds": time.perf_counter() - t0}
