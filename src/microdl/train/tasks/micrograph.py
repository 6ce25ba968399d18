"""Training of micrograph embeddings: Siamese (contrastive), triplet, supervised and SimCLR objectives.

* :data:`PRESETS`: the four objectives as named presets (``siamese`` is the objective of
  Sardeshmukh et al.; ``supervised`` the obvious baseline; ``simclr`` needs no labels);
* :class:`MicrographTrainConfig`: frozen, validated configuration saved as ``config.json``;
* :class:`MicrographTask`: the LightningModule (registry encoder, the objective's loss,
  AdamW; per epoch ``val_loss`` of the objective on the validation crops and, with labels,
  ``val_knn_acc``: leave-one-out 1-NN accuracy of the per-image mean embeddings);
* :func:`fit_micrograph`: data module + task through :func:`microdl.train.runner.fit`
  (checkpoints, resume, early stopping on ``val_loss``, ``model.pt`` export, catalog).

Losses: :mod:`microdl.train.metric_losses`. Data: :mod:`microdl.data.micrograph_datamodule`.
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

from microdl._registry import Registry
from microdl.exceptions import InvalidParameterError, UnknownNameError, check_positive
from microdl.models.registry import create_model, list_models, save_model
from microdl.train.metric_losses import (batch_hard_triplet_loss, contrastive_loss, nt_xent_loss,
                                         pairwise_distances)
from microdl.train.runner import RunConfig, check_int, fit

if TYPE_CHECKING:  # pragma: no cover
    from microdl.data.catalog import Catalog
    from microdl.data.micrographs import MicrographSet

__all__ = ["OBJECTIVES", "PRESETS", "MicrographTrainConfig", "MicrographTask", "fit_micrograph",
           "preset_config", "RESUME_KEYS"]

OBJECTIVES = ("contrastive", "triplet", "supervised", "simclr")
"""Training objectives; ``simclr`` is the only one that needs no labels."""

RESUME_KEYS = ("objective", "model", "embedding_dim", "crop", "crops_per_image", "batch_size", "lr",
               "weight_decay", "margin", "temperature", "seed")
"""Fields that define what is learned; a resumed run must agree on them."""

PRESETS: Registry[dict[str, Any]] = Registry("micrograph training preset")
PRESETS.add("siamese", {"objective": "contrastive", "margin": 1.0},
            summary="Siamese pairs with the contrastive loss (Sardeshmukh et al.; Hadsell et al. 2006), margin 1 "
                    "on unit embeddings")
PRESETS.add("triplet", {"objective": "triplet", "margin": 0.2},
            summary="Triplets with batch-hard mining (Hermans et al. 2017), margin 0.2, P x K batches")
PRESETS.add("supervised", {"objective": "supervised"},
            summary="Cross-entropy of a linear classifier on the embedding (the baseline)")
PRESETS.add("simclr", {"objective": "simclr", "temperature": 0.5},
            summary="Self-supervised SimCLR, NT-Xent on two augmented views (Chen et al. 2020); no labels")


@dataclass(frozen=True)
class MicrographTrainConfig(RunConfig):
    """Configuration of one embedding training run.

    Parameters
    ----------
    objective
        One of :data:`OBJECTIVES`.
    model, embedding_dim
        Registry encoder (``micrograph-resnet-small``, or the wider ``micrograph-resnet``) and embedding length.
    crop, crops_per_image
        Crop side (px) and random crops drawn per image and epoch.
    batch_size
        Crops (supervised, triplet), pairs (contrastive) or images with two views (simclr) per batch.
    lr, weight_decay
        AdamW settings.
    margin
        Contrastive / triplet margin (unit embeddings: distances in [0, 2]).
    temperature
        NT-Xent temperature.
    max_epochs, patience, seed, accelerator, devices, num_nodes, strategy, precision, log_every_n_steps, num_threads
        How to train (:class:`microdl.train.runner.TrainerConfig`); early stopping watches ``val_loss``.
        One device (a GPU when present): the validation metrics need every crop in one process.
    """

    objective: str = "contrastive"
    model: str = "micrograph-resnet-small"
    embedding_dim: int = 64
    crop: int = 96
    crops_per_image: int = 8
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    margin: float = 1.0
    temperature: float = 0.5
    max_epochs: int = 60
    patience: int = 10
    seed: int = 0
    accelerator: str = "auto"
    devices: int | Literal["auto"] = 1
    num_nodes: int = 1
    strategy: Literal["auto", "ddp"] = "auto"
    precision: str = "32-true"
    log_every_n_steps: int = 10
    num_threads: int | None = None

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise InvalidParameterError(f"objective must be one of {list(OBJECTIVES)}, got {self.objective!r}")
        if self.model not in list_models() or not self.model.startswith("micrograph"):
            names = [m for m in list_models() if m.startswith("micrograph")]
            raise UnknownNameError(f"model must be one of {names}, got {self.model!r}")
        check_int("embedding_dim", self.embedding_dim, 2)
        check_int("crop", self.crop, 16)
        check_int("crops_per_image", self.crops_per_image, 1)
        check_int("batch_size", self.batch_size, 4)
        for name in ("lr", "margin", "temperature"):
            check_positive(name, getattr(self, name))
        if self.devices != 1 or self.num_nodes != 1:
            raise InvalidParameterError(f"devices and num_nodes must be 1 (the validation metrics gather every "
                                        f"crop on one device), got devices={self.devices!r}, "
                                        f"num_nodes={self.num_nodes!r}")
        if not isinstance(self.weight_decay, (int, float)) or self.weight_decay < 0:
            raise InvalidParameterError(f"weight_decay must be a number >= 0, got {self.weight_decay!r}")
        self.trainer_config()


def preset_config(name: str, **overrides: Any) -> MicrographTrainConfig:
    """The configuration of preset ``name`` (:data:`PRESETS`) with ``overrides`` on top."""
    return MicrographTrainConfig(**{**PRESETS.get(name), **overrides})


def _knn_accuracy(emb: torch.Tensor, labels: torch.Tensor) -> float:
    """Leave-one-out 1-NN accuracy (cosine) of unit embeddings ``(n, d)`` with labels ``(n,)``."""
    sim = emb @ emb.T
    sim.fill_diagonal_(-float("inf"))
    return float((labels[sim.argmax(1)] == labels).float().mean())


class MicrographTask(pl.LightningModule):
    """LightningModule of the four objectives on a registry encoder.

    Parameters
    ----------
    model_name, embedding_dim, n_classes
        Encoder (``n_classes`` > 0 adds the linear classifier of the supervised objective).
    objective, margin, temperature
        The loss (:data:`OBJECTIVES`) and its settings.
    lr, weight_decay
        AdamW.
    extra
        Stored in the exported ``model.pt`` (class names, crop, objective...).

    Notes
    -----
    Training batches: ``(x, y)`` (supervised, triplet), ``(xa, xb, same)`` (contrastive),
    ``(view1, view2, image)`` (simclr; two crops of one image are never negatives); validation batches ``(x, y, image)`` (``y = -1`` when unlabelled).
    """

    monitor = "val_loss"
    monitor_mode = "min"

    def __init__(self, model_name: str = "micrograph-resnet", embedding_dim: int = 64, n_classes: int = 0,
                 objective: str = "contrastive", margin: float = 1.0, temperature: float = 0.5,
                 lr: float = 1e-3, weight_decay: float = 1e-4, extra: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        if objective == "supervised" and n_classes < 2:
            raise InvalidParameterError(f"the supervised objective needs >= 2 classes, got n_classes={n_classes}")
        self.model = create_model(model_name, embedding_dim=embedding_dim,
                                  n_classes=n_classes if objective == "supervised" else 0)
        self.objective, self.margin, self.temperature = objective, float(margin), float(temperature)
        self.lr, self.weight_decay = float(lr), float(weight_decay)
        self.extra = dict(extra or {})
        self._val: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def _loss(self, batch: Any) -> tuple[torch.Tensor, int]:
        """The objective's loss, in float32 outside autocast (bf16 distances are off by ~0.03)."""
        if self.objective in ("contrastive", "simclr"):
            a, b, pair_info = batch  # same-class flags (contrastive) or source images (simclr)
            z = self(torch.cat([a, b])).float()
        else:
            x, y = batch
            z = (self.model.classify(x) if self.objective == "supervised" else self(x)).float()
        with torch.autocast(z.device.type, enabled=False):
            if self.objective == "contrastive":
                return contrastive_loss(z[: len(a)], z[len(a):], pair_info, self.margin), len(a)
            if self.objective == "simclr":
                return nt_xent_loss(z[: len(a)], z[len(a):], self.temperature, groups=pair_info), len(a)
            if self.objective == "triplet":
                return batch_hard_triplet_loss(z, y, self.margin), len(x)
            return F.cross_entropy(z, y), len(x)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss, bs = self._loss(batch)
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=bs, sync_dist=True)
        return loss

    def on_validation_epoch_start(self) -> None:
        self._val = []

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y, image = batch
        z = self(x)
        logits = self.model.classifier(z) if self.objective == "supervised" else None  # one forward pass
        self._val.append((z.detach().float(), y.detach(), image.detach(),
                          None if logits is None else logits.detach().float()))

    def _val_loss(self, z: torch.Tensor, y: torch.Tensor, image: torch.Tensor,
                  logits: torch.Tensor | None) -> torch.Tensor:
        if self.objective == "supervised":
            return F.cross_entropy(logits, y)
        if self.objective == "triplet":
            return batch_hard_triplet_loss(z, y, self.margin)
        if self.objective == "contrastive":  # every pair of crops; positives and negatives weigh the same
            d = pairwise_distances(z)
            off = ~torch.eye(len(z), dtype=torch.bool, device=z.device)
            pos, neg = (y[:, None] == y[None, :]) & off, y[:, None] != y[None, :]
            parts = [(d[pos] ** 2).mean()] if pos.any() else []
            parts += [(F.relu(self.margin - d[neg]) ** 2).mean()] if neg.any() else []
            return torch.stack(parts).mean()
        # simclr: two crops of the same image are the two views (first two crops of each image)
        order = torch.argsort(image, stable=True)
        first, second = [], []
        for img in torch.unique(image):
            idx = order[image[order] == img]
            if len(idx) >= 2:
                first.append(idx[0])
                second.append(idx[1])
        if len(first) < 2:
            return torch.tensor(float("nan"))
        return nt_xent_loss(z[torch.stack(first)], z[torch.stack(second)], self.temperature)

    def on_validation_epoch_end(self) -> None:
        if not self._val or self.trainer.sanity_checking:  # a couple of batches: maybe one class only
            self._val = []
            return
        z = torch.cat([v[0] for v in self._val])
        y = torch.cat([v[1] for v in self._val])
        image = torch.cat([v[2] for v in self._val])
        logits = None if self._val[0][3] is None else torch.cat([v[3] for v in self._val])
        self._val = []
        labelled = bool((y >= 0).all())
        if self.objective != "simclr" and not labelled:
            raise InvalidParameterError(f"the {self.objective} objective needs labelled validation images")
        with torch.autocast(z.device.type, enabled=False):
            self.log("val_loss", self._val_loss(z, y, image, logits), prog_bar=True)
        if labelled:
            ids = torch.unique(image)
            per_image = F.normalize(torch.stack([z[image == i].mean(0) for i in ids]), dim=1)
            labels = torch.stack([y[image == i][0] for i in ids])
            if len(ids) > 1:
                self.log("val_knn_acc", _knn_accuracy(per_image, labels), prog_bar=True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.AdamW(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)

    def export_model(self, path: str | os.PathLike, extra: Mapping[str, Any]) -> Path:
        """Write ``model.pt`` (:func:`microdl.models.registry.save_model`) with the data settings."""
        return save_model(self.model.cpu(), path, extra={**dict(extra), **self.extra})


def fit_micrograph(
    config: MicrographTrainConfig,
    data: MicrographSet,
    train_idx: np.ndarray,
    val_idx: np.ndarray,
    run_dir: str | os.PathLike,
    *,
    scale_bar: int | str | None = None,
    run_info: Mapping[str, Any] | None = None,
    resume: bool = True,
    progress: bool = True,
    catalog: Catalog | None = None,
) -> dict[str, Any]:
    """Train an encoder on ``data.images[train_idx]``, early stopping on ``val_idx``.

    Parameters
    ----------
    config
        The run configuration.
    data
        Images (and labels, except for ``simclr``) of a micrograph folder.
    train_idx, val_idx
        Disjoint image indices (:func:`microdl.data.micrographs.block_folds` keeps
        neighbouring micrographs on one side).
    run_dir
        Output folder: ``config.json``, ``checkpoints/``, ``metrics.csv``, ``model.pt``.
    scale_bar
        The scale-bar crop used when loading (recorded with the model for embedding).
    run_info
        What else defines the run (data folder, fold, downsampling...): stored in
        ``config.json`` and ``model.pt``, and a resumed run must agree on it.
    resume, progress, catalog
        As :func:`microdl.train.runner.fit`.

    Returns
    -------
    dict
        :func:`microdl.train.runner.fit`'s result.
    """
    from microdl.data.micrograph_aug import AugmentConfig
    from microdl.data.micrograph_datamodule import MicrographDataModule

    if not isinstance(config, MicrographTrainConfig):
        raise InvalidParameterError(f"config must be a MicrographTrainConfig, got {type(config).__name__}")
    train_idx, val_idx = np.asarray(train_idx, dtype=int), np.asarray(val_idx, dtype=int)
    if set(train_idx.tolist()) & set(val_idx.tolist()):
        raise InvalidParameterError("train_idx and val_idx must be disjoint")
    trainer_config = config.trainer_config()
    trainer_config.check_devices()
    dm = MicrographDataModule(data, train_idx, val_idx, objective=config.objective,
                              augment=AugmentConfig(crop=config.crop), crops_per_image=config.crops_per_image,
                              batch_size=config.batch_size, seed=config.seed)
    n_classes = len(data.class_names) if data.labels is not None else 0
    info = dict(run_info or {})
    extra = {**info, "objective": config.objective, "class_names": list(data.class_names), "crop": config.crop,
             "scale_bar": scale_bar,
             "input": f"gray crops (n, 1, {config.crop}, {config.crop}); a micrograph's embedding is the "
                      "normalised mean over grid crops"}

    def task() -> MicrographTask:
        return MicrographTask(config.model, config.embedding_dim, n_classes, config.objective, config.margin,
                              config.temperature, config.lr, config.weight_decay, extra)

    return fit(task, dm, run_dir, trainer_config, catalog, resume=resume, progress=progress,
               record_config={**config.to_dict(), **info, "scale_bar": scale_bar},
               name=f"train:micrograph-{config.objective}",
               resume_keys=RESUME_KEYS + tuple(sorted(info)) + ("scale_bar",))
