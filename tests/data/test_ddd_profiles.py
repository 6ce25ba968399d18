"""The DDD profile contract: validated samples and profile sets, clear errors on corrupt files."""

from __future__ import annotations

import json
import shutil
import zlib

import numpy as np
import pytest

from microdl.data.catalog import Catalog
from microdl.data.ddd_export import export_images, load_images
from microdl.data.ddd_profiles import DDDProfiles, load_profiles, load_sample
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


def test_export_drops_purely_elastic_samples_or_labels_them(grid, tmp_path):
    meta = export_images(grid, tmp_path / "dropped")  # no sources: every profile is elastic
    assert meta["n_images"] == 0 and meta["n_dropped_elastic"] == 8 and meta["n_samples"] == 2
    assert {d["reason"] for d in meta["dropped"]} == {"elastic"} and meta["check"]["ok"]
    meta = export_images(grid, tmp_path / "images", elastic="class")
    assert meta["n_images"] == 8 and meta["n_dropped_elastic"] == 0
    images, rows = load_images(tmp_path / "images")
    assert {r["label"] for r in rows} == {"elastic"} and {r["plastic"] for r in rows} == {0}
    # the one-slip and two-slip elastic images are the same picture: same label, tied to one split
    assert meta["check"]["n_duplicate_groups"] >= 1 and meta["check"]["n_cross_split_groups"] == 0
    with pytest.raises(InvalidParameterError, match="elastic"):
        export_images(grid, tmp_path / "x", elastic="keep")


def test_export_round_trip_and_out_naming_a_file(grid, tmp_path):
    meta = export_images(grid, tmp_path / "images", elastic="class")
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


# ----------------------------------------------------------------------------- synthetic samples

_NX, _NY, _H = 31, 125, 250e-9
_SYNTH = {  # key: (slip, prior, trace column or None (elastic), index)
    "w0.0625_one_p0.1_i0000": ("one", 0.001, 20, 0), "w0.0625_one_p0.1_i0001": ("one", 0.001, None, 1),
    "w0.0625_one_p1_i0000": ("one", 0.01, 40, 0), "w0.0625_one_p1_i0001": ("one", 0.01, None, 1),
    "w0.0625_one_p10_i0000": ("one", 0.1, 60, 0), "w0.0625_one_p10_i0001": ("one", 0.1, 70, 1),
    "w0.0625_two_p10_i0000": ("two", 0.1, 80, 0), "w0.0625_two_p1_i0000": ("two", 0.01, 90, 0),
}


def _trace(column):
    t = np.zeros((_NX, _NY))
    if column is not None:
        t[np.arange(_NX), (column + np.arange(_NX) // 2) % _NY] = 0.054  # one quantum b s_y n_y / p per pixel
    return t


def _fake_sample(params, out_path):
    """A sample file without simulation: uniform elastic reload plus one slip trace (or none)."""
    from types import SimpleNamespace

    from microdl.data.ddd_profiles import write_sample

    slip, prior, column, index = params["slip"], params["prior"], params["column"], params["index"]
    snaps = (0.001, 0.01)
    full = np.stack([-r + _trace(column) for r in snaps]).astype(np.float32)
    n_d = np.array([0, 2, 2, 1, 1, 2, 1]) if column is not None else np.zeros(7, int)
    result = SimpleNamespace(
        profiles=full, snapshot_strains=snaps, pixel_size_m=(0.0625e-6 / _NX, _H / _NY), seed=params["seed"],
        profile=lambda e, mode="mean": full[snaps.index(e)], surface_steps=np.zeros((0, 5)),
        curve={"stage": np.array([0, 0, 1, 1, 2, 2, 2]), "strain": np.linspace(0, 0.01, 7),
               "stress_pa": np.linspace(0, 1e8, 7), "reload_strain": np.array([0, 0, 0, 0, 0, 0.001, 0.01]),
               "n_dislocations": n_d, "n_surface_steps": np.zeros(7, int)},
        dislocations={}, sources={}, obstacles={})
    meta = {"labels": {"width_um": 0.0625, "slip": slip, "prior_strain": prior, "seed": params["seed"], "index": index},
            "config": {"burgers_nm": 0.25, "width_um": 0.0625, "aspect": 4.0},
            "unload_displacement_m": 0.8 * prior * _H, "summary": {}}
    write_sample(out_path, result, meta)
    return {}


def _synthetic_grid(folder, samples=_SYNTH):
    from microdl.data.jobs import Job, run_jobs

    jobs = [Job(key, {"slip": s, "prior": p, "column": c, "index": i, "seed": zlib.crc32(key.encode())}, ".npz")
            for key, (s, p, c, i) in samples.items()]  # a sample's seed: its key's, whatever the grid
    assert run_jobs(_fake_sample, jobs, folder, workers=1, progress=False).ok
    return folder


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return _synthetic_grid(tmp_path_factory.mktemp("synthetic") / "grid")


def test_exported_shape_depends_only_on_width_and_pixel_not_on_labels(synthetic, tmp_path):
    meta = export_images(synthetic, tmp_path / "ref")
    images, rows = load_images(tmp_path / "ref")
    assert meta["rendering"] == "reference" and len({r["prior_pct"] for r in rows}) == 3
    assert {im.shape for im in images} == {(_NX, _NY)}  # every prior, reload and reference mode
    # the deformed rendering shortens the image with the total strain since the virgin state
    export_images(synthetic, tmp_path / "def", rendering="deformed")
    images, rows = load_images(tmp_path / "def")
    for im, r in zip(images, rows, strict=True):
        total = r["reload_pct"] / 100 + 0.8 * r["prior_pct"] / 100  # reload plus U0 / h
        assert im.shape[0] == _NX and abs(im.shape[1] - _NY * (1 - total)) <= 1, (r["file"], im.shape)
    assert len({im.shape[1] for im, r in zip(images, rows, strict=True) if r["reload_pct"] == 1.0}) == 3


def test_export_drops_elastic_profiles_and_refuses_identical_images_across_labels(synthetic, tmp_path):
    meta = export_images(synthetic, tmp_path / "ok")
    assert meta["n_dropped_elastic"] == 8 and meta["n_images"] == 24 and meta["check"]["ok"]  # 2 elastic samples
    assert meta["splits"]["file"] == "splits.json"
    _, rows = load_images(tmp_path / "ok")
    assert "elastic" not in {r["label"] for r in rows} and min(r["slip_pixels"] for r in rows) >= _NX
    # the same trace at 0.1 % and 10 % prior: one picture, two labels
    twins = {"w0.0625_one_p0.1_i0000": ("one", 0.001, 20, 0), "w0.0625_one_p10_i0000": ("one", 0.1, 20, 0)}
    grid = _synthetic_grid(tmp_path / "twins", twins)
    with pytest.raises(DataFileError, match="different labels.*--duplicates drop") as err:
        export_images(grid, tmp_path / "bad")
    _one_line(err.value)
    meta = export_images(grid, tmp_path / "dropped", duplicates="drop")
    assert meta["n_images"] == 0 and meta["n_dropped_duplicates"] == 8 and meta["check"]["ok"]
    assert not list((tmp_path / "dropped").glob("*.png"))
    # with elastic="class" the elastic samples are kept under their own label, never a prior
    meta = export_images(synthetic, tmp_path / "class", elastic="class")
    _, rows = load_images(tmp_path / "class")
    assert meta["n_images"] == 32 and {r["key"] for r in rows if r["label"] == "elastic"} == {
        "w0.0625_one_p0.1_i0001", "w0.0625_one_p1_i0001"}


# ----------------------------------------------------------------------------- merging builds


def _export_files(folder):
    """Everything an export is made of, comparable across folders (index.json without its provenance)."""
    info = json.loads((folder / "index.json").read_text())
    for k in ("source", "sources", "environment", "preset"):
        info.pop(k)
    split = json.loads((folder / "splits.json").read_text()) if (folder / "splits.json").is_file() else None
    with np.load(folder / "curves.npz") as z:
        curves = {k: z[k].tolist() for k in z.files}
    pngs = {p.name: p.read_bytes() for p in folder.glob("*.png")}
    return {"index.csv": (folder / "index.csv").read_text(), "index.json": info, "splits": split,
            "curves": curves, "pngs": pngs}


_TWINS = {"w0.0625_one_p0.1_i0000": ("one", 0.001, 20, 0), "w0.0625_one_p1_i0000": ("one", 0.01, 40, 0),
          "w0.0625_one_p10_i0000": ("one", 0.1, 20, 0), "w0.0625_one_p10_i0001": ("one", 0.1, 70, 1)}


@pytest.mark.parametrize("samples, duplicates, first, first_duplicates", [
    (_SYNTH, "error", 4, "error"),  # elastic samples dropped, one sample in both parts (exported again)
    (_TWINS, "drop", 2, "drop"),  # the 0.1 % and 10 % twins in different parts: both dropped, as in one export
    (_TWINS, "drop", 2, "error"),  # a clean "error" export merged with "drop": the earlier twin goes too
    ({k: _TWINS[k] for k in ("w0.0625_one_p0.1_i0000", "w0.0625_one_p10_i0000", "w0.0625_one_p1_i0000")}
     | {"w0.0625_one_p1_i0001": ("one", 0.01, 20, 1)}, "drop", 3, "drop"),  # a third twin after two were dropped
])
def test_merge_of_two_partial_builds_equals_the_export_of_the_whole_build(tmp_path, samples, duplicates, first,
                                                                          first_duplicates):
    keys = list(samples)
    whole = _synthetic_grid(tmp_path / "whole", samples)
    part1 = _synthetic_grid(tmp_path / "part1", {k: samples[k] for k in keys[:first]})
    part2 = _synthetic_grid(tmp_path / "part2", {k: samples[k] for k in keys[first - 1:]})
    expected = export_images(whole, tmp_path / "all", duplicates=duplicates)
    # nothing there yet: a plain export
    export_images(part1, tmp_path / "merged", duplicates=first_duplicates, merge=True)
    got = export_images(part2, tmp_path / "merged", duplicates=duplicates, merge=True)
    a, b = _export_files(tmp_path / "all"), _export_files(tmp_path / "merged")
    assert a == b  # same rows, files, curves, dropped list and split
    assert got["n_samples"] == expected["n_samples"] == len(samples) and got["check"]["ok"]
    assert got["sources"] == [str(part1), str(part2)]
    assert all(d["key"] in samples for d in got["dropped"])  # dropped entries name their sample
    if duplicates == "drop":
        assert {d["key"] for d in got["dropped"] if d["reason"] != "elastic"} == {
            k for k, v in samples.items() if v[2] == 20}


def test_merge_replaces_samples_exported_again_and_refuses_other_options(synthetic, tmp_path):
    exp = tmp_path / "exp"
    export_images(synthetic, exp)
    key = "w0.0625_one_p1_i0000"
    assert len(list(exp.glob(f"{key}_*.png"))) == 4
    # the same sample, now without a trace: its images go, its drop is recorded by key
    again = _synthetic_grid(tmp_path / "again", {key: ("one", 0.01, None, 0)})
    info = export_images(again, exp, merge=True)
    assert not list(exp.glob(f"{key}_*.png")) and info["n_samples"] == len(_SYNTH)
    assert {d["file"] for d in info["dropped"] if d["key"] == key} == {
        f"{key}_r{r}{m}.png" for r in ("0.1", "1") for m in ("", "_mean")}
    _, rows = load_images(exp)
    assert key not in {r["key"] for r in rows} and len(rows) == info["n_images"] == 20
    # other options, split seed or format: refused before the source is even read
    before = (exp / "index.json").read_bytes()
    for kwargs, match in (({"elastic": "class"}, "--elastic 'drop'"), ({"rendering": "deformed"}, "--rendering"),
                          ({"split_seed": 1}, "seed 0")):
        with pytest.raises(InvalidParameterError, match=match) as err:
            export_images(tmp_path / "nowhere", exp, merge=True, **kwargs)
        _one_line(err.value)
    # an export that dropped clashes cannot go back to refusing them (error -> drop is allowed)
    dropping = tmp_path / "dropping"
    export_images(synthetic, dropping, duplicates="drop")
    with pytest.raises(InvalidParameterError, match="--duplicates 'drop'"):
        export_images(tmp_path / "nowhere", dropping, merge=True, duplicates="error")
    other = tmp_path / "other"
    other.mkdir()
    (other / "index.json").write_text(json.dumps({"format": "microdl.ddd-images/0"}))
    with pytest.raises(InvalidParameterError, match="not a 'microdl.ddd-images/1' export"):
        export_images(synthetic, other, merge=True)
    assert (exp / "index.json").read_bytes() == before and not (other / "index.csv").exists()
    # without merge: overwritten as before (the re-exported sample's images are back)
    assert export_images(synthetic, exp)["n_images"] == 24
