"""Slip traces in a strain-profile image: how many, how long, how bright.

A slip trace is the line along which a slip plane meets the observed face: in a strain
profile (loading axis horizontal, rows across the width) the traces of a system at
``slip_angle_deg`` to the loading axis are straight lines at that angle to the rows. They
are counted the same way in published images and in ours, so the two can be compared
(issue 9: the 10 published 125 nm profiles of Yang et al. 2020 show 1--18 traces).

Method (:func:`count_traces`)
    1. Remove the smooth (elastic) background with a white top-hat of ``background_px``
       (a trace is 1--3 px wide; the elastic field of the clamped ends varies over tens of
       pixels).
    2. Keep pixels at or above ``threshold`` gray levels.
    3. For each trace direction, project the kept pixels on the line normal in 1 px bins:
       the pixels of one digitised trace fall in two neighbouring bins.
    4. A trace is a run of neighbouring bin pairs whose kept pixels form a chain along the line
       (gaps of at most ``gap_px``) at least ``min_length_px`` long, by default a fifth of a
       trace crossing the whole width (``rows / sin(angle)``): short interior traces that end at
       a pinned dislocation count; specks, the few pixels where a trace of the other system
       crosses the line and the compact elastic features at the clamped corners do not.
    Parallel traces closer than ``merge_px`` (default 2 px) are one trace: planes of one
    system lie 25 nm = 12.5 px apart at 2 nm pixels, so distinct planes stay distinct.

Units: pixels and 8-bit gray levels; angles in degrees from the loading (horizontal) axis.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from microdl.exceptions import InvalidParameterError

__all__ = ["TraceCount", "count_traces"]


@dataclass(frozen=True)
class TraceCount:
    """Traces found in one image.

    Attributes
    ----------
    n_traces
        Total number of traces over all directions.
    per_direction
        Number of traces per direction, in the order of ``angles_deg``.
    n_full
        Traces at least ``full_fraction`` of the longest possible trace long (across the
        whole width); the others are interior (partial) traces.
    lengths_px
        Length of every trace (px): extent of its kept pixels along the trace direction.
    """

    n_traces: int
    per_direction: tuple[int, ...]
    n_full: int
    lengths_px: tuple[int, ...]

    @property
    def n_interior(self) -> int:
        return self.n_traces - self.n_full


def _runs(mask: np.ndarray, merge: int) -> list[tuple[int, int]]:
    """(start, stop) of runs of True, joining runs separated by fewer than ``merge`` False bins."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return []
    runs, start, prev = [], int(idx[0]), int(idx[0])
    for i in idx[1:]:
        if i - prev > merge:
            runs.append((start, prev + 1))
            start = int(i)
        prev = int(i)
    runs.append((start, prev + 1))
    return runs


def _longest_chain(along: np.ndarray, gap: float) -> float:
    """Length (px) of the longest chain of positions whose neighbours are at most ``gap`` apart."""
    if along.size == 0:
        return 0.0
    a = np.sort(along)
    breaks = np.flatnonzero(np.diff(a) > gap)
    starts = np.concatenate([[0], breaks + 1])
    stops = np.concatenate([breaks, [a.size - 1]])
    return float(np.max(a[stops] - a[starts])) + 1.0


def count_traces(image: np.ndarray, angles_deg: Sequence[float] = (30.0, -30.0), *, threshold: float = 3.0,
                 min_length_px: float | None = None, background_px: int = 7, merge_px: int = 2,
                 gap_px: float = 3.0, min_pixels: int = 3, full_fraction: float = 0.8) -> TraceCount:
    """Count the slip traces of an 8-bit strain profile (see the module notes).

    Parameters
    ----------
    image
        2D array, gray levels (uint8 or float on the 0--255 scale), loading axis along the columns.
    angles_deg
        Trace directions, degrees from the loading (column) axis; positive angles go down the
        rows as the columns increase. Yang et al.: +-30 (two slip), +30 (one slip).
    threshold
        Gray levels above the local background that make a pixel part of a trace.
    min_length_px
        Length a trace needs (px); default a fifth of ``rows / sin(angle)``.
    background_px
        Size of the top-hat that removes the smooth background (0 keeps it).
    merge_px
        Bins closer than this belong to one trace.
    gap_px
        Largest gap (px) inside a trace: its length is that of the longest chain of kept pixels
        along the line whose neighbours are at most this far apart.
    min_pixels
        Kept pixels a bin pair needs to be looked at.
    full_fraction
        Fraction of ``rows / sin(angle)`` above which a trace counts as crossing the width.

    Returns
    -------
    TraceCount
    """
    img = np.asarray(image, dtype=float)
    if img.ndim != 2 or min(img.shape) < 2:
        raise InvalidParameterError(f"image must be a 2D array of at least 2 x 2 pixels, got shape {img.shape}")
    if not np.all(np.isfinite(img)):
        raise InvalidParameterError("image holds NaN or infinite values")
    if threshold <= 0:
        raise InvalidParameterError(f"threshold must be > 0 gray levels, got {threshold!r}")
    if background_px > 0:
        img = ndimage.white_tophat(img, size=(background_px, background_px))
    rows, cols = np.nonzero(img >= threshold)
    per, lengths, n_full = [], [], 0
    for angle in angles_deg:
        a = math.radians(float(angle))
        if abs(math.sin(a)) < 1e-6:
            raise InvalidParameterError(f"angles_deg must not be parallel to the loading axis, got {angle!r}")
        full = img.shape[0] / abs(math.sin(a))
        need = 0.2 * full if min_length_px is None else float(min_length_px)
        # normal coordinate: constant along a line of direction (cos a, sin a) in (col, row)
        p = rows * math.cos(a) - cols * math.sin(a)
        if p.size == 0:
            per.append(0)
            continue
        bins = np.floor(p - p.min()).astype(np.int64)
        along = cols * math.cos(a) + rows * math.sin(a)
        order = np.argsort(bins, kind="stable")
        edges = np.searchsorted(bins[order], np.arange(bins.max() + 3))
        # a digitised line straddles two neighbouring bins: judge each bin with its right neighbour
        chain = np.zeros(bins.max() + 1)
        for k in range(chain.size):
            members = order[edges[k]:edges[k + 2]]
            if members.size >= min_pixels:
                chain[k] = _longest_chain(along[members], gap_px)
        found = 0
        for start, stop in _runs(chain >= need, merge_px):
            extent = float(chain[start:stop].max())
            lengths.append(round(extent))
            n_full += int(extent >= full_fraction * full)
            found += 1
        per.append(found)
    return TraceCount(n_traces=int(sum(per)), per_direction=tuple(per), n_full=n_full, lengths_px=tuple(lengths))
