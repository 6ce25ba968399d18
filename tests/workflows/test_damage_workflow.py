"""The synthetic end-to-end damage workflow through the CLI: synth, detect, import, train, classify, stats, export."""

from __future__ import annotations

import csv
import json

import pytest

from microdl.cli import main


def _json(capsys, *args):
    assert main(list(args)) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    root = tmp_path_factory.mktemp("damage")
    assert main(["damage", "synth", "--out", str(root / "syn"), "--n-images", "4", "--height", "768",
                 "--width", "768", "--density", "7000", "--strains", "0.1,0.3", "--seed", "3"]) == 0
    return root


def test_end_to_end(synthetic, tmp_path, capsys, one_torch_thread):
    syn, store = synthetic / "syn", tmp_path / "store"
    first = _json(capsys, "damage", "detect", str(syn / "synthetic_000.tif"), "--store", str(store), "--sample",
                  "synthetic-uniaxial", "--strain", "0.1", "--crops", "64", "--json", "--no-progress")
    rest = _json(capsys, "damage", "ingest", str(syn / "images.csv"), "--store", str(store), "--crops", "64",
                 "--json", "--no-progress")
    assert rest["skipped"] == ["synthetic_000.tif"] and rest["n_images"] == 3  # resumable: done images skipped
    truth = list(csv.DictReader(open(syn / "truth.csv")))
    assert first["n_sites"] + rest["n_sites"] == len(truth)  # every synthetic site is found once
    imp = _json(capsys, "damage", "import", str(syn / "truth.csv"), "--store", str(store), "--json")
    assert imp["n_labels"] == len(truth) and imp["annotators"] == ["synthetic-truth"]

    run = _json(capsys, "damage", "train", "--store", str(store), "--out", str(tmp_path / "run"), "--model",
                "damage-nin-small", "--epochs", "2", "--batch-size", "32", "--accelerator", "cpu", "--json",
                "--no-progress")
    assert run["n_train"] + run["n_val"] == sum(run["counts"].values()) and run["n_val"] > 0
    res = _json(capsys, "damage", "classify", "--store", str(store), "--stage2", str(tmp_path / "run"),
                "--min-confidence", "0", "--json")
    assert res["n_sites"] == len(truth) and set(res["counts"]) <= {"notch", "shadow", "interface", "martensite"}
    s1 = _json(capsys, "damage", "train", "--store", str(store), "--out", str(tmp_path / "run1"), "--stage", "stage1",
               "--model", "damage-nin-small", "--crop", "64", "--epochs", "1", "--batch-size", "32",
               "--accelerator", "cpu", "--json", "--no-progress")
    assert s1["classes"] == ["inclusion", "other"] and sum(s1["counts"].values()) == len(truth)
    two = _json(capsys, "damage", "classify", "--store", str(store), "--stage1", str(tmp_path / "run1"), "--stage2",
                str(tmp_path / "run"), "--threshold", "0", "--json")  # threshold 0: stage 1 calls every site an inclusion
    assert two["model"] == "two-stage" and two["counts"] == {"inclusion": len(truth)}
    from microdl.data.damage_store import DamageStore

    pred = DamageStore(store).predictions(model="two-stage")[0]
    assert set(pred["probabilities"]) == {"inclusion", "notch", "shadow", "interface", "martensite"}
    assert sum(pred["probabilities"].values()) == pytest.approx(1.0)
    stats = _json(capsys, "damage", "stats", "--store", str(store), "--out", str(tmp_path / "stats"), "--model",
                  "stage2", "--json")
    assert sum(sum(im["counts"].values()) for im in stats["images"]) == len(truth)
    assert (tmp_path / "stats" / "density_vs_strain.png").is_file() and stats["by_strain"][0]["per_mm2"]
    lab = _json(capsys, "damage", "stats", "--store", str(store), "--out", str(tmp_path / "s2"), "--source",
                "labels", "--json")
    truth_counts = {c: sum(t["label"] == c for t in truth) for c in lab["classes"]}
    assert {c: sum(im["counts"][c] for im in lab["images"]) for c in lab["classes"]} == truth_counts

    q = _json(capsys, "damage", "sites", "--store", str(store), "--label", "interface", "--min-strain", "0.2",
              "--crops", "--json")
    n_interface = sum(t["label"] == "interface" and t["image"] in ("synthetic_001.tif", "synthetic_003.tif")
                      for t in truth)
    assert q["n_sites"] == n_interface > 0 and all(s["strain"] >= 0.2 and "64" in s["crops"] for s in q["sites"])
    assert _json(capsys, "damage", "images", "--store", str(store), "--json")["n_images"] == 4

    exp = _json(capsys, "damage", "export", str(tmp_path / "labels.json"), "--store", str(store), "--format",
                "coco", "--json")
    assert exp["n_labels"] == len(truth)
    # the export imports back onto the same sites (by site id): a second annotator's copy
    data = json.loads((tmp_path / "labels.json").read_text())
    for a in data["annotations"]:
        a.setdefault("attributes", {})["annotator"] = "second"
    (tmp_path / "labels2.json").write_text(json.dumps(data))
    again = _json(capsys, "damage", "import", str(tmp_path / "labels2.json"), "--store", str(store), "--json")
    assert again["n_labels"] == len(truth) and again["annotators"] == ["second"]


def test_import_refuses_labels_of_unknown_crops(synthetic, tmp_path, capsys):
    syn, store = synthetic / "syn", tmp_path / "store"
    assert main(["damage", "detect", str(syn / "synthetic_000.tif"), "--store", str(store), "--sample", "s",
                 "--no-progress"]) == 0
    (tmp_path / "bad.csv").write_text("image,label,x,y\nsynthetic_000.tif,notch,5,5\nnot_here.tif,notch,50,50\n")
    capsys.readouterr()
    assert main(["damage", "import", str(tmp_path / "bad.csv"), "--store", str(store), "--annotator", "a"]) == 2
    err = capsys.readouterr().err
    assert "match no site" in err and "nothing was imported" in err
    from microdl.data.damage_store import DamageStore

    assert DamageStore(store).labels() == []
    assert main(["damage", "train", "--store", str(store), "--out", str(tmp_path / "r")]) == 2
    assert "Label more sites first" in capsys.readouterr().err


def test_few_labels_pretrain_cluster_probe_finetune(synthetic, tmp_path, capsys, one_torch_thread):
    syn, store = synthetic / "syn", tmp_path / "store"
    for name in ("synthetic_000.tif", "synthetic_001.tif"):
        assert main(["damage", "detect", str(syn / name), "--store", str(store), "--sample", "s",
                     "--no-progress"]) == 0
    capsys.readouterr()
    pre = _json(capsys, "damage", "pretrain", "--store", str(store), "--out", str(tmp_path / "ssl"), "--epochs", "1",
                "--accelerator", "cpu", "--json", "--no-progress")
    assert pre["n_sites"] >= 20
    clus = _json(capsys, "damage", "cluster", "--store", str(store), "--model", str(tmp_path / "ssl"), "--out",
                 str(tmp_path / "clusters"), "-k", "3", "--json")
    assert sum(c["n_sites"] for c in clus["clusters"]) == pre["n_sites"]
    assert (tmp_path / "clusters" / "clusters.png").is_file()
    # a few labels from the truth, by site id through a CSV
    from microdl.data.damage_store import DamageStore

    sites = DamageStore(store).sites()
    truth = list(csv.DictReader(open(syn / "truth.csv")))
    rows = ["image,label,x,y"] + [f"{t['image']},{t['label']},{t['x']},{t['y']}" for t in truth
                                  if t["image"] in ("synthetic_000.tif", "synthetic_001.tif")][:12]
    (tmp_path / "few.csv").write_text("\n".join(rows) + "\n")
    assert _json(capsys, "damage", "import", str(tmp_path / "few.csv"), "--store", str(store), "--annotator", "a",
                 "--json")["n_labels"] == 12
    probe = _json(capsys, "damage", "probe", "--store", str(store), "--model", str(tmp_path / "ssl"),
                  "--min-confidence", "0", "--json")
    assert probe["n_labelled"] == 12 and sum(probe["counts"].values()) == len(sites)
    ft = _json(capsys, "damage", "train", "--store", str(store), "--out", str(tmp_path / "ft"), "--model",
               "micrograph-resnet-small", "--init", str(tmp_path / "ssl"), "--epochs", "1", "--accelerator", "cpu",
               "--json", "--no-progress")
    assert ft["n_train"] + ft["n_val"] <= 12
    assert main(["damage", "train", "--store", str(store), "--out", str(tmp_path / "ft2"), "--init",
                 str(tmp_path / "ssl"), "--epochs", "1", "--no-progress"]) == 2
    assert "pass --model micrograph-resnet-small" in capsys.readouterr().err
