"""``microdl micrograph train | embed | evaluate | similar`` on a tiny folder of synthetic textures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from microdl.cli import main


def _texture(c: int, rng: np.random.Generator, size: int = 80) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size].astype(np.float32)
    if c == 0:  # lamellae
        a = rng.uniform(0, np.pi)
        img = 0.5 + 0.4 * np.sin((np.cos(a) * xx + np.sin(a) * yy) / 1.5 + rng.uniform(0, 6))
    else:  # particles
        img = np.full((size, size), 0.2, np.float32)
        for _ in range(30):
            cy, cx = rng.uniform(0, size, 2)
            img[(yy - cy) ** 2 + (xx - cx) ** 2 < 9] = 0.9
    img = img + 0.05 * rng.standard_normal((size, size))
    return (255 * np.clip(img, 0, 1)).astype(np.uint8)


def _folder(root, n_per_class: int, seed: int, corrupt: bool = False):
    rng = np.random.default_rng(seed)
    (root / "micrographs").mkdir(parents=True)
    lines = ["file,label,class_name"]
    for i in range(2 * n_per_class):
        c = i // n_per_class  # contiguous blocks per class, as in UHCS
        name = f"micrograph{i}.png"
        Image.fromarray(_texture(c, rng)).save(root / "micrographs" / name)
        lines.append(f"{name},{c},{('lamellae', 'particles')[c]}")
    if corrupt:
        (root / "micrographs" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
        lines.append("broken.jpg,0,lamellae")
    (root / "labels.csv").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture
def trained(tmp_path, capsys):
    data = _folder(tmp_path / "data", 10, seed=0)
    run = tmp_path / "run"
    assert main(["micrograph", "train", str(data), "--out", str(run), "--preset", "siamese", "--folds", "5",
                 "--downsample", "1", "--crop", "32", "--epochs", "4", "--batch-size", "16", "--threads", "1",
                 "--precision", "32-true", "--accelerator", "cpu", "--no-progress", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert (res["n_train"], res["n_val"], res["n_test"]) == (12, 4, 4)
    split = json.loads((run / "split.json").read_text())
    assert not set(split["test"]) & (set(split["train"]) | set(split["val"]))
    return data, run


def test_train_embed_evaluate_similar(trained, tmp_path, capsys):
    data, run = trained
    unseen = _folder(tmp_path / "unseen", 6, seed=1, corrupt=True)
    out = tmp_path / "eval"
    with pytest.warns(UserWarning, match="broken.jpg"):
        assert main(["micrograph", "evaluate", "--data", str(unseen), "--model", str(run), "--out", str(out),
                     "--no-progress", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n"] == 12 and res["skipped"][0][0] == "broken.jpg"
    assert res["accuracy"] >= 0.75 and np.asarray(res["confusion"]).sum() == 12
    assert {p.name for p in out.iterdir()} == {"evaluation.json", "confusion.png", "embedding_pca.png"}

    index = tmp_path / "index"
    assert main(["micrograph", "embed", str(data), "--out", str(index), "--model", str(run), "--no-progress",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n_images"] == 20
    query = data / "micrographs" / "micrograph3.png"
    fig = tmp_path / "similar.png"
    assert main(["micrograph", "similar", str(query), "--index", str(index), "-k", "3", "--figure", str(fig),
                 "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)["neighbours"]
    assert hits[0]["file"].endswith("micrograph3.png") and hits[0]["distance"] < 1e-5  # itself first
    assert len(hits) == 3 and fig.stat().st_size > 0


def test_bad_input_gives_one_line_errors(tmp_path, capsys):
    one = tmp_path / "one"
    (one / "micrographs").mkdir(parents=True)
    Image.fromarray(_texture(0, np.random.default_rng(0))).save(one / "micrographs" / "a.png")
    (one / "labels.csv").write_text("file,label,class_name\na.png,0,lamellae\nmissing.png,0,lamellae\n")
    assert main(["micrograph", "train", str(one), "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    assert "missing.png" in capsys.readouterr().err
    (one / "labels.csv").write_text("file,label,class_name\na.png,0,lamellae\n")
    assert main(["micrograph", "train", str(one), "--out", str(tmp_path / "r"), "--no-progress"]) == 2
    assert ">= 2 classes" in capsys.readouterr().err
    assert main(["micrograph", "evaluate", "--data", str(one), "--model", str(tmp_path / "nothing"),
                 "--no-progress"]) == 2
    assert "model not found" in capsys.readouterr().err
