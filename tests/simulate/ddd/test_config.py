"""PillarConfig refuses widths, aspects and pixel sizes outside the physical and memory limits."""

from __future__ import annotations

import pytest

from microdl.exceptions import InvalidParameterError
from microdl.simulate.ddd.config import ASPECT_RANGE, MAX_PROFILE_PIXELS, WIDTH_RANGE_UM, PillarConfig


@pytest.mark.parametrize("kwargs, words", [
    ({"width_um": 1e6}, ["width_um", "[0.01, 20] um", "1000000.0"]),
    ({"width_um": 0.001}, ["width_um", "0.001"]),
    ({"width_um": float("inf")}, ["width_um", "inf"]),
    ({"aspect": 100.0}, ["aspect", "[0.5, 10]", "100.0"]),
    ({"aspect": 0.1}, ["aspect", "0.1"]),
    ({"pixel_size_nm": 1e-6}, ["pixel_size_nm", str(MAX_PROFILE_PIXELS), "1e-06", "125000000 x 500000000"]),
    ({"width_um": 20.0}, ["pixel_size_nm", "10000 x 40000", "use >= "]),  # widest pillar needs coarser pixels
])
def test_limits_are_one_line_errors_naming_parameter_limit_and_value(kwargs, words):
    with pytest.raises(InvalidParameterError) as err:
        PillarConfig(**kwargs)
    msg = str(err.value)
    assert "\n" not in msg and all(w in msg for w in words), msg


def test_limits_admit_the_published_grid_and_the_edges():
    for w in (0.0625, 0.125, 0.25, 0.5, 1.0, 2.0):  # Yang et al. (2020), 2 nm pixels
        PillarConfig(width_um=w)
    PillarConfig(width_um=WIDTH_RANGE_UM[0], aspect=ASPECT_RANGE[0])
    PillarConfig(width_um=WIDTH_RANGE_UM[1], aspect=ASPECT_RANGE[1], pixel_size_nm=40.0)  # 500 x 5000 pixels
    # the suggested pixel size is enough
    msg = ""
    try:
        PillarConfig(width_um=20.0)
    except InvalidParameterError as exc:
        msg = str(exc)
    need = float(msg.rsplit(">= ", 1)[1].split()[0])
    PillarConfig(width_um=20.0, pixel_size_nm=need * 1.001)
