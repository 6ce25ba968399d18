import csv
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from microdl.analysis.gnd import predict_windows
from microdl.exceptions import DataFileError, InvalidParameterError, UnknownNameError
from microdl.data.gnd_datamodule import GNDDataModule
from microdl.data.gnd import GNDWindows
from microdl.data.gnd_dataset import load_gnd_dataset as load_gnd_arrays
from microdl.models.gnd_io import load_gnd_model
from microdl.train.tasks.gnd import GNDTask, GNDTrainConfig, fit_gnd


def _cfg(**kw):
    base = dict(accelerator="cpu", devices=1, batch_size=32, max_epochs=2, patience=10, seed=3)
    base.update(kw)
    return GNDTrainConfig(**base)


def _epoch_rows(path, key):
    with open(path, newline="") as fh:
        return {int(r["epoch"]): float(r[key]) for r in csv.DictReader(fh) if r.get(key)}


@pytest.mark.parametrize(
    "kw, err",
    [
        ({"ratio": 1.2}, InvalidParameterError),
        ({"reg": "l1"}, InvalidParameterError),
        ({"strategy": "fsdp"}, InvalidParameterError),
        ({"batch_size": 0}, InvalidParameterError),
        ({"devices": 0}, InvalidParameterError),
        ({"limit_train_windows": 0}, InvalidParameterError),
        ({"num_threads": 0}, InvalidParameterError),
        ({"model": "nope"}, UnknownNameError),
    ],
)
def test_config_validation(kw, err):
    with pytest.raises(err):
        GNDTrainConfig(**kw)


def test_config_round_trip():
    cfg = GNDTrainConfig(ratio=0.25, model_cfg={"dropout": 0.4}, devices=2, strategy="ddp")
    assert GNDTrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(InvalidParameterError):
        GNDTrainConfig.from_dict({"bogus": 1})


def test_arrays_validation(synth):
    d = synth(8, 0)
    with pytest.raises(InvalidParameterError, match="n_lines"):
        GNDWindows(d["gnd"], d["rho_t"], d["n_lines"] + 5)
    with pytest.raises(InvalidParameterError):
        GNDWindows(d["gnd"], d["rho_t"][:4], d["n_lines"])


def test_hdf5_source_and_limit(tmp_path, synth):
    d = synth(40, 0)
    path = tmp_path / "w.h5"
    with h5py.File(path, "w") as fh:
        for k, v in d.items():
            fh[k] = v
    arr = load_gnd_arrays(path)
    np.testing.assert_array_equal(arr.gnd, d["gnd"])
    dm = GNDDataModule(path, d, batch_size=8, limit_train_windows=10, seed=1)
    assert len(dm.train_arrays) == 10
    x, rho, n = next(iter(dm.train_dataloader()))
    assert x.shape == (8, 3, 7, 7) and rho.shape == (8,) and n.dtype == torch.int64
    with h5py.File(tmp_path / "bad.h5", "w") as fh:
        fh["gnd"] = d["gnd"]
    with pytest.raises(DataFileError, match="rho_t"):  # the file lacks it
        load_gnd_arrays(tmp_path / "bad.h5")
    with pytest.raises(DataFileError):
        load_gnd_arrays(tmp_path / "missing.h5")


def test_fit_resume_and_export(tmp_path, synth):
    train, val = synth(128, 0), synth(64, 1)
    run = tmp_path / "run"
    first = fit_gnd(_cfg(max_epochs=2), train, val, run, progress=False)
    assert first["epochs_completed"] == 2 and first["resumed_from"] is None
    assert (run / "checkpoints" / "last.ckpt").is_file()
    assert Path(first["best_checkpoint"]).is_file()

    # interrupted-then-continued: same run_dir, more epochs -> resumes at epoch 2
    second = fit_gnd(_cfg(max_epochs=4), train, val, run, progress=False)
    assert second["resumed_from"] == str(run / "checkpoints" / "last.ckpt")
    assert second["epochs_completed"] == 4
    assert second["global_step"] == 4 * (128 // 32)
    losses = _epoch_rows(run / "metrics.csv", "train_loss_epoch")
    assert sorted(losses) == [0, 1, 2, 3]
    assert losses[3] < losses[0]  # training reduces the loss
    record = json.loads((run / "config.json").read_text())
    assert record["config"]["max_epochs"] == 4 and len(record["sessions"]) == 2
    assert "torch" in record["environment"]

    # model.pt round-trips: same predictions as the best Lightning checkpoint
    model = load_gnd_model(run / "model.pt", device="cpu")
    assert model.export_extra["best_val_loss"] == pytest.approx(second["best_val_loss"])
    task = GNDTask.load_from_checkpoint(second["best_checkpoint"], map_location="cpu")
    a = predict_windows(model, val["gnd"], batch_size=50)
    b = predict_windows(task.model, val["gnd"], batch_size=50)
    np.testing.assert_array_equal(a.rho_t, b.rho_t)
    np.testing.assert_array_equal(a.n_lines, b.n_lines)

    # a changed learning setup cannot silently continue the run; resume=False refuses
    with pytest.raises(InvalidParameterError, match="ratio"):
        fit_gnd(_cfg(max_epochs=5, ratio=0.9), train, val, run, progress=False)
    with pytest.raises(InvalidParameterError, match="resume"):
        fit_gnd(_cfg(max_epochs=5), train, val, run, resume=False, progress=False)


DDP_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from microdl.train.tasks.gnd import GNDTrainConfig, fit_gnd

    if __name__ == "__main__":
        data = np.load(sys.argv[1])
        d = {k: data[k] for k in ("gnd", "rho_t", "n_lines")}
        cfg = GNDTrainConfig(accelerator="cpu", devices=2, strategy="ddp", batch_size=16,
                             max_epochs=1, seed=0)
        out = fit_gnd(cfg, d, d, sys.argv[2], progress=False)
        print("RESULT", json.dumps(out))
    """
)


def test_ddp_two_processes_on_cpu(tmp_path, synth):
    d = synth(64, 0)
    np.savez(tmp_path / "d.npz", **d)
    script = tmp_path / "ddp_fit.py"
    script.write_text(DDP_SCRIPT)
    run = tmp_path / "run"
    proc = subprocess.run([sys.executable, str(script), str(tmp_path / "d.npz"), str(run)],
                          capture_output=True, text=True, timeout=180, cwd=tmp_path,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = [json.loads(line.split(" ", 1)[1]) for line in proc.stdout.splitlines()
               if line.startswith("RESULT ")]
    assert len(results) >= 1
    record = json.loads((run / "config.json").read_text())
    assert record["sessions"][0]["world_size"] == 2
    # each of the 2 processes sees half of the 64 windows: 32 / 16 = 2 steps
    assert results[0]["global_step"] == 2
    assert (run / "model.pt").is_file()


def test_early_stopping_keeps_best(tmp_path, synth):
    train, val = synth(64, 0), synth(64, 1)
    # validation labels unrelated to the inputs: val_loss cannot keep improving
    val["rho_t"] = np.random.default_rng(5).permutation(val["rho_t"]) * 30
    out = fit_gnd(_cfg(max_epochs=12, patience=1, lr=0.05), train, val, tmp_path / "run",
                  progress=False)
    assert out["stopped_early"] and out["epochs_completed"] < 12
    val_loss = _epoch_rows(tmp_path / "run" / "metrics.csv", "val_loss")
    assert out["best_val_loss"] == pytest.approx(min(val_loss.values()), rel=1e-6)
    model = load_gnd_model(tmp_path / "run" / "model.pt", device="cpu")
    assert model.export_extra["best_val_loss"] == pytest.approx(out["best_val_loss"])


def test_stream_gives_fresh_reproducible_epochs(synth):
    from microdl.data.gnd_datamodule import GNDStream

    dm = GNDDataModule(GNDStream(6, seed=4), synth(10, 1), batch_size=8)
    assert dm.sizes["train_windows"] == 30
    loader = dm.train_dataloader()
    assert len(loader) == 4
    first = torch.cat([b[1] for b in loader])
    second = torch.cat([b[1] for b in loader])  # no trainer: each pass is the next epoch
    assert len(first) == 30 and not torch.equal(first, second)
    again = GNDDataModule(GNDStream(6, seed=4), synth(10, 1), batch_size=8).train_dataloader()
    torch.testing.assert_close(torch.cat([b[1] for b in again]), first)
    assert torch.get_num_threads() == 1  # the generator's OpenMP kernels must not change torch's threads
    with pytest.raises(InvalidParameterError):
        GNDStream(0)


def test_fit_streamed_augmented_mape_on_validation_mape(tmp_path, synth):
    cfg = _cfg(model="gnd-anchored", model_cfg={"width": 8, "wide": 4, "head": 8}, reg="mape", augment=True,
               stream_per_class=20, monitor="val_mape_pct", lr_schedule="onecycle", max_epochs=2)
    out = fit_gnd(cfg, None, synth(40, 2), tmp_path / "run", progress=False)
    assert out["epochs_completed"] == 2
    assert "val_mape_pct" in Path(out["best_checkpoint"]).name
    assert out["best_val_mape_pct"] == pytest.approx(min(_epoch_rows(out["metrics_csv"], "val_mape_pct").values()))
    rec = json.loads((tmp_path / "run" / "config.json").read_text())
    assert rec["config"]["stream_per_class"] == 20 and rec["train_fresh_each_epoch"] is True
    model = load_gnd_model(out["model_path"], device="cpu")
    assert predict_windows(model, synth(5, 3)["gnd"]).rho_t.shape == (5,)
    with pytest.raises(InvalidParameterError):
        fit_gnd(_cfg(), None, synth(40, 2), tmp_path / "run2", progress=False)
    for bad in ({"monitor": "val_acc"}, {"lr_schedule": "step"}, {"stream_per_class": 0}, {"augment": 1}):
        with pytest.raises(InvalidParameterError):
            _cfg(**bad)
