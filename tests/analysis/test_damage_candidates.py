"""Candidate detection: DBSCAN equivalence, the area filter, hole filling, merging, streaming."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from microdl.analysis.damage_candidates import (
    DetectConfig, cluster_sites, dark_clusters, dbscan_reference, detect_sites, merge_sites)
from microdl.exceptions import InvalidParameterError
from microdl.io.panorama import open_panorama


def _disc(img, cy, cx, r, value=0):
    yy, xx = np.ogrid[: img.shape[0], : img.shape[1]]
    img[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = value


@pytest.mark.parametrize("min_samples", [1, 3, 5])
def test_dbscan_method_equals_scikit_learn(min_samples):
    rng = np.random.default_rng(min_samples)
    img = (rng.random((120, 150)) * 60).astype(np.uint8)  # about a third dark: many ties between clusters
    ours, n = dark_clusters(img, method="dbscan", min_samples=min_samples)
    ref, n_ref = dbscan_reference(img, min_samples=min_samples)
    assert n == n_ref > 10
    np.testing.assert_array_equal(ours, ref)


def test_components_and_dbscan_differ_as_documented():
    img = np.full((40, 40), 200, np.uint8)
    img[5, 5:30] = 0  # a 1-px line: one component, but no core pixel for DBSCAN
    _disc(img, 25, 20, 5)
    comp, n_comp = dark_clusters(img, method="components")
    db, n_db = dark_clusters(img, method="dbscan")
    assert n_comp == 2 and n_db == 1
    assert (db[5, 5:30] == 0).all() and (comp[5, 5:30] > 0).all()


def test_cluster_sites_area_filter_holes_and_centroid():
    img = np.full((100, 100), 150, np.uint8)
    _disc(img, 30, 40, 8)
    _disc(img, 30, 40, 3, value=150)  # a bright particle inside: a hole
    img[80:83, 80:86] = 0  # 18 px: below the area filter
    labels, _ = dark_clusters(img)
    sites = cluster_sites(labels, min_area_px=20, fill_holes=True)
    assert len(sites) == 1
    s = sites[0]
    assert (s["x"], s["y"]) == pytest.approx((40, 30))
    disc8 = ((np.arange(-8, 9)[:, None] ** 2 + np.arange(-8, 9) ** 2) <= 64).sum()
    disc3 = ((np.arange(-3, 4)[:, None] ** 2 + np.arange(-3, 4) ** 2) <= 9).sum()
    assert s["area_px"] == disc8 and s["dark_px"] == disc8 - disc3
    assert s["bbox"] == (32, 22, 49, 39)
    unfilled = cluster_sites(labels, min_area_px=20, fill_holes=False)[0]
    assert unfilled["area_px"] == disc8 - disc3
    assert len(cluster_sites(labels, min_area_px=10)) == 2


def test_merge_sites_single_linkage():
    def site(x, y, a):
        return {"x": x, "y": y, "area_px": a, "dark_px": a, "bbox": (x - 1, y - 1, x + 1, y + 1), "first": (y, x)}

    sites = [site(0, 0, 10), site(40, 0, 30), site(80, 0, 10), site(300, 300, 5)]
    merged = merge_sites(sites, 50)
    assert len(merged) == 2  # a chain 0 - 40 - 80 merges by single linkage
    m = merged[0]
    assert m["n_clusters"] == 3 and m["area_px"] == 50 and m["x"] == pytest.approx((0 + 1200 + 800) / 50)
    assert m["bbox"] == (-1, -1, 81, 1)
    assert len(merge_sites([site(0, 0, 1), site(10, 0, 1)], 0)) == 2


def _scene(shape=(900, 700), seed=0):
    rng = np.random.default_rng(seed)
    img = np.clip(rng.normal(120, 10, shape), 30, 255).astype(np.uint8)
    centres = [(50, 50), (127, 300), (128, 305), (255, 600), (256, 100), (511, 350), (700, 20), (899, 690)]
    for cy, cx in centres:
        _disc(img, cy, cx, 6)
    img[300:420, 200:203] = 0  # a long crack crossing several band edges
    return img


@pytest.mark.parametrize("method", ["components", "dbscan"])
def test_streaming_in_bands_equals_one_pass(tmp_path, method):
    img = _scene()
    tifffile.imwrite(tmp_path / "p.tif", img, tile=(64, 64), compression="zlib")
    pano = open_panorama(tmp_path / "p.tif")
    whole = detect_sites(pano, DetectConfig(method=method, band_px=4096))
    assert len(whole) == 8  # the two overlapping discs are one site, so is the crack; the corner one counts
    for band, margin in [(128, 8), (97, 3), (256, 64)]:
        assert detect_sites(pano, DetectConfig(method=method, band_px=band, margin_px=margin)) == whole
    crack = [s for s in whole if s["bbox"][1] == 300]
    assert len(crack) == 1 and crack[0]["bbox"][1:4:2] == (300, 420)
    # 3 px wide: DBSCAN drops the 4 end corners (not core, no core neighbour)
    assert crack[0]["area_px"] == (360 if method == "components" else 356)


def test_no_dark_pixels_gives_no_site(tmp_path):
    tifffile.imwrite(tmp_path / "p.tif", np.full((64, 64), 128, np.uint8))
    assert detect_sites(open_panorama(tmp_path / "p.tif")) == []


def test_sixteen_bit_threshold_is_scaled():
    img = np.full((30, 30), 30000, np.uint16)
    _disc(img, 15, 15, 5, value=20 * 257 - 1)
    labels, n = dark_clusters(img, threshold=20)
    assert n == 1 and (labels > 0).sum() == 81


def test_config_errors():
    with pytest.raises(InvalidParameterError, match="method"):
        DetectConfig(method="kmeans")
    with pytest.raises(InvalidParameterError, match="min_samples"):
        DetectConfig(min_samples=9)
    with pytest.raises(InvalidParameterError, match="threshold"):
        DetectConfig(threshold=0)
    with pytest.raises(InvalidParameterError, match="2D"):
        dark_clusters(np.zeros((2, 3, 4)))


def test_real_sem_image_voids(shared_data):
    pano = open_panorama(shared_data / "sem" / "dp_steel_deformed_unlabelled.tif")
    sites = detect_sites(pano)
    # the large voids of the image (checked by eye), all found with the authors' defaults
    for x, y in [(638, 74), (687, 113), (664, 261), (125, 284), (481, 299), (845, 583)]:
        assert min(np.hypot(s["x"] - x, s["y"] - y) for s in sites) < 8
    img = pano.read(0, 0, *pano.shape)
    np.testing.assert_array_equal(dark_clusters(img, method="dbscan")[0], dbscan_reference(img)[0])
