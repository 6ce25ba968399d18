"""Symmetries of GND windows: line reversal and the eight symmetries of the square pixel grid.

Reversing the sense of every line (``rho_GND -> -rho_GND``) and mapping the pixel grid onto
itself by one of the eight rotations and reflections of the square change neither the line
lengths in a pixel nor the number of lines crossing it, so the labels ``rho_t`` and ``N`` of
a window are invariant under these 16 operations. The vector channels transform with the
grid: with channels ``[screw, edge, |rho_GND|]`` = ``[x, y, magnitude]`` components of
``rho_GND`` (Burgers vector along ``x``), rows along ``y`` and columns along ``x``,

* reversal negates ``screw`` and ``edge``;
* the reflection ``x -> -x`` (columns reversed) negates ``screw``;
* the reflection ``y -> -y`` (rows reversed) negates ``edge``;
* the transposition ``x <-> y`` swaps ``screw`` and ``edge``;
* ``|rho_GND|`` never changes.

The random line generator (:mod:`microdl.simulate.gnd_lines`) draws lines with no preferred
direction or sense, so a window and its 15 images are equally likely: the symmetries are
free data augmentation, and averaging a model over them makes it exactly invariant. The
element ``k`` (0..15) is the composition ``transpose^t . flip_y^fy . flip_x^fx . reverse^r``
with ``(r, fx, fy, t)`` the bits of ``k``; ``k = 0`` is the identity.

* :func:`apply_symmetry` - one element on windows or maps, NumPy ``(n, h, w, 3)`` or torch
  ``(n, 3, h, w)``;
* :func:`undo_spatial` - the inverse grid operation on per-pixel outputs ``(n, c, h, w)``;
* :func:`random_symmetry` - an independent random element per window (training augmentation);
* :func:`sign_canonical` - the representative with a non-negative centre ``edge`` (then
  ``screw``), for models that should not spend capacity on the reversal.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from microdl.exceptions import InvalidParameterError, ShapeError

__all__ = ["N_SYMMETRIES", "apply_symmetry", "random_symmetry", "sign_canonical", "symmetry_bits", "undo_spatial"]

N_SYMMETRIES = 16
"""Order of the group: 2 senses x 8 symmetries of the square."""

if TYPE_CHECKING:  # pragma: no cover
    import torch

_T = Any  # a NumPy array (n, h, w, 3) or a torch tensor (n, 3, h, w); torch is imported only for tensors


def _is_tensor(x: object) -> bool:
    return not isinstance(x, np.ndarray) and type(x).__module__.startswith("torch")


def symmetry_bits(k: int) -> tuple[bool, bool, bool, bool]:
    """``(reverse, flip_x, flip_y, transpose)`` of element ``k`` in 0..15."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 0 <= k < N_SYMMETRIES:
        raise InvalidParameterError(f"symmetry index must be an integer in 0..{N_SYMMETRIES - 1}, got {k!r}")
    return bool(k & 1), bool(k & 2), bool(k & 4), bool(k & 8)


def _axes(x: _T) -> tuple[int, int, int]:
    """(channel, row, column) axes: NumPy arrays are channels-last, tensors channels-first."""
    if x.ndim != 4:
        raise ShapeError(f"expected a 4-d batch of windows or maps, got shape {tuple(x.shape)}")
    if _is_tensor(x):
        if x.shape[1] != 3:
            raise ShapeError(f"tensors must be (n, 3, h, w), got {tuple(x.shape)}")
        return 1, 2, 3
    if x.shape[3] != 3:
        raise ShapeError(f"arrays must be (n, h, w, 3), got {x.shape}")
    return 3, 1, 2


def _flip(x: _T, axis: int) -> _T:
    return x.flip((axis,)) if _is_tensor(x) else np.flip(x, axis)


def _swap(x: _T, a: int, b: int) -> _T:
    return x.transpose(a, b) if _is_tensor(x) else np.swapaxes(x, a, b)


def _channels(x: _T, axis: int, sx: float, sy: float, swap: bool) -> _T:
    """Multiply the screw and edge channels by ``sx``, ``sy`` and optionally swap them."""
    order = [1, 0, 2] if swap else [0, 1, 2]
    scale = [sx, sy, 1.0]
    shape = [1, 1, 1, 1]
    shape[axis] = 3
    if _is_tensor(x):
        import torch

        idx = torch.tensor(order, device=x.device)
        s = torch.tensor([scale[i] for i in order], dtype=x.dtype, device=x.device).reshape(shape)
        return torch.index_select(x, axis, idx) * s
    s = np.asarray([scale[i] for i in order], dtype=x.dtype).reshape(shape)
    return np.take(x, order, axis=axis) * s


def apply_symmetry(x: _T, k: int) -> _T:
    """Apply group element ``k`` (0..15) to windows or maps.

    Parameters
    ----------
    x
        NumPy ``(n, h, w, 3)`` (channels last, as :class:`~microdl.data.gnd.GNDWindows`) or
        torch ``(n, 3, h, w)`` (channels first, model input), channels
        ``[screw, edge, |rho_GND|]`` in any density unit.
    k
        Element index; see the module notes.

    Returns
    -------
    Same type and layout; for ``transpose`` the two spatial sizes are swapped.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros((1, 7, 7, 3), np.float32); x[0, 3, 4] = [1.0, 2.0, 5 ** 0.5]
    >>> y = apply_symmetry(x, 2)  # x -> -x: the pixel right of the centre moves left, screw flips
    >>> y[0, 3, 2].tolist()
    [-1.0, 2.0, 2.2360680103302]
    """
    reverse, flip_x, flip_y, transpose = symmetry_bits(k)
    c, row, col = _axes(x)
    sx = (-1.0 if reverse else 1.0) * (-1.0 if flip_x else 1.0)
    sy = (-1.0 if reverse else 1.0) * (-1.0 if flip_y else 1.0)
    if flip_x:
        x = _flip(x, col)
    if flip_y:
        x = _flip(x, row)
    if transpose:
        x = _swap(x, row, col)
    if k == 0:
        return x
    return _channels(x, c, sx, sy, transpose)


def undo_spatial(y: torch.Tensor, k: int) -> torch.Tensor:
    """Map per-pixel outputs ``(n, c, h, w)`` of a transformed map back to the original grid.

    Scalar outputs (logits, densities) do not change under the group, only their
    positions do: this undoes the transposition, then the flips, of element ``k``.
    """
    _, flip_x, flip_y, transpose = symmetry_bits(k)
    if y.ndim != 4:
        raise ShapeError(f"expected (n, c, h, w) outputs, got {tuple(y.shape)}")
    if transpose:
        y = y.transpose(2, 3)
    if flip_y:
        y = y.flip((2,))
    if flip_x:
        y = y.flip((3,))
    return y


def random_symmetry(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """An independent, uniformly drawn group element applied to each window of ``(n, 3, s, s)``.

    Square windows only (a transposition must keep the shape). Used as training
    augmentation; ``generator`` makes the draw reproducible.
    """
    import torch

    if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] != x.shape[3]:
        raise ShapeError(f"x must be square windows (n, 3, s, s), got {tuple(x.shape)}")
    ks = torch.randint(0, N_SYMMETRIES, (x.shape[0],), generator=generator)
    out = torch.empty_like(x)
    for k in torch.unique(ks).tolist():
        sel = (ks == k).nonzero(as_tuple=True)[0].to(x.device)
        out[sel] = apply_symmetry(x[sel], int(k))
    return out


def sign_canonical(gnd: np.ndarray) -> np.ndarray:
    """Reverse the windows whose first non-zero vector value is negative.

    The order of inspection is the centre ``edge``, the centre ``screw``, then every pixel's
    ``edge`` and ``screw`` in row-major order (lines of opposite sense can cancel the centre
    exactly). ``(n, h, w, 3)`` channels-last in, float64 copy out; the labels are unchanged
    (module notes), and a window and its reversal give the same result.
    """
    g = np.array(gnd, dtype=np.float64, copy=True)
    if g.ndim != 4 or g.shape[3] != 3 or g.shape[1] % 2 != 1 or g.shape[2] % 2 != 1:
        raise ShapeError(f"gnd must be (n, h, w, 3) with odd h and w, got {g.shape}")
    n = len(g)
    centre = g[:, g.shape[1] // 2, g.shape[2] // 2, :]
    order = np.concatenate([centre[:, 1:2], centre[:, 0:1], g[..., 1].reshape(n, -1), g[..., 0].reshape(n, -1)], 1)
    nonzero = order != 0
    first = order[np.arange(n), np.argmax(nonzero, axis=1)]
    sign = np.where(nonzero.any(axis=1), np.sign(first), 1.0)
    g[..., :2] *= sign[:, None, None, None]
    return g
