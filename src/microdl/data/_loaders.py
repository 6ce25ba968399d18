"""The one way our DataModules build loaders: seeded shuffling, DDP-aware (shared by every capability)."""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

__all__ = ["eval_loader", "train_loader"]


def _options(num_workers: int) -> dict[str, Any]:
    return {"num_workers": num_workers, "persistent_workers": num_workers > 0}


def train_loader(dataset: Dataset, batch_size: int, *, seed: int, num_workers: int = 0,
                 trainer: Any = None) -> DataLoader:
    """Shuffled loader: a ``torch.Generator`` seeded with ``seed``, or a ``DistributedSampler`` under DDP."""
    if trainer is not None and trainer.world_size > 1:
        from torch.utils.data import DistributedSampler

        sampler = DistributedSampler(dataset, num_replicas=trainer.world_size, rank=trainer.global_rank,
                                     shuffle=True, seed=seed)
        return DataLoader(dataset, batch_size=batch_size, sampler=sampler, **_options(num_workers))
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=gen, **_options(num_workers))


def eval_loader(dataset: Dataset, batch_size: int, *, num_workers: int = 0) -> DataLoader:
    """Loader in dataset order (validation, prediction)."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, **_options(num_workers))
