"""Strain profiles -> prior deformation: import the published Keras model, predict files.

``import_keras`` turns a Keras 2 file of the Yang et al. (2020) family into a
microdl model folder (``model.pt`` from :func:`microdl.models.registry.save_model`
and ``config.json``: architecture, source file, its SHA-256, Keras version) and
records it in the catalog. ``predict_strain_files`` reads PNG/TIFF (8 or 16 bit)
or ``.npy`` profiles, makes the 24 crops of each and averages the softmax.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["import_keras", "load_strain_model", "predict_strain_files", "CLASS_NAMES"]

CLASS_NAMES = ("0.1%", "1%", "10%")


def import_keras(keras_path: str | os.PathLike, out: str | os.PathLike, *, arch: str = "yang2020-resnet",
                 catalog: Any = None) -> dict[str, Any]:
    """Import a Keras 2 ``.hdf5`` model into the microdl model folder ``out``.

    Raises
    ------
    DataFileError
        If the file is unreadable or of another architecture (naming the first
        layer that does not fit); nothing is written then.
    """
    from microdl.data.catalog import Catalog
    from microdl.io._atomic import check_output_folder, write_json
    from microdl.io.keras_h5 import read_keras_h5, sha256_file
    from microdl.models.registry import save_model
    from microdl.models.yang2020_keras import load_keras_yang2020
    from microdl.models.zhang2019 import count_parameters

    check_output_folder(out, create=False)
    keras_path = Path(keras_path)
    kf = read_keras_h5(keras_path)
    model = load_keras_yang2020(kf, arch)  # checks every layer before anything is written
    sha = sha256_file(keras_path)
    config = {"architecture": arch, "source_file": str(keras_path.resolve()), "source_sha256": sha,
              "keras_version": kf.keras_version, "keras_backend": kf.backend,
              "parameters": count_parameters(model),
              "input": "24 crops (n, 1, 224, 224) of gray values 0..255; softmax averaged per profile",
              "classes_prior_strain_percent": [0.1, 1.0, 10.0]}
    out = check_output_folder(out)
    save_model(model, out / "model.pt", extra=config)
    write_json(out / "config.json", config)
    catalog = catalog if catalog is not None else Catalog()
    eid = catalog.record("run", f"strain-import-keras:{keras_path.name}", config=config, path=out, checksum=sha)
    return {"model_dir": str(out), "id": eid, **config}


def load_strain_model(model_dir: str | os.PathLike, device: str | None = None):
    """Load ``model.pt`` of a folder written by :func:`import_keras` (or a ``model.pt`` file)."""
    from microdl.exceptions import DataFileError
    from microdl.models.registry import load_model
    from microdl.models.yang2020 import Yang2020ResNet

    path = Path(model_dir)
    if path.is_dir():
        path = path / "model.pt"
    model, extra = load_model(path, device=device)
    if not isinstance(model, Yang2020ResNet):
        raise DataFileError(f"{path} holds {type(model).__name__}, not a strain-profile model (yang2020-resnet)")
    return model, extra


def predict_strain_files(model_dir: str | os.PathLike, files: Sequence[str | os.PathLike], *,
                         crop: int | None = None, device: str | None = None,
                         antialias: bool | None = None) -> dict[str, Any]:
    """Class probabilities (mean softmax over 24 crops) and the predicted prior strain per file.

    ``crop`` and ``antialias`` default to the preprocessing the model was trained with
    (recorded in ``model.pt``; an imported Keras model: 224, no antialiasing). Every
    file is read and checked before the first prediction, so a bad file fails fast.
    """
    from microdl.analysis.strain_eval import profile_probabilities
    from microdl.data.strain_crops import crop_scales, to_gray255
    from microdl.exceptions import InvalidParameterError
    from microdl.io.images import read_gray_image
    from microdl.models.yang2020 import PRIOR_STRAIN_PERCENT

    if not files:
        raise InvalidParameterError("give at least one profile file")
    if crop is not None:
        crop_scales(crop)
    images = [read_gray_image(f) for f in files]
    for f, im in zip(files, images, strict=True):
        to_gray255(im, str(f))  # shape and finiteness, naming the file, before the model is loaded
    model, extra = load_strain_model(model_dir, device=device)
    pre = extra.get("preprocessing") or {}
    crop = int(pre.get("crop", 224)) if crop is None else crop
    antialias = bool(pre.get("antialias", False)) if antialias is None else antialias
    t0 = time.perf_counter()
    probs = profile_probabilities(model, images, crop=crop, antialias=antialias,
                                  round_uint8=bool(pre.get("round_uint8", False)), batch_profiles=1)
    rows = []
    for f, p in zip(files, probs, strict=True):
        k = int(p.argmax())
        rows.append({"file": str(f), "probabilities": dict(zip(CLASS_NAMES, map(float, p), strict=True)),
                     "class": k, "prior_strain_percent": PRIOR_STRAIN_PERCENT[k]})
    return {"model_dir": str(model_dir), "crop": crop, "antialias": antialias, "n_crops": 24,
            "seconds": time.perf_counter() - t0, "predictions": rows}
