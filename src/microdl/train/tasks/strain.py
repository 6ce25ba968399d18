"""Training for prior deformation from strain profiles (Yang et al. 2020).

* :class:`StrainTrainConfig`: frozen, validated configuration saved as ``config.json``;
* :class:`StrainTask`: the LightningModule (registry model, cross-entropy over crops,
  the L2 penalty of the paper's third variant, Adam, crop and profile accuracy);
* :func:`fit_strain`: builds the crop data module and the task and calls
  :func:`microdl.train.runner.fit` (checkpoints, resume, early stopping, CSV metrics,
  ``model.pt`` export, catalog).

The data contract is :class:`microdl.data.strain_profiles.StrainProfiles`; ``model.pt``
loads with :func:`microdl.models.registry.load_model` and records the preprocessing
(crop side, resizing) that prediction must repeat.

References
----------
Yang, Z. et al. (2020). Learning to predict crystal plasticity at the nanoscale: deep residual networks and
size effects in uniaxial compression discrete dislocation simulations. Sci. Rep. 10, 8262, section 4.5
(Adam 1e-3, batch 72, early stopping with patience 20, L2 1e-4 in one variant).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch import nn

from microdl.data.strain_crops import N_CROPS, crop_scales
from microdl.data.strain_datamodule import StrainCropDataModule
from microdl.data.strain_profiles import CLASS_LABELS, StrainProfiles
from microdl.exceptions import InvalidParameterError, UnknownNameError, check_positive
from microdl.models.registry import create_model, list_models, model_info, save_model
from microdl.train.runner import RunConfig, check_int, fit

if TYPE_CHECKING:  # pragma: no cover
    from microdl.data.catalog import Catalog

__all__ = ["StrainTrainConfig", "StrainTask", "fit_strain", "RESUME_KEYS", "STRAIN_MODELS"]

STRAIN_MODELS = ("yang2020-resnet", "yang2020-resnet-res4", "yang2020-resnet-res4-l2")
"""The registry models this task trains (the paper's three, whose ensemble is reported)."""

RESUME_KEYS = ("model", "model_cfg", "lr", "batch_size", "crop", "l2", "antialias", "seed")
"""Fields that define what is learned; a resumed run must agree on them."""


@dataclass(frozen=True)
class StrainTrainConfig(RunConfig):
    """Configuration of one training run (defaults: the paper's settings).

    Parameters
    ----------
    model
        Registry name (``yang2020-resnet``, ``yang2020-resnet-res4``, ``yang2020-resnet-res4-l2``).
    model_cfg
        Keyword arguments of the model factory.
    lr
        Adam learning rate (paper: 1e-3).
    batch_size
        Crops per mini-batch and device (paper: 72).
    crop
        Crop side in pixels (paper: 224; on a CPU 64 or 112 is affordable, the
        resize scales shrink in proportion).
    l2
        Keras-style L2 factor on every convolution kernel (``l2 * sum(w**2)`` added to
        the loss); ``None`` takes the registry entry's ``keras_l2`` (1e-4 for
        ``yang2020-resnet-res4-l2``, else 0).
    antialias
        Antialiased shrinking when cropping (as PIL; see :mod:`microdl.data.strain_crops`).
    channels_last
        Run the network in channels-last memory format (faster convolutions on CPUs
        with oneDNN and on GPUs; the numbers are the same).
    max_epochs, patience, seed, accelerator, devices, num_nodes, strategy, precision, log_every_n_steps, num_threads
        How to train: see :class:`microdl.train.runner.TrainerConfig` (paper: patience 20 on
        the validation loss). ``seed`` also drives the shuffling.
    num_workers
        DataLoader worker processes (0: the crops are in memory).
    """

    model: str = "yang2020-resnet"
    model_cfg: Mapping[str, Any] = field(default_factory=dict)
    lr: float = 1e-3
    batch_size: int = 72
    crop: int = 224
    l2: float | None = None
    antialias: bool = False
    channels_last: bool = True
    max_epochs: int = 200
    patience: int = 20
    seed: int = 0
    num_workers: int = 0
    accelerator: str = "auto"
    devices: int | Literal["auto"] = "auto"
    num_nodes: int = 1
    strategy: Literal["auto", "ddp"] = "auto"
    precision: str = "32-true"
    log_every_n_steps: int = 50
    num_threads: int | None = None

    def __post_init__(self) -> None:
        if self.model not in list_models():
            raise UnknownNameError(f"model must be one of {list_models()}, got {self.model!r}")
        if not isinstance(self.model_cfg, Mapping):
            raise InvalidParameterError(f"model_cfg must be a mapping, got {type(self.model_cfg).__name__}")
        object.__setattr__(self, "model_cfg", dict(self.model_cfg))
        check_positive("lr", self.lr)
        check_int("batch_size", self.batch_size, 1)
        check_int("num_workers", self.num_workers, 0)
        crop_scales(self.crop)
        if self.l2 is not None and (not isinstance(self.l2, (int, float)) or self.l2 < 0):
            raise InvalidParameterError(f"l2 must be None or a number >= 0, got {self.l2!r}")
        self.trainer_config()  # validates the fields of how to train

    @property
    def l2_factor(self) -> float:
        """The L2 factor used: ``l2``, or the registry entry's ``keras_l2``."""
        return float(self.l2) if self.l2 is not None else float(model_info(self.model).get("keras_l2", 0.0))


class StrainTask(pl.LightningModule):
    """LightningModule: the registry model, cross-entropy over crops, optional conv-kernel L2, Adam.

    Parameters
    ----------
    model_name, model_cfg
        Registry name and factory keyword arguments.
    lr
        Adam learning rate.
    l2
        Keras-style L2 factor on convolution kernels (0: none).
    channels_last
        Channels-last memory format for the model and its inputs.
    preprocessing
        Stored in the exported ``model.pt`` (``crop``, ``antialias``, ``round_uint8``,
        ``mode``) so prediction repeats it.

    Notes
    -----
    Inputs are ``uint8`` crops ``(n, 1, c, c)``, made ``float32`` 0..255 here. Logs
    ``train_loss``, ``train_acc`` (crops), and per epoch ``val_loss`` and
    ``val_crop_acc`` over crops, and ``val_acc``: the accuracy per profile with the
    softmax averaged over its 24 crops (the paper's metric; single-process runs).
    Early stopping and the best checkpoint watch ``val_loss`` (minimised).
    """

    monitor = "val_loss"
    monitor_mode = "min"

    def __init__(self, model_name: str = "yang2020-resnet", model_cfg: dict[str, Any] | None = None,
                 lr: float = 1e-3, l2: float = 0.0, channels_last: bool = True,
                 preprocessing: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = create_model(model_name, **dict(model_cfg or {}))
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.model.to(memory_format=self.memory_format)
        self.lr = lr
        self.l2 = float(l2)
        self.preprocessing = dict(preprocessing or {})
        self._val_probs: list[torch.Tensor] = []
        self._val_labels: list[torch.Tensor] = []

    def _input(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(torch.float32).contiguous(memory_format=self.memory_format)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(self._input(x))

    def l2_penalty(self) -> torch.Tensor:
        """``l2 * sum(w**2)`` over convolution kernels (Keras ``kernel_regularizer=l2(l2)``)."""
        terms = [m.weight.pow(2).sum() for m in self.model.modules() if isinstance(m, nn.Conv2d)]
        return self.l2 * torch.stack(terms).sum()

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = F.cross_entropy(logits, y)
        total = loss + self.l2_penalty() if self.l2 > 0 else loss
        bs = x.shape[0]
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True, batch_size=bs, sync_dist=True)
        self.log("train_acc", (logits.argmax(1) == y).float().mean(), on_step=False, on_epoch=True,
                 batch_size=bs, sync_dist=True)
        return total

    def on_validation_epoch_start(self) -> None:
        self._val_probs, self._val_labels = [], []

    def validation_step(self, batch, batch_idx: int) -> None:
        x, y = batch
        logits = self(x)
        bs = x.shape[0]
        self.log("val_loss", F.cross_entropy(logits, y), prog_bar=True, batch_size=bs, sync_dist=True)
        self.log("val_crop_acc", (logits.argmax(1) == y).float().mean(), batch_size=bs, sync_dist=True)
        self._val_probs.append(torch.softmax(logits.float(), 1).detach())
        self._val_labels.append(y.detach())

    def on_validation_epoch_end(self) -> None:
        if not self._val_probs or self.trainer.world_size > 1:
            return
        probs = torch.cat(self._val_probs)
        labels = torch.cat(self._val_labels)
        if len(probs) % N_CROPS:  # a sanity-check run over part of the loader
            return
        per_profile = probs.reshape(-1, N_CROPS, probs.shape[1]).mean(1)
        acc = (per_profile.argmax(1) == labels[::N_CROPS]).float().mean()
        self.log("val_acc", acc, prog_bar=True)
        self._val_probs, self._val_labels = [], []

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)

    def export_model(self, path: str | os.PathLike, extra: Mapping[str, Any]) -> Path:
        """Write ``model.pt`` (:func:`microdl.models.registry.save_model`) with the preprocessing."""
        model = self.model.cpu().to(memory_format=torch.contiguous_format)
        return save_model(model, path, extra={
            **dict(extra), "preprocessing": self.preprocessing,
            "classes_prior_strain_percent": [float(c) for c in CLASS_LABELS],
            "input": f"24 crops (n, 1, {self.preprocessing.get('crop', '?')}, same) of gray values 0..255; "
                     "softmax averaged per profile"})


def fit_strain(
    config: StrainTrainConfig,
    train: StrainProfiles,
    val: StrainProfiles,
    run_dir: str | os.PathLike,
    *,
    mode: str | None = None,
    resume: bool = True,
    progress: bool = True,
    catalog: Catalog | None = None,
) -> dict[str, Any]:
    """Train a strain-profile classifier with :func:`microdl.train.runner.fit`.

    Parameters
    ----------
    config
        The run configuration.
    train, val
        :class:`~microdl.data.strain_profiles.StrainProfiles` (split by sample:
        :func:`~microdl.data.strain_profiles.split_profiles` or a DDD split file).
    run_dir
        Output folder: ``config.json``, ``checkpoints/``, ``logs/``, ``metrics.csv`` and
        ``model.pt`` (best weights by validation loss).
    mode
        The DDD reference mode of the profiles (recorded with the model, so prediction
        on DDD data can use the same); ``None`` if not DDD data.
    resume
        Continue from ``run_dir/checkpoints/last.ckpt`` if it exists; the config must
        agree on :data:`RESUME_KEYS`.
    progress
        Progress bars (crops and Lightning's).
    catalog
        Where the run is recorded as ``train:<model>``; ``None``: the default catalog.

    Returns
    -------
    dict
        :func:`microdl.train.runner.fit`'s result (``best_val_loss``, ``model_path``,
        epochs, sizes, wall time...).
    """
    if not isinstance(config, StrainTrainConfig):
        raise InvalidParameterError(f"config must be a StrainTrainConfig, got {type(config).__name__}")
    trainer_config = config.trainer_config()
    trainer_config.check_devices()
    data = StrainCropDataModule(train, val, crop=config.crop, batch_size=config.batch_size,
                                num_workers=config.num_workers, seed=config.seed, antialias=config.antialias,
                                progress=progress)
    preprocessing = {"crop": config.crop, "antialias": config.antialias, "round_uint8": True, "mode": mode}

    def task() -> StrainTask:
        return StrainTask(config.model, dict(config.model_cfg), config.lr, config.l2_factor, config.channels_last,
                          preprocessing)

    record = {**config.to_dict(), "data_mode": mode}
    return fit(task, data, run_dir, trainer_config, catalog, resume=resume, progress=progress,
               record_config=record, name=f"train:{config.model}", resume_keys=RESUME_KEYS)
