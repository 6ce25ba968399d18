"""Training of damage-site classifiers (one stage of Kerzel et al.'s two) on labelled crops.

* :class:`DamageTrainConfig`: frozen, validated, saved as ``config.json``;
* :class:`DamageTask`: cross-entropy (optionally class-balanced) on augmented crops
  (:mod:`microdl.data.damage_aug`, applied to each training batch on its device), AdamW;
  ``val_loss`` and ``val_acc`` per epoch;
* :func:`fit_damage`: arrays in, a run folder out, through :func:`microdl.train.runner.fit`
  (checkpoints, resume, early stopping on ``val_loss``, ``model.pt`` with the class names).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import lightning.pytorch as pl
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from microdl.data.damage_aug import SiteAugmentConfig, augment_sites
from microdl.exceptions import InvalidParameterError, ShapeError, UnknownNameError, check_positive
from microdl.models.registry import create_model, list_models, save_model
from microdl.train.runner import RunConfig, check_int, fit

if TYPE_CHECKING:  # pragma: no cover
    from microdl.data.catalog import Catalog

__all__ = ["DamageTrainConfig", "DamageTask", "fit_damage", "DAMAGE_MODELS"]

DAMAGE_MODELS = ("kerzel2021-nin", "kerzel2021-stage1", "damage-nin-small", "micrograph-resnet-small",
                 "micrograph-resnet")
"""Registry models a damage classifier can be (the micrograph encoders with a linear head)."""


@dataclass(frozen=True)
class DamageTrainConfig(RunConfig):
    """Configuration of one classifier training run.

    Parameters
    ----------
    model
        One of :data:`DAMAGE_MODELS`.
    classes
        Class names, in the order of the label indices.
    batch_size, lr, weight_decay
        Crops per batch and AdamW settings.
    balanced
        Weight the loss by inverse class frequency (the authors' classes are unbalanced).
    rotation_deg, shear_deg, flip, dropout_p, blur_p
        Augmentations (:class:`~microdl.data.damage_aug.SiteAugmentConfig`).
    max_epochs, patience, seed, accelerator, devices, num_nodes, strategy, precision, log_every_n_steps, num_threads
        How to train (:class:`microdl.train.runner.TrainerConfig`).
    """

    model: str = "damage-nin-small"
    classes: tuple[str, ...] = ("notch", "shadow", "interface", "martensite")
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    balanced: bool = True
    rotation_deg: float = 180.0
    shear_deg: float = 15.0
    flip: bool = True
    dropout_p: float = 0.01
    blur_p: float = 0.3
    max_epochs: int = 40
    patience: int = 8
    seed: int = 0
    accelerator: str = "auto"
    devices: int | Literal["auto"] = 1
    num_nodes: int = 1
    strategy: Literal["auto", "ddp"] = "auto"
    precision: str = "32-true"
    log_every_n_steps: int = 10
    num_threads: int | None = None

    def __post_init__(self) -> None:
        if self.model not in DAMAGE_MODELS or self.model not in list_models():
            raise UnknownNameError(f"model must be one of {list(DAMAGE_MODELS)}, got {self.model!r}")
        object.__setattr__(self, "classes", tuple(self.classes))
        if len(self.classes) < 2 or len(set(self.classes)) != len(self.classes) or not all(self.classes):
            raise InvalidParameterError(f"classes must be >= 2 distinct non-empty names, got {list(self.classes)}")
        check_int("batch_size", self.batch_size, 2)
        check_positive("lr", self.lr)
        check_positive("weight_decay", self.weight_decay, allow_zero=True)
        self.augment_config()  # validates the augmentation fields

    def augment_config(self) -> SiteAugmentConfig:
        return SiteAugmentConfig(rotation_deg=self.rotation_deg, shear_deg=self.shear_deg, flip=self.flip,
                                 dropout_p=self.dropout_p, blur_p=self.blur_p)


class DamageTask(pl.LightningModule):
    """Cross-entropy classification of augmented crops; exports ``model.pt`` with class names."""

    monitor, monitor_mode = "val_loss", "min"

    def __init__(self, config: DamageTrainConfig, class_weights: list[float], extra: Mapping[str, Any],
                 init_state: Mapping[str, torch.Tensor] | None = None, model_kwargs: Mapping[str, Any] | None = None
                 ) -> None:
        super().__init__()
        self.config, self.extra = config, dict(extra)
        n = len(config.classes)
        self.model = create_model(config.model, **{**dict(model_kwargs or {}), "n_classes": n})
        if init_state is not None:  # a pretrained encoder: every weight but the new class head
            own = self.model.state_dict()
            self.model.load_state_dict({k: v for k, v in init_state.items()
                                        if k in own and own[k].shape == v.shape}, strict=False)
        self.register_buffer("weights", torch.tensor(class_weights, dtype=torch.float32))
        self.augment = config.augment_config()
        self._gen = torch.Generator().manual_seed(config.seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.classify(x)

    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.float(), y, weight=self.weights if self.config.balanced else None)

    def on_train_epoch_start(self) -> None:
        # a generator per epoch: a resumed run draws the same augmentations as an uninterrupted one
        self._gen = torch.Generator().manual_seed(self.config.seed * 100003 + self.current_epoch)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = self._loss(self(augment_sites(x, self.augment, self._gen)), y)
        self.log("train_loss", loss, on_step=True, on_epoch=True, batch_size=len(y))
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        logits = self(x)
        self.log("val_loss", self._loss(logits, y), on_epoch=True, batch_size=len(y))
        self.log("val_acc", (logits.argmax(1) == y).float().mean(), on_epoch=True, batch_size=len(y))

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay)

    def export_model(self, path: str | os.PathLike, extra: Mapping[str, Any]) -> Path:
        return save_model(self.model.cpu(), path, extra={**dict(extra), **self.extra})


class _CropsDataModule(pl.LightningDataModule):
    def __init__(self, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
                 batch_size: int, seed: int) -> None:
        super().__init__()
        self.train_set = TensorDataset(_as_tensor(train[0]), torch.as_tensor(train[1], dtype=torch.long))
        self.val_set = TensorDataset(_as_tensor(val[0]), torch.as_tensor(val[1], dtype=torch.long))
        self.batch_size, self.seed = batch_size, seed
        self.sizes = {"n_train": len(train[1]), "n_val": len(val[1])}

    def train_dataloader(self) -> DataLoader:
        gen = torch.Generator().manual_seed(self.seed)
        return DataLoader(self.train_set, batch_size=self.batch_size, shuffle=True, generator=gen, drop_last=False)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=256)


def _as_tensor(crops: np.ndarray) -> torch.Tensor:
    """uint8 / uint16 / float crops ``(n, s, s)`` -> float32 ``(n, 1, s, s)`` on a 0-1 scale."""
    crops = np.asarray(crops)
    if crops.ndim != 3 or crops.shape[1] != crops.shape[2]:
        raise ShapeError(f"crops must be square images (n, s, s), got shape {crops.shape}")
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(crops.dtype, 1.0)
    return torch.from_numpy(crops.astype(np.float32) / scale)[:, None]


def fit_damage(config: DamageTrainConfig, train: tuple[np.ndarray, np.ndarray], val: tuple[np.ndarray, np.ndarray],
               run_dir: str | os.PathLike, *, run_info: Mapping[str, Any] | None = None, resume: bool = True,
               progress: bool = True, catalog: Catalog | None = None,
               init: str | os.PathLike | None = None) -> dict[str, Any]:
    """Train a classifier on ``train = (crops, labels)``, early stopping on ``val``.

    ``crops`` are ``(n, s, s)`` images, ``labels`` integer indices into ``config.classes``.
    ``init``: a ``model.pt`` (e.g. a self-supervised encoder of the same registry model)
    whose weights start the training (fine-tuning); the class head starts fresh.
    Returns :func:`microdl.train.runner.fit`'s result.
    """
    init_state, model_kwargs = None, None
    if init is not None:
        from microdl.models.registry import load_model

        net, _ = load_model(init, device="cpu")
        if net.model_name != config.model:
            raise InvalidParameterError(f"init model {os.fspath(init)!r} is a {net.model_name!r}, but the "
                                        f"classifier is a {config.model!r}; pass --model {net.model_name}")
        init_state, model_kwargs = net.state_dict(), dict(getattr(net, "model_cfg", {}) or {})
    n = len(config.classes)
    for name, (x, y) in (("train", train), ("val", val)):
        y = np.asarray(y)
        if len(x) != len(y) or len(y) == 0:
            raise InvalidParameterError(f"{name} needs as many labels as crops (and at least one), "
                                        f"got {len(x)} crops and {len(y)} labels")
        if y.min() < 0 or y.max() >= n:
            raise InvalidParameterError(f"{name} labels must be class indices 0..{n - 1}, got {y.min()}..{y.max()}")
    counts = np.bincount(np.asarray(train[1]), minlength=n).astype(float)
    weights = (counts.sum() / (n * np.maximum(counts, 1))).tolist()
    trainer_config = config.trainer_config()
    trainer_config.check_devices()
    info = dict(run_info or {})
    extra = {**info, "classes": list(config.classes), "crop": int(np.asarray(train[0]).shape[-1]),
             "input": "gray crops (n, 1, s, s) on a 0-1 scale, centred on the site"}
    dm = _CropsDataModule(train, val, config.batch_size, config.seed)
    return fit(lambda: DamageTask(config, weights, extra, init_state, model_kwargs), dm, run_dir, trainer_config, catalog, resume=resume,
               progress=progress, record_config={**config.to_dict(), **info}, name=f"train:damage-{config.model}",
               resume_keys=("model", "classes", "batch_size", "lr", "weight_decay", "balanced", "rotation_deg",
                            "shear_deg", "flip", "dropout_p", "blur_p", "seed", *sorted(info)))
