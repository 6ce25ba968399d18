"""Loaders over GND windows for training: :class:`GNDDataModule` (Lightning).

The training side is either fixed windows (a :class:`~microdl.data.gnd.GNDWindows`, a mapping or
an HDF5 file) or a :class:`GNDStream`: fresh windows every epoch from the line generator, which
makes tens of thousands of windows a second, so data is free and a model never sees a window
twice. The stream is reproducible: epoch ``e`` on rank ``r`` draws from the seed ``(seed, e, r)``,
so a resumed run sees the same windows as an uninterrupted one.

Kept apart from :mod:`microdl.data.gnd` so that reading, writing and generating
window files does not import Lightning.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset

from microdl.data._loaders import eval_loader, train_loader
from microdl.data.gnd import GNDSource, as_gnd_windows, generate_windows
from microdl.exceptions import InvalidParameterError
from microdl.simulate.gnd_lines import GNDLineConfig

__all__ = ["GNDDataModule", "GNDStream"]


@dataclass(frozen=True)
class GNDStream:
    """Fresh, class-balanced training windows every epoch (module notes).

    Parameters
    ----------
    n_per_class
        Windows per class N and epoch (the epoch holds ``5 * n_per_class``, split over DDP ranks).
    seed
        Base seed; epoch ``e`` on rank ``r`` uses ``(seed, e, r)``.
    config
        Generator settings (:class:`~microdl.simulate.gnd_lines.GNDLineConfig`).
    """

    n_per_class: int
    seed: int = 0
    config: GNDLineConfig = field(default_factory=GNDLineConfig)

    def __post_init__(self) -> None:
        if isinstance(self.n_per_class, bool) or not isinstance(self.n_per_class, int) or self.n_per_class < 1:
            raise InvalidParameterError(f"n_per_class must be an integer >= 1, got {self.n_per_class!r}")


def _generate_keeping_threads(n_per_class: int, config: GNDLineConfig, rng: np.random.Generator):
    """Generate windows with at most torch's thread count, and leave torch's count as it was.

    The generator's numba kernels run on OpenMP, which shares its thread-count setting with
    torch: after a generation torch ran on every core again, whatever ``num_threads`` said. On
    a busy 2-core machine that made streamed training 5-10 times slower (measured: 100 against
    500 steps a minute).
    """
    import numba

    threads = torch.get_num_threads()
    old = numba.get_num_threads()
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    try:
        return generate_windows(n_per_class, config=config, rng=rng).to_tensors().tensors
    finally:
        numba.set_num_threads(old)
        torch.set_num_threads(threads)


class _StreamBatches(IterableDataset):
    """Yields shuffled ``(x, rho_t, n)`` batches of one freshly generated epoch per pass."""

    def __init__(self, stream: GNDStream, batch_size: int, module: pl.LightningDataModule) -> None:
        super().__init__()
        self.stream = stream
        self.batch_size = batch_size
        self.module = module
        self._passes = 0

    def _world(self) -> tuple[int, int, int]:
        trainer = getattr(self.module, "trainer", None)
        if trainer is None:
            return self._passes, 0, 1
        return int(trainer.current_epoch), int(trainer.global_rank), max(1, int(trainer.world_size))

    def __len__(self) -> int:
        world = self._world()[2]
        per_rank = -(-self.stream.n_per_class // world)
        classes = self.stream.config.n_max - self.stream.config.n_min + 1
        return -(-per_rank * classes // self.batch_size)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        epoch, rank, world = self._world()
        self._passes += 1
        per_rank = -(-self.stream.n_per_class // world)
        rng = np.random.default_rng([self.stream.seed, epoch, rank])
        x, rho, n = _generate_keeping_threads(per_rank, self.stream.config, rng)
        for i in range(0, len(rho), self.batch_size):  # the generator returns shuffled windows
            yield x[i:i + self.batch_size], rho[i:i + self.batch_size], n[i:i + self.batch_size]


class GNDDataModule(pl.LightningDataModule):
    """Train/validation loaders over in-memory GND windows.

    Parameters
    ----------
    train, val
        :class:`GNDWindows`, a mapping with keys ``gnd``, ``rho_t``, ``n_lines``,
        or the path of an HDF5 file holding those datasets (read into memory);
        ``train`` may also be a :class:`GNDStream` (fresh windows every epoch).
    batch_size
        Batch size per process.
    num_workers
        DataLoader workers.
    limit_train_windows
        Keep only this many training windows, a random subset drawn with a NumPy
        generator seeded by ``seed``.
    seed
        Seed of the subset and of the shuffling (a ``torch.Generator``; under DDP
        the seed of the ``DistributedSampler``).
    """

    def __init__(self, train: GNDSource | GNDStream, val: GNDSource, batch_size: int = 64, num_workers: int = 0,
                 limit_train_windows: int | None = None, seed: int = 0) -> None:
        super().__init__()
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.stream = train if isinstance(train, GNDStream) else None
        self.val_arrays = as_gnd_windows(val, "val")
        self._val_ds = self.val_arrays.to_tensors()
        if self.stream is not None:
            if self.stream.config.window != 7:
                raise InvalidParameterError(f"the stream must make 7 x 7 windows, got {self.stream.config.window}")
            if len(self.val_arrays) == 0:
                raise InvalidParameterError("val must hold windows, got 0")
            self._train_ds: Any = _StreamBatches(self.stream, batch_size, self)
            return
        self.train_arrays = as_gnd_windows(train, "train")
        self.val_arrays = as_gnd_windows(val, "val")
        if len(self.train_arrays) == 0 or len(self.val_arrays) == 0:
            raise InvalidParameterError(
                f"train and val must hold windows, got {len(self.train_arrays)} and {len(self.val_arrays)}")
        if limit_train_windows is not None and limit_train_windows < len(self.train_arrays):
            rng = np.random.default_rng(seed)
            keep = np.sort(rng.choice(len(self.train_arrays), limit_train_windows, replace=False))
            self.train_arrays = self.train_arrays.subset(keep)
        self._train_ds = self.train_arrays.to_tensors()

    @property
    def sizes(self) -> dict[str, int]:
        """Number of training and validation windows."""
        if self.stream is not None:
            n_train = self.stream.n_per_class * (self.stream.config.n_max - self.stream.config.n_min + 1)
            return {"train_windows": n_train, "val_windows": len(self.val_arrays), "train_fresh_each_epoch": True}
        return {"train_windows": len(self.train_arrays), "val_windows": len(self.val_arrays)}

    def train_dataloader(self) -> DataLoader:
        if self.stream is not None:
            return DataLoader(self._train_ds, batch_size=None, num_workers=0)
        return train_loader(self._train_ds, self.batch_size, seed=self.seed, num_workers=self.num_workers,
                            trainer=getattr(self, "trainer", None))

    def val_dataloader(self) -> DataLoader:
        return eval_loader(self._val_ds, max(self.batch_size, 256), num_workers=self.num_workers)
