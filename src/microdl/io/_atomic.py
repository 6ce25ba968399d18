"""The one way microdl writes files: atomically, under a unique temporary name.

Every writer in the package goes through :func:`atomic_path`: the content is
written to ``<name>.tmp-<pid>-<random><suffix>`` in the destination folder,
flushed to disk, then renamed over the final name. A crash (even ``kill -9``)
leaves either the old file or the new one, never half a file; two writers never
share a temporary name; and a failed write removes its temporary file.
:func:`clean_temporaries` removes the leftovers of killed writers.

:func:`exclusive_lock` gives one process at a time a folder or an output file
(``flock`` on a lock file, released by the kernel when the process dies), so a
second writer gets a clear error instead of silently overwriting the first.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from microdl.exceptions import DataFileError, InvalidParameterError
from microdl.provenance import to_jsonable

__all__ = [
    "TMP_MARK",
    "atomic_path",
    "atomic_write",
    "write_bytes",
    "write_text",
    "write_json",
    "read_json",
    "save_npz",
    "save_npy",
    "save_png",
    "save_figure",
    "clean_temporaries",
    "remove_path",
    "exclusive_lock",
    "check_output_file",
]

TMP_MARK = ".tmp-"
"""Marker in the names of temporary files (``<name>.tmp-<pid>-<hex><suffix>``)."""


def _suffix_of(path: Path) -> str:
    # keep the full extension (".tar.gz", ".npz") so writers that append or check one behave
    return "".join(path.suffixes) if path.suffixes else ""


def temporary_name(path: str | os.PathLike) -> Path:
    """A unique temporary path beside ``path`` that ends in the same extension."""
    path = Path(path)
    suffix = _suffix_of(path)
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    return path.with_name(f"{stem}{TMP_MARK}{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}")


def _fsync_file(path: Path) -> None:
    if path.is_file():
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())


def remove_path(path: str | os.PathLike) -> None:
    """Delete a file or a folder tree; a missing one is fine."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _mkdir(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:
        raise DataFileError(f"cannot write into {os.fspath(folder)!r}: it is a file, not a folder") from exc
    except OSError as exc:
        raise DataFileError(f"cannot create folder {os.fspath(folder)!r}: {exc.strerror or exc}") from exc


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, fsync: bool = True) -> Iterator[Path]:
    """Yield a unique temporary path; on success rename it over ``path``.

    Parameters
    ----------
    path
        Final file (or folder) name. Its parent folder is created.
    fsync
        Flush the file to disk before the rename.

    Raises
    ------
    DataFileError
        If ``path`` is an existing folder, or the folder cannot be created or
        written.

    Examples
    --------
    >>> with atomic_path("out/table.csv") as tmp:  # doctest: +SKIP
    ...     tmp.write_text("a,b\\n1,2\\n")
    """
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        raise DataFileError(f"cannot write file {os.fspath(path)!r}: a folder of that name exists")
    _mkdir(path.parent)
    tmp = temporary_name(path)
    try:
        yield tmp
        if not tmp.exists():
            raise DataFileError(f"nothing was written to {os.fspath(path)!r}")
        if fsync:
            _fsync_file(tmp)
        os.replace(tmp, path)
    except PermissionError as exc:
        raise DataFileError(f"cannot write {os.fspath(path)!r}: permission denied") from exc
    finally:
        remove_path(tmp)


def atomic_write(path: str | os.PathLike, writer: Callable[[Path], Any]) -> Path:
    """Call ``writer(tmp_path)`` and rename the result over ``path``; return ``path``."""
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_bytes(data))


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (dataclasses, paths, NumPy values allowed)."""
    return write_text(path, json.dumps(to_jsonable(obj), indent=2) + "\n")


def read_json(path: str | os.PathLike, *, missing_ok: bool = False, what: str = "file") -> Any:
    """Read a JSON file.

    Parameters
    ----------
    path
        The file.
    missing_ok
        Return ``None`` for a missing file instead of raising.
    what
        Words naming the file in error messages (e.g. ``"run record"``).

    Raises
    ------
    DataFileError
        If the file is missing (unless ``missing_ok``), unreadable or not JSON.
    """
    path = Path(path)
    if not path.is_file():
        if missing_ok and not path.exists():
            return None
        raise DataFileError(f"{what} {os.fspath(path)!r} does not exist or is not a file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise DataFileError(f"{what} {os.fspath(path)!r} is not valid JSON: {exc}") from exc


def save_npz(path: str | os.PathLike, arrays: dict[str, Any], *, compressed: bool = True) -> Path:
    """Write NumPy arrays to an ``.npz`` file atomically."""
    import numpy as np

    save = np.savez_compressed if compressed else np.savez

    def _write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:  # a file object: NumPy must not append ".npz" to the name
            save(fh, **arrays)

    return atomic_write(path, _write)


def save_npy(path: str | os.PathLike, array: Any) -> Path:
    """Write one NumPy array to an ``.npy`` file atomically."""
    import numpy as np

    def _write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.save(fh, array)

    return atomic_write(path, _write)


def save_png(path: str | os.PathLike, image: Any) -> Path:
    """Write a 2D ``uint8`` (gray) or ``(H, W, 3|4)`` image as PNG atomically."""
    import numpy as np
    from PIL import Image

    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise InvalidParameterError(f"image must be uint8, got {arr.dtype}")
    return atomic_write(path, lambda tmp: Image.fromarray(arr).save(tmp, format="PNG"))


def save_figure(fig: Any, path: str | os.PathLike, *, dpi: int | None = None) -> Path:
    """Save a Matplotlib figure atomically (format from the extension) and release it."""
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi))
    finally:
        _close_figure(fig)


def _close_figure(fig: Any) -> None:
    import sys

    plt = sys.modules.get("matplotlib.pyplot")  # only figures made through pyplot need closing
    if plt is not None:
        plt.close(fig)


def clean_temporaries(folder: str | os.PathLike) -> int:
    """Remove temporary files left in ``folder`` by killed writers; return how many."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    n = 0
    for p in folder.iterdir():
        if TMP_MARK in p.name:
            remove_path(p)
            n += 1
    return n


def check_output_file(path: str | os.PathLike, *, option: str = "--out") -> Path:
    """Check that ``path`` can become a file: not a folder, parent creatable and writable.

    Raises
    ------
    DataFileError
        Naming ``option`` and the reason.
    """
    path = Path(path)
    if path.is_dir():
        raise DataFileError(f"{option} must name a file, got the folder {os.fspath(path)!r}")
    parent = path.parent
    probe = parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise DataFileError(f"{option} {os.fspath(path)!r} cannot be created: {os.fspath(probe)!r} is a file")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise DataFileError(f"{option} {os.fspath(path)!r} cannot be written: {os.fspath(probe)!r} is not writable")
    return path


def check_output_folder(path: str | os.PathLike, *, option: str = "--out", create: bool = True) -> Path:
    """Check that ``path`` is (or can become) a writable folder; create it unless ``create=False``.

    With ``create=False`` nothing is made: the check is that ``path`` is not a file and
    that its nearest existing ancestor is a writable folder (use it before long work
    whose inputs may still turn out to be wrong).

    Raises
    ------
    DataFileError
        If ``path`` is a file, or cannot be created or written.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DataFileError(f"{option} must name a folder, got the file {os.fspath(path)!r}")
    if not create:
        probe = path
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        if not probe.is_dir():
            raise DataFileError(f"{option} {os.fspath(path)!r} cannot be created: {os.fspath(probe)!r} is a file")
        if not os.access(probe, os.W_OK | os.X_OK):
            raise DataFileError(f"{option} {os.fspath(path)!r} cannot be written: {os.fspath(probe)!r} "
                                "is not writable")
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataFileError(f"{option} {os.fspath(path)!r} cannot be created: {exc.strerror or exc}") from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise DataFileError(f"{option} {os.fspath(path)!r} is not writable")
    return path


class _Lock:
    def __init__(self, fh: Any, path: Path) -> None:
        self.fh, self.path = fh, path

    def release(self) -> None:
        if self.fh is not None:
            self.fh.close()
            self.fh = None


def acquire_lock(target: str | os.PathLike, *, folder: bool, what: str | None = None) -> _Lock:
    """Take an exclusive, non-blocking lock on ``target`` (a folder or a file to be written).

    With ``folder=True`` the lock file is ``<folder>/.microdl.lock``; for a file it is
    ``<file>.lock`` beside it. The kernel releases it when the process dies, so a
    crashed holder never blocks a rerun. Release with ``.release()`` or use
    :func:`exclusive_lock`.

    Raises
    ------
    InvalidParameterError
        If another process holds the lock (the message names it and its pid).
    """
    target = Path(target)
    lock_path = target / ".microdl.lock" if folder else target.with_name(target.name + ".lock")
    _mkdir(lock_path.parent)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: no locking
        return _Lock(None, lock_path)
    try:
        fh = open(lock_path, "a+")
    except OSError as exc:
        raise DataFileError(f"cannot create lock file {os.fspath(lock_path)!r}: {exc.strerror or exc}") from exc
    try:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        fh.seek(0)
        holder = fh.read().strip()
        fh.close()
        name = what or os.fspath(target)
        raise InvalidParameterError(
            f"{name} is in use by another microdl process{f' (pid {holder})' if holder else ''}; "
            "wait for it to finish or choose another output"
        ) from exc
    except OSError:  # pragma: no cover - file system without locks
        return _Lock(fh, lock_path)
    fh.seek(0)
    fh.truncate()
    fh.write(str(os.getpid()))
    fh.flush()
    return _Lock(fh, lock_path)


@contextlib.contextmanager
def exclusive_lock(target: str | os.PathLike, *, folder: bool, what: str | None = None) -> Iterator[Path]:
    """Context manager around :func:`acquire_lock`; yields the lock file's path."""
    lock = acquire_lock(target, folder=folder, what=what)
    try:
        yield lock.path
    finally:
        lock.release()
