"""Read large gray images (SEM panoramas) window by window, never whole.

:func:`open_panorama` returns a :class:`Panorama` whose :meth:`~Panorama.read` decodes only
the TIFF strips or tiles that a window touches (a small cache keeps the last ones), so a
20,000 x 20,000 panorama is processed band by band in bounded memory. Uncompressed TIFFs
are memory-mapped. PNG, JPEG and small TIFFs that cannot be decoded segment by segment
are read whole (they are small). Palette (colour-map) TIFFs, as Zeiss SEMs write them, are
turned into gray through their colour map; RGB into gray by luminance.

The pixel size comes from the file when it records one: Zeiss ``CZ_SEM``
(``ap_image_pixel_size``), FEI/Thermo Fisher (``[Scan] PixelWidth``), ImageJ (``spacing``
with ``unit``) or the TIFF resolution tags with a metric unit. Otherwise it is ``None``
and the caller passes it (``--pixel-size-um``).

A panorama stitched from several images can be described by a layout CSV (``file, x, y``:
each tile's top-left corner in panorama pixels); :func:`open_mosaic` reads it as one
panorama whose windows are cut from the tiles that cover them (later rows win where tiles
overlap; uncovered pixels are 0), and records the layout.
"""

from __future__ import annotations

import csv
import os
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from microdl.exceptions import DataFileError, InvalidParameterError

__all__ = ["Panorama", "open_image", "open_panorama", "open_mosaic", "pixel_size_from_tiff"]

_CACHE_BYTES = 64 * 2**20
_WHOLE_LIMIT = 2**28  # pixels; larger images must be decodable segment by segment
_UNIT_UM = {"m": 1e6, "mm": 1e3, "um": 1.0, "µm": 1.0, "micron": 1.0, "microns": 1.0, "nm": 1e-3,
            "pm": 1e-6, "fm": 1e-9}


@dataclass
class Panorama:
    """A gray image on disk, read in windows.

    Attributes
    ----------
    path
        The file (or the layout CSV of a mosaic).
    shape
        ``(height, width)`` in pixels.
    dtype
        Pixel type of :meth:`read`'s arrays (``uint8`` or ``uint16`` for SEM images).
    pixel_size_um
        Side of one pixel in micrometres, or ``None`` if the file does not say.
    layout
        For a mosaic, one dict per tile (``file``, ``x``, ``y``, ``height``, ``width``); else empty.
    """

    path: Path
    shape: tuple[int, int]
    dtype: np.dtype
    pixel_size_um: float | None
    layout: list[dict] = field(default_factory=list)
    _reader: object = field(default=None, repr=False)

    def read(self, y0: int, x0: int, height: int, width: int) -> np.ndarray:
        """Return the window ``[y0, y0 + height) x [x0, x0 + width)``; outside the image is an error."""
        h, w = self.shape
        if height <= 0 or width <= 0 or y0 < 0 or x0 < 0 or y0 + height > h or x0 + width > w:
            raise InvalidParameterError(
                f"window rows {y0}:{y0 + height}, columns {x0}:{x0 + width} is not inside the "
                f"{h} x {w} image {self.path.name}")
        return self._reader.read(y0, x0, height, width)

    def read_padded(self, y0: int, x0: int, height: int, width: int, *, fill: int = 0) -> np.ndarray:
        """Like :meth:`read`, but the parts of the window outside the image are ``fill``."""
        h, w = self.shape
        out = np.full((height, width), fill, dtype=self.dtype)
        ya, yb, xa, xb = max(y0, 0), min(y0 + height, h), max(x0, 0), min(x0 + width, w)
        if ya < yb and xa < xb:
            out[ya - y0:yb - y0, xa - x0:xb - x0] = self.read(ya, xa, yb - ya, xb - xa)
        return out

    def iter_bands(self, height: int, overlap: int = 0) -> Iterator[tuple[int, int, np.ndarray]]:
        """Yield ``(y_start, y_own, band)`` over the image in row bands.

        Each band covers rows ``[y_own - overlap, y_own + height + overlap)`` clipped to the
        image, ``y_start`` is its first row and ``y_own`` the first row it *owns*: the owned
        rows ``[y_own, y_own + height)`` of successive bands tile the image exactly.
        """
        if height <= 0 or overlap < 0:
            raise InvalidParameterError(f"band height must be > 0 and overlap >= 0, got {height}, {overlap}")
        h, w = self.shape
        for y_own in range(0, h, height):
            ya, yb = max(0, y_own - overlap), min(h, y_own + height + overlap)
            yield ya, y_own, self.read(ya, 0, yb - ya, w)

    def thumbnail(self, max_side: int = 2048, *, band: int = 2048) -> tuple[np.ndarray, int]:
        """A block-mean overview with at most ``max_side`` pixels per side, and its integer factor.

        Streamed in bands (bounded memory); pixel ``(i, j)`` of the overview is the mean of the
        ``factor x factor`` block at ``(i * factor, j * factor)``; a last partial block is dropped.
        """
        h, w = self.shape
        f = max(1, -(-max(h, w) // max_side))
        rows = []
        step = max(f, band // f * f)
        for y in range(0, h // f * f, step):
            n = min(step, h // f * f - y)
            block = self.read(y, 0, n, w // f * f).astype(np.float32)
            rows.append(block.reshape(n // f, f, w // f, f).mean(axis=(1, 3)))
        thumb = np.concatenate(rows) if rows else np.zeros((0, w // f), np.float32)
        return thumb, f

    def close(self) -> None:
        """Release the file handles."""
        close = getattr(self._reader, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> Panorama:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_panorama(path: str | os.PathLike, *, pixel_size_um: float | None = None) -> Panorama:
    """Open a gray image for windowed reading.

    Parameters
    ----------
    path
        TIFF (any size, strips or tiles, any compression tifffile decodes), PNG, JPEG or
        ``.npy`` (memory-mapped).
    pixel_size_um
        Overrides the pixel size recorded in the file, in µm.

    Raises
    ------
    DataFileError
        Missing, empty, corrupt or unsupported file (named), or a multi-channel image that is
        not RGB.
    """
    p = Path(path)
    if not p.is_file():
        raise DataFileError(f"image not found: {p}")
    if p.stat().st_size == 0:
        raise DataFileError(f"{p} is empty (0 bytes)")
    if pixel_size_um is not None and not pixel_size_um > 0:
        raise InvalidParameterError(f"pixel_size_um must be > 0 µm, got {pixel_size_um!r}")
    suffix = p.suffix.lower()
    if suffix in (".tif", ".tiff"):
        reader = _TiffReader(p)
        size = pixel_size_um or reader.pixel_size_um
    elif suffix == ".npy":
        try:
            arr = np.load(p, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DataFileError(f"could not read {p} ({exc})") from exc
        reader, size = _ArrayReader(_gray(arr, p)), pixel_size_um
    else:
        from microdl.io.images import read_gray_image

        reader, size = _ArrayReader(_gray(read_gray_image(p), p)), pixel_size_um
    return Panorama(p, reader.shape, reader.dtype, size, [], reader)


def open_mosaic(layout_csv: str | os.PathLike, *, pixel_size_um: float | None = None) -> Panorama:
    """Open a panorama stitched from tiles listed in a CSV with columns ``file, x, y``.

    ``x`` and ``y`` are the tile's top-left corner in panorama pixels (integers); files are
    relative to the CSV's folder. The pixel size is the tiles' common one unless given.
    """
    p = Path(layout_csv)
    if not p.is_file():
        raise DataFileError(f"layout file not found: {p}")
    try:
        with p.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataFileError(f"could not read layout {p} ({exc})") from exc
    if not rows or not {"file", "x", "y"} <= set(rows[0]):
        raise DataFileError(f"layout {p} needs a header with columns file, x, y and at least one row")
    tiles, layout = [], []
    for i, row in enumerate(rows, start=2):
        try:
            x, y = int(row["x"]), int(row["y"])
        except (TypeError, ValueError):
            raise DataFileError(
                f"layout {p}, line {i}: x and y must be integers, got {row['x']!r}, {row['y']!r}") from None
        if x < 0 or y < 0:
            raise DataFileError(f"layout {p}, line {i}: x and y must be >= 0, got {x}, {y}")
        tile = open_panorama(p.parent / row["file"])
        tiles.append((y, x, tile))
        layout.append({"file": row["file"], "x": x, "y": y, "height": tile.shape[0], "width": tile.shape[1]})
    dtypes = {t.dtype for _, _, t in tiles}
    if len(dtypes) > 1:
        raise DataFileError(f"layout {p}: tiles have different pixel types {sorted(map(str, dtypes))}")
    sizes = {round(t.pixel_size_um, 6) for _, _, t in tiles if t.pixel_size_um}
    if pixel_size_um is None and len(sizes) > 1:
        raise DataFileError(f"layout {p}: tiles record different pixel sizes {sorted(sizes)} µm; "
                            "pass pixel_size_um")
    size = pixel_size_um or (sizes.pop() if sizes else None)
    reader = _MosaicReader(tiles)
    return Panorama(p, reader.shape, reader.dtype, size, layout, reader)


def open_image(path: str | os.PathLike, *, pixel_size_um: float | None = None) -> Panorama:
    """:func:`open_mosaic` for a layout CSV (``.csv``), :func:`open_panorama` for anything else."""
    opener = open_mosaic if Path(path).suffix.lower() == ".csv" else open_panorama
    return opener(path, pixel_size_um=pixel_size_um)


def pixel_size_from_tiff(tif) -> float | None:
    """The pixel size (µm) a :class:`tifffile.TiffFile` records, or ``None``.

    Tried in order: Zeiss ``CZ_SEM`` ``ap_image_pixel_size``, FEI/Thermo ``Scan.PixelWidth``
    (metres), ImageJ ``unit`` with the X resolution, TIFF resolution in centimetres or inches
    (an inch resolution below 1000 dpi is taken as a screen/print setting and ignored).
    """
    sem = getattr(tif, "sem_metadata", None) or {}
    for key in ("ap_image_pixel_size", "ap_pixel_size"):
        item = sem.get(key)
        if isinstance(item, tuple) and len(item) >= 3 and isinstance(item[1], (int, float)) and item[1] > 0:
            unit = str(item[2]).replace("\u00b5", "u").replace("μ", "u")
            if unit in _UNIT_UM:
                return float(item[1]) * _UNIT_UM[unit]
    fei = getattr(tif, "fei_metadata", None) or {}
    width = (fei.get("Scan") or {}).get("PixelWidth")
    if isinstance(width, (int, float)) and width > 0:
        return float(width) * 1e6
    page = tif.pages[0]
    ij = getattr(tif, "imagej_metadata", None) or {}
    x_res = page.tags.get("XResolution")
    per_unit = x_res.value[0] / x_res.value[1] if x_res and x_res.value[1] else 0.0
    unit = str(ij.get("unit", "")).replace("\\u00B5", "u").replace("\u00b5", "u").replace("μ", "u")
    if per_unit > 0 and unit in _UNIT_UM:
        return _UNIT_UM[unit] / per_unit
    res_unit = int(page.tags["ResolutionUnit"].value) if "ResolutionUnit" in page.tags else 2
    if per_unit > 0 and res_unit == 3:  # centimetre
        return 1e4 / per_unit
    if per_unit >= 1000 and res_unit == 2:  # inch, only when it cannot be a print setting
        return 25400.0 / per_unit
    return None


def _gray(arr: np.ndarray, p: Path) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        lum = arr[..., 0] * 0.299 + arr[..., 1] * 0.587 + arr[..., 2] * 0.114
        return np.round(lum).astype(arr.dtype)
    if arr.ndim != 2:
        raise DataFileError(f"{p} holds an array of shape {arr.shape}; expected a 2D gray or RGB image")
    return arr


class _ArrayReader:
    def __init__(self, arr: np.ndarray) -> None:
        self.arr, self.shape, self.dtype = arr, tuple(arr.shape), arr.dtype

    def read(self, y0: int, x0: int, h: int, w: int) -> np.ndarray:
        return np.array(self.arr[y0:y0 + h, x0:x0 + w])


class _MosaicReader:
    def __init__(self, tiles: list[tuple[int, int, Panorama]]) -> None:
        self.tiles = tiles
        self.shape = (max(y + t.shape[0] for y, _, t in tiles), max(x + t.shape[1] for _, x, t in tiles))
        self.dtype = tiles[0][2].dtype

    def read(self, y0: int, x0: int, h: int, w: int) -> np.ndarray:
        out = np.zeros((h, w), dtype=self.dtype)
        for ty, tx, tile in self.tiles:
            ya, yb = max(y0, ty), min(y0 + h, ty + tile.shape[0])
            xa, xb = max(x0, tx), min(x0 + w, tx + tile.shape[1])
            if ya < yb and xa < xb:
                out[ya - y0:yb - y0, xa - x0:xb - x0] = tile.read(ya - ty, xa - tx, yb - ya, xb - xa)
        return out

    def close(self) -> None:
        for _, _, tile in self.tiles:
            tile.close()


class _TiffReader:
    """Decode only the strips/tiles a window touches (an LRU cache of decoded segments)."""

    def __init__(self, p: Path) -> None:
        import tifffile

        self.p = p
        try:
            self.tif = tifffile.TiffFile(p)
            page = self.tif.pages.first
            self.pixel_size_um = pixel_size_from_tiff(self.tif)
        except (OSError, ValueError, IndexError, KeyError, tifffile.TiffFileError) as exc:
            raise DataFileError(f"could not read TIFF {p} ({type(exc).__name__}: {exc})") from exc
        self.page = page
        samples = page.samplesperpixel
        if page.imagedepth != 1 or (samples not in (1, 3, 4)) or (samples > 1 and page.planarconfig != 1):
            self.close()
            raise DataFileError(f"{p}: unsupported TIFF layout (depth {page.imagedepth}, {samples} samples, "
                                f"planar config {page.planarconfig}); expected a 2D gray or RGB image")
        self.shape = (page.imagelength, page.imagewidth)
        self.samples = samples
        self.lut = None
        if page.photometric == 3 and page.colormap is not None:  # palette: map indices through it
            cmap = np.asarray(page.colormap, dtype=np.float64) / 257.0
            lum = cmap[0] * 0.299 + cmap[1] * 0.587 + cmap[2] * 0.114
            self.lut = np.round(lum).clip(0, 255).astype(np.uint8)
        self.dtype = np.dtype(np.uint8) if self.lut is not None else page.dtype
        self.cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self.cached_bytes = 0
        self.memmap = None
        self.whole = None
        if page.is_memmappable and samples == 1 and self.lut is None:
            self.memmap = self._guard(lambda: tifffile.memmap(p, page=0, mode="r"))
        elif page.is_tiled:
            self.seg_h, self.seg_w = page.tilelength, page.tilewidth
        elif page.rowsperstrip and len(page.dataoffsets) > 1:
            self.seg_h, self.seg_w = min(page.rowsperstrip, self.shape[0]), self.shape[1]
        elif self.shape[0] * self.shape[1] <= _WHOLE_LIMIT:
            self.whole = self._finish(self._guard(page.asarray))
        else:
            self.close()
            raise DataFileError(f"{p}: a {self.shape[0]} x {self.shape[1]} image stored as one compressed "
                                "strip cannot be read in parts; save it tiled (e.g. tifffile tile=(1024, 1024))")

    def _guard(self, fn, *args):
        import tifffile

        try:
            return fn(*args)
        except (OSError, ValueError, KeyError, IndexError, tifffile.TiffFileError) as exc:
            raise DataFileError(f"could not decode TIFF {self.p} ({type(exc).__name__}: {exc})") from exc

    def _finish(self, arr: np.ndarray) -> np.ndarray:
        arr = np.asarray(arr)
        if self.lut is not None:
            arr = self.lut[arr]
        return _gray(arr, self.p) if arr.ndim == 3 else arr

    def _segment(self, index: int) -> np.ndarray:
        seg = self.cache.get(index)
        if seg is not None:
            self.cache.move_to_end(index)
            return seg
        page, fh = self.page, self.tif.filehandle
        offset, count = page.dataoffsets[index], page.databytecounts[index]

        def decode() -> np.ndarray:
            if count == 0:
                return np.zeros((self.seg_h, self.seg_w), dtype=self.dtype)
            fh.seek(offset)
            data = fh.read(count)
            if len(data) != count:
                raise OSError(f"segment {index} is truncated ({len(data)} of {count} bytes)")
            out, _, shape = page.decode(data, index, jpegtables=page.jpegtables)
            out = out.reshape(shape[1], shape[2], shape[3])
            return out[..., 0] if shape[3] == 1 else out

        seg = self._finish(self._guard(decode))
        self.cache[index] = seg
        self.cached_bytes += seg.nbytes
        while self.cached_bytes > _CACHE_BYTES and len(self.cache) > 1:
            _, old = self.cache.popitem(last=False)
            self.cached_bytes -= old.nbytes
        return seg

    def read(self, y0: int, x0: int, h: int, w: int) -> np.ndarray:
        if self.memmap is not None:
            return np.array(self.memmap[y0:y0 + h, x0:x0 + w])
        if self.whole is not None:
            return np.array(self.whole[y0:y0 + h, x0:x0 + w])
        out = np.empty((h, w), dtype=self.dtype)
        per_row = -(-self.shape[1] // self.seg_w)
        for sy in range(y0 // self.seg_h, (y0 + h - 1) // self.seg_h + 1):
            for sx in range(x0 // self.seg_w, (x0 + w - 1) // self.seg_w + 1):
                seg = self._segment(sy * per_row + sx)
                top, left = sy * self.seg_h, sx * self.seg_w
                ya, yb = max(y0, top), min(y0 + h, top + seg.shape[0])
                xa, xb = max(x0, left), min(x0 + w, left + seg.shape[1])
                out[ya - y0:yb - y0, xa - x0:xb - x0] = seg[ya - top:yb - top, xa - left:xb - left]
        return out

    def close(self) -> None:
        self.memmap = None
        self.cache.clear()
        self.tif.close()
