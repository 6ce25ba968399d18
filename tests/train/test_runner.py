"""The generic runner: locks, safe checkpoints, scoped seeding, device checks, catalog entries."""

import shutil

import pytest
import torch

from microdl.data.catalog import Catalog
from microdl.exceptions import DataFileError, InvalidParameterError
from microdl.io._atomic import acquire_lock
from microdl.train.runner import TrainerConfig, load_checkpoint
from microdl.train.tasks.gnd import GNDTrainConfig, fit_gnd


def _cfg(**kw):
    base = dict(accelerator="cpu", devices=1, batch_size=32, max_epochs=1, patience=10, seed=3,
                model="gnd-fcn7", model_cfg={"width": 8})
    base.update(kw)
    return GNDTrainConfig(**base)


class _Boom:
    """Unpickling this would create a file (what a malicious checkpoint could do)."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_trainer_config_validation_and_devices_refusal():
    for bad in ({"max_epochs": 0}, {"devices": 0}, {"strategy": "fsdp"}, {"accelerator": "abacus"},
                {"num_threads": 0}, {"seed": -1}):
        with pytest.raises(InvalidParameterError):
            TrainerConfig(**bad)
    with pytest.raises(InvalidParameterError, match="devices must be <="):
        TrainerConfig(accelerator="cpu", devices=10_000).check_devices()
    if not torch.cuda.is_available():
        with pytest.raises(InvalidParameterError, match="devices must be <= 0"):
            TrainerConfig(accelerator="gpu", devices=1).check_devices()
    TrainerConfig(accelerator="cpu", devices=1).check_devices()


def test_too_many_devices_refused_before_anything(tmp_path, synth):
    with pytest.raises(InvalidParameterError, match="devices"):
        fit_gnd(_cfg(devices=10_000), synth(8, 0), synth(8, 1), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_run_dir_that_is_a_file(tmp_path, synth):
    (tmp_path / "f").write_text("x")
    with pytest.raises(DataFileError, match="folder"):
        fit_gnd(_cfg(), synth(8, 0), synth(8, 1), tmp_path / "f", progress=False)


def test_second_training_into_a_locked_folder_is_refused(tmp_path, synth):
    run = tmp_path / "run"
    holder = acquire_lock(run, folder=True)
    try:
        with pytest.raises(InvalidParameterError, match="in use by another microdl process"):
            fit_gnd(_cfg(), synth(32, 0), synth(16, 1), run, progress=False)
    finally:
        holder.release()
    assert not (run / "checkpoints").exists()


def test_global_rng_state_unchanged_and_same_numbers(tmp_path, synth):
    train, val = synth(64, 0), synth(32, 1)
    torch.manual_seed(1234)
    before = torch.random.get_rng_state().clone()
    a = fit_gnd(_cfg(), train, val, tmp_path / "a", progress=False)
    assert torch.equal(torch.random.get_rng_state(), before)
    b = fit_gnd(_cfg(), train, val, tmp_path / "b", progress=False)
    assert a["best_val_loss"] == b["best_val_loss"]


def test_malicious_checkpoint_is_never_unpickled(tmp_path, synth):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    marker = tmp_path / "pwned"
    torch.save({"state_dict": {}, "evil": _Boom(str(marker))}, run / "checkpoints" / "last.ckpt")
    with pytest.raises(DataFileError, match="weights only"):
        fit_gnd(_cfg(), synth(32, 0), synth(16, 1), run, progress=False)
    assert not marker.exists()
    with pytest.raises(DataFileError, match="inside the run folder"):
        load_checkpoint(run / "checkpoints" / "last.ckpt", tmp_path / "elsewhere")
    assert not marker.exists()


def test_resume_and_copied_folder_gets_its_own_catalog_entry(tmp_path, synth):
    cat = Catalog(tmp_path / "cat.sqlite")
    train, val = synth(32, 0), synth(16, 1)
    run = tmp_path / "run"
    first = fit_gnd(_cfg(max_epochs=1), train, val, run, progress=False, catalog=cat)
    entry = (run / "catalog_id").read_text().strip()
    assert cat.get(entry).status == "done"
    second = fit_gnd(_cfg(max_epochs=2), train, val, run, progress=False, catalog=cat)
    assert second["resumed_from"] and second["epochs_completed"] == 2
    assert (run / "catalog_id").read_text().strip() == entry
    assert first["best_checkpoint"].startswith(str(run))
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    third = fit_gnd(_cfg(max_epochs=3), train, val, copy, progress=False, catalog=cat)
    assert third["epochs_completed"] == 3
    new_entry = (copy / "catalog_id").read_text().strip()
    assert new_entry != entry and cat.get(new_entry).path == str(copy.resolve())
    assert cat.get(entry).status == "done"


def test_last_checkpoint_is_the_last_epoch_and_a_finished_run_is_not_trained_again(tmp_path, synth):
    run = tmp_path / "run"
    train, val = synth(64, 0), synth(32, 1)
    # lr 0: the validation loss never improves after epoch 0, so the best checkpoint stays at epoch 0
    res = fit_gnd(_cfg(max_epochs=3, lr=1e-12), train, val, run, progress=False)
    last = load_checkpoint(res["last_checkpoint"], run)
    assert last["epoch"] == 2  # the last epoch, not the best one
    assert (run / "result.json").is_file()
    again = fit_gnd(_cfg(max_epochs=3, lr=1e-12), train, val, run, progress=False)
    assert again["resumed_from"] == "finished" and again["epochs_completed"] == res["epochs_completed"]
    assert again["best_val_loss"] == res["best_val_loss"]
    more = fit_gnd(_cfg(max_epochs=4, lr=1e-12), train, val, run, progress=False)  # more epochs: continue
    assert more["resumed_from"].endswith("last.ckpt") and more["epochs_completed"] == 4
