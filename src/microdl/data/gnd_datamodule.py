"""Loaders over GND windows for training: :class:`GNDDataModule` (Lightning).

Kept apart from :mod:`microdl.data.gnd` so that reading, writing and generating
window files does not import Lightning.
"""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
from torch.utils.data import DataLoader

from microdl.data._loaders import eval_loader, train_loader
from microdl.data.gnd import GNDSource, as_gnd_windows
from microdl.exceptions import InvalidParameterError

__all__ = ["GNDDataModule"]


class GNDDataModule(pl.LightningDataModule):
    """Train/validation loaders over in-memory GND windows.

    Parameters
    ----------
    train, val
        :class:`GNDWindows`, a mapping with keys ``gnd``, ``rho_t``, ``n_lines``,
        or the path of an HDF5 file holding those datasets (read into memory).
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

    def __init__(self, train: GNDSource, val: GNDSource, batch_size: int = 64, num_workers: int = 0,
                 limit_train_windows: int | None = None, seed: int = 0) -> None:
        super().__init__()
        self.train_arrays = as_gnd_windows(train, "train")
        self.val_arrays = as_gnd_windows(val, "val")
        if len(self.train_arrays) == 0 or len(self.val_arrays) == 0:
            raise InvalidParameterError(
                f"train and val must hold windows, got {len(self.train_arrays)} and {len(self.val_arrays)}")
        if limit_train_windows is not None and limit_train_windows < len(self.train_arrays):
            rng = np.random.default_rng(seed)
            keep = np.sort(rng.choice(len(self.train_arrays), limit_train_windows, replace=False))
            self.train_arrays = self.train_arrays.subset(keep)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self._train_ds = self.train_arrays.to_tensors()
        self._val_ds = self.val_arrays.to_tensors()

    @property
    def sizes(self) -> dict[str, int]:
        """Number of training and validation windows."""
        return {"train_windows": len(self.train_arrays), "val_windows": len(self.val_arrays)}

    def train_dataloader(self) -> DataLoader:
        return train_loader(self._train_ds, self.batch_size, seed=self.seed, num_workers=self.num_workers,
                            trainer=getattr(self, "trainer", None))

    def val_dataloader(self) -> DataLoader:
        return eval_loader(self._val_ds, max(self.batch_size, 256), num_workers=self.num_workers)
