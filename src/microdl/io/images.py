"""Read a 2D gray image from PNG/TIFF (8 or 16 bit), JPEG (8 bit) or ``.npy`` as a NumPy array."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from microdl.exceptions import DataFileError

__all__ = ["IMAGE_SUFFIXES", "read_gray_image"]

IMAGE_SUFFIXES = (".png", ".tif", ".tiff", ".jpg", ".jpeg", ".npy")


def read_gray_image(path: str | os.PathLike) -> np.ndarray:
    """Return the pixels of ``path`` unchanged in dtype (``uint8``, ``uint16``, float...).

    Colour images are converted to gray (PIL's ``L`` mode). ``.npy`` files are
    returned as stored; the caller checks their shape and values.

    The pixels are decoded here (``Image.load``), inside the error handling: PIL opens
    a file lazily, so a truncated or corrupt JPEG would otherwise only fail later. The
    reader relies on PIL's default ``ImageFile.LOAD_TRUNCATED_IMAGES = False`` (it never
    changes it), so a truncated file is an error rather than an image padded with gray.

    Raises
    ------
    DataFileError
        If the file is missing, empty, unreadable or of another type.
    """
    p = Path(path)
    if not p.is_file():
        raise DataFileError(f"image not found: {p}")
    suffix = p.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise DataFileError(f"unsupported image type {suffix!r} for {p}; expected {', '.join(IMAGE_SUFFIXES)}")
    if p.stat().st_size == 0:
        raise DataFileError(f"{p} is empty (0 bytes)")
    from PIL import Image

    # DecompressionBombError (absurd image sizes) is not an OSError
    errors = (OSError, ValueError, EOFError, SyntaxError, Image.DecompressionBombError)
    try:
        if suffix == ".npy":
            return np.load(p, allow_pickle=False)
        with Image.open(p) as im:
            im.load()  # decode now, so that truncated or corrupt data raises here
            if im.mode in ("RGB", "RGBA", "P", "LA", "CMYK"):
                im = im.convert("L")
            return np.asarray(im).copy()
    except errors as exc:
        raise DataFileError(f"could not read image {p} ({type(exc).__name__}: {' '.join(str(exc).split())})") from exc
