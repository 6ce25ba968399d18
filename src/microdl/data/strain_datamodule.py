"""Loaders over the 24 crops of strain profiles for training: :func:`profile_crops`, :class:`StrainCropDataModule`.

The crops of every profile are computed once (:func:`microdl.data.strain_crops.strain_crops`)
and kept in memory as ``uint8`` (rounded after each resize, as the authors'
``scipy.misc.imresize`` did): 24 x 224 x 224 bytes = 1.2 MB per profile, 0.3 MB at
112. A batch is converted to ``float32`` gray values 0..255 by the task, so the
loader does almost nothing and never starves the model. Kept apart from
:mod:`microdl.data.strain_profiles` so that reading profiles does not import Lightning.
"""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from microdl.data._loaders import eval_loader, train_loader
from microdl.data.strain_crops import N_CROPS, crop_scales, strain_crops
from microdl.data.strain_profiles import StrainProfiles
from microdl.exceptions import InvalidParameterError

__all__ = ["StrainCropDataModule", "profile_crops"]


def profile_crops(profiles: StrainProfiles, crop: int = 224, *, antialias: bool = False,
                  progress: bool = False) -> torch.Tensor:
    """The 24 crops of every profile as ``uint8``, shape ``(n_profiles, 24, 1, crop, crop)``.

    Parameters
    ----------
    profiles
        The profiles.
    crop
        Crop side (paper: 224).
    antialias
        Antialiased shrinking, as PIL (see :mod:`microdl.data.strain_crops`).
    progress
        Show a progress bar (stderr).
    """
    crop_scales(crop)
    out = torch.empty((len(profiles), N_CROPS, 1, crop, crop), dtype=torch.uint8)
    items = enumerate(zip(profiles.images, profiles.meta, strict=True))
    if progress:
        from tqdm.auto import tqdm

        items = tqdm(items, total=len(profiles), desc=f"crops {crop}", unit="profile")
    for i, (image, meta) in items:
        out[i] = strain_crops(image, crop, antialias=antialias, round_uint8=True, name=str(meta["file"])).to(torch.uint8)
    return out


class StrainCropDataModule(pl.LightningDataModule):
    """Train / validation loaders over the crops of strain profiles (each crop a sample with its profile's label).

    Parameters
    ----------
    train, val
        :class:`~microdl.data.strain_profiles.StrainProfiles`.
    crop
        Crop side.
    batch_size
        Crops per batch (paper: 72).
    num_workers
        DataLoader workers (0: the crops are in memory, usually fastest).
    seed
        Seed of the shuffling (a ``torch.Generator``; under DDP the sampler's seed).
    antialias
        See :func:`profile_crops`.
    progress
        Progress bar while the crops are made.

    Notes
    -----
    The validation loader keeps the order of the profiles, 24 crops each, so the task
    can average the softmax over a profile's crops (``val_acc``, the paper's metric).
    """

    def __init__(self, train: StrainProfiles, val: StrainProfiles, *, crop: int = 224, batch_size: int = 72,
                 num_workers: int = 0, seed: int = 0, antialias: bool = False, progress: bool = False) -> None:
        super().__init__()
        for name, part in (("train", train), ("val", val)):
            if not isinstance(part, StrainProfiles):
                raise InvalidParameterError(f"{name} must be StrainProfiles, got {type(part).__name__}")
            if len(part) == 0:
                raise InvalidParameterError(f"{name} must hold profiles, got none")
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.crop = crop
        self.n_train_profiles, self.n_val_profiles = len(train), len(val)
        xt = profile_crops(train, crop, antialias=antialias, progress=progress)
        xv = profile_crops(val, crop, antialias=antialias, progress=progress)
        yt = torch.from_numpy(np.repeat(train.labels, N_CROPS))
        yv = torch.from_numpy(np.repeat(val.labels, N_CROPS))
        self._train_ds = TensorDataset(xt.flatten(0, 1), yt)
        self._val_ds = TensorDataset(xv.flatten(0, 1), yv)

    @property
    def sizes(self) -> dict[str, int]:
        """Profiles and crops on each side."""
        return {"train_profiles": self.n_train_profiles, "val_profiles": self.n_val_profiles,
                "train_crops": len(self._train_ds), "val_crops": len(self._val_ds)}

    def train_dataloader(self) -> DataLoader:
        return train_loader(self._train_ds, self.batch_size, seed=self.seed, num_workers=self.num_workers,
                            trainer=getattr(self, "trainer", None))

    def val_dataloader(self) -> DataLoader:
        # whole profiles per batch (a multiple of 24 crops), in order
        return eval_loader(self._val_ds, max(1, self.batch_size // N_CROPS) * N_CROPS, num_workers=self.num_workers)
