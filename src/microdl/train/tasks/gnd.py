"""Training for total density from GND windows (Zhang & Ngan 2019).

* :class:`GNDTrainConfig`: frozen, validated configuration saved as ``config.json``;
* :class:`GNDTask`: the LightningModule (registry model, eqn (3) loss, metrics, Adam);
* :func:`fit_gnd`: builds the data module and the task and calls
  :func:`microdl.train.runner.fit` (checkpoints, resume, early stopping, CSV
  metrics, ``model.pt`` export, DDP, catalog).

The data contract is :class:`microdl.data.gnd.GNDWindows`; ``model.pt`` loads with
:func:`microdl.models.gnd_io.load_gnd_model` (no Lightning needed).

References
----------
Zhang, Y. & Ngan, A. H. W. (2019). Extracting dislocation microstructures by deep learning. Int. J. Plasticity,
section 3 and Appendix A1.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import lightning.pytorch as pl
import torch

from microdl.data.gnd import N_CLASSES, GNDSource
from microdl.data.gnd_datamodule import GNDDataModule, GNDStream
from microdl.data.gnd_symmetry import random_symmetry
from microdl.exceptions import InvalidParameterError, UnknownNameError, check_positive
from microdl.models.gnd_io import export_gnd_model
from microdl.models.registry import create_model, list_models
from microdl.models.zhang2019 import target_to_rho
from microdl.simulate.gnd_config import WALKS, GNDLineConfig
from microdl.train.losses import MultitaskLoss, RegressionLoss, check_ratio
from microdl.train.runner import RunConfig, check_int, fit

if TYPE_CHECKING:  # pragma: no cover
    from microdl.data.catalog import Catalog

__all__ = ["GNDTrainConfig", "GNDTask", "fit_gnd", "RESUME_KEYS"]

RESUME_KEYS = ("model", "model_cfg", "ratio", "reg", "lr", "batch_size", "seed", "limit_train_windows", "augment",
               "stream_per_class", "monitor", "lr_schedule", "walk")
"""Fields that define what is learned; a resumed run must agree on them."""


_MONITORS = {"val_loss": "min", "val_mape_pct": "min", "val_n_acc": "max"}


@dataclass(frozen=True)
class GNDTrainConfig(RunConfig):
    """Configuration of one training run.

    Parameters
    ----------
    model
        Registry name (see :func:`microdl.models.list_models`).
    model_cfg
        Keyword arguments of the model factory (e.g. ``{"dropout": 0.5}``).
    ratio
        Weight of the N cross-entropy in eqn (3), in [0, 1] (paper's best rho_t: 0.5).
    reg
        Regression loss, ``"mse"``, ``"msle"`` (paper's best) or ``"mape"`` (the metric itself;
        :mod:`microdl.train.losses`).
    lr
        Adam learning rate (paper: 1e-3).
    batch_size
        Mini-batch size per device (paper: 64).
    max_epochs, patience, seed, accelerator, devices, num_nodes, strategy, precision, log_every_n_steps, num_threads
        How to train: see :class:`microdl.train.runner.TrainerConfig` (:meth:`trainer_config`).
        ``seed`` also draws the training subset and the shuffling. On a small or
        shared CPU, ``num_threads=1`` can be several times faster: with 2 cores and
        other jobs running, batch-64 training measured 399 windows/s with 1 thread
        against 45 with 2.
    num_workers
        DataLoader worker processes (0: load in the main process; the data are
        in memory, so 0 is usually fastest).
    limit_train_windows
        Use only this many training windows (random subset chosen with ``seed``);
        ``None`` uses all.
    augment
        Apply an independent random window symmetry (line reversal, rotations and
        reflections of the grid: :mod:`microdl.data.gnd_symmetry`) to every training window.
    stream_per_class
        Train on fresh generated windows every epoch, this many per class N
        (:class:`~microdl.data.gnd_datamodule.GNDStream`, seeded with ``seed``); the
        ``train`` argument of :func:`fit_gnd` is then not used. ``None``: fixed windows.
    monitor
        Validation metric for early stopping and the best checkpoint: ``"val_loss"`` (the
        paper), ``"val_mape_pct"`` or ``"val_n_acc"`` (maximised).
    lr_schedule
        ``"constant"`` (the paper), ``"cosine"`` (annealed to 0 over ``max_epochs``) or
        ``"onecycle"`` (warm-up to ``lr`` over the first 30 % of the steps, then annealed,
        per step over ``max_epochs``).
    walk
        Line rule of the streamed windows (:class:`~microdl.simulate.gnd_lines.GNDLineConfig`).
    """

    model: str = "zhang2019-gnd"
    model_cfg: Mapping[str, Any] = field(default_factory=dict)
    ratio: float = 0.5
    reg: RegressionLoss = "msle"
    lr: float = 1e-3
    batch_size: int = 64
    max_epochs: int = 60
    patience: int = 5
    seed: int = 0
    num_workers: int = 0
    accelerator: str = "auto"
    devices: int | Literal["auto"] = "auto"
    num_nodes: int = 1
    strategy: Literal["auto", "ddp"] = "auto"
    limit_train_windows: int | None = None
    precision: str = "32-true"
    log_every_n_steps: int = 50
    num_threads: int | None = None
    augment: bool = False
    stream_per_class: int | None = None
    monitor: Literal["val_loss", "val_mape_pct", "val_n_acc"] = "val_loss"
    lr_schedule: Literal["constant", "cosine", "onecycle"] = "constant"
    walk: str = "random"

    def __post_init__(self) -> None:
        if self.model not in list_models():
            raise UnknownNameError(f"model must be one of {list_models()}, got {self.model!r}")
        if not isinstance(self.model_cfg, Mapping):
            raise InvalidParameterError(f"model_cfg must be a mapping, got {type(self.model_cfg).__name__}")
        object.__setattr__(self, "model_cfg", dict(self.model_cfg))
        check_ratio(self.ratio)
        if self.reg not in ("mse", "msle", "mape"):
            raise InvalidParameterError(f"reg must be 'mse', 'msle' or 'mape', got {self.reg!r}")
        if not isinstance(self.augment, bool):
            raise InvalidParameterError(f"augment must be true or false, got {self.augment!r}")
        if self.stream_per_class is not None:
            check_int("stream_per_class", self.stream_per_class, 1)
        if self.monitor not in _MONITORS:
            raise InvalidParameterError(f"monitor must be one of {list(_MONITORS)}, got {self.monitor!r}")
        if self.walk not in WALKS:
            raise InvalidParameterError(f"walk must be one of {list(WALKS)}, got {self.walk!r}")
        if self.lr_schedule not in ("constant", "cosine", "onecycle"):
            raise InvalidParameterError(
                f"lr_schedule must be 'constant', 'cosine' or 'onecycle', got {self.lr_schedule!r}")
        check_positive("lr", self.lr)
        check_int("batch_size", self.batch_size, 1)
        check_int("num_workers", self.num_workers, 0)
        if self.limit_train_windows is not None:
            check_int("limit_train_windows", self.limit_train_windows, 1)
        self.trainer_config()  # validates the fields of how to train


class GNDTask(pl.LightningModule):
    """LightningModule: the registry model, the eqn (3) loss, the metrics and Adam.

    Parameters
    ----------
    model_name
        Registry name.
    model_cfg
        Factory keyword arguments.
    ratio, reg
        Loss settings, see :class:`microdl.train.losses.MultitaskLoss`.
    lr
        Adam learning rate.
    augment, monitor, lr_schedule, max_epochs
        See :class:`GNDTrainConfig` (``max_epochs`` sets the length of the cosine schedule).

    Notes
    -----
    Logs ``train_loss`` (per step and epoch), and per epoch ``val_loss``,
    ``val_reg``, ``val_cal``, ``val_mape_pct`` (eqn (4), percent) and
    ``val_n_acc`` (fraction). Early stopping and the best checkpoint watch
    :attr:`monitor` (default ``val_loss``, minimised).
    """

    def __init__(self, model_name: str = "zhang2019-gnd", model_cfg: dict[str, Any] | None = None,
                 ratio: float = 0.5, reg: RegressionLoss = "msle", lr: float = 1e-3, augment: bool = False,
                 monitor: str = "val_loss", lr_schedule: str = "constant", max_epochs: int = 1) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.monitor = monitor
        self.monitor_mode = _MONITORS[monitor]
        self.augment = augment
        self.lr_schedule = lr_schedule
        self.max_epochs = max_epochs
        self.model = create_model(model_name, **dict(model_cfg or {}))
        unit = float(self.model.rho_unit_per_m2)
        self.loss = MultitaskLoss(ratio=ratio, reg=reg, rho_unit_per_m2=unit)
        self.lr = lr

    def forward(self, x_per_m2: torch.Tensor) -> torch.Tensor:
        return self.model(x_per_m2)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, rho, n = batch
        if self.augment:
            x = random_symmetry(x)
        parts = self.loss(self.model(x), rho, n)
        self.log("train_loss", parts.total, on_step=True, on_epoch=True, prog_bar=True,
                 batch_size=x.shape[0], sync_dist=True)
        return parts.total

    def validation_step(self, batch, batch_idx: int) -> None:
        x, rho, n = batch
        out = self.model(x)
        parts = self.loss(out, rho, n)
        rho_hat = target_to_rho(out[:, N_CLASSES], self.loss.rho_unit_per_m2)
        mape = torch.mean(torch.abs(rho - rho_hat) / rho) * 100.0
        acc = (out[:, :N_CLASSES].argmax(1) + 1 == n).float().mean()
        bs = x.shape[0]
        self.log("val_loss", parts.total, prog_bar=True, batch_size=bs, sync_dist=True)
        self.log("val_reg", parts.reg, batch_size=bs, sync_dist=True)
        self.log("val_cal", parts.cal, batch_size=bs, sync_dist=True)
        self.log("val_mape_pct", mape, prog_bar=True, batch_size=bs, sync_dist=True)
        self.log("val_n_acc", acc, prog_bar=True, batch_size=bs, sync_dist=True)

    def configure_optimizers(self) -> Any:
        opt = torch.optim.Adam(self.parameters(), lr=self.lr)
        if self.lr_schedule == "constant":
            return opt
        if self.lr_schedule == "onecycle":
            total = max(1, int(self.trainer.estimated_stepping_batches))
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.lr, total_steps=total)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, self.max_epochs))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "epoch"}}

    def export_model(self, path: str | os.PathLike, extra: Mapping[str, Any]) -> Path:
        """Write ``model.pt`` (:func:`microdl.models.gnd_io.export_gnd_model`) from the CPU weights."""
        return export_gnd_model(self.model.cpu(), path, extra=extra)


def fit_gnd(
    config: GNDTrainConfig,
    train: GNDSource | None,
    val: GNDSource,
    run_dir: str | os.PathLike,
    *,
    resume: bool = True,
    progress: bool = True,
    catalog: Catalog | None = None,
) -> dict[str, Any]:
    """Train a GND model with :func:`microdl.train.runner.fit`.

    Parameters
    ----------
    config
        The run configuration.
    train, val
        :class:`~microdl.data.gnd.GNDWindows`, mappings with keys ``gnd``,
        ``rho_t``, ``n_lines``, or HDF5 paths. ``train`` is not used (may be ``None``)
        when ``config.stream_per_class`` is set.
    run_dir
        Output folder: ``config.json``, ``checkpoints/last.ckpt`` and
        ``checkpoints/best-*.ckpt`` (lowest ``val_loss``), ``logs/version_k/``,
        ``metrics.csv`` and ``model.pt`` (best weights;
        :func:`microdl.models.gnd_io.load_gnd_model`).
    resume
        Continue from ``run_dir/checkpoints/last.ckpt`` if it exists (epoch count,
        optimiser, early-stopping state); the config must agree on :data:`RESUME_KEYS`.
        With ``resume=False`` an existing checkpoint is an error.
    progress
        Show Lightning's progress bar and model summary (stderr).
    catalog
        Where the run is recorded as ``train:<model>``; ``None``: the default catalog.

    Returns
    -------
    dict
        ``run_dir``, ``model_path``, ``best_checkpoint``, ``last_checkpoint``,
        ``best_val_loss``, ``epochs_completed``, ``global_step``,
        ``stopped_early``, ``resumed_from``, ``train_windows``, ``val_windows``,
        ``metrics_csv``, ``wall_time_s``.

    Notes
    -----
    Multi-GPU / multi-node training uses Lightning DDP (``strategy="ddp"``,
    ``devices``, ``num_nodes``); ``batch_size`` is per process. Call this from a
    script's ``if __name__ == "__main__":`` block. Global random state is left
    unchanged (seeding is scoped).
    """
    if not isinstance(config, GNDTrainConfig):
        raise InvalidParameterError(f"config must be a GNDTrainConfig, got {type(config).__name__}")
    trainer_config = config.trainer_config()
    trainer_config.check_devices()
    if config.stream_per_class is not None:
        train = GNDStream(config.stream_per_class, seed=config.seed, config=GNDLineConfig(walk=config.walk))
    elif train is None:
        raise InvalidParameterError("train windows are needed unless config.stream_per_class is set")
    data = GNDDataModule(train, val, batch_size=config.batch_size, num_workers=config.num_workers,
                         limit_train_windows=config.limit_train_windows, seed=config.seed)

    def task() -> GNDTask:
        return GNDTask(config.model, dict(config.model_cfg), config.ratio, config.reg, config.lr, config.augment,
                       config.monitor, config.lr_schedule, config.max_epochs)

    return fit(task, data, run_dir, trainer_config, catalog, resume=resume, progress=progress,
               record_config=config.to_dict(), name=f"train:{config.model}", resume_keys=RESUME_KEYS)
