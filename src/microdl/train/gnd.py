"""Training system for total density from GND windows (Zhang & Ngan 2019).

Pieces, each usable on its own:

* :class:`GNDTrainConfig`: frozen, validated configuration saved as ``config.json``;
* :class:`GNDArrays` and :func:`load_gnd_arrays`: the data contract
  (``gnd`` (n, 7, 7, 3) float32 m^-2 channels-last ``[screw, edge, |rho_GND|]``,
  ``rho_t`` (n,) m^-2, ``n_lines`` (n,) in 1..5), in memory or from HDF5;
* :class:`GNDDataModule`: loaders over those arrays;
* :class:`GNDTask`: the LightningModule (eqn (3) loss, Adam);
* :func:`fit_gnd`: the training entry point (checkpoints, resume, early stopping,
  CSV metrics, ``model.pt`` export, DDP);
* :func:`load_gnd_model`: load ``model.pt`` without Lightning.

References
----------
Zhang, Y. & Ngan, A. H. W. (2019). Extracting dislocation microstructures by deep learning. Int. J. Plasticity,
section 3 and Appendix A1.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as _dt
import contextlib
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from torch.utils.data import DataLoader, TensorDataset

from microdl.exceptions import (
    DataFileError,
    InvalidParameterError,
    NonFiniteError,
    ShapeError,
    UnknownNameError,
    check_positive,
)
from microdl.models.registry import create_model, list_models
from microdl.models.gnd_io import export_gnd_model, load_gnd_model  # noqa: F401  (public here too)
from microdl.models.zhang2019 import (
    N_CLASSES,
    check_gnd_windows,
    target_to_rho,
    windows_to_tensor,
)
from microdl.provenance import environment, to_jsonable, write_json
from microdl.train.losses import MultitaskLoss, RegressionLoss, check_ratio

__all__ = [
    "GNDTrainConfig",
    "GNDArrays",
    "load_gnd_arrays",
    "GNDDataModule",
    "GNDTask",
    "fit_gnd",
    "export_gnd_model",
    "load_gnd_model",
]

# Fields that define what is learned; a resumed run must agree on them.
_RESUME_KEYS = ("model", "model_cfg", "ratio", "reg", "lr", "batch_size", "seed",
                "limit_train_windows")


@dataclass(frozen=True)
class GNDTrainConfig:
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
        Regression loss, ``"mse"`` or ``"msle"`` (paper's best: ``"msle"``).
    lr
        Adam learning rate (paper: 1e-3).
    batch_size
        Mini-batch size per device (paper: 64).
    max_epochs
        Upper bound on epochs.
    patience
        Early stopping: epochs without a lower validation loss before stopping.
    seed
        Seed of weights initialisation, dropout, shuffling and the training subset.
    num_workers
        DataLoader worker processes (0: load in the main process; the data are
        in memory, so 0 is usually fastest).
    accelerator
        Lightning accelerator: ``"auto"`` (GPU if present), ``"cpu"``, ``"gpu"``...
    devices
        Devices per node (int) or ``"auto"``.
    num_nodes
        Number of machines.
    strategy
        ``"auto"`` or ``"ddp"`` (distributed data parallel, one process per device).
    limit_train_windows
        Use only this many training windows (random subset chosen with ``seed``);
        ``None`` uses all.
    precision
        Lightning precision string, e.g. ``"32-true"``, ``"bf16-mixed"``.
    log_every_n_steps
        How often training metrics are logged.
    num_threads
        Intra-op CPU threads of torch in the training process (``None``: torch's
        default, one per core). On a small or shared CPU, 1 can be several times
        faster: with 2 cores and other jobs running, batch-64 training measured
        399 windows/s with 1 thread against 45 with 2.
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

    def __post_init__(self) -> None:
        if self.model not in list_models():
            raise UnknownNameError(f"model must be one of {list_models()}, got {self.model!r}")
        if not isinstance(self.model_cfg, Mapping):
            raise InvalidParameterError(
                f"model_cfg must be a mapping, got {type(self.model_cfg).__name__}"
            )
        object.__setattr__(self, "model_cfg", dict(self.model_cfg))
        check_ratio(self.ratio)
        if self.reg not in ("mse", "msle"):
            raise InvalidParameterError(f"reg must be 'mse' or 'msle', got {self.reg!r}")
        check_positive("lr", self.lr)
        for name in ("batch_size", "max_epochs", "patience", "num_nodes", "log_every_n_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise InvalidParameterError(f"{name} must be an integer >= 1, got {value!r}")
        for name in ("seed", "num_workers"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                raise InvalidParameterError(f"{name} must be an integer >= 0, got {value!r}")
        if self.num_threads is not None and (
            not isinstance(self.num_threads, int) or self.num_threads < 1
        ):
            raise InvalidParameterError(
                f"num_threads must be an integer >= 1 or None, got {self.num_threads!r}"
            )
        if self.devices != "auto" and (not isinstance(self.devices, int) or self.devices < 1):
            raise InvalidParameterError(
                f"devices must be an integer >= 1 or 'auto', got {self.devices!r}"
            )
        if self.strategy not in ("auto", "ddp"):
            raise InvalidParameterError(
                f"strategy must be 'auto' or 'ddp', got {self.strategy!r}"
            )
        if self.limit_train_windows is not None and (
            not isinstance(self.limit_train_windows, int) or self.limit_train_windows < 1
        ):
            raise InvalidParameterError(
                f"limit_train_windows must be an integer >= 1 or None, "
                f"got {self.limit_train_windows!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict of the fields."""
        return to_jsonable(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GNDTrainConfig:
        """Rebuild from :meth:`to_dict` output; unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InvalidParameterError(
                f"config keys must be among {sorted(names)}, got unknown {unknown}"
            )
        return cls(**dict(data))


@dataclass(frozen=True, eq=False)
class GNDArrays:
    """Labelled GND windows in memory (validated on construction).

    Parameters
    ----------
    gnd
        ``(n, 7, 7, 3)`` float32 densities in m^-2, channels ``[screw, edge, |rho_GND|]``.
    rho_t
        ``(n,)`` total density of the centre pixel in m^-2 (positive).
    n_lines
        ``(n,)`` number of lines crossing the centre pixel, integers 1..5.
    """

    gnd: np.ndarray
    rho_t: np.ndarray
    n_lines: np.ndarray

    def __post_init__(self) -> None:
        gnd = check_gnd_windows(self.gnd)
        n = gnd.shape[0]
        rho = np.asarray(self.rho_t, dtype=np.float64)
        lines = np.asarray(self.n_lines)
        if rho.shape != (n,) or lines.shape != (n,):
            raise ShapeError(
                f"rho_t and n_lines must have shape ({n},), got {rho.shape} and {lines.shape}"
            )
        if not np.isfinite(rho).all():
            raise NonFiniteError("rho_t must be finite, got NaN or infinite values")
        if (rho < 0).any():
            raise InvalidParameterError(f"rho_t must be >= 0 m^-2, got min {rho.min()!r}")
        if not np.issubdtype(lines.dtype, np.integer) or (
            n and (lines.min() < 1 or lines.max() > N_CLASSES)
        ):
            raise InvalidParameterError(
                f"n_lines must be integers in 1..{N_CLASSES}, got dtype {lines.dtype} "
                f"range {lines.min() if n else None}..{lines.max() if n else None}"
            )
        object.__setattr__(self, "gnd", gnd)
        object.__setattr__(self, "rho_t", rho)
        object.__setattr__(self, "n_lines", lines.astype(np.int64, copy=False))

    def __len__(self) -> int:
        return int(self.gnd.shape[0])

    def subset(self, index: np.ndarray) -> GNDArrays:
        """Rows ``index`` as a new :class:`GNDArrays`."""
        return GNDArrays(self.gnd[index], self.rho_t[index], self.n_lines[index])

    def to_tensors(self) -> TensorDataset:
        """Torch dataset of ``(x (3, 7, 7) m^-2, rho_t m^-2 float32, n_lines int64)``."""
        return TensorDataset(
            windows_to_tensor(self.gnd),
            torch.from_numpy(self.rho_t.astype(np.float32)),
            torch.from_numpy(self.n_lines),
        )


GNDSource = GNDArrays | Mapping | str | os.PathLike


def load_gnd_arrays(path: str | os.PathLike) -> GNDArrays:
    """Read datasets ``gnd``, ``rho_t`` and ``n_lines`` of an HDF5 file into memory.

    Raises
    ------
    DataFileError
        If the file is missing, unreadable or lacks one of the datasets.
    """
    from microdl.data.gnd_dataset import load_gnd_dataset

    w = load_gnd_dataset(path)
    return GNDArrays(w.gnd, w.rho_t, w.n_lines)


def _as_arrays(source: GNDSource, name: str) -> GNDArrays:
    if isinstance(source, GNDArrays):
        return source
    if isinstance(source, (str, os.PathLike)):
        return load_gnd_arrays(source)
    if isinstance(source, Mapping):
        missing = [k for k in ("gnd", "rho_t", "n_lines") if k not in source]
        if missing:
            raise InvalidParameterError(f"{name} must have keys gnd, rho_t, n_lines; "
                                        f"missing {missing}")
        return GNDArrays(source["gnd"], source["rho_t"], source["n_lines"])
    if all(hasattr(source, k) for k in ("gnd", "rho_t", "n_lines")):  # e.g. GNDWindows
        return GNDArrays(source.gnd, source.rho_t, source.n_lines)
    raise InvalidParameterError(
        f"{name} must be GNDArrays, GNDWindows, a mapping or an HDF5 path, got {type(source).__name__}"
    )


class GNDDataModule(pl.LightningDataModule):
    """Train/validation loaders over in-memory GND windows.

    Parameters
    ----------
    train, val
        :class:`GNDArrays`, a mapping with keys ``gnd``, ``rho_t``, ``n_lines``,
        or the path of an HDF5 file holding those datasets (read into memory).
    batch_size
        Batch size per process.
    num_workers
        DataLoader workers.
    limit_train_windows
        Keep only this many training windows, a random subset drawn with ``seed``.
    seed
        Seed of the subset and of the shuffling generator.
    """

    def __init__(
        self,
        train: GNDSource,
        val: GNDSource,
        batch_size: int = 64,
        num_workers: int = 0,
        limit_train_windows: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.train_arrays = _as_arrays(train, "train")
        self.val_arrays = _as_arrays(val, "val")
        if len(self.train_arrays) == 0 or len(self.val_arrays) == 0:
            raise InvalidParameterError(
                f"train and val must hold windows, got {len(self.train_arrays)} and "
                f"{len(self.val_arrays)}"
            )
        if limit_train_windows is not None and limit_train_windows < len(self.train_arrays):
            rng = np.random.default_rng(seed)
            keep = np.sort(rng.choice(len(self.train_arrays), limit_train_windows, replace=False))
            self.train_arrays = self.train_arrays.subset(keep)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self._train_ds = self.train_arrays.to_tensors()
        self._val_ds = self.val_arrays.to_tensors()

    def train_dataloader(self) -> DataLoader:
        gen = torch.Generator().manual_seed(self.seed)
        return DataLoader(self._train_ds, batch_size=self.batch_size, shuffle=True,
                          generator=gen, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self._val_ds, batch_size=max(self.batch_size, 256), shuffle=False,
                          num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0)


class GNDTask(pl.LightningModule):
    """LightningModule: the registry model, the eqn (3) loss and Adam.

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

    Notes
    -----
    Logs ``train_loss`` (per step and epoch), and per epoch ``val_loss``,
    ``val_reg``, ``val_cal``, ``val_mape_pct`` (eqn (4), percent) and
    ``val_n_acc`` (fraction).
    """

    def __init__(
        self,
        model_name: str = "zhang2019-gnd",
        model_cfg: dict[str, Any] | None = None,
        ratio: float = 0.5,
        reg: RegressionLoss = "msle",
        lr: float = 1e-3,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.model = create_model(model_name, **dict(model_cfg or {}))
        unit = float(getattr(self.model, "rho_unit_per_m2", 1e15))
        self.loss = MultitaskLoss(ratio=ratio, reg=reg, rho_unit_per_m2=unit)
        self.lr = lr

    def forward(self, x_per_m2: torch.Tensor) -> torch.Tensor:
        return self.model(x_per_m2)

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        x, rho, n = batch
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

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.lr)


class _RunRecord(Callback):
    """Write ``config.json`` (config, environment, sessions) on the global-zero rank."""

    def __init__(self, run_dir: Path, config: GNDTrainConfig, resumed_from: str | None,
                 n_train: int, n_val: int) -> None:
        self.run_dir, self.config, self.resumed_from = run_dir, config, resumed_from
        self.n_train, self.n_val = n_train, n_val

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        path = self.run_dir / "config.json"
        record = _read_json(path) or {}
        sessions = list(record.get("sessions", []))
        sessions.append({
            "started_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "resumed_from": self.resumed_from,
            "world_size": trainer.world_size,
            "accelerator": type(trainer.accelerator).__name__,
            "environment": environment(),
        })
        record.update({
            "config": self.config.to_dict(),
            "train_windows": self.n_train,
            "val_windows": self.n_val,
            "environment": sessions[0]["environment"],
            "sessions": sessions,
        })
        write_json(path, record)


def _read_json(path: Path) -> dict | None:
    import json

    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DataFileError(f"{str(path)!r} is not valid JSON: {exc}") from exc


def _merge_metrics(run_dir: Path) -> Path | None:
    """Concatenate ``logs/version_*/metrics.csv`` into ``run_dir/metrics.csv``.

    Each training session (first run and every resume) logs to its own
    ``logs/version_k`` because Lightning's CSV logger deletes an existing file;
    rows of an earlier session from epochs that a later session repeated are
    dropped.
    """
    versions = sorted((run_dir / "logs").glob("version_*/metrics.csv"),
                      key=lambda p: int(p.parent.name.split("_")[-1]))
    sessions: list[list[dict[str, str]]] = []
    for p in versions:
        with open(p, newline="") as fh:
            sessions.append(list(csv.DictReader(fh)))
    if not any(sessions):
        return None
    rows: list[dict[str, str]] = []
    for rows_k in sessions:
        epochs = [int(float(r["epoch"])) for r in rows_k if r.get("epoch")]
        if epochs:
            first = min(epochs)
            rows = [r for r in rows if not r.get("epoch") or int(float(r["epoch"])) < first]
        rows.extend(rows_k)
    keys = sorted({k for r in rows for k in r})
    out = run_dir / "metrics.csv"
    tmp = out.with_name("metrics.csv.tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, out)
    return out


def fit_gnd(
    config: GNDTrainConfig,
    train: GNDSource,
    val: GNDSource,
    run_dir: str | os.PathLike,
    *,
    resume: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Train a GND model; the training entry point (seeds global RNGs from ``config.seed``).

    Parameters
    ----------
    config
        The run configuration.
    train, val
        :class:`GNDArrays`, mappings with keys ``gnd``, ``rho_t``, ``n_lines``,
        or HDF5 paths.
    run_dir
        Output directory. Receives ``config.json`` (config, environment, one
        entry per session), ``checkpoints/last.ckpt`` (every epoch) and
        ``checkpoints/best-*.ckpt`` (lowest ``val_loss``), ``logs/version_k/``
        (Lightning CSV logs per session), ``metrics.csv`` (all sessions merged)
        and ``model.pt`` (best weights; :func:`load_gnd_model`).
    resume
        Continue from ``run_dir/checkpoints/last.ckpt`` if it exists (epoch
        count, optimiser, early-stopping state). With ``resume=False`` an
        existing checkpoint is an error rather than silently overwritten.
    progress
        Show Lightning's progress bar and model summary.

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
    ``devices``, ``num_nodes``); ``batch_size`` is per process. DDP re-executes
    the calling script in each process, so call this from a script's
    ``if __name__ == "__main__":`` block. Only global rank 0 writes files.
    """
    if not isinstance(config, GNDTrainConfig):
        raise InvalidParameterError(
            f"config must be a GNDTrainConfig, got {type(config).__name__}"
        )
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    ckpt_dir = run_dir / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    resumed_from: str | None = None
    if last.is_file():
        if not resume:
            raise InvalidParameterError(
                f"run_dir {str(run_dir)!r} already holds {str(last)!r}; pass resume=True "
                "to continue it or choose a new run_dir"
            )
        old = (_read_json(run_dir / "config.json") or {}).get("config")
        if old is not None:
            new = config.to_dict()
            diff = [k for k in _RESUME_KEYS if old.get(k) != new.get(k)]
            if diff:
                raise InvalidParameterError(
                    f"config must match the run being resumed in {str(run_dir)!r}; "
                    f"differs in {diff}: was {[old.get(k) for k in diff]}, "
                    f"got {[new.get(k) for k in diff]}"
                )
        resumed_from = str(last)

    entry = _catalog_start(config, run_dir)
    old_threads = torch.get_num_threads()
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    status, result = "interrupted", None  # on any exception: a rerun resumes and updates the entry
    try:
        result = _fit(config, train, val, run_dir, last, resumed_from, progress, t0)
        status = "done"
        return result
    finally:
        torch.set_num_threads(old_threads)
        _catalog_finish(entry, status, result)


def _is_rank_zero() -> bool:
    return all(int(os.environ.get(k, "0") or 0) == 0 for k in ("RANK", "LOCAL_RANK", "NODE_RANK"))


def _catalog_start(config: GNDTrainConfig, run_dir: Path) -> str | None:
    """Record the run in the catalog as running (the same entry across resumes)."""
    if not _is_rank_zero():
        return None
    from microdl.data.catalog import Catalog

    run_dir.mkdir(parents=True, exist_ok=True)
    id_file = run_dir / "catalog_id"
    entry = id_file.read_text().strip() if id_file.is_file() else None
    entry = Catalog().record("run", f"train:{config.model}", config=config.to_dict(), seed=config.seed,
                             path=run_dir, status="running", entry_id=entry)
    id_file.write_text(entry + "\n")
    return entry


def _catalog_finish(entry: str | None, status: str, result: dict[str, Any] | None) -> None:
    if entry is None:
        return
    from microdl.data.catalog import Catalog

    metrics = {k: v for k, v in (result or {}).items()
               if k in ("best_val_loss", "epochs_completed", "stopped_early", "wall_time_s", "model_path")}
    try:
        Catalog().update(entry, status=status, metrics=metrics if result else None)
    except Exception:  # noqa: BLE001  the catalog must never mask the training outcome
        pass


def _fit(config: GNDTrainConfig, train: GNDSource, val: GNDSource, run_dir: Path, last: Path,
         resumed_from: str | None, progress: bool, t0: float) -> dict[str, Any]:
    ckpt_dir = last.parent
    pl.seed_everything(config.seed, workers=True, verbose=False)
    data = GNDDataModule(train, val, batch_size=config.batch_size,
                         num_workers=config.num_workers,
                         limit_train_windows=config.limit_train_windows, seed=config.seed)
    task = GNDTask(config.model, dict(config.model_cfg), config.ratio, config.reg, config.lr)
    checkpoint = ModelCheckpoint(
        dirpath=ckpt_dir, filename="best-epoch{epoch:03d}-val_loss{val_loss:.5f}",
        auto_insert_metric_name=False, monitor="val_loss", mode="min", save_top_k=1,
        save_last=True,
    )
    early = EarlyStopping(monitor="val_loss", mode="min", patience=config.patience)
    n_train, n_val = len(data.train_arrays), len(data.val_arrays)
    record = _RunRecord(run_dir, config, resumed_from, n_train, n_val)
    logger = CSVLogger(save_dir=run_dir, name="logs")
    n_batches = max(1, -(-n_train // config.batch_size))
    trainer = pl.Trainer(
        accelerator=config.accelerator,
        devices=config.devices,
        num_nodes=config.num_nodes,
        strategy=config.strategy,
        precision=config.precision,
        max_epochs=config.max_epochs,
        callbacks=[checkpoint, early, record],
        logger=logger,
        default_root_dir=run_dir,
        log_every_n_steps=min(config.log_every_n_steps, n_batches),
        enable_progress_bar=progress,
        enable_model_summary=progress,
    )
    try:
        # Lightning's progress bar and summary print to stdout; stdout belongs to results
        # (e.g. the CLI's one JSON object), so everything the loop prints goes to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            trainer.fit(task, datamodule=data, ckpt_path=resumed_from)
    finally:
        if trainer.is_global_zero:
            _merge_metrics(run_dir)

    best_path = checkpoint.best_model_path or (str(last) if last.is_file() else "")
    best_score = checkpoint.best_model_score
    best_val = float(best_score) if best_score is not None else None
    model_path = run_dir / "model.pt"
    if trainer.is_global_zero:
        model = task.model
        if best_path and Path(best_path).is_file():
            state = torch.load(best_path, map_location="cpu", weights_only=False)["state_dict"]
            task.load_state_dict(state)
        export_gnd_model(model.cpu(), model_path, extra={
            "best_val_loss": best_val,
            "best_checkpoint": best_path,
            "epochs_completed": trainer.current_epoch,
            "train_config": config.to_dict(),
        })
    return {
        "run_dir": str(run_dir),
        "model_path": str(model_path),
        "best_checkpoint": best_path,
        "last_checkpoint": str(last),
        "best_val_loss": best_val,
        "epochs_completed": int(trainer.current_epoch),
        "global_step": int(trainer.global_step),
        "stopped_early": bool(early.stopped_epoch > 0),
        "resumed_from": resumed_from,
        "train_windows": n_train,
        "val_windows": n_val,
        "metrics_csv": str(run_dir / "metrics.csv"),
        "wall_time_s": time.perf_counter() - t0,
    }
