"""read_gray_image: PNG/TIFF 8 and 16 bit, JPEG, .npy; unreadable files give DataFileError naming the file."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFile

from microdl.exceptions import DataFileError
from microdl.io.images import IMAGE_SUFFIXES, read_gray_image


def _smooth(h: int = 48, w: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return (100 + 60 * np.sin(x / 7.0) * np.cos(y / 9.0)).astype(np.uint8)


@pytest.mark.parametrize("name", ["a.jpg", "b.jpeg", "c.JPG"])
def test_jpeg_gray_is_read_as_uint8_2d(tmp_path, name):
    img = _smooth()
    Image.fromarray(img).save(tmp_path / name, format="JPEG", quality=95)
    out = read_gray_image(tmp_path / name)
    assert out.dtype == np.uint8 and out.shape == img.shape
    assert np.abs(out.astype(int) - img.astype(int)).mean() < 2  # lossy, but close


def test_colour_jpeg_is_converted_to_gray(tmp_path):
    img = _smooth()
    Image.fromarray(np.stack([img] * 3, axis=-1)).save(tmp_path / "rgb.jpg", quality=95)
    out = read_gray_image(tmp_path / "rgb.jpg")
    assert out.shape == img.shape and np.abs(out.astype(int) - img.astype(int)).mean() < 2


def test_truncated_jpeg_raises_naming_the_file(tmp_path):
    Image.fromarray(_smooth(200, 300)).save(tmp_path / "good.jpg", quality=95)
    data = (tmp_path / "good.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    assert not ImageFile.LOAD_TRUNCATED_IMAGES
    with pytest.raises(DataFileError, match="cut.jpg"):
        read_gray_image(tmp_path / "cut.jpg")
    assert not ImageFile.LOAD_TRUNCATED_IMAGES  # the reader does not change PIL's global switch


def test_garbage_jpeg_raises_naming_the_file(tmp_path):
    (tmp_path / "junk.jpeg").write_bytes(b"not a jpeg at all" * 10)
    with pytest.raises(DataFileError, match="junk.jpeg"):
        read_gray_image(tmp_path / "junk.jpeg")


def test_png_16_bit_keeps_its_values(tmp_path):
    img = (np.arange(12 * 10, dtype=np.uint16).reshape(12, 10) * 500)
    Image.fromarray(img).save(tmp_path / "d.png")
    out = read_gray_image(tmp_path / "d.png")
    assert out.dtype == np.uint16 and np.array_equal(out, img)


def test_unsupported_suffix_lists_the_supported_ones(tmp_path):
    (tmp_path / "e.bmp").write_bytes(b"BM")
    with pytest.raises(DataFileError, match=r"\.bmp.*\.jpg"):
        read_gray_image(tmp_path / "e.bmp")
    assert ".jpeg" in IMAGE_SUFFIXES


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(DataFileError, match="not found"):
        read_gray_image(tmp_path / "none.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(DataFileError, match="empty"):
        read_gray_image(tmp_path / "empty.jpg")
