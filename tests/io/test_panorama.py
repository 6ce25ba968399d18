"""Windowed reading of large TIFFs: every storage layout gives the same pixels as a whole read."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from microdl.exceptions import DataFileError, InvalidParameterError
from microdl.io.panorama import open_mosaic, open_panorama


@pytest.fixture
def image():
    return np.random.default_rng(0).integers(0, 65535, (700, 530)).astype(np.uint16)


@pytest.mark.parametrize("kw", [
    {},  # uncompressed, one strip: memory-mapped
    {"tile": (64, 128), "compression": "zlib"},
    {"rowsperstrip": 33, "compression": "zlib"},
    {"tile": (256, 256)},
])
def test_windows_equal_the_whole_image(tmp_path, image, kw):
    path = tmp_path / "p.tif"
    tifffile.imwrite(path, image, **kw)
    with open_panorama(path) as pano:
        assert pano.shape == image.shape and pano.dtype == np.uint16
        for y0, x0, h, w in [(0, 0, 700, 530), (63, 127, 70, 3), (699, 529, 1, 1), (100, 0, 300, 530)]:
            np.testing.assert_array_equal(pano.read(y0, x0, h, w), image[y0:y0 + h, x0:x0 + w])
        bands = list(pano.iter_bands(128, overlap=10))
        owned = np.concatenate([band[y_own - ya:y_own - ya + 128] for ya, y_own, band in bands])
        np.testing.assert_array_equal(owned, image)
        assert bands[1][0] == 118 and bands[1][2].shape[0] == 148


def test_read_outside_and_padded(tmp_path, image):
    tifffile.imwrite(tmp_path / "p.tif", image)
    pano = open_panorama(tmp_path / "p.tif")
    with pytest.raises(InvalidParameterError, match="not inside"):
        pano.read(690, 0, 20, 10)
    pad = pano.read_padded(-5, 520, 10, 20, fill=7)
    assert pad.shape == (10, 20) and (pad[:5] == 7).all() and (pad[:, 10:] == 7).all()
    np.testing.assert_array_equal(pad[5:, :10], image[:5, 520:])


def test_palette_rgb_and_pixel_size(tmp_path):
    idx = np.arange(256, dtype=np.uint8).reshape(16, 16)
    cmap = np.tile((255 - np.arange(256, dtype=np.uint16)) * 257, (3, 1))  # an inverted gray palette
    tifffile.imwrite(tmp_path / "pal.tif", idx, photometric="palette", colormap=cmap)
    np.testing.assert_array_equal(open_panorama(tmp_path / "pal.tif").read(0, 0, 16, 16), 255 - idx)
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 1] = 200
    tifffile.imwrite(tmp_path / "rgb.tif", rgb, tile=(16, 16), compression="zlib",
                     resolution=(1e4 / 0.05, 1e4 / 0.05), resolutionunit="CENTIMETER")
    pano = open_panorama(tmp_path / "rgb.tif")
    assert pano.read(0, 0, 8, 8)[0, 0] == round(200 * 0.587)
    assert pano.pixel_size_um == pytest.approx(0.05)
    assert open_panorama(tmp_path / "rgb.tif", pixel_size_um=0.2).pixel_size_um == 0.2


def test_zeiss_pixel_size_of_the_real_sem_image(shared_data):
    pano = open_panorama(shared_data / "sem" / "dp_steel_deformed_unlabelled.tif")
    assert pano.shape == (768, 1024) and pano.dtype == np.uint8
    assert pano.pixel_size_um == pytest.approx(0.05752)


def test_bad_files(tmp_path):
    with pytest.raises(DataFileError, match="not found"):
        open_panorama(tmp_path / "none.tif")
    (tmp_path / "empty.tif").write_bytes(b"")
    with pytest.raises(DataFileError, match="empty"):
        open_panorama(tmp_path / "empty.tif")
    (tmp_path / "junk.tif").write_bytes(b"II*\x00garbage" * 10)
    with pytest.raises(DataFileError, match="junk.tif"):
        open_panorama(tmp_path / "junk.tif")
    img = np.random.default_rng(0).integers(0, 255, (256, 256)).astype(np.uint8)
    tifffile.imwrite(tmp_path / "cut.tif", img, tile=(64, 64), compression="zlib")
    data = (tmp_path / "cut.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataFileError, match="cut.tif"):
        pano = open_panorama(tmp_path / "cut.tif")
        pano.read(0, 0, 256, 256)
    with pytest.raises(InvalidParameterError, match="pixel_size_um"):
        open_panorama(tmp_path / "cut.tif", pixel_size_um=-1)


def test_mosaic(tmp_path):
    a = np.full((50, 60), 10, np.uint8)
    b = np.full((40, 30), 200, np.uint8)
    tifffile.imwrite(tmp_path / "a.tif", a)
    tifffile.imwrite(tmp_path / "b.tif", b)
    (tmp_path / "layout.csv").write_text("file,x,y\na.tif,0,0\nb.tif,50,30\n")
    pano = open_mosaic(tmp_path / "layout.csv", pixel_size_um=0.1)
    assert pano.shape == (70, 80) and pano.pixel_size_um == 0.1
    assert [t["file"] for t in pano.layout] == ["a.tif", "b.tif"] and pano.layout[1]["width"] == 30
    whole = pano.read(0, 0, 70, 80)
    assert whole[0, 0] == 10 and whole[35, 55] == 200 and whole[69, 0] == 0 and whole[10, 79] == 0
    (tmp_path / "bad.csv").write_text("file,x,y\na.tif,zero,0\n")
    with pytest.raises(DataFileError, match="line 2"):
        open_mosaic(tmp_path / "bad.csv")
