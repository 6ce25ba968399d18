"""Tests of the synthetic DP-steel SEM generator: validation, determinism, tiling, sites, statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from microdl.exceptions import InvalidParameterError
from microdl.simulate.dp_steel import (
    SITE_CLASSES,
    DPSteelConfig,
    iter_tiles,
    plan_scene,
    render_region,
    synthetic_dp_steel,
)
from microdl.simulate.dp_steel_render import BLOCK_PX

AREA_PX_MM2 = (0.0575e-3) ** 2  # mm² of one default pixel


@pytest.fixture(scope="module")
def big():
    """A 2048 x 2048 default scene, its image and martensite mask (rendered once, ~2 s)."""
    scene = plan_scene(DPSteelConfig(height_px=2048, width_px=2048), rng=11)
    img, phase = render_region(scene, 0, 0, 2048, 2048, return_phase=True)
    return scene, img, phase


def _dark_orientation_deg(img: np.ndarray, bbox) -> float:
    """Major-axis angle (degrees from +x, in [0, 180)) of the largest dark (< 20) blob in ``bbox``."""
    x0, y0, x1, y1 = bbox
    lab, n = ndimage.label(img[y0:y1, x0:x1] < 20)
    ys, xs = np.nonzero(lab == np.bincount(lab.ravel())[1:].argmax() + 1)
    cov = np.cov(np.stack([xs, ys]).astype(float))
    return math.degrees(0.5 * math.atan2(2 * cov[0, 1], cov[0, 0] - cov[1, 1])) % 180.0


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"height_px": 10}, "height_px"),
    ({"width_px": 100.0}, "width_px"),
    ({"pixel_size_um": 0.0}, "pixel_size_um"),
    ({"martensite_fraction": 0.7}, "martensite_fraction"),
    ({"martensite_fraction": 0.0}, "martensite_fraction"),  # default weights ask for martensite sites
    ({"island_size_um": -1.0}, "island_size_um"),
    ({"sites_per_mm2": -5.0}, "sites_per_mm2"),
    ({"sites_per_mm2": 1e6}, "sites_per_mm2"),
    ({"class_weights": (1, 1, 1)}, "class_weights"),
    ({"class_weights": (1, -1, 1, 1, 1)}, "class_weights"),
    ({"class_weights": (0, 0, 0, 0, 0)}, "class_weights"),
    ({"loading": "shear"}, "loading"),
    ({"noise_std": float("nan")}, "noise_std"),
    ({"void_gray": 30.0}, "void_gray"),
    ({"ferrite_gray": 30.0}, "ferrite_gray"),
    ({"boundary_affinity": 1.5}, "boundary_affinity"),
    ({"grain_size_um": 0.1}, "grain_size_um"),
])
def test_config_rejects_bad_values_naming_the_parameter(kwargs, name):
    with pytest.raises(InvalidParameterError, match=name) as info:
        DPSteelConfig(**kwargs)
    assert isinstance(info.value, ValueError)
    assert "got" in str(info.value)


def test_no_martensite_is_fine_without_martensite_sites():
    cfg = DPSteelConfig(height_px=256, width_px=256, martensite_fraction=0.0, class_weights=(1, 0, 0, 1, 1))
    img, sites = synthetic_dp_steel(cfg, rng=0)
    assert img.shape == (256, 256) and {s["label"] for s in sites} <= {"inclusion", "notch", "shadow"}


def test_plan_and_render_reject_bad_arguments():
    with pytest.raises(InvalidParameterError, match="config"):
        plan_scene({"height_px": 64}, rng=0)
    scene = plan_scene(DPSteelConfig(height_px=128, width_px=128, sites_per_mm2=0.0), rng=0)
    with pytest.raises(InvalidParameterError, match="x0"):
        render_region(scene, 0, 100, 10, 40)
    with pytest.raises(InvalidParameterError, match="tile"):
        next(iter_tiles(scene, tile=0))


def test_same_seed_same_image_other_seed_other_image():
    cfg = DPSteelConfig(height_px=300, width_px=400)
    a, sa = synthetic_dp_steel(cfg, rng=5)
    b, sb = synthetic_dp_steel(cfg, rng=5)
    c, _ = synthetic_dp_steel(cfg, rng=6)
    assert a.dtype == np.uint8 and a.shape == (300, 400)
    assert np.array_equal(a, b) and sa == sb
    assert not np.array_equal(a, c)
    scene = plan_scene(cfg, rng=np.random.default_rng(5))
    assert np.array_equal(render_region(scene, 0, 0, 300, 400), a)


def test_any_window_equals_the_same_window_of_the_whole_image(big):
    scene, img, phase = big
    windows = [(0, 0, 1, 1), (BLOCK_PX - 3, BLOCK_PX - 5, 7, 11), (101, 333, 517, 301),
               (2 * BLOCK_PX - 1, 3 * BLOCK_PX + 1, 259, 513), (2047, 1500, 1, 548), (1791, 1791, 257, 257)]
    for y, x, h, w in windows:
        got, ph = render_region(scene, y, x, h, w, return_phase=True)
        assert np.array_equal(got, img[y:y + h, x:x + w]), (y, x, h, w)
        assert np.array_equal(ph, phase[y:y + h, x:x + w])


def test_iter_tiles_assemble_to_the_image():
    cfg = DPSteelConfig(height_px=600, width_px=700)
    scene = plan_scene(cfg, rng=2)
    whole = render_region(scene, 0, 0, 600, 700)
    tiles = list(iter_tiles(scene, tile=512))
    assert len(tiles) == 4 and all(t.shape == (512, 512) and t.dtype == np.uint8 for t in tiles)
    canvas = np.block([[tiles[0], tiles[1]], [tiles[2], tiles[3]]])
    assert np.array_equal(canvas[:600, :700], whole)
    assert not canvas[600:].any() and not canvas[:, 700:].any()


def test_every_site_is_dark_inside_and_nothing_else_is(big):
    scene, img, _ = big
    outside = np.ones(img.shape, bool)
    for s in scene.sites:
        x0, y0, x1, y1 = s["bbox"]
        assert 0 <= x0 < x1 <= img.shape[1] and 0 <= y0 < y1 <= img.shape[0]
        assert x0 <= s["x"] < x1 and y0 <= s["y"] < y1
        lab, n = ndimage.label(img[y0:y1, x0:x1] < 20)
        assert n and np.bincount(lab.ravel())[1:].max() >= 25, s
        outside[y0:y1, x0:x1] = False
    assert (img[outside] < 20).sum() < 1e-5 * outside.sum()


def test_sites_keep_apart_and_their_count_follows_the_density(big):
    scene, img, _ = big
    sites = scene.sites
    expected = 4000.0 * img.size * AREA_PX_MM2
    assert abs(len(sites) - expected) <= max(2.0, 0.05 * expected)
    assert [s["site_id"] for s in sites] == list(range(len(sites)))
    xy = np.array([[s["x"], s["y"]] for s in sites])
    d = np.hypot(*(xy[:, None] - xy[None]).transpose(2, 0, 1))
    assert d[np.triu_indices(len(sites), 1)].min() >= 60


def test_sites_sit_in_their_phase(big):
    scene, img, phase = big
    for s in scene.sites:
        x0, y0, x1, y1 = s["bbox"]
        dark = img[y0:y1, x0:x1] < 20
        ph = phase[y0:y1, x0:x1]
        if s["label"] in ("inclusion", "notch"):
            assert not ph[dark].any(), s
        elif s["label"] == "martensite":
            assert ph[dark].mean() > 0.8, s
        elif s["label"] == "interface":
            grown = ndimage.binary_dilation(dark, iterations=3)
            assert ph[grown].any() and not ph[grown].all(), s


def test_martensite_fraction_matches_the_config(big):
    _, _, phase = big
    assert abs(phase.mean() - 0.25) < 0.05
    scene = plan_scene(DPSteelConfig(height_px=1024, width_px=1024, martensite_fraction=0.45,
                                     sites_per_mm2=0.0), rng=4)
    _, ph = render_region(scene, 0, 0, 1024, 1024, return_phase=True)
    assert abs(ph.mean() - 0.45) < 0.05


def test_class_frequencies_follow_the_weights():
    weights = (1, 1, 1, 1, 0.3)
    scene = plan_scene(DPSteelConfig(height_px=3072, width_px=3072, sites_per_mm2=10000.0,
                                     class_weights=weights), rng=8)
    labels = [s["label"] for s in scene.sites]
    n = len(labels)
    assert n > 250 and set(labels) <= set(SITE_CLASSES)
    p = np.asarray(weights) / sum(weights)
    for name, pk in zip(SITE_CLASSES, p, strict=True):
        assert abs(labels.count(name) - n * pk) <= 4 * math.sqrt(n * pk * (1 - pk)) + 1, (name, labels.count(name))


def _cracks(loading: str):
    cfg = DPSteelConfig(height_px=1024, width_px=1024, sites_per_mm2=12000.0, class_weights=(0, 1, 0, 0, 0),
                        loading=loading)
    scene = plan_scene(cfg, rng=21)
    img = render_region(scene, 0, 0, 1024, 1024)
    return np.array([_dark_orientation_deg(img, s["bbox"]) for s in scene.sites])


def test_uniaxial_cracks_run_across_the_tensile_axis_biaxial_ones_anyhow():
    uni = _cracks("uniaxial")
    assert uni.size >= 20
    vertical = np.abs(np.sin(np.radians(uni))) > math.cos(math.radians(45))
    assert vertical.mean() > 0.9
    bi = _cracks("biaxial")
    assert bi.size >= 20
    vertical_bi = np.abs(np.sin(np.radians(bi))) > math.cos(math.radians(45))
    assert 0.2 < vertical_bi.mean() < 0.8


def test_uniaxial_notches_and_inclusions_are_elongated_along_x():
    cfg = DPSteelConfig(height_px=1024, width_px=1024, sites_per_mm2=10000.0, class_weights=(0, 0, 0, 1, 0))
    scene = plan_scene(cfg, rng=3)
    img = render_region(scene, 0, 0, 1024, 1024)
    angles = np.array([_dark_orientation_deg(img, s["bbox"]) for s in scene.sites])
    assert angles.size >= 15
    assert (np.abs(np.cos(np.radians(angles))) > math.cos(math.radians(30))).mean() > 0.9
