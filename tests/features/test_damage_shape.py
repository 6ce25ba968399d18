"""Shape features of damage crops against hand-made shapes."""

from __future__ import annotations

import numpy as np
import pytest

from microdl.features.damage_shape import FEATURE_NAMES, SiteShapeFeatures, shape_forest

F = {n: i for i, n in enumerate(FEATURE_NAMES)}


def _disc(r, particle=0, size=48, bright_ring=False):
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    crop = np.full((size, size), 110, np.uint8)
    if bright_ring:
        crop[(yy**2 + xx**2 <= (r + 9) ** 2)] = 170
    crop[yy**2 + xx**2 <= r * r] = 3
    if particle:
        crop[yy**2 + xx**2 <= particle**2] = 120
    return crop


def test_disc_with_particle_and_ring():
    f = SiteShapeFeatures().fit_transform(np.stack([_disc(8), _disc(8, particle=3), _disc(8, bright_ring=True)]))
    assert f[0, F["elongation"]] == pytest.approx(1.0, abs=0.05) and f[0, F["hole_fraction"]] == 0
    assert f[0, F["solidity"]] > 0.9
    assert f[1, F["hole_fraction"]] == pytest.approx(29 / 201, abs=0.02) and f[1, F["hole_mean"]] == 120
    assert f[1, F["filled_area"]] == f[0, F["area"]]
    assert f[2, F["ring_mean"]] == pytest.approx(170) and f[0, F["ring_mean"]] == pytest.approx(110)


def test_orientation_and_the_nearest_component():
    crop = np.full((40, 40), 120, np.uint8)
    crop[5:35, 19:21] = 0  # a vertical crack through the centre
    crop[0:3, 0:3] = 0  # a corner speck, not the site
    f = SiteShapeFeatures().fit_transform(crop[None])[0]
    assert f[F["area"]] == 60 and f[F["abs_sin_orientation"]] == pytest.approx(1.0, abs=1e-6)
    assert f[F["elongation"]] > 5 and f[F["n_components"]] == 2
    empty = SiteShapeFeatures().fit_transform(np.full((1, 20, 20), 100, np.uint8))
    assert empty[0, F["area"]] == 0 and empty[0, F["n_components"]] == 0


def test_forest_separates_inclusions_from_cracks():
    rng = np.random.default_rng(0)
    crops, y = [], []
    for i in range(40):
        if i % 2:
            crops.append(_disc(int(rng.integers(5, 10)), particle=2))
        else:
            c = np.full((48, 48), 140, np.uint8)
            c[int(rng.integers(8, 16)):int(rng.integers(30, 40)), 23:25] = 0
            crops.append(c)
        y.append(i % 2)
    clf = shape_forest(n_estimators=50).fit(np.stack(crops[:30]), y[:30])
    assert (clf.predict(np.stack(crops[30:])) == y[30:]).all()
