"""Datasets, samplers and one DataModule serving micrographs to the four representation objectives.

The objectives of :class:`MicrographDataModule` and what a training batch holds:

``"supervised"``
    ``(crops (b, 1, c, c), labels (b,))``: augmented crops with their class.
``"contrastive"``
    ``(crops_a, crops_b, same (b,) float)``: pairs of augmented crops, half of them from
    the same class (1.0), half from two classes (0.0), drawn anew each epoch.
``"triplet"``
    ``(crops, labels)`` in batches of ``P`` classes x ``K`` images
    (:class:`ClassBalancedBatchSampler`), so that batch-hard mining finds positives.
``"simclr"``
    ``(views_a, views_b, image)``: two augmented views of the same micrograph and its
    index in the :class:`~microdl.data.micrographs.MicrographSet` (to mask other crops
    of one image among the negatives); labels are not needed.

The validation loader is the same for all: ``crops_per_image`` deterministic
:func:`~microdl.data.micrograph_aug.grid_crops` of each validation image, in order,
as ``(crops, labels, image)`` (label -1 when unlabelled), whole images per batch.

Reproducibility: a training sample is addressed by a key ``(epoch, j)`` which the
samplers yield; its random draws come from a ``torch.Generator`` seeded with
``(seed, epoch, j)``. A batch therefore does not depend on workers, on the order of
access or on global random state. The samplers count epochs themselves and accept
Lightning's ``set_epoch`` (so a resumed run continues with the right draws).
Crops are not standardized here: the models call
:func:`~microdl.data.micrograph_aug.standardize`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal

import lightning.pytorch as pl
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from microdl.data.micrograph_aug import AugmentConfig, augment, grid_positions
from microdl.data.micrographs import MicrographSet
from microdl.exceptions import InvalidParameterError, ShapeError

__all__ = ["OBJECTIVES", "ClassBalancedBatchSampler", "ContrastivePairs", "EpochSampler", "GridCrops",
           "MicrographDataModule", "SimCLRViews", "SupervisedCrops"]

OBJECTIVES = ("supervised", "contrastive", "triplet", "simclr")
Objective = Literal["supervised", "contrastive", "triplet", "simclr"]
Key = tuple[int, int]


def _seed(*parts: int) -> int:
    """A 63-bit seed mixing ``parts`` (numpy's SeedSequence: well spread, platform independent)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint32).view(np.uint64)[0]
               >> np.uint64(1))


def _generator(*parts: int) -> torch.Generator:
    return torch.Generator().manual_seed(_seed(*parts))


def _key(key: int | Key) -> Key:
    if isinstance(key, tuple):
        return int(key[0]), int(key[1])
    return 0, int(key)


def _positive_int(name: str, value: object, low: int = 1) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
        raise InvalidParameterError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


class _CropDataset(Dataset):
    """Shared state: the micrographs at ``index`` as ``(1, H, W)`` tensors, their labels, the augmentation."""

    def __init__(self, micrographs: MicrographSet, index: Sequence[int] | np.ndarray, cfg: AugmentConfig,
                 crops_per_image: int, seed: int) -> None:
        self.index = np.asarray(index, dtype=np.int64)
        self.images = [torch.from_numpy(micrographs.images[i])[None] for i in self.index]
        self.labels = None if micrographs.labels is None else micrographs.labels[self.index]
        self.cfg = cfg
        self.crops_per_image = crops_per_image
        self.seed = seed

    def __len__(self) -> int:
        return len(self.index) * self.crops_per_image

    def _crop(self, pos: int, epoch: int, j: int, stream: int) -> torch.Tensor:
        return augment(self.images[pos], self.cfg, _generator(self.seed, epoch, j, stream))


class SupervisedCrops(_CropDataset):
    """``(crop, label)`` for key ``(epoch, j)``: an augmented crop of image ``j % n_images``.

    An epoch has ``crops_per_image`` keys per image (``j < len(self)``); larger ``j``
    (as :class:`ClassBalancedBatchSampler` yields) give further crops.
    """

    def __getitem__(self, key: int | Key) -> tuple[torch.Tensor, torch.Tensor]:
        epoch, j = _key(key)
        pos = j % len(self.index)
        return self._crop(pos, epoch, j, 0), torch.tensor(int(self.labels[pos]), dtype=torch.int64)


class SimCLRViews(_CropDataset):
    """``(view_a, view_b, image)`` for key ``(epoch, j)``: two augmented views of image ``j % n_images``."""

    def __getitem__(self, key: int | Key) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        epoch, j = _key(key)
        pos = j % len(self.index)
        return (self._crop(pos, epoch, j, 0), self._crop(pos, epoch, j, 1),
                torch.tensor(int(self.index[pos]), dtype=torch.int64))


class ContrastivePairs(_CropDataset):
    """``(crop_a, crop_b, same)`` for key ``(epoch, j)``: pair ``j`` of the epoch's pairs.

    The pairs of an epoch (:meth:`pairs`) come from a generator seeded with ``(seed,
    epoch)``: each image is the first member of ``crops_per_image`` pairs, half of all
    pairs (in random order) take their second member from the same class (another image
    when the class has one), the other half from another class.
    """

    def __init__(self, micrographs: MicrographSet, index: Sequence[int] | np.ndarray, cfg: AugmentConfig,
                 crops_per_image: int, seed: int) -> None:
        super().__init__(micrographs, index, cfg, crops_per_image, seed)
        if self.labels is None or len(np.unique(self.labels)) < 2:
            raise InvalidParameterError("the contrastive objective needs labelled images of at least 2 classes")
        self._members = {int(c): np.flatnonzero(self.labels == c) for c in np.unique(self.labels)}
        self._cache: tuple[int, np.ndarray] | None = None

    def pairs(self, epoch: int) -> np.ndarray:
        """``(len(self), 3)`` rows ``(position a, position b, same class)`` of ``epoch``."""
        if self._cache is not None and self._cache[0] == epoch:
            return self._cache[1]
        rng = np.random.default_rng(_seed(self.seed, epoch, 7))
        first = rng.permutation(np.repeat(np.arange(len(self.index)), self.crops_per_image))
        same = np.zeros(first.size, np.int64)
        same[rng.permutation(first.size)[: first.size // 2]] = 1
        second = np.empty_like(first)
        classes = np.array(sorted(self._members))
        for i, (a, s) in enumerate(zip(first, same, strict=True)):
            c = int(self.labels[a])
            if s:
                pool = self._members[c]
                pool = pool[pool != a] if pool.size > 1 else pool
            else:
                pool = self._members[int(rng.choice(classes[classes != c]))]
            second[i] = pool[rng.integers(pool.size)]
        out = np.stack([first, second, same], axis=1)
        self._cache = (epoch, out)
        return out

    def __getitem__(self, key: int | Key) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        epoch, j = _key(key)
        a, b, same = self.pairs(epoch)[j]
        return (self._crop(int(a), epoch, j, 0), self._crop(int(b), epoch, j, 1),
                torch.tensor(float(same), dtype=torch.float32))


class GridCrops(Dataset):
    """``(crop, label, image)``: ``crops_per_image`` :func:`grid_positions` crops of each image, in order."""

    def __init__(self, micrographs: MicrographSet, index: Sequence[int] | np.ndarray, size: int,
                 crops_per_image: int) -> None:
        self.index = np.asarray(index, dtype=np.int64)
        self.size = size
        self.images = [torch.from_numpy(micrographs.images[i])[None] for i in self.index]
        self.labels = np.full(len(self.index), -1) if micrographs.labels is None else micrographs.labels[self.index]
        self._items = [(pos, t, x) for pos, im in enumerate(self.images)
                       for t, x in grid_positions(im.shape[-2], im.shape[-1], crops_per_image, size)]

    def __len__(self) -> int:
        return len(self._items)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pos, t, x = self._items[i]
        return (self.images[pos][:, t:t + self.size, x:x + self.size].clone(),
                torch.tensor(int(self.labels[pos]), dtype=torch.int64),
                torch.tensor(int(self.index[pos]), dtype=torch.int64))


class _EpochClock:
    """The epoch of a sampler: Lightning calls ``set_epoch``; otherwise each pass counts one up."""

    def __init__(self) -> None:
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def next_epoch(self) -> int:
        epoch, self.epoch = self.epoch, self.epoch + 1
        return epoch


class EpochSampler(Sampler[Key]):
    """Keys ``(epoch, j)`` for ``j < length``, shuffled with a generator seeded by ``(seed, epoch)``."""

    def __init__(self, length: int, seed: int, *, shuffle: bool = True) -> None:
        self.length, self.seed, self.shuffle = length, seed, shuffle
        self._clock = _EpochClock()

    def set_epoch(self, epoch: int) -> None:
        """Draw the keys of ``epoch`` on the next pass (called by Lightning at each epoch)."""
        self._clock.set_epoch(epoch)

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[Key]:
        epoch = self._clock.next_epoch()
        order = (np.random.default_rng(_seed(self.seed, epoch, 3)).permutation(self.length) if self.shuffle
                 else np.arange(self.length))
        return iter([(epoch, int(j)) for j in order])


class ClassBalancedBatchSampler(Sampler[list[Key]]):
    """Batches of ``p`` classes x ``k`` images (P x K sampling, for batch-hard triplet mining).

    Each batch draws ``p`` distinct classes and ``k`` distinct images of each, from a
    generator seeded by ``(seed, epoch)``; the keys ``(epoch, j)`` address image
    ``j % n_images`` with a crop unique within the epoch (:class:`SupervisedCrops`).

    Parameters
    ----------
    labels
        Class of each image of the dataset, shape ``(n_images,)``.
    p, k
        Classes per batch (<= the number of classes) and images per class (<= the
        smallest class).
    n_batches
        Batches per epoch.
    seed
        Seed of the draws.
    """

    def __init__(self, labels: Sequence[int] | np.ndarray, p: int, k: int, n_batches: int, seed: int) -> None:
        self.labels = np.asarray(labels, dtype=np.int64)
        self._members = {int(c): np.flatnonzero(self.labels == c) for c in np.unique(self.labels)}
        sizes = {c: m.size for c, m in self._members.items()}
        p, k = _positive_int("classes_per_batch", p, 2), _positive_int("images per class (k)", k, 2)
        if p > len(sizes):
            raise InvalidParameterError(f"classes_per_batch must be <= the number of classes ({len(sizes)}), got {p}")
        small = min(sizes, key=sizes.__getitem__)
        if k > sizes[small]:
            raise InvalidParameterError(f"images per class in a batch (batch_size // classes_per_batch) must be <= "
                                        f"the images of the smallest class (class {small}: {sizes[small]}), got {k}")
        self.p, self.k, self.n_batches, self.seed = p, k, _positive_int("n_batches", n_batches), seed
        self.sampler = _EpochClock()  # Lightning calls batch_sampler.sampler.set_epoch(epoch)

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)

    def __len__(self) -> int:
        return self.n_batches

    def __iter__(self) -> Iterator[list[Key]]:
        epoch = self.sampler.next_epoch()
        rng = np.random.default_rng(_seed(self.seed, epoch, 5))
        classes = np.array(sorted(self._members))
        n = self.labels.size
        uses = np.zeros(n, np.int64)
        batches = []
        for _ in range(self.n_batches):
            batch = []
            for c in rng.choice(classes, self.p, replace=False):
                for pos in rng.choice(self._members[int(c)], self.k, replace=False):
                    batch.append((epoch, int(pos + n * uses[pos])))
                    uses[pos] += 1
            batches.append(batch)
        return iter(batches)


class MicrographDataModule(pl.LightningDataModule):
    """Training and validation loaders over one :class:`MicrographSet` for a representation objective.

    Parameters
    ----------
    micrographs
        The images (labels needed except for ``"simclr"``).
    train_idx, val_idx
        Disjoint indices of the training and validation images (e.g. from
        :func:`~microdl.data.micrographs.block_folds`).
    objective
        ``"supervised"``, ``"contrastive"``, ``"triplet"`` or ``"simclr"`` (see the module).
    augment
        Augmentation of the training crops; ``augment.crop`` is also the validation crop.
    crops_per_image
        Training samples per image and epoch, and validation grid crops per image
        (8 on 645 x 475 micrographs at 224: a 2 x 4 grid; 9, a 3 x 3 grid, covers every pixel).
    batch_size
        Samples (crops, pairs or view pairs) per training batch; for ``"triplet"``,
        ``classes_per_batch`` x ``batch_size // classes_per_batch``.
    classes_per_batch
        ``P`` of the triplet batches; default all classes.
    num_workers
        DataLoader workers (0: in the main process).
    seed
        Seed of every draw.
    """

    def __init__(self, micrographs: MicrographSet, train_idx: Sequence[int] | np.ndarray,
                 val_idx: Sequence[int] | np.ndarray, *, objective: Objective = "supervised",
                 augment: AugmentConfig | None = None, crops_per_image: int = 8, batch_size: int = 32,
                 classes_per_batch: int | None = None, num_workers: int = 0, seed: int = 0) -> None:
        super().__init__()
        if not isinstance(micrographs, MicrographSet):
            raise InvalidParameterError(f"micrographs must be a MicrographSet, got {type(micrographs).__name__}")
        if objective not in OBJECTIVES:
            raise InvalidParameterError(f"objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
        if objective != "simclr" and micrographs.labels is None:
            raise InvalidParameterError(f"objective {objective!r} needs labelled micrographs (or use 'simclr')")
        self.cfg = AugmentConfig() if augment is None else augment
        if not isinstance(self.cfg, AugmentConfig):
            raise InvalidParameterError(f"augment must be an AugmentConfig, got {type(self.cfg).__name__}")
        self.objective = objective
        self.crops_per_image = _positive_int("crops_per_image", crops_per_image)
        self.batch_size = _positive_int("batch_size", batch_size)
        self.num_workers = _positive_int("num_workers", num_workers, 0)
        self.seed = _positive_int("seed", seed, 0)
        self.train_idx = self._check_index("train_idx", train_idx, len(micrographs))
        self.val_idx = self._check_index("val_idx", val_idx, len(micrographs))
        both = np.intersect1d(self.train_idx, self.val_idx)
        if both.size:
            raise InvalidParameterError(f"train_idx and val_idx must be disjoint, got {both.size} shared images, "
                                        f"e.g. {micrographs.files[both[0]]}")
        small = [(micrographs.files[i], micrographs.images[i].shape) for i in np.r_[self.train_idx, self.val_idx]
                 if min(micrographs.images[i].shape) < self.cfg.crop]
        if small:
            raise ShapeError(f"augment.crop ({self.cfg.crop}) must fit every image; {len(small)} are smaller, "
                             f"e.g. {small[0][0]} of shape {small[0][1]}")
        self.class_names = micrographs.class_names
        args = (micrographs, self.train_idx, self.cfg, self.crops_per_image, self.seed)
        kind = {"supervised": SupervisedCrops, "triplet": SupervisedCrops, "contrastive": ContrastivePairs,
                "simclr": SimCLRViews}[objective]
        self.train_set: _CropDataset = kind(*args)
        self.val_set = GridCrops(micrographs, self.val_idx, self.cfg.crop, self.crops_per_image)
        self._pk: tuple[int, int] | None = None
        if objective == "triplet":
            p = len(np.unique(self.train_set.labels)) if classes_per_batch is None else classes_per_batch
            p = _positive_int("classes_per_batch", p, 2)
            self._pk = (p, self.batch_size // p)
            self._batch_sampler()  # validate P and K now

    @staticmethod
    def _check_index(name: str, index: Sequence[int] | np.ndarray, n: int) -> np.ndarray:
        idx = np.asarray(index)
        if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
            raise InvalidParameterError(f"{name} must be a non-empty 1D array of integers, got dtype {idx.dtype}, "
                                        f"shape {idx.shape}")
        if idx.min() < 0 or idx.max() >= n:
            raise InvalidParameterError(f"{name} must be in [0, {n - 1}], got {idx.min()}..{idx.max()}")
        if np.unique(idx).size != idx.size:
            raise InvalidParameterError(f"{name} must not repeat images, got {idx.size - np.unique(idx).size} repeats")
        return idx.astype(np.int64)

    def _batch_sampler(self) -> ClassBalancedBatchSampler:
        p, k = self._pk
        n_batches = max(1, -(-len(self.train_set) // (p * k)))
        return ClassBalancedBatchSampler(self.train_set.labels, p, k, n_batches, self.seed)

    @property
    def sizes(self) -> dict[str, int]:
        """Images and samples per epoch on each side."""
        return {"train_images": len(self.train_idx), "val_images": len(self.val_idx),
                "train_samples": len(self.train_set), "val_crops": len(self.val_set)}

    def train_dataloader(self) -> DataLoader:
        opts = {"num_workers": self.num_workers, "persistent_workers": self.num_workers > 0}
        if self._pk is not None:
            return DataLoader(self.train_set, batch_sampler=self._batch_sampler(), **opts)
        sampler = EpochSampler(len(self.train_set), self.seed)
        return DataLoader(self.train_set, batch_size=self.batch_size, sampler=sampler, **opts)

    def val_dataloader(self) -> DataLoader:
        # whole images per batch (a multiple of crops_per_image), in order
        size = max(1, self.batch_size // self.crops_per_image) * self.crops_per_image
        return DataLoader(self.val_set, batch_size=size, shuffle=False, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0)
