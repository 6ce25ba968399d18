"""MicrographDataModule: the four objectives' batches, reproducible from a seed, and the validation grid crops."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from microdl.data.micrograph_aug import AugmentConfig, grid_crops
from microdl.data.micrograph_datamodule import (
    ClassBalancedBatchSampler,
    EpochSampler,
    MicrographDataModule,
)
from microdl.data.micrographs import MicrographSet
from microdl.exceptions import InvalidParameterError, ShapeError

N_CLASSES, PER_CLASS = 3, 6
PLAIN = AugmentConfig(crop=16, scale=(1.0, 1.0), dihedral=False, brightness=0.0, contrast=0.0, blur_p=0.0,
                      noise_std=(0.0, 0.0))


@pytest.fixture(autouse=True)
def _one_thread(one_torch_thread):
    """Small CPU work: one torch thread."""


def _set(labelled: bool = True) -> MicrographSet:
    """Image i holds values in [i, i + 0.5): the integer part of any plain crop names its image."""
    rng = np.random.default_rng(0)
    images = [i + 0.5 * rng.random((30, 40), dtype=np.float32) for i in range(N_CLASSES * PER_CLASS)]
    labels = np.repeat(np.arange(N_CLASSES), PER_CLASS) if labelled else None
    names = tuple(f"c{c}" for c in range(N_CLASSES)) if labelled else ()
    return MicrographSet(images, tuple(f"m{i}.png" for i in range(len(images))), labels, names)


def _source(crops: torch.Tensor) -> list[int]:
    """Image of each plain crop (all its values share the integer part)."""
    lo = crops.flatten(1).min(1).values.floor()
    assert torch.equal(lo, crops.flatten(1).max(1).values.floor())
    return lo.long().tolist()


def _split():
    idx = np.arange(N_CLASSES * PER_CLASS)
    val = idx[idx % PER_CLASS >= 4]  # the last 2 of each class
    return np.setdiff1d(idx, val), val


def _dm(objective: str, *, micrographs: MicrographSet | None = None, seed: int = 0, **kw) -> MicrographDataModule:
    tr, va = _split()
    kw = {"augment": PLAIN, "crops_per_image": 4, "batch_size": 6, **kw}
    return MicrographDataModule(micrographs or _set(), tr, va, objective=objective, seed=seed, **kw)


def _epoch(loader) -> list:
    return list(loader)


def test_supervised_batches_carry_the_label_of_their_image_and_are_reproducible():
    dm = _dm("supervised")
    loader = dm.train_dataloader()
    first = _epoch(loader)
    assert sum(b[0].shape[0] for b in first) == 12 * 4  # crops_per_image per training image
    images = [i for x, _ in first for i in _source(x)]
    assert Counter(images) == {i: 4 for i in dm.train_idx.tolist()}
    for x, y in first:
        assert x.shape[1:] == (1, 16, 16) and y.dtype == torch.int64
        assert y.tolist() == [i // PER_CLASS for i in _source(x)]
    again = _epoch(_dm("supervised").train_dataloader())
    assert all(torch.equal(a[0], b[0]) for a, b in zip(first, again, strict=True))  # same seed: bit for bit
    other = _epoch(_dm("supervised", seed=1).train_dataloader())
    assert not torch.equal(first[0][0], other[0][0])
    second = _epoch(loader)  # the next epoch draws new crops
    assert not torch.equal(first[0][0], second[0][0])


def test_set_epoch_reproduces_an_epoch():
    sampler = EpochSampler(10, seed=3)
    e0, e1 = list(sampler), list(sampler)
    assert {k[0] for k in e0} == {0} and {k[0] for k in e1} == {1}
    assert sorted(j for _, j in e0) == list(range(10)) and [j for _, j in e0] != [j for _, j in e1]
    sampler.set_epoch(1)
    assert list(sampler) == e1


def test_contrastive_pairs_are_half_positive_half_negative():
    dm = _dm("contrastive", augment=AugmentConfig(crop=16))
    ds = dm.train_set
    pairs = ds.pairs(0)
    assert pairs.shape == (48, 3) and pairs[:, 2].sum() == 24
    la, lb = ds.labels[pairs[:, 0]], ds.labels[pairs[:, 1]]
    assert np.array_equal(la == lb, pairs[:, 2] == 1)
    assert (pairs[pairs[:, 2] == 1, 0] != pairs[pairs[:, 2] == 1, 1]).all()  # positives: two images
    assert not np.array_equal(pairs, ds.pairs(1)) and np.array_equal(pairs, ds.pairs(0))
    batches = _epoch(dm.train_dataloader())
    same = torch.cat([b[2] for b in batches])
    assert same.dtype == torch.float32 and set(same.tolist()) == {0.0, 1.0} and same.sum() == 24


def test_contrastive_crops_come_from_the_paired_images():
    dm = _dm("contrastive")
    for a, b, same in _epoch(dm.train_dataloader()):
        ca, cb = np.array(_source(a)) // PER_CLASS, np.array(_source(b)) // PER_CLASS
        assert np.array_equal(ca == cb, same.numpy() == 1)


def test_triplet_batches_hold_k_images_of_each_of_p_classes():
    dm = _dm("triplet", batch_size=8, classes_per_batch=2)
    batches = _epoch(dm.train_dataloader())
    assert len(batches) == 48 // 8
    classes_seen = set()
    for x, y in batches:
        counts = Counter(y.tolist())
        assert len(counts) == 2 and set(counts.values()) == {4}
        src = _source(x)
        assert len(set(src)) == 8  # K distinct images per class
        assert [i // PER_CLASS for i in src] == y.tolist()
        classes_seen |= set(counts)
    assert classes_seen == {0, 1, 2}
    full = _dm("triplet", batch_size=6)  # default P: all 3 classes, K = 2
    assert all(sorted(Counter(y.tolist()).values()) == [2, 2, 2] for _, y in full.train_dataloader())


def test_pk_sampler_keys_give_distinct_crops_and_follow_set_epoch():
    labels = np.repeat([0, 1, 2], 3)
    s = ClassBalancedBatchSampler(labels, 3, 3, n_batches=4, seed=0)
    e0 = list(s)
    keys = [k for b in e0 for k in b]
    assert len(set(keys)) == len(keys) and {k[0] for k in keys} == {0}
    s.sampler.set_epoch(0)  # what Lightning calls
    assert list(s) == e0
    with pytest.raises(InvalidParameterError, match=r"smallest class \(class 0: 3\), got 4"):
        ClassBalancedBatchSampler(labels, 2, 4, n_batches=1, seed=0)
    with pytest.raises(InvalidParameterError, match="classes_per_batch must be <= the number of classes"):
        ClassBalancedBatchSampler(labels, 4, 2, n_batches=1, seed=0)


def test_simclr_views_differ_but_come_from_the_same_image_even_unlabelled():
    dm = _dm("simclr", micrographs=_set(labelled=False), augment=AugmentConfig(crop=16, scale=(1.0, 1.0),
                                                                               brightness=0.0, contrast=0.0,
                                                                               noise_std=(0.0, 0.0), blur_p=0.0))
    n = 0
    for a, b, image in _epoch(dm.train_dataloader()):
        assert _source(a) == _source(b) == image.tolist()
        assert all(not torch.equal(u, v) for u, v in zip(a, b, strict=True))
        n += a.shape[0]
    assert n == 48
    x, y, image = next(iter(dm.val_dataloader()))
    assert (y == -1).all()


def test_validation_loader_is_the_grid_crops_of_each_image_in_order():
    mset = _set()
    dm = _dm("triplet", batch_size=6, micrographs=mset)
    batches = list(dm.val_dataloader())
    assert all(b[0].shape[0] % 4 == 0 for b in batches)  # whole images per batch
    x = torch.cat([b[0] for b in batches])
    y = torch.cat([b[1] for b in batches])
    image = torch.cat([b[2] for b in batches])
    assert image.tolist() == np.repeat(dm.val_idx, 4).tolist()
    assert y.tolist() == (np.repeat(dm.val_idx, 4) // PER_CLASS).tolist()
    first = torch.from_numpy(mset.images[dm.val_idx[0]])[None]
    assert torch.equal(x[:4], grid_crops(first, 4, 16))
    assert all(torch.equal(a[0], b[0]) for a, b in zip(batches, dm.val_dataloader(), strict=True))


def test_bad_arguments_name_the_parameter():
    tr, va = _split()
    with pytest.raises(InvalidParameterError, match="objective must be one of"):
        MicrographDataModule(_set(), tr, va, objective="byol")
    with pytest.raises(InvalidParameterError, match="needs labelled micrographs"):
        MicrographDataModule(_set(labelled=False), tr, va, objective="triplet", augment=PLAIN)
    with pytest.raises(InvalidParameterError, match="disjoint.*m0.png"):
        MicrographDataModule(_set(), tr, np.r_[va, 0], augment=PLAIN)
    with pytest.raises(InvalidParameterError, match="val_idx must be in"):
        MicrographDataModule(_set(), tr, np.r_[va, 99], augment=PLAIN)
    with pytest.raises(ShapeError, match="augment.crop \\(224\\) must fit"):
        MicrographDataModule(_set(), tr, va)
    with pytest.raises(InvalidParameterError, match="crops_per_image"):
        _dm("supervised", crops_per_image=0)
    with pytest.raises(InvalidParameterError, match="smallest class"):
        _dm("triplet", batch_size=30, classes_per_batch=3)  # K = 10 > 4 training images per class


def test_lightning_sets_the_epoch_of_both_samplers(tmp_path, monkeypatch):
    import lightning.pytorch as pl

    from microdl.data import micrograph_datamodule as mdm

    calls: list[int] = []
    original = mdm._EpochClock.set_epoch
    monkeypatch.setattr(mdm._EpochClock, "set_epoch", lambda self, epoch: (calls.append(epoch),
                                                                            original(self, epoch))[1])

    class Record(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))
            self.seen: list[tuple[int, torch.Tensor]] = []

        def training_step(self, batch, _):
            self.seen.append((self.current_epoch, batch[0].clone()))
            return (self.w * batch[0].mean()).sum()

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.0)

    for objective in ("supervised", "triplet"):
        calls.clear()
        model = Record()
        trainer = pl.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                             enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                             default_root_dir=tmp_path)
        dm = _dm(objective, augment=AugmentConfig(crop=16))
        trainer.fit(model, datamodule=dm)
        e0 = [x for e, x in model.seen if e == 0]
        e1 = [x for e, x in model.seen if e == 1]
        assert e0 and len(e0) == len(e1) and not torch.equal(e0[0], e1[0])
        assert calls == [0, 1]  # Lightning told the sampler (or batch sampler) each epoch
        sampler = EpochSampler(len(dm.train_set), 0)
        sampler.set_epoch(1)  # the keys of epoch 1, as Lightning asked for them
        if objective == "supervised":
            keys = list(sampler)[: e1[0].shape[0]]
            assert torch.equal(torch.stack([dm.train_set[k][0] for k in keys]), e1[0])
