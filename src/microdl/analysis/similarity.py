"""Exact nearest-neighbour search over micrograph embeddings, retrieval precision and a figure.

:class:`SimilarityIndex` holds ``n`` embeddings of dimension ``d`` (float32), one name per item
(the micrograph's file path) and optional labels, and answers "which stored micrographs are
closest to these vectors" exactly, by brute force:

* ``metric="cosine"``: distance ``1 - cos(q, x)`` in ``[0, 2]`` (scikit-learn's ``"cosine"``);
* ``metric="euclidean"``: distance ``|q - x|`` in the units of the embeddings.

Search in two stages. A float32 matrix product of the queries against the stored vectors
(unit vectors for cosine; ``|x|^2 - 2 q.x`` for euclidean), in blocks of at most
``2^24`` scores (64 MB), keeps the ``k + 16`` best candidates per query (exactly, with a
grouped :func:`numpy.argpartition`, see :func:`_smallest`); the candidates are then re-ranked
with distances recomputed in float64 from the stored vectors (``|q - x|``, or
``|q/|q| - x/|x||^2 / 2`` for cosine), ties
broken by the lower index. The result equals a float64 brute-force search unless the float32
scores misorder a true neighbour behind 16 others (a relative gap below ~1e-5 between the
``k``-th and the ``(k + 16)``-th distance); an item queried with its own vector is at distance
exactly 0. ``benchmarks/micrograph/index_speed.py`` compares this with scikit-learn's
``NearestNeighbors`` (brute force and trees) at ``n = 100,000``.

:meth:`SimilarityIndex.save` writes a folder: ``embeddings.npz`` (uncompressed: random-looking
float32 does not compress) and ``index.json`` (metric, shape, names relative to a root, labels,
format version), both atomically through :mod:`microdl.io._atomic`, the JSON last.

:func:`precision_at_k` is the leave-one-out retrieval precision of a set of embeddings: for
each item, the fraction of its ``k`` nearest other items that share its label, averaged.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from microdl import __version__
from microdl.analysis.plots import figure
from microdl.data._validation import as_array
from microdl.exceptions import DataFileError, InvalidParameterError, ShapeError
from microdl.io._atomic import check_output_folder, read_json, save_npz, write_json

__all__ = ["METRICS", "SimilarityIndex", "precision_at_k", "neighbours_figure"]

METRICS = ("cosine", "euclidean")
FORMAT = "microdl-similarity-index"
FORMAT_VERSION = 1
_BLOCK = 1 << 24
"""Scores per block of the matrix product (float32: 64 MB; one block for 160 queries of 100,000 items)."""
_EXTRA = 16
"""Candidates kept beyond ``k`` per query for the float64 re-ranking."""
_GROUP = 32
"""Columns per group in :func:`_smallest`."""


def _check_metric(metric: Any) -> str:
    if metric not in METRICS:
        raise InvalidParameterError(f"metric must be one of {METRICS}, got {metric!r}")
    return str(metric)


def _check_k(k: Any, n: int, *, what: str = "stored items") -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise InvalidParameterError(f"k must be an integer >= 1, got {k!r}")
    if k > n:
        raise InvalidParameterError(f"k must be <= {n} (the number of {what}), got {k}")
    return int(k)


def _as_vectors(x: Any, name: str, d: int | None = None) -> np.ndarray:
    arr = as_array(x, name)
    if arr.dtype.kind not in "biuf":
        raise InvalidParameterError(f"{name} must be real numbers, got dtype {arr.dtype}")
    if d is not None and arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        want = f"(m, {d}) or ({d},)" if d is not None else "(n, d)"
        raise ShapeError(f"{name} must have shape {want}, got {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ShapeError(f"{name} must be non-empty, got shape {arr.shape}")
    if d is not None and arr.shape[1] != d:
        raise ShapeError(f"{name} must have d = {d} columns like the index's embeddings, "
                         f"got shape {arr.shape}")
    out = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.isfinite(out).all():
        raise InvalidParameterError(f"{name} must fit in float32, got values beyond +-3.4e38")
    return out


def _unit(x: np.ndarray, name: str, dtype: Any = np.float32) -> np.ndarray:
    norm = np.linalg.norm(x.astype(dtype, copy=False), axis=-1, keepdims=True)
    if (norm == 0).any():
        rows = np.flatnonzero(norm.reshape(-1) == 0)
        more = " ..." if rows.size > 5 else ""
        raise InvalidParameterError(f"{name} must have no zero vectors for the cosine metric, "
                                    f"got {rows.size} (rows {rows[:5].tolist()}{more})")
    return (x / norm).astype(dtype, copy=False)


def _smallest(scores: np.ndarray, keep: int) -> np.ndarray:
    """Columns of the ``keep`` smallest scores of each row (unordered; ties arbitrary), ``(m, keep)``.

    ``argpartition`` over 100,000 columns is the slow step of a search (about 3x the matrix product),
    so the columns are first split into strided groups of ``_GROUP`` (column ``j`` in group
    ``j mod G``): the ``keep`` smallest scores lie in the ``keep`` groups with the smallest minima
    (any other group's minimum is >= ``keep`` scores from distinct chosen groups), and an elementwise
    minimum over ``_GROUP`` contiguous slices plus two small partitions replaces the large one.
    """
    m, n = scores.shape
    if keep >= n:
        return np.broadcast_to(np.arange(n), (m, n))
    groups = n // _GROUP
    if groups <= 4 * keep:
        return np.argpartition(scores, keep - 1, axis=1)[:, :keep]
    full = groups * _GROUP
    minima = scores[:, :full].reshape(m, _GROUP, groups).min(axis=1)
    best = np.argpartition(minima, keep - 1, axis=1)[:, :keep]
    cols = (best[:, None, :] + groups * np.arange(_GROUP)[None, :, None]).reshape(m, -1)
    if full < n:  # the last n - full columns are in no group: always candidates
        cols = np.concatenate([cols, np.broadcast_to(np.arange(full, n), (m, n - full))], axis=1)
    sel = np.argpartition(np.take_along_axis(scores, cols, 1), keep - 1, axis=1)[:, :keep]
    return np.take_along_axis(cols, sel, 1)


class _Search:
    """Exact k-nearest-neighbour search over fixed float32 vectors (see the module notes)."""

    def __init__(self, vectors: np.ndarray, metric: str) -> None:
        self.vectors, self.metric = vectors, metric
        # scores are one matrix product, smaller = nearer: q.(-x/|x|) for cosine; for euclidean
        # [-2 q, 1].[x, |x|^2] = |x|^2 - 2 q.x (|q - x|^2 less the constant |q|^2)
        if metric == "cosine":
            self.prepared = np.negative(_unit(vectors, "embeddings"))
        else:
            self.prepared = np.empty((len(vectors), vectors.shape[1] + 1), np.float32)
            self.prepared[:, :-1] = vectors
            self.prepared[:, -1] = np.einsum("ij,ij->i", vectors, vectors)

    def _queries(self, queries: np.ndarray) -> np.ndarray:
        if self.metric == "cosine":
            return _unit(queries, "vectors")
        return np.concatenate([-2.0 * queries, np.ones((len(queries), 1), np.float32)], axis=1)

    def search(self, queries: np.ndarray, k: int,
               exclude: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(distances float64 (m, k), indices int64 (m, k))``; never ``exclude[i]`` for row ``i``."""
        n = len(self.vectors)
        q = self._queries(queries)
        keep = min(n, k + _EXTRA + (exclude is not None))
        chunk = min(n, _BLOCK)
        rows = max(1, _BLOCK // chunk)
        dist = np.empty((len(q), k))
        idx = np.empty((len(q), k), dtype=np.int64)
        for r0 in range(0, len(q), rows):
            qb = q[r0:r0 + rows]
            cands = [_smallest(qb @ self.prepared[c0:c0 + chunk].T, keep) + c0 for c0 in range(0, n, chunk)]
            cand = np.concatenate(cands, axis=1) if len(cands) > 1 else cands[0]
            d = self._exact(queries[r0:r0 + rows], cand)
            if exclude is not None:
                d[cand == exclude[r0:r0 + rows, None]] = np.inf
            order = np.lexsort((cand, d), axis=-1)[:, :k]
            dist[r0:r0 + rows] = np.take_along_axis(d, order, 1)
            idx[r0:r0 + rows] = np.take_along_axis(cand, order, 1)
        return dist, idx

    def _exact(self, queries: np.ndarray, cand: np.ndarray) -> np.ndarray:
        """float64 distances of each query to its candidates ``(m, c)``."""
        x = self.vectors[cand].astype(np.float64)  # (m, c, d)
        q = queries.astype(np.float64)[:, None, :]
        if self.metric == "cosine":
            x /= np.linalg.norm(x, axis=-1, keepdims=True)
            q = q / np.linalg.norm(q, axis=-1, keepdims=True)
            diff = x - q
            return 0.5 * np.einsum("mcd,mcd->mc", diff, diff)
        diff = x - q
        return np.sqrt(np.einsum("mcd,mcd->mc", diff, diff))


class SimilarityIndex:
    """Named embeddings with exact nearest-neighbour search; saved to and loaded from a folder.

    Make one with :meth:`build` or :meth:`load`.

    Attributes
    ----------
    embeddings
        ``(n, d)`` float32, as given.
    names
        ``n`` strings (file paths of the micrographs).
    labels
        ``(n,)`` array (class numbers or names) or ``None``.
    metric
        ``"cosine"`` or ``"euclidean"``.

    Examples
    --------
    >>> import numpy as np
    >>> emb = np.random.default_rng(0).normal(size=(100, 8))
    >>> index = SimilarityIndex.build(emb, [f"im{i}.png" for i in range(100)])
    >>> dist, idx = index.query(emb[:2], k=3)
    >>> idx[:, 0].tolist(), dist[:, 0].tolist()
    ([0, 1], [0.0, 0.0])
    """

    def __init__(self, embeddings: Any, names: Sequence[str | os.PathLike], labels: Any = None,
                 metric: str = "cosine") -> None:
        self.metric = _check_metric(metric)
        self.embeddings = _as_vectors(embeddings, "embeddings")
        n = len(self.embeddings)
        if isinstance(names, str | bytes) or not isinstance(names, Sequence | np.ndarray):
            raise InvalidParameterError(f"names must be a sequence of {n} file names, "
                                        f"got {type(names).__name__}")
        if len(names) != n:
            raise ShapeError(f"names must have one entry per embedding ({n}), got {len(names)}")
        self.names = [os.fspath(s) if isinstance(s, os.PathLike) else str(s) for s in names]
        if labels is not None:
            labels = np.asarray(labels)
            if labels.shape != (n,):
                raise ShapeError(f"labels must have shape ({n},) like the embeddings, got {labels.shape}")
        self.labels = labels
        self._search = _Search(self.embeddings, self.metric)

    @classmethod
    def build(cls, embeddings: Any, names: Sequence[str | os.PathLike], labels: Any = None,
              metric: str = "cosine") -> SimilarityIndex:
        """Index ``embeddings`` ``(n, d)`` (converted to float32) named by ``names``.

        Parameters
        ----------
        embeddings
            ``(n, d)`` finite real vectors; no zero vector for ``metric="cosine"``.
        names
            One name (file path) per row.
        labels
            Optional ``(n,)`` labels (integers or strings), kept and saved with the index.
        metric
            ``"cosine"`` (``1 - cos``) or ``"euclidean"``.
        """
        return cls(embeddings, names, labels, metric)

    @property
    def dim(self) -> int:
        """Dimension ``d`` of the embeddings."""
        return int(self.embeddings.shape[1])

    def __len__(self) -> int:
        return len(self.embeddings)

    def __repr__(self) -> str:
        return f"SimilarityIndex(n={len(self)}, d={self.dim}, metric={self.metric!r})"

    def query(self, vectors: Any, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` stored items nearest to each query vector, nearest first.

        Parameters
        ----------
        vectors
            ``(m, d)`` query embeddings, or one ``(d,)`` vector (treated as ``m = 1``).
        k
            Neighbours per query, ``1 <= k <= n``.

        Returns
        -------
        distances
            ``(m, k)`` float64 (``1 - cos``, or euclidean in embedding units).
        indices
            ``(m, k)`` int64 rows of :attr:`embeddings` / :attr:`names`; ties go to the lower index.
        """
        k = _check_k(k, len(self))
        q = _as_vectors(vectors, "vectors", self.dim)
        return self._search.search(q, k)

    def neighbours(self, items: Any, k: int = 5) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` nearest *other* stored items of the stored items ``items`` (row numbers).

        As :meth:`query` with ``self.embeddings[items]``, the item itself left out (``k <= n - 1``).
        """
        rows = np.atleast_1d(np.asarray(items))
        if rows.dtype.kind not in "iu" or rows.ndim != 1 or rows.size == 0 \
                or rows.min() < 0 or rows.max() >= len(self):
            raise InvalidParameterError(f"items must be row numbers in 0..{len(self) - 1}, got {items!r}")
        k = _check_k(k, len(self) - 1, what="other stored items")
        return self._search.search(self.embeddings[rows], k, exclude=rows.astype(np.int64))

    # -- files ------------------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike, *, root: str | os.PathLike | None = None) -> Path:
        """Write the index to ``folder`` (created): ``embeddings.npz`` and ``index.json``.

        Parameters
        ----------
        folder
            Output folder; existing index files in it are replaced atomically.
        root
            Names are stored relative to this folder (each must lie under it), so the index stays
            valid when the data moves; pass the same (or the new) root to :meth:`load`. Without a
            root, names are stored as given and must be relative paths.

        Returns
        -------
        The folder.
        """
        folder = check_output_folder(folder, option="folder")
        stored = []
        for i, name in enumerate(self.names):
            if root is not None:
                base, path = os.path.abspath(root), os.path.abspath(name)
                if os.path.commonpath([base, path]) != base:
                    raise InvalidParameterError(f"names[{i}] {name!r} is not under root {os.fspath(root)!r}")
                stored.append(Path(os.path.relpath(path, base)).as_posix())
            elif os.path.isabs(name):
                raise InvalidParameterError(f"names[{i}] {name!r} is an absolute path; pass "
                                            "root=<data folder> so that the saved index holds portable "
                                            "relative names")
            else:
                stored.append(Path(name).as_posix())
        save_npz(folder / "embeddings.npz", {"embeddings": self.embeddings}, compressed=False)
        write_json(folder / "index.json", {
            "format": FORMAT, "version": FORMAT_VERSION, "microdl_version": __version__,
            "metric": self.metric, "n": len(self), "d": self.dim, "embeddings_file": "embeddings.npz",
            "names": stored, "labels": None if self.labels is None else self.labels.tolist(),
        })
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike, *, root: str | os.PathLike | None = None) -> SimilarityIndex:
        """Read an index written by :meth:`save`; with ``root``, names become ``root / name``.

        Raises
        ------
        DataFileError
            If the folder or a file is missing, unreadable, of another format, or inconsistent.
        """
        folder = Path(folder)
        if not folder.is_dir():
            raise DataFileError(f"similarity index folder {os.fspath(folder)!r} does not exist")
        meta = read_json(folder / "index.json", what="similarity index metadata")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise DataFileError(f"{os.fspath(folder / 'index.json')!r} is not a {FORMAT} file "
                                f"(format {meta.get('format') if isinstance(meta, dict) else None!r})")
        if meta.get("version") != FORMAT_VERSION:
            raise DataFileError(f"{os.fspath(folder / 'index.json')!r} has format version "
                                f"{meta.get('version')!r}; this microdl reads version {FORMAT_VERSION}")
        missing = [key for key in ("metric", "n", "d", "names", "labels") if key not in meta]
        if missing:
            raise DataFileError(f"{os.fspath(folder / 'index.json')!r} is missing the keys {missing}")
        if not isinstance(meta["names"], list) or not isinstance(meta["labels"], list | None):
            raise DataFileError(f"{os.fspath(folder / 'index.json')!r} must hold names and labels as "
                                f"lists, got {type(meta['names']).__name__} and "
                                f"{type(meta['labels']).__name__}")
        path = folder / "embeddings.npz"
        try:
            with np.load(path, allow_pickle=False) as npz:
                emb = npz["embeddings"]
        except FileNotFoundError as exc:
            raise DataFileError(f"similarity index file {os.fspath(path)!r} does not exist") from exc
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise DataFileError(f"similarity index file {os.fspath(path)!r} is unreadable or corrupt "
                                f"({type(exc).__name__}: {exc})") from exc
        n, d = meta["n"], meta["d"]
        n_labels = None if meta["labels"] is None else len(meta["labels"])
        if emb.shape != (n, d) or len(meta["names"]) != n or n_labels not in (None, n):
            raise DataFileError(f"similarity index in {os.fspath(folder)!r} is inconsistent: index.json says "
                                f"n={n}, d={d}, got embeddings {emb.shape}, {len(meta['names'])} names, "
                                f"{n_labels} labels")
        names = meta["names"] if root is None else [os.path.join(os.fspath(root), s) for s in meta["names"]]
        try:
            return cls(emb, names, meta["labels"], meta["metric"])
        except InvalidParameterError as exc:
            raise DataFileError(f"similarity index in {os.fspath(folder)!r} holds invalid data: "
                                f"{exc}") from exc


def precision_at_k(embeddings: Any, labels: Any, k: int = 5, metric: str = "cosine") -> float:
    """Leave-one-out retrieval precision: mean fraction of each item's ``k`` nearest others sharing its label.

    Parameters
    ----------
    embeddings
        ``(n, d)`` vectors.
    labels
        ``(n,)`` labels (integers or strings).
    k
        Neighbours per item, ``1 <= k <= n - 1``.
    metric
        ``"cosine"`` or ``"euclidean"``.

    Returns
    -------
    Precision in ``[0, 1]``: 1 for perfectly separated classes; about the class frequency
    (``1 / n_classes`` for balanced classes) for embeddings unrelated to the labels.

    Examples
    --------
    >>> import numpy as np
    >>> emb = np.array([[0.0, 1], [0, 1.1], [1, 0], [1.1, 0]])
    >>> precision_at_k(emb, [0, 0, 1, 1], k=1)
    1.0
    """
    metric = _check_metric(metric)
    x = _as_vectors(embeddings, "embeddings")
    y = np.asarray(labels)
    if y.shape != (len(x),):
        raise ShapeError(f"labels must have shape ({len(x)},) like the embeddings, got {y.shape}")
    k = _check_k(k, len(x) - 1, what="other items (n - 1)")
    rows = np.arange(len(x))
    _, idx = _Search(x, metric).search(x, k, exclude=rows)
    return float((y[idx] == y[:, None]).mean())


def neighbours_figure(query_image: np.ndarray, neighbour_images: Sequence[np.ndarray],
                      distances: Sequence[float], names: Sequence[str | os.PathLike], *,
                      query_name: str | None = None,
                      metric: str = "distance", panel_size: float = 2.2) -> Any:
    """A row of panels: the query micrograph, then its neighbours with their names and distances.

    Parameters
    ----------
    query_image
        2-D gray (or ``(h, w, 3)`` RGB) image of the query.
    neighbour_images
        The neighbours' images, nearest first.
    distances
        Their distances to the query (as returned by :meth:`SimilarityIndex.query`).
    names
        Their names (file paths; the panels show the file name only).
    query_name
        Title of the query panel (default ``"query"``).
    metric
        Word used before each distance in the titles (e.g. ``"cosine distance"``).
    panel_size
        Width of one panel, inches.

    Returns
    -------
    A :class:`matplotlib.figure.Figure` (save it with :func:`microdl.analysis.plots.save`).
    """
    k = len(neighbour_images)
    if k == 0:
        raise ShapeError("neighbour_images must hold at least one image, got 0")
    if len(distances) != k or len(names) != k:
        raise ShapeError(f"neighbour_images, distances and names must have the same length, "
                         f"got {k}, {len(distances)} and {len(names)}")
    images = [np.asarray(query_image), *(np.asarray(im) for im in neighbour_images)]
    for i, im in enumerate(images):
        if not (im.ndim == 2 or (im.ndim == 3 and im.shape[-1] in (3, 4))):
            what = "query_image" if i == 0 else f"neighbour_images[{i - 1}]"
            raise ShapeError(f"{what} must be a 2-D gray or (h, w, 3) RGB image, got shape {im.shape}")
    fig, axes = figure(1, k + 1, size=(panel_size * (k + 1), panel_size * 1.15), squeeze=False)
    titles = [query_name or "query"] + [f"{Path(os.fspath(n)).name}\n{metric} {float(d):.3g}"
                                        for n, d in zip(names, distances, strict=True)]
    for ax, im, title in zip(axes[0], images, titles, strict=True):
        ax.imshow(im, cmap="gray" if im.ndim == 2 else None, interpolation="nearest")
        ax.set_title(title, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    for side in ("top", "bottom", "left", "right"):
        axes[0, 0].spines[side].set_color("tab:red")
        axes[0, 0].spines[side].set_linewidth(2)
    fig.tight_layout()
    return fig
