"""``microdl damage detect``: folder outputs, the store, the real SEM image, bad input."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import tifffile

from microdl.cli import main


def _panorama(path, shape=(600, 900), seed=0):
    rng = np.random.default_rng(seed)
    img = np.clip(rng.normal(110, 10, shape), 35, 255).astype(np.uint8)
    yy, xx = np.ogrid[: shape[0], : shape[1]]
    centres = [(100, 100), (300, 450), (520, 820), (590, 30)]
    for cy, cx in centres:
        img[(yy - cy) ** 2 + (xx - cx) ** 2 <= 36] = 5
    tifffile.imwrite(path, img, tile=(128, 128), compression="zlib",
                     resolution=(1e4 / 0.05, 1e4 / 0.05), resolutionunit="CENTIMETER")
    return centres


def _json(capsys, *args):
    assert main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


def test_detect_to_folder_and_store(tmp_path, capsys):
    centres = _panorama(tmp_path / "p.tif")
    out = _json(capsys, "damage", "detect", str(tmp_path / "p.tif"), "--out", str(tmp_path / "det"),
                "--crops", "64,32", "--store", str(tmp_path / "store"), "--sample", "S1", "--strain", "0.2",
                "--json", "--no-progress")
    assert out["n_sites"] == 4 and out["pixel_size_um"] == pytest.approx(0.05)
    assert out["sites_per_mm2"] == pytest.approx(4 / (600 * 900 * 0.05 ** 2 * 1e-6))
    found = sorted((round(s["y"]), round(s["x"])) for s in out["sites"])
    assert found == sorted(centres)
    rows = list(csv.DictReader(open(tmp_path / "det" / "sites.csv")))
    assert len(rows) == 4 and float(rows[0]["x_um"]) == pytest.approx(float(rows[0]["x"]) * 0.05, abs=1e-3)
    assert len(list((tmp_path / "det" / "crops" / "64").glob("*.png"))) == 4
    assert (tmp_path / "det" / "sites.png").stat().st_size > 1000
    assert json.loads((tmp_path / "det" / "detection.json").read_text())["n_sites"] == 4

    from microdl.data.damage_store import DamageStore

    store = DamageStore(tmp_path / "store")
    sites = store.sites(sample="S1", min_strain=0.1, with_crops=True)
    assert len(sites) == 4 and all(set(s["crops"]) == {64, 32} for s in sites)
    assert [s["site_id"] for s in out["sites"]] == [s["id"] for s in sites]
    # a second detection of the same image is refused unless replaced
    assert main(["damage", "detect", str(tmp_path / "p.tif"), "--store", str(tmp_path / "store"),
                 "--sample", "S1"]) == 2
    assert "already has detected sites" in capsys.readouterr().err
    assert main(["damage", "detect", str(tmp_path / "p.tif"), "--store", str(tmp_path / "store"),
                 "--sample", "S1", "--replace", "--no-progress"]) == 0


def test_detect_bad_input(tmp_path, capsys):
    (tmp_path / "bad.tif").write_bytes(b"II*\x00" + b"\x00" * 50)
    assert main(["damage", "detect", str(tmp_path / "bad.tif")]) == 2
    assert "bad.tif" in capsys.readouterr().err
    tifffile.imwrite(tmp_path / "flat.tif", np.full((50, 50), 128, np.uint8))
    out = _json(capsys, "damage", "detect", str(tmp_path / "flat.tif"), "--json", "--no-progress")
    assert out["n_sites"] == 0 and out["sites_per_mm2"] is None  # no pixel size recorded
    assert main(["damage", "detect", str(tmp_path / "flat.tif"), "--store", str(tmp_path / "s")]) == 2
    assert "--sample" in capsys.readouterr().err
    assert main(["damage", "detect", str(tmp_path / "flat.tif"), "--method", "kmeans"]) == 2
    assert main(["damage", "detect", str(tmp_path / "flat.tif"), "--crops", "a,b"]) == 2


def test_detect_real_sem_image(shared_data, capsys):
    out = _json(capsys, "damage", "detect", str(shared_data / "sem" / "dp_steel_deformed_unlabelled.tif"),
                "--json", "--no-progress")
    assert out["pixel_size_um"] == pytest.approx(0.05752) and 6 <= out["n_sites"] <= 15


def test_detect_a_stitched_panorama_into_the_store(tmp_path, capsys):
    rng = np.random.default_rng(1)
    left = np.clip(rng.normal(110, 8, (200, 300)), 40, 255).astype(np.uint8)
    right = left.copy()
    left[95:106, 290:300] = 3  # a void cut by the seam: half in each tile
    right[95:106, 0:10] = 3
    tifffile.imwrite(tmp_path / "l.tif", left)
    tifffile.imwrite(tmp_path / "r.tif", right)
    (tmp_path / "layout.csv").write_text("file,x,y\nl.tif,0,0\nr.tif,300,0\n")
    out = _json(capsys, "damage", "detect", str(tmp_path / "layout.csv"), "--store", str(tmp_path / "st"),
                "--sample", "S", "--pixel-size-um", "0.1", "--json", "--no-progress")
    assert out["shape"] == [200, 600] and out["n_sites"] == 1
    assert out["sites"][0]["area_px"] == 11 * 20 and round(out["sites"][0]["x"], 1) == 299.5

    from microdl.data.damage_store import DamageStore

    img = DamageStore(tmp_path / "st").image(out["image_id"])
    assert [t["file"] for t in img["layout"]] == ["l.tif", "r.tif"] and img["pixel_size_um"] == 0.1
