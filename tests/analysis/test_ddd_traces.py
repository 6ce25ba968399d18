"""Slip-trace counter: synthetic images with known traces."""

import math

import numpy as np
import pytest

from microdl.analysis.ddd_traces import count_traces
from microdl.exceptions import InvalidParameterError


def _draw(img, c0, r0, angle_deg, length, gray):
    """Anti-aliased-free line of ``length`` px from (col c0, row r0) at ``angle_deg`` to the columns."""
    a = math.radians(angle_deg)
    for t in np.arange(0, length, 0.25):
        c, r = int(round(c0 + t * math.cos(a))), int(round(r0 + t * math.sin(a)))
        if 0 <= r < img.shape[0] and 0 <= c < img.shape[1]:
            img[r, c] = gray


def test_counts_full_and_interior_traces_of_both_systems():
    img = np.zeros((62, 250))
    for c0 in (10, 60, 110):  # three full traces at +30 deg
        _draw(img, c0, 0, 30.0, 124, 200)
    _draw(img, 240, 0, 150.0, 124, 40)  # one full trace at -30 deg (direction 150 deg = -30 mirrored)
    _draw(img, 200, 20, 30.0, 30, 10)  # one short interior trace (30 px), faint, on its own plane
    res = count_traces(img)
    assert res.per_direction == (4, 1)
    assert res.n_traces == 5
    assert res.n_full == 4 and res.n_interior == 1


def test_adjacent_planes_are_distinct_but_one_blurred_trace_is_one():
    img = np.zeros((62, 250))
    _draw(img, 20, 0, 30.0, 124, 100)
    _draw(img, 20 + 12.5 / math.sin(math.radians(30)), 0, 30.0, 124, 100)  # next plane, 12.5 px away
    assert count_traces(img).n_traces == 2
    blurred = np.zeros((62, 250))
    for dc in (0, 1, 2):  # a 3-px-wide trace
        _draw(blurred, 20 + dc, 0, 30.0, 124, 100)
    assert count_traces(blurred).n_traces == 1


def test_smooth_background_and_specks_are_not_traces():
    rows, cols = np.mgrid[0:62, 0:250]
    img = 80.0 * np.exp(-cols / 20.0) + 30.0 * np.exp(-(249 - cols) / 20.0)  # elastic end fields
    rng = np.random.default_rng(0)
    img[rng.integers(0, 62, 40), rng.integers(0, 250, 40)] += 50  # isolated specks
    assert count_traces(img).n_traces == 0
    assert count_traces(np.zeros((10, 40))).n_traces == 0


def test_rejects_bad_input():
    with pytest.raises(InvalidParameterError):
        count_traces(np.zeros(5))
    with pytest.raises(InvalidParameterError):
        count_traces(np.full((4, 4), np.nan))
    with pytest.raises(InvalidParameterError):
        count_traces(np.zeros((4, 4)), angles_deg=(0.0,))
