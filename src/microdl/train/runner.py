"""One generic training entry point for every capability: :func:`fit`.

A capability brings a task (a ``LightningModule`` with its loss, metrics and the
validation metric to watch, ``monitor`` / ``monitor_mode``) and a
``LightningDataModule``; :func:`fit` brings everything else: checkpoints
(``checkpoints/last.ckpt`` every epoch, ``checkpoints/best-*.ckpt`` by the
monitored metric), resume, early stopping, device choice and DDP, CSV logs
merged into ``metrics.csv``, the run record ``config.json``, the catalog entry
(running / done / interrupted, with a heartbeat every epoch and every minute), an exclusive lock
on the run folder, a ``model.pt`` export, and seeding that leaves no global
random state behind.

Checkpoints are only ever loaded from inside the run folder and with
``weights_only=True``: a checkpoint can hold tensors and plain values, never
code to run.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import io
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger

from microdl.exceptions import DataFileError, InvalidParameterError, check_int  # noqa: F401  (re-exported)
from microdl.io._atomic import acquire_lock, atomic_write, check_output_folder, read_json, write_json
from microdl.provenance import environment, to_jsonable

if TYPE_CHECKING:  # pragma: no cover
    from microdl.data.catalog import Catalog

__all__ = ["RunConfig", "TrainerConfig", "check_int", "fit", "seeded", "load_checkpoint", "merge_metrics"]

_ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu", "hpu")


@dataclass(frozen=True)
class TrainerConfig:
    """How to train (not what is learned), validated on construction.

    Parameters
    ----------
    max_epochs
        Upper bound on epochs.
    patience
        Early stopping: epochs without a better monitored metric before stopping.
    seed
        Seed of weight initialisation and dropout (a scoped ``torch.manual_seed``).
    accelerator
        Lightning accelerator: ``"auto"`` (GPU if present), ``"cpu"``, ``"gpu"``...
    devices
        Devices per node (int) or ``"auto"``. More than the accelerator has is
        refused (on a CPU, each device is a process: at most ``os.cpu_count()``).
    num_nodes
        Number of machines.
    strategy
        ``"auto"`` or ``"ddp"`` (distributed data parallel, one process per device).
    precision
        Lightning precision string, e.g. ``"32-true"``, ``"bf16-mixed"``.
    log_every_n_steps
        How often training metrics are logged.
    num_threads
        Intra-op CPU threads of torch during training (``None``: torch's default).
    """

    max_epochs: int = 60
    patience: int = 5
    seed: int = 0
    accelerator: str = "auto"
    devices: int | Literal["auto"] = "auto"
    num_nodes: int = 1
    strategy: Literal["auto", "ddp"] = "auto"
    precision: str = "32-true"
    log_every_n_steps: int = 50
    num_threads: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_epochs", "patience", "num_nodes", "log_every_n_steps"):
            check_int(name, getattr(self, name), 1)
        check_int("seed", self.seed, 0)
        if self.num_threads is not None:
            check_int("num_threads", self.num_threads, 1)
        if self.devices != "auto" and (isinstance(self.devices, bool) or not isinstance(self.devices, int)
                                       or self.devices < 1):
            raise InvalidParameterError(f"devices must be an integer >= 1 or 'auto', got {self.devices!r}")
        if self.strategy not in ("auto", "ddp"):
            raise InvalidParameterError(f"strategy must be 'auto' or 'ddp', got {self.strategy!r}")
        if self.accelerator not in _ACCELERATORS:
            raise InvalidParameterError(f"accelerator must be one of {list(_ACCELERATORS)}, "
                                        f"got {self.accelerator!r}")
        if not isinstance(self.precision, str) or not self.precision:
            raise InvalidParameterError(f"precision must be a Lightning precision string, got {self.precision!r}")

    def check_devices(self) -> None:
        """Refuse more devices than the chosen accelerator has on this machine.

        Raises
        ------
        InvalidParameterError
            Naming ``devices``, the accelerator and how many it has.
        """
        if self.devices == "auto":
            return
        acc = self.accelerator
        if acc == "auto":
            acc = "gpu" if torch.cuda.is_available() else "cpu"
        if acc in ("gpu", "cuda"):
            have, what = torch.cuda.device_count(), "CUDA GPUs"
        elif acc == "cpu":
            have, what = os.cpu_count() or 1, "CPU cores (one process per device)"
        elif acc == "mps":
            have, what = 1, "MPS devices"
        else:
            return
        if self.devices > have:
            raise InvalidParameterError(
                f"devices must be <= {have} for accelerator={self.accelerator!r} ({have} {what}), "
                f"got {self.devices}")


class RunConfig:
    """Methods shared by the capabilities' frozen training configurations.

    A capability's config (e.g. :class:`microdl.train.tasks.gnd.GNDTrainConfig`) is a frozen
    dataclass holding what is learned and the fields of :class:`TrainerConfig` (how to
    train); it inherits :meth:`trainer_config`, :meth:`to_dict` and :meth:`from_dict` from here.
    """

    def trainer_config(self) -> TrainerConfig:
        """The :class:`TrainerConfig` part of this configuration (validated)."""
        return TrainerConfig(**{f.name: getattr(self, f.name) for f in fields(TrainerConfig)})

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly dict of the fields."""
        return to_jsonable(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Any:
        """Rebuild from :meth:`to_dict` output; unknown keys are an error."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise InvalidParameterError(f"config keys must be among {sorted(names)}, got unknown {unknown}")
        return cls(**dict(data))


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Seed torch's global generators inside the block only; the previous state is restored after."""
    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


FINISHED = "result.json"  # written when training ends (early stopping, last epoch), not when interrupted


def _is_rank_zero() -> bool:
    return all(int(os.environ.get(k, "0") or 0) == 0 for k in ("RANK", "LOCAL_RANK", "NODE_RANK"))


def _inside(path: str | os.PathLike, folder: Path) -> Path | None:
    p = Path(path).resolve()
    return p if p.is_relative_to(folder.resolve()) else None


def load_checkpoint(path: str | os.PathLike, run_dir: str | os.PathLike) -> dict[str, Any]:
    """Load a Lightning checkpoint safely: only from inside ``run_dir``, with ``weights_only=True``.

    Raises
    ------
    DataFileError
        If the path is outside the run folder, or the file is not a checkpoint of
        tensors and plain values (e.g. a pickle that would run code).
    """
    p = _inside(path, Path(run_dir))
    if p is None:
        raise DataFileError(f"checkpoint {os.fspath(path)!r} must be inside the run folder {os.fspath(run_dir)!r}")
    try:
        blob = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001  any unpickling failure means an unusable file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataFileError(f"checkpoint {os.fspath(p)!r} cannot be loaded safely (weights only): {first}") from None
    if not isinstance(blob, dict) or "state_dict" not in blob:
        raise DataFileError(f"checkpoint {os.fspath(p)!r} must be a Lightning checkpoint with a state_dict")
    return blob


def merge_metrics(run_dir: str | os.PathLike) -> Path | None:
    """Concatenate ``logs/version_*/metrics.csv`` into ``run_dir/metrics.csv``.

    Each session (first run and every resume) logs to its own ``logs/version_k``;
    rows of an earlier session from epochs that a later session repeated are dropped.
    """
    run_dir = Path(run_dir)
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
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=sorted({k for r in rows for k in r}))
    writer.writeheader()
    writer.writerows(rows)
    out = run_dir / "metrics.csv"
    return atomic_write(out, lambda tmp: tmp.write_text(buf.getvalue(), newline=""))


class _RunRecord(Callback):
    """Write ``config.json`` (config, sizes, environment, sessions) on the global-zero rank."""

    def __init__(self, path: Path, record: dict[str, Any], resumed_from: str | None) -> None:
        self.path, self.record, self.resumed_from = path, record, resumed_from

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        old = read_json(self.path, missing_ok=True, what="run record") or {}
        sessions = list(old.get("sessions", []))
        sessions.append({
            "started_utc": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "resumed_from": self.resumed_from,
            "world_size": trainer.world_size,
            "accelerator": type(trainer.accelerator).__name__,
            "environment": environment(),
        })
        old.update(self.record)
        old.update(environment=sessions[0]["environment"], sessions=sessions)
        write_json(self.path, old)


class _Heartbeat(Callback):
    """Tell the catalog that the run is alive: every epoch and, in long epochs, every minute.

    Beats come from the training loop itself, so a run that hangs (not only one that
    dies) reads as interrupted once the catalog's stale time has passed.
    """

    every_s = 60.0

    def __init__(self, catalog: Catalog, entry: str) -> None:
        self.catalog, self.entry, self._last = catalog, entry, time.monotonic()

    def _beat(self, trainer: pl.Trainer, force: bool) -> None:
        if trainer.is_global_zero and (force or time.monotonic() - self._last >= self.every_s):
            self._last = time.monotonic()
            with contextlib.suppress(Exception):  # the catalog must never stop a training
                self.catalog.heartbeat(self.entry)

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self._beat(trainer, force=False)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._beat(trainer, force=True)


_RUNTIME_KEYS = frozenset(f.name for f in fields(TrainerConfig)) - {"seed"} | {"num_workers"}


def _check_resume(run_dir: Path, record_config: Mapping[str, Any], keys: Sequence[str] | None) -> None:
    old = (read_json(run_dir / "config.json", missing_ok=True, what="run record") or {}).get("config")
    if old is None:
        return
    keys = list(keys) if keys is not None else [k for k in record_config if k not in _RUNTIME_KEYS]
    new = to_jsonable(dict(record_config))
    diff = [k for k in keys if old.get(k) != new.get(k)]
    if diff:
        raise InvalidParameterError(
            f"config must match the run being resumed in {str(run_dir)!r}; differs in {diff}: "
            f"was {[old.get(k) for k in diff]}, got {[new.get(k) for k in diff]}")


def fit(
    task: pl.LightningModule | Callable[[], pl.LightningModule],
    datamodule: pl.LightningDataModule,
    run_dir: str | os.PathLike,
    trainer_config: TrainerConfig,
    catalog: Catalog | None = None,
    *,
    resume: bool = True,
    progress: bool = True,
    record_config: Mapping[str, Any] | None = None,
    name: str | None = None,
    resume_keys: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Train ``task`` on ``datamodule`` into ``run_dir``; resume it if it was interrupted.

    Parameters
    ----------
    task
        The LightningModule, or a function building it (called inside the seeded
        scope, so weight initialisation follows ``trainer_config.seed``). It names
        the validation metric to watch in ``monitor`` (default ``"val_loss"``) and
        ``monitor_mode`` (``"min"`` or ``"max"``); if it has ``export_model(path,
        extra)``, the best weights are exported to ``run_dir/model.pt``.
    datamodule
        Train and validation loaders; its ``sizes`` dict (if any) goes to the
        run record and the result.
    run_dir
        Output folder: ``config.json`` (config, environment, one entry per session),
        ``checkpoints/last.ckpt`` (every epoch), ``checkpoints/best-*.ckpt``, ``logs/version_k/``,
        ``metrics.csv`` (merged), ``model.pt``, ``catalog_id``, and ``result.json`` once training
        has ended (not when interrupted): a rerun returns it without training, unless ``max_epochs``
        grew and the run had not stopped early. Locked while training.
    trainer_config
        Epochs, patience, seed, devices...
    catalog
        Where the run is recorded (status running / done / interrupted); ``None``
        uses the default catalog.
    resume
        Continue from ``checkpoints/last.ckpt`` if it exists. With ``resume=False``
        an existing checkpoint is an error rather than silently overwritten.
    progress
        Show Lightning's progress bar and model summary (on stderr).
    record_config
        The capability's configuration, saved under ``"config"`` in ``config.json``
        and in the catalog; a resumed run must agree with it on ``resume_keys``.
    name
        Catalog name of the run (default ``"train:<task class>"``).
    resume_keys
        Keys of ``record_config`` that define what is learned (default: all but
        the runtime keys of :class:`TrainerConfig` and ``num_workers``).

    Returns
    -------
    dict
        ``run_dir``, ``model_path``, ``best_checkpoint``, ``last_checkpoint``,
        ``best_<monitor>``, ``epochs_completed``, ``global_step``,
        ``stopped_early``, ``resumed_from``, the datamodule ``sizes``,
        ``metrics_csv``, ``wall_time_s`` and ``catalog_id`` (``None`` off rank 0).

    Raises
    ------
    InvalidParameterError
        Too many devices, another process training in ``run_dir``, a resumed
        run with a different config, or ``resume=False`` with a checkpoint.
    DataFileError
        ``run_dir`` is a file or not writable, the catalog is not writable, or
        ``last.ckpt`` cannot be loaded with ``weights_only=True``.

    Notes
    -----
    DDP (``strategy="ddp"``) re-executes the calling script in each process, so
    call this from a script's ``if __name__ == "__main__":`` block. Only global
    rank 0 writes files, takes the lock and records in the catalog.
    """
    if not isinstance(trainer_config, TrainerConfig):
        raise InvalidParameterError(f"trainer_config must be a TrainerConfig, got {type(trainer_config).__name__}")
    trainer_config.check_devices()
    t0 = time.perf_counter()
    run_dir = Path(run_dir)
    rank_zero = _is_rank_zero()
    if rank_zero:
        check_output_folder(run_dir, option="run_dir")
    record_config = dict(record_config or {})
    lock = acquire_lock(run_dir, folder=True, what=f"run folder {os.fspath(run_dir)!r}") if rank_zero else None
    try:
        last = run_dir / "checkpoints" / "last.ckpt"
        resumed_from: str | None = None
        if last.is_file():
            if not resume:
                raise InvalidParameterError(
                    f"run_dir {str(run_dir)!r} already holds {str(last)!r}; pass resume=True "
                    "to continue it or choose a new run_dir")
            _check_resume(run_dir, record_config, resume_keys)
            done = read_json(run_dir / FINISHED, missing_ok=True)
            if done and (done.get("stopped_early") or done["epochs_completed"] >= trainer_config.max_epochs):
                cid = run_dir / "catalog_id"  # finished: nothing left to train, the same result again
                return {**done, "resumed_from": "finished", "wall_time_s": 0.0,
                        "catalog_id": cid.read_text().strip() if cid.is_file() else None}
            load_checkpoint(last, run_dir)  # refuse anything but weights before Lightning sees it
            resumed_from = str(last)
        entry, cat = None, None
        if rank_zero:
            from microdl.data.catalog import Catalog

            cat = catalog if catalog is not None else Catalog()
            task_name = name or f"train:{type(task).__name__}"
            entry = cat.claim(run_dir, "run", task_name, config=record_config,
                              seed=trainer_config.seed, status="running")
        old_threads = torch.get_num_threads()
        if trainer_config.num_threads is not None:
            torch.set_num_threads(trainer_config.num_threads)
        status, result = "interrupted", None  # on any exception: a rerun resumes and updates the entry
        try:
            result = _fit(task, datamodule, run_dir, trainer_config, record_config, resumed_from,
                          progress, [_Heartbeat(cat, entry)] if entry else [], t0)
            result["catalog_id"] = entry
            status = "done"
            return result
        finally:
            torch.set_num_threads(old_threads)
            if entry is not None:
                _finish(cat, entry, status, result)
    finally:
        if lock is not None:
            lock.release()


def _finish(cat: Catalog, entry: str, status: str, result: dict[str, Any] | None) -> None:
    keep = ("epochs_completed", "stopped_early", "wall_time_s", "model_path")
    metrics = {k: v for k, v in (result or {}).items()
               if k in keep or (k.startswith("best_") and k != "best_checkpoint")}
    with contextlib.suppress(Exception):  # the catalog must never mask the training outcome
        cat.update(entry, status=status, metrics=metrics if result else None)


def _fit(task: Any, data: pl.LightningDataModule, run_dir: Path, tc: TrainerConfig,
         record_config: dict[str, Any], resumed_from: str | None, progress: bool,
         callbacks: list[Callback], t0: float) -> dict[str, Any]:
    ckpt_dir = run_dir / "checkpoints"
    last = ckpt_dir / "last.ckpt"
    sizes = dict(getattr(data, "sizes", {}) or {})
    with seeded(tc.seed):
        if not isinstance(task, pl.LightningModule):
            task = task()
        monitor = getattr(task, "monitor", "val_loss")
        mode = getattr(task, "monitor_mode", "min")
        checkpoint = ModelCheckpoint(
            dirpath=ckpt_dir, filename=f"best-epoch{{epoch:03d}}-{monitor}{{{monitor}:.5f}}",
            auto_insert_metric_name=False, monitor=monitor, mode=mode, save_top_k=1)
        # last.ckpt after every epoch (save_last=True writes it only with a new best: resumes restarted there)
        last_checkpoint = ModelCheckpoint(dirpath=ckpt_dir, filename="last", monitor=None, save_top_k=1,
                                          enable_version_counter=False)
        early = EarlyStopping(monitor=monitor, mode=mode, patience=tc.patience)
        record = _RunRecord(run_dir / "config.json", {"config": to_jsonable(record_config), **sizes},
                            resumed_from)
        n_train = next((sizes[k] for k in ("train_windows", "train_crops", "train") if sizes.get(k)), 0)
        n_batches = max(1, -(-int(n_train) // int(getattr(data, "batch_size", 1) or 1))) if n_train else None
        trainer = pl.Trainer(
            accelerator=tc.accelerator, devices=tc.devices, num_nodes=tc.num_nodes, strategy=tc.strategy,
            precision=tc.precision, max_epochs=tc.max_epochs,
            callbacks=[checkpoint, last_checkpoint, early, record, *callbacks],
            logger=CSVLogger(save_dir=run_dir, name="logs"), default_root_dir=run_dir,
            log_every_n_steps=min(tc.log_every_n_steps, n_batches or tc.log_every_n_steps),
            enable_progress_bar=progress, enable_model_summary=progress,
        )
        try:
            # Lightning prints to stdout; stdout belongs to results (e.g. the CLI's one JSON object).
            with contextlib.redirect_stdout(sys.stderr):
                trainer.fit(task, datamodule=data, ckpt_path=resumed_from, weights_only=True)
        finally:
            if trainer.is_global_zero:
                merge_metrics(run_dir)

    # the best path comes from the (resumed) callback state: use it only if it is a file of this run
    best = _inside(checkpoint.best_model_path, ckpt_dir) if checkpoint.best_model_path else None
    best_path = checkpoint.best_model_path if best is not None and best.is_file() else (
        str(last) if last.is_file() else "")
    best_score = checkpoint.best_model_score
    best_value = float(best_score) if best_score is not None else None
    model_path = run_dir / "model.pt"
    if trainer.is_global_zero and hasattr(task, "export_model"):
        if best_path:
            task.load_state_dict(load_checkpoint(best_path, run_dir)["state_dict"])
        task.export_model(model_path, extra={
            f"best_{monitor}": best_value, "best_checkpoint": best_path,
            "epochs_completed": trainer.current_epoch, "train_config": to_jsonable(record_config)})
    result = {
        "run_dir": str(run_dir),
        "model_path": str(model_path),
        "best_checkpoint": best_path,
        "last_checkpoint": str(last),
        f"best_{monitor}": best_value,
        "epochs_completed": int(trainer.current_epoch),
        "global_step": int(trainer.global_step),
        "stopped_early": bool(early.stopped_epoch > 0),
        "resumed_from": resumed_from,
        **sizes,
        "metrics_csv": str(run_dir / "metrics.csv"),
        "wall_time_s": time.perf_counter() - t0,
    }
    if trainer.is_global_zero and not trainer.interrupted:  # a rerun returns this instead of training again
        write_json(run_dir / FINISHED, {**result, "max_epochs": tc.max_epochs})
    return result

