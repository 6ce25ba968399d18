"""The DDD profile contract: validated samples and profile sets, clear errors on corrupt files."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from microdl.data.catalog import Catalog
from microdl.data.ddd_profiles import DDDProfiles, export_images, load_images, load_profiles, load_sample
from microdl.exceptions import DataFileError, InvalidParameterError, NonFiniteError, ShapeError
from microdl.workflows.ddd_dataset import DDDGridPreset, grid_jobs, run_dataset

# purely elastic, 0.05 % strains: the cheapest real samples
ELASTIC = DDDGridPreset(name="elastic", widths_um=(0.0625,), slips=("one", "two"), priors=(0.0005,),
                        reload_snapshots=(0.0002, 0.0005), n_samples=1,
                        pillar_overrides=(("source_density_per_um2", 0.0), ("min_sources", 0)))


@pytest.fixture(scope="module")
def grid_master(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddd") / "grid"
    catalog = Catalog(tmp_path_factory.mktemp("cat") / "catalog.sqlite")
    assert run_dataset(grid_jobs(ELASTIC), out, workers=1, progress=False, catalog=catalog).ok
    return out


@pytest.fixture
def grid(grid_master, tmp_path):
    return shutil.copytree(grid_master, tmp_path / "grid")


def _one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert "\n" not in msg, msg
    return msg


def test_sample_contract_and_profile_set(grid):
    files = sorted(grid.glob("w*.npz"))
    s = load_sample(files[0])
    assert s["profiles"].shape == (2, 31, 125) and s["meta"]["labels"]["slip"] in ("one", "two")
    profiles, labels = load_profiles(grid)
    assert len(profiles) == 4 and set(labels["slip"]) == {"one", "two"}
    good = DDDProfiles(profiles, labels)
    assert len(good.profiles) == 4
    bad = dict(labels, slip=np.array(["one", "three", "two", "two"]))
    with pytest.raises(InvalidParameterError, match="slip"):
        DDDProfiles(profiles, bad)
    with pytest.raises(ShapeError, match=r"profiles\[0\]"):
        DDDProfiles([np.zeros((2, 3, 4), np.float32), *profiles[1:]], labels)
    with pytest.raises(NonFiniteError):
        DDDProfiles([np.full((3, 4), np.nan, np.float32), *profiles[1:]], labels)
    with pytest.raises(ShapeError, match="same length"):
        DDDProfiles(profiles[:3], labels)
    with pytest.raises(InvalidParameterError, match="prior"):
        DDDProfiles(profiles, dict(labels, prior=labels["prior"] * 10000))


def test_load_sample_refuses_garbage_and_broken_contracts(tmp_path, grid):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04 this is not a zip")
    with pytest.raises(DataFileError, match="junk.npz") as err:
        load_sample(junk)
    _one_line(err.value)
    with np.load(sorted(grid.glob("w*.npz"))[0]) as z:
        arrays = {k: z[k] for k in z.files}
    nan = tmp_path / "nan.npz"
    np.savez(nan, **{**arrays, "profiles": np.full_like(arrays["profiles"], np.nan)})
    with pytest.raises(DataFileError, match="nan.npz.*finite"):
        load_sample(nan)
    meta = json.loads(str(arrays["meta_json"]))
    meta["labels"]["slip"] = "three"
    bad = tmp_path / "bad.npz"
    np.savez(bad, **{**arrays, "meta_json": np.asarray(json.dumps(meta))})
    with pytest.raises(DataFileError, match="bad.npz.*slip"):
        load_sample(bad)
    pix = tmp_path / "pix.npz"
    np.savez(pix, **{**arrays, "pixel_size_m": np.array([2e-9, 0.0])})
    with pytest.raises(DataFileError, match="pix.npz.*pixel_size_m"):
        load_sample(pix)


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_export_of_a_corrupt_sample_names_the_file(grid, tmp_path, damage, capsys):
    victim = sorted(grid.glob("w*.npz"))[1]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2] if damage == "truncate" else b"garbage" * 100)
    with pytest.raises(DataFileError) as err:
        export_images(grid, tmp_path / "images")
    assert victim.name in _one_line(err.value)
    from microdl.cli import main

    assert main(["ddd", "export", str(grid), "--out", str(tmp_path / "cli")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and victim.name in lines[0] and "Traceback" not in lines[0]
    with pytest.raises(DataFileError, match=victim.name):
        load_profiles(grid)


def test_export_of_a_corrupt_manifest_names_the_file(grid, tmp_path, capsys):
    (grid / "manifest.json").write_text('{"format": "microdl.jobs/1", "jobs": [')
    with pytest.raises(DataFileError, match="manifest.json") as err:
        export_images(grid, tmp_path / "images")
    _one_line(err.value)
    from microdl.cli import main

    assert main(["ddd", "export", str(grid), "--out", str(tmp_path / "cli")]) == 2
    err_text = capsys.readouterr().err
    assert "manifest.json" in err_text and len(err_text.strip().splitlines()) == 1


def test_export_round_trip_and_out_naming_a_file(grid, tmp_path):
    meta = export_images(grid, tmp_path / "images")
    assert meta["n_images"] == 8 and meta["n_samples"] == 2
    images, rows = load_images(tmp_path / "images")
    assert len(images) == 8 and {r["mode"] for r in rows} == {"full", "mean"}
    target = tmp_path / "a-file"
    target.write_text("x")
    with pytest.raises(DataFileError, match="--out"):
        export_images(grid, target)
    (tmp_path / "images" / rows[0]["file"]).write_bytes(b"not a png")
    with pytest.raises(DataFileError, match=r"index.csv' line 2 is invalid.*cannot identify"):
        load_images(tmp_path / "images")
