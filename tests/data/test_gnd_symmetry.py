"""The 16 window symmetries: labels invariant, channels transform with the grid, group laws."""

import numpy as np
import pytest
import torch

from microdl.data.gnd_symmetry import (N_SYMMETRIES, apply_symmetry, random_symmetry, sign_canonical,
                                       symmetry_bits, undo_spatial)
from microdl.exceptions import InvalidParameterError, ShapeError
from microdl.simulate.gnd_lines import pixel_densities


def _map(lines, g=9):
    gxy, rho, n = pixel_densities(lines, g, 3 / 7, 3e-10)
    stack = np.concatenate([gxy, np.hypot(gxy[..., :1], gxy[..., 1:])], -1)
    return stack[None].astype(np.float64), rho[None], n[None]


LINES = [np.array([[0.2, 0.3], [3.1, 4.7], [8.9, 6.2]]), np.array([[9.0, 1.5], [4.4, 2.2], [0.0, 8.1]])]


def _transform_lines(k, g=9):
    """The same group element applied to the geometry: new lines, then densities from scratch."""
    rev, fx, fy, tr = symmetry_bits(k)
    out = []
    for line in LINES:
        p = line.copy()
        if rev:
            p = p[::-1]
        if fx:
            p[:, 0] = g - p[:, 0]
        if fy:
            p[:, 1] = g - p[:, 1]
        if tr:
            p = p[:, ::-1]
        out.append(np.ascontiguousarray(p))
    return out


@pytest.mark.parametrize("k", range(N_SYMMETRIES))
def test_symmetry_matches_transformed_geometry(k):
    """Transforming the densities equals computing them for transformed lines; rho_t and N move, unchanged."""
    gnd, rho, n = _map(LINES)
    gnd_k, rho_k, n_k = _map(_transform_lines(k))
    np.testing.assert_allclose(apply_symmetry(gnd, k), gnd_k, atol=1e-3 * gnd[..., 2].max())
    t = torch.from_numpy(np.ascontiguousarray(gnd.transpose(0, 3, 1, 2)))
    np.testing.assert_allclose(apply_symmetry(t, k).numpy().transpose(0, 2, 3, 1), gnd_k,
                               atol=1e-3 * gnd[..., 2].max())
    # scalar label maps are carried along: undo_spatial brings them back
    back = undo_spatial(torch.from_numpy(rho_k[:, None]), k)[:, 0].numpy()
    np.testing.assert_allclose(back, rho, rtol=1e-9)
    assert sorted(n_k.ravel().tolist()) == sorted(n.ravel().tolist())


def test_group_closure_and_inverse():
    x = np.random.default_rng(0).normal(size=(3, 7, 7, 3))
    seen = {apply_symmetry(x, k).tobytes() for k in range(N_SYMMETRIES)}
    assert len(seen) == N_SYMMETRIES  # 16 distinct images of a generic window
    for k in range(N_SYMMETRIES):  # every element has an inverse within the group
        y = apply_symmetry(x, k)
        assert any(np.allclose(apply_symmetry(y, j), x) for j in range(N_SYMMETRIES))


def test_sign_canonical_and_random():
    x = np.random.default_rng(1).normal(size=(50, 7, 7, 3))
    c = sign_canonical(x)
    assert (c[:, 3, 3, 1] >= 0).all()
    np.testing.assert_array_equal(np.abs(c), np.abs(x))
    np.testing.assert_allclose(sign_canonical(apply_symmetry(x, 1)), c)  # reversal removed
    t = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))).float()
    r = random_symmetry(t, torch.Generator().manual_seed(0))
    assert r.shape == t.shape and not torch.equal(r, t)
    torch.testing.assert_close(r[:, 2].flatten(1).sort(1).values, t[:, 2].flatten(1).sort(1).values)


def test_errors():
    with pytest.raises(InvalidParameterError):
        symmetry_bits(16)
    with pytest.raises(ShapeError):
        apply_symmetry(np.zeros((2, 7, 7, 2)), 1)
    with pytest.raises(ShapeError):
        random_symmetry(torch.zeros(2, 3, 7, 8))
    with pytest.raises(ShapeError):
        sign_canonical(np.zeros((2, 6, 6, 3)))
