"""Splits by simulation, identical-image checks, visible slip and the deformed rendering (no simulation)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from microdl.data.ddd_checks import check_images, deformed_profile, image_digest, slip_pixels
from microdl.data.ddd_splits import SIDES, split_rows
from microdl.exceptions import DataFileError, InvalidParameterError


def _rows(n_per_cell=20, widths=(0.0625, 0.125), drop_small_reload_every=0):
    """Index rows of a grid: 2 reloads x 2 modes per simulation; some 0.1 % images dropped (elastic)."""
    rows = []
    for w in widths:
        for slip in ("one", "two"):
            for prior in (0.1, 1.0, 10.0):
                for i in range(n_per_cell):
                    key = f"w{w}_{slip}_p{prior:g}_i{i:04d}"
                    for mode in ("full", "mean"):
                        for reload in (0.1, 1.0):
                            if drop_small_reload_every and reload == 0.1 and mode == "full" and (
                                    i % drop_small_reload_every == 0):
                                continue
                            rows.append({"file": f"{key}_r{reload:g}{'' if mode == 'full' else '_mean'}.png",
                                         "key": key, "mode": mode, "width_um": w, "slip": slip,
                                         "prior_pct": prior, "reload_pct": reload, "index": i})
    return rows


def _sides_of(split):
    return {f: k for k in SIDES for f in split["images"][k]}


@pytest.mark.parametrize("drop_every", [0, 3])
def test_split_by_simulation_stratified_and_deterministic(drop_every):
    rows = _rows(drop_small_reload_every=drop_every)
    split = split_rows(rows, seed=0)
    side = _sides_of(split)
    assert len(side) == len(rows)
    by_key = {}
    for r in rows:  # every image of a simulation (both reloads, both modes) on one side
        by_key.setdefault(r["key"], set()).add(side[r["file"]])
    assert all(len(s) == 1 for s in by_key.values())
    assert set().union(*split["simulations"].values()) == set(by_key)
    assert sum(len(v) for v in split["simulations"].values()) == len(by_key)
    slack = 1 if not drop_every else 2  # every index of a cell present, or a third of one stratum left out
    for t in split["strata"]:  # (mode, width, slip, reload, label): the paper's ratios
        n = t["n"]
        assert abs(t["test"] - 0.25 * n) < slack and abs(t["val"] - 0.18 * (n - t["test"])) < slack, t
        assert t["train"] + t["val"] + t["test"] == n
    assert split["max_deviation"] <= 2 * slack
    assert split == split_rows(rows, seed=0)  # deterministic
    assert split["simulations"] != split_rows(rows, seed=1)["simulations"]  # the seed matters


def test_identical_images_tie_simulations_and_conflicts_are_errors():
    rows = _rows(n_per_cell=8, widths=(0.0625,))
    digests = [image_digest(np.full((2, 3), i % 251, np.uint8)) + r["file"] for i, r in enumerate(rows)]
    a = next(i for i, r in enumerate(rows) if r["key"].endswith("p0.1_i0000") and r["mode"] == "full")
    b = next(i for i, r in enumerate(rows) if r["key"].endswith("p0.1_i0005") and r["mode"] == "full")
    digests[b] = digests[a]  # two simulations of one label share a picture
    split = split_rows(rows, digests, seed=0)
    side = _sides_of(split)
    assert side[rows[a]["file"]] == side[rows[b]["file"]]
    report = check_images(rows, digests, split)
    assert report["ok"] and report["n_duplicate_groups"] == 1 and report["n_duplicate_images"] == 2
    # the same pair on two sides of a hand-made split is an error, naming both files
    moved = json.loads(json.dumps(split))
    other = next(k for k in SIDES if k != side[rows[a]["file"]])
    moved["images"][side[rows[a]["file"]]].remove(rows[a]["file"])
    moved["images"][other].append(rows[a]["file"])
    with pytest.raises(DataFileError, match="different splits") as err:
        check_images(rows, digests, moved)
    assert rows[a]["file"] in str(err.value) and "\n" not in str(err.value)
    assert not check_images(rows, digests, moved, strict=False)["ok"]
    # ... and across labels, whatever the split
    c = next(i for i, r in enumerate(rows) if r["key"].endswith("p10_i0002") and r["mode"] == "full")
    digests[c] = digests[a]
    with pytest.raises(DataFileError, match="different labels"):
        check_images(rows, digests)
    # the same picture in the two reference modes is not a duplicate (a learner sees one mode)
    d = next(i for i, r in enumerate(rows) if r["key"] == rows[a]["key"] and r["mode"] == "mean")
    fresh = [image_digest(np.zeros(1, np.uint8)) + r["file"] for r in rows]
    fresh[d] = fresh[a]
    assert check_images(rows, fresh)["n_duplicate_groups"] == 0

def test_a_simulation_keeps_its_side_when_samples_are_added():
    rng = np.random.default_rng(0)
    small = _rows(n_per_cell=6)
    sides = _sides_of(split_rows(small, seed=4))
    for rows in (_rows(n_per_cell=30), _rows(n_per_cell=30, drop_small_reload_every=4),
                 [r for r in _rows(n_per_cell=30) if r["key"] in {x["key"] for x in small} or rng.random() < 0.5]):
        grown = _sides_of(split_rows(rows, seed=4))
        assert {f: grown[f] for f in sides if f in grown} == {f: sides[f] for f in sides if f in grown}
    # every index 0 .. n-1 of a cell present: the paper's ratios within one simulation, for every n
    for n in range(1, 41):
        split = split_rows(_rows(n_per_cell=n, widths=(0.125,)), seed=7)
        cell = [k for k in split["simulations"]["train"] + split["simulations"]["val"]
                + split["simulations"]["test"] if "_one_p1_" in k]
        test = sum("_one_p1_" in k for k in split["simulations"]["test"])
        val = sum("_one_p1_" in k for k in split["simulations"]["val"])
        assert len(cell) == n and abs(test - 0.25 * n) < 1 and abs(val - 0.18 * (n - test)) < 1, (n, test, val)
    # an earlier split wins, even against the seed's choice (and ties follow it)
    rows = _rows(n_per_cell=6)
    moved = {rows[0]["key"]: next(k for k in SIDES if k != sides[rows[0]["file"]])}
    kept = _sides_of(split_rows(rows, seed=4, keep=moved))
    assert {kept[r["file"]] for r in rows if r["key"] == rows[0]["key"]} == set(moved.values())
    assert all(kept[r["file"]] == sides[r["file"]] for r in rows if r["key"] != rows[0]["key"])
    # rows without a sample index: a hash of the key, stable as well
    bare = [{k: v for k, v in r.items() if k != "index"} for r in _rows(n_per_cell=10)]
    assert _sides_of(split_rows(bare[:40], seed=1)) == {f: s for f, s in _sides_of(split_rows(bare, seed=1)).items()
                                                        if f in {r["file"] for r in bare[:40]}}


def test_split_rejects_bad_fractions():
    with pytest.raises(InvalidParameterError, match="test_fraction"):
        split_rows(_rows(n_per_cell=2), test_fraction=1.5)
    with pytest.raises(InvalidParameterError, match="keep"):
        split_rows(_rows(n_per_cell=2), keep={"w0.0625_one_p0.1_i0000": "holdout"})


def test_slip_pixels_against_the_elastic_range_and_the_slip_quantum():
    pixel, b = (2e-9, 2e-9), 0.25e-9
    elastic = np.full((31, 125), -0.01)
    elastic[0, :3] = -0.025  # a clamped-corner concentration of 1.5 x the 1 % reload strain
    assert slip_pixels(elastic, 0.01, pixel, b) == 0
    traced = elastic.copy()
    traced[np.arange(31), 40 + np.arange(31) // 2] += 0.433 * b / pixel[0]  # one dislocation across each pixel
    assert slip_pixels(traced, 0.01, pixel, b) == 31
    weak = elastic.copy()
    weak[5, 5] += 0.1 * b / pixel[0] + 0.02 - 0.001  # just below 2 x reload + 0.1 b/p beyond the median
    assert slip_pixels(weak, 0.01, pixel, b) == 0
    weak[5, 5] += 0.002
    assert slip_pixels(weak, 0.01, pixel, b) == 1


def test_deformed_profile_uniform_strain_and_conservation():
    prof = np.full((4, 10), 3.0)
    out = deformed_profile(prof, np.full(10, -0.2))  # 10 columns of 0.8: 8 columns, field unchanged
    assert out.shape == (4, 8) and np.allclose(out, 3.0)
    rng = np.random.default_rng(0)
    prof = rng.normal(size=(3, 50))
    strain = rng.uniform(-0.3, 0.1, size=50)
    strain[-1] -= np.sum(1 + strain) - round(np.sum(1 + strain))  # an integer deformed length
    out = deformed_profile(prof, strain)
    assert out.shape == (3, round(np.sum(1 + strain)))
    np.testing.assert_allclose(out.sum(axis=1), (prof * (1 + strain)).sum(axis=1), rtol=1e-5)  # exact remap
    assert np.array_equal(deformed_profile(prof, np.zeros(50)), prof.astype(np.float32))
    with pytest.raises(InvalidParameterError, match="axial_strain"):
        deformed_profile(prof, np.full(50, -1.0))
