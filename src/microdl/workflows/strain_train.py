"""Strain profiles -> prior deformation: train a classifier, evaluate models, ensembles and the baseline.

``data`` is a ``microdl ddd export`` folder (its ``splits.json``: train / validation /
test by simulation), a CSV label file (``file``, ``prior_pct`` and optional ``sample``,
``width_um``, ``slip``, ``reload_pct``) or an HDF5 file (``profiles``, ``prior_pct``,
optional metadata); the last two are split here by sample with
:func:`microdl.data.strain_profiles.split_profiles`.

* :func:`load_strain_sides`: the three sides as :class:`~microdl.data.strain_profiles.StrainProfiles`;
* :func:`train_strain`: one network on train, early stopping on val (:func:`microdl.train.tasks.strain.fit_strain`);
* :func:`evaluate_strain`: accuracy tables of one or several trained (or imported)
  models, their ensemble (mean softmax) and the two-point baseline (fitted on train)
  on one side, written as ``results.json``, ``results.md`` and ``accuracy.png``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["load_strain_sides", "train_strain", "evaluate_strain"]


def load_strain_sides(data: str | os.PathLike, *, mode: str = "mean", splits: str | os.PathLike | None = None,
                      split_seed: int = 0, sides: Sequence[str] = ("train", "val", "test")) -> dict[str, Any]:
    """Profiles of each requested side of a DDD export (its split file), a CSV label file or an HDF5 file.

    ``sides`` holds ``"train"``, ``"val"``, ``"test"``, or ``"all"`` (every profile, no split).

    Raises
    ------
    DataFileError
        ``data`` is neither an export folder nor a CSV file, or a side is empty.
    """
    from microdl.data.strain_profiles import from_ddd_export, from_hdf5, from_label_csv, split_profiles
    from microdl.exceptions import DataFileError

    path = Path(data)
    if path.is_dir():
        if (path / "manifest.json").is_file() and not (path / "index.csv").is_file():
            raise DataFileError(f"{os.fspath(path)!r} is a 'microdl ddd dataset' folder of simulations: export it "
                                "first ('microdl ddd export DIR --out EXPORT': drops profiles without visible slip, "
                                "writes the split by simulation) and give the export folder")
        if not (path / "index.csv").is_file():
            raise DataFileError(f"{os.fspath(path)!r} is not a 'microdl ddd export' folder (no index.csv); "
                                "give such a folder, a CSV label file or an HDF5 file")
        return {s: from_ddd_export(path, mode=mode, side=None if s == "all" else s, splits=splits) for s in sides}
    if path.suffix.lower() in (".csv", ".h5", ".hdf5"):
        reader = from_label_csv if path.suffix.lower() == ".csv" else from_hdf5
        profiles = reader(path)
        if list(sides) == ["all"]:
            return {"all": profiles}
        parts = split_profiles(profiles, seed=split_seed)
        empty = [s for s in sides if len(parts[s]) == 0]
        if empty:
            raise DataFileError(f"{os.fspath(path)!r} gives no profile for side(s) {empty}: too few samples per "
                                "class and subset (each needs about 4 samples for a test and a validation one)")
        return {s: parts[s] for s in sides}
    raise DataFileError(f"data must be a 'microdl ddd export' folder, a CSV label file or an HDF5 file (.h5, .hdf5), "
                        f"got {os.fspath(path)!r}")


def train_strain(data: str | os.PathLike, run_dir: str | os.PathLike, config: Any = None, *, mode: str = "mean",
                 splits: str | os.PathLike | None = None, split_seed: int = 0, resume: bool = True,
                 progress: bool = True, catalog: Any = None) -> dict[str, Any]:
    """Train one classifier on the train side, early stopping on the validation side.

    Parameters
    ----------
    data
        DDD export folder or CSV label file (module notes).
    run_dir
        Run folder (see :func:`microdl.train.tasks.strain.fit_strain`); rerunning resumes.
    config
        :class:`~microdl.train.tasks.strain.StrainTrainConfig` (default: the paper's settings).
    mode
        DDD reference mode (``"mean"`` or ``"full"``); ignored for CSV data.
    splits, split_seed
        Split file of a DDD export (default its ``splits.json``); seed of the split of CSV data.
    """
    from microdl.train.tasks.strain import StrainTrainConfig, fit_strain

    config = config if config is not None else StrainTrainConfig()
    parts = load_strain_sides(data, mode=mode, splits=splits, split_seed=split_seed, sides=("train", "val"))
    is_ddd = Path(data).is_dir()
    result = dict(fit_strain(config, parts["train"], parts["val"], run_dir, mode=mode if is_ddd else None,
                             resume=resume, progress=progress, catalog=catalog))
    result["data"] = os.fspath(data)
    result["counts"] = {s: parts[s].counts() for s in parts}
    return result


def _model_label(path: Path, extra: dict[str, Any]) -> str:
    arch = (extra.get("train_config") or {}).get("model") or extra.get("architecture") or "model"
    return f"{path.name} ({arch})"


def evaluate_strain(model_dirs: Sequence[str | os.PathLike], data: str | os.PathLike, *, side: str = "test",
                    out: str | os.PathLike | None = None, mode: str | None = None,
                    splits: str | os.PathLike | None = None, split_seed: int = 0, baseline: bool = True,
                    baseline_seed: int = 0, ensemble: bool = True, device: str | None = None,
                    progress: bool = True) -> dict[str, Any]:
    """Accuracy of models, their ensemble and the two-point baseline on one side of the data.

    Parameters
    ----------
    model_dirs
        Run folders of :func:`train_strain` or folders of ``microdl strain import-keras``
        (or their ``model.pt``). Each model's crops follow its recorded preprocessing
        (imported Keras models: 224, no rounding).
    data
        DDD export folder or CSV label file.
    side
        ``"test"`` (default; touch it once, for the table), ``"val"``, or ``"all"`` (every
        profile without a split, e.g. profiles from elsewhere; no baseline then).
    out
        Folder for ``results.json``, ``results.md`` and ``accuracy.png`` (``None``: nothing written).
    mode
        DDD reference mode; default the first model's recorded mode, else ``"mean"``.
    ensemble
        Also score the mean softmax of the models (when there are several).
    baseline, baseline_seed
        Also fit the two-point baseline (:func:`microdl.features.two_point.two_point_baseline`)
        on the train side and score it.

    Returns
    -------
    dict
        ``side``, ``counts``, ``reports`` (name -> :func:`~microdl.analysis.strain_eval.accuracy_report`),
        ``models`` (name -> path and preprocessing), ``seconds`` and the written ``files``.
    """
    import numpy as np

    from microdl.analysis import plots
    from microdl.analysis.strain_eval import accuracy_figure, accuracy_report, profile_probabilities, report_markdown
    from microdl.exceptions import InvalidParameterError
    from microdl.io._atomic import check_output_folder, write_json, write_text
    from microdl.workflows.strain_predict import load_strain_model

    if side not in ("val", "test", "all"):
        raise InvalidParameterError(f"side must be 'val', 'test' or 'all', got {side!r}")
    if not model_dirs and not baseline:
        raise InvalidParameterError("give at least one model or ask for the baseline")
    if side == "all" and baseline:
        raise InvalidParameterError("side 'all' (every profile, e.g. someone else's profiles) has no training side "
                                    "for the baseline: ask for --no-baseline")
    if out is not None:
        check_output_folder(out, create=False)
    t0 = time.perf_counter()
    loaded = []
    for d in model_dirs:
        model, extra = load_strain_model(d, device=device)
        loaded.append((Path(d), model, extra))
    if mode is None:
        mode = next(((e.get("preprocessing") or {}).get("mode") for _, _, e in loaded
                     if (e.get("preprocessing") or {}).get("mode")), "mean")
    wanted = (side, "train") if baseline else (side,)
    parts = load_strain_sides(data, mode=mode, splits=splits, split_seed=split_seed, sides=wanted)
    target = parts[side]
    reports, models, probs = {}, {}, []
    for path, model, extra in loaded:
        pre = extra.get("preprocessing") or {}
        crop = int(pre.get("crop", 224))
        p = profile_probabilities(model, target, crop=crop, antialias=bool(pre.get("antialias", False)),
                                  round_uint8=bool(pre.get("round_uint8", False)), progress=progress)
        name = _model_label(path, extra)
        reports[name] = accuracy_report(p, target.labels, target.meta)
        models[name] = {"path": os.fspath(path), "preprocessing": pre}
        probs.append(p)
    if ensemble and len(probs) > 1:
        reports["ensemble (mean softmax)"] = accuracy_report(np.mean(probs, axis=0), target.labels, target.meta)
    if baseline:
        from microdl.features.two_point import two_point_baseline

        train = parts["train"]
        pipe = two_point_baseline(random_state=baseline_seed)
        pipe.fit(list(train.images), train.labels)
        p = np.zeros((len(target), 3))
        p[:, pipe.classes_] = pipe.predict_proba(list(target.images))
        reports["two-point + PCA + random forest"] = accuracy_report(p, target.labels, target.meta)
    result = {"data": os.fspath(data), "side": side, "mode": mode, "counts": {s: parts[s].counts() for s in parts},
              "reports": reports, "models": models, "seconds": time.perf_counter() - t0, "files": []}
    if out is not None:
        folder = check_output_folder(out)
        where = "all profiles" if side == "all" else f"the {side} side"
        ref = f" ({mode} reference)" if Path(data).is_dir() else ""
        title = f"Prior-strain accuracy on {where} of {Path(data).name}{ref}"
        write_text(folder / "results.md", f"# {title}\n\n" + report_markdown(reports, title="Accuracy"))
        plots.save(accuracy_figure(reports), folder / "accuracy.png")
        result["files"] = [os.fspath(folder / n) for n in ("results.json", "results.md", "accuracy.png")]
        write_json(folder / "results.json", result)
    return result
