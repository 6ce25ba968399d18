"""Two-point statistics (auto- and cross-correlations) of n-phase microstructures in 2D and 3D.

Definition (PyMKS's ``two_point_stats``)
----------------------------------------
For two fields ``a``, ``b`` on the same grid of ``s_1 x ... x s_d`` voxels (``d`` = 2 or 3) and a
displacement ``r = (r_1, ..., r_d)`` in voxels,

    ``S_ab(r) = sum_x a(x) b(x + r) / norm(r)``

the *second* field is read at the displaced point (PyMKS: inverse FFT of ``conj(FFT(a)) FFT(b)``),
so ``S_ab(r) = S_ba(-r)``.

* periodic: ``x + r`` wraps around, ``norm(r) = s_1 ... s_d``;
* non-periodic: only pairs inside the grid (the fields are zero-padded), ``norm(r)`` = number of
  pairs ``prod_k (s_k - |r_k|)`` (PyMKS: the same correlation of the padded ones; here exact integers);
* ``mask`` ``m`` in ``[0, 1]`` (either case): ``a, b`` become ``m a, m b`` and ``norm(r) =
  sum_x m(x) m(x + r)``, the weighted number of pairs; ``NaN`` where no pair has weight.

For phase indicators ``S_ii(0)`` is the volume fraction of phase ``i``, ``S_ij(r)`` the probability
that ``x`` is in ``i`` and ``x + r`` in ``j``; periodic, ``sum_j S_ij(r)`` is the fraction of ``i``.
Values are in the units of ``a`` times ``b`` (dimensionless for indicators).

Window
------
``cutoff`` ``c`` keeps ``|r_k| <= c_k`` with ``r = 0`` at index ``c_k`` of each axis (the centre):
``out[..., c_1 + r_1, ..., c_d + r_d] = S(r)``, as PyMKS's ``center_slice``. ``cutoff=None`` is
PyMKS's default ``c_k = (min_k s_k - 1) // 2``. PyMKS silently clamps larger values to that;
here an int (every axis) or one int per axis is accepted up to ``(s_k - 1) // 2`` periodic (each
displacement once) and ``s_k - 1`` non-periodic (at least one pair), larger values raise.
``cutoff="full"``: every displacement, non-periodic ``-(s_k - 1) .. s_k - 1`` and periodic
``-(s_k // 2) .. s_k - s_k // 2 - 1`` (``r = 0`` at ``s_k // 2``, PyMKS's uncut periodic output,
the ``fftshift`` layout). 1D fields: pass ``(n, 1, L)`` with ``cutoff=(0, c)``.

Computation and accuracy
------------------------
Real FFTs in torch (float32 by default) on the input's device (CPU for NumPy input), batched and
chunked to about ``2^18`` padded voxels per FFT on the CPU (cache-sized), ``2^24`` elsewhere. The
FFT of each field (phase indicator) is computed once and shared by every pair that uses it; with
two phases one mean-centred FFT of phase 0 serves every pair (phase 1 = 1 - phase 0, exact identities).
Non-periodic grids are zero-padded to the next 2-3-5-smooth size ``>= s_k + c_k``, enough to
avoid wrap-around in the window. Float32 round-off of a displacement is of order
``1e-7 sum_x |a b| / norm(r)`` relative: within PyMKS's cutoff ``norm(r) >= s_1...s_d / 2^d``, so
< ~1e-6 for indicators. For non-periodic windows reaching beyond ``(s_k - 1) // 2`` (few pairs) and
no mask, the FFT sees each field minus its mean and the terms in the means are added from exact
float64 window sums, so the error scales with the fluctuations. With a mask and a large
window, use ``dtype=torch.float64``. Mask normalisations are computed in float64; a value below
``1e-10 sum m^2`` counts as no pair (``NaN``).

References
----------
PyMKS ``pymks/fmks/correlations.py`` (``two_point_stats``, ``correlations_multiple``), pymks 0.4.1,
https://pymks.org; Brough, D. B., Wheeler, D., Kalidindi, S. R. (2017), Integrating Materials and
Manufacturing Innovation 6, 36-53, doi:10.1007/s40192-017-0089-0.
Cecen, A., Fast, T., Kalidindi, S. R. (2016). Versatile algorithms for the computation of 2-point
spatial correlations in quantifying material structure. Integrating Materials and Manufacturing
Innovation 5, 1-15, doi:10.1186/s40192-015-0044-x.
"""

from __future__ import annotations

import itertools
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from microdl.data._validation import as_array
from microdl.exceptions import InvalidParameterError, NonFiniteError, ShapeError, check_int

__all__ = ["two_point_stats", "correlations", "correlation_pairs", "window_shape"]

_CHUNK_CPU = 1 << 18
"""Padded voxels per FFT batch on the CPU: 1 MB of float32 stays in cache (2-4x faster than one
batch of 1000 64 x 64 fields on this machine)."""
_CHUNK_GPU = 1 << 24
"""Padded voxels per FFT batch elsewhere (bounds memory: 64 MB float32 per field stack)."""
_MASK_ZERO = 1e-10
"""Mask normalisations below this fraction of ``sum m^2`` count as no pair (float64 FFT noise)."""

def _fast_len(n: int) -> int:
    """Smallest integer >= n whose prime factors are 2, 3 and 5 (fast for pocketfft / cuFFT)."""
    m = max(int(n), 1)
    while True:
        k = m
        for p in (2, 3, 5):
            while k % p == 0:
                k //= p
        if k == 1:
            return m
        m += 1


def _is_int(x: object) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool | np.bool_)


def _ranges(shape: Sequence[int], periodic: bool, cutoff: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Validated displacement range ``lo_k .. hi_k`` (voxels) on each axis for ``cutoff``."""
    shape = tuple(int(s) for s in shape)
    if isinstance(cutoff, str):
        if cutoff != "full":
            raise InvalidParameterError(
                f"cutoff must be None, 'full', an integer or one per axis, got {cutoff!r}")
        if periodic:
            return tuple(-(s // 2) for s in shape), tuple(s - s // 2 - 1 for s in shape)
        return tuple(1 - s for s in shape), tuple(s - 1 for s in shape)
    limits = [(s - 1) // 2 if periodic else s - 1 for s in shape]
    scalar = _is_int(cutoff) or cutoff is None
    cs = ((min(shape) - 1) // 2 if cutoff is None else cutoff,) * len(shape) if scalar else cutoff
    if not (isinstance(cs, Sequence) and len(cs) == len(shape) and all(_is_int(c) and c >= 0 for c in cs)):
        raise InvalidParameterError(
            f"cutoff must be None, 'full', an integer >= 0 or {len(shape)} integers >= 0 (one per axis), "
            f"got {cutoff!r}")
    for k, (c, lim) in enumerate(zip(cs, limits, strict=True)):
        if c > lim:
            where, lim = ("cutoff", min(limits)) if scalar else (f"cutoff[{k}]", lim)
            kind = "periodic" if periodic else "non-periodic"
            raise InvalidParameterError(
                f"{where} must be <= {lim} for {kind} fields of shape {shape}, got {c}")
    cs = tuple(int(c) for c in cs)
    return tuple(-c for c in cs), cs


def window_shape(shape: Sequence[int], periodic: bool = True, cutoff: Any = None) -> tuple[int, ...]:
    """Spatial shape of the output window for fields of spatial ``shape`` (see the module notes).

    Examples
    --------
    >>> window_shape((64, 64)), window_shape((10, 12), periodic=False, cutoff="full")
    ((63, 63), (19, 23))
    """
    lo, hi = _ranges(shape, bool(periodic), cutoff)
    return tuple(h - lo_ + 1 for lo_, h in zip(lo, hi, strict=True))


def _window(corr: Tensor, lo: Sequence[int], hi: Sequence[int], out: Tensor | None = None) -> Tensor:
    """Displacements ``lo_k .. hi_k`` (through 0) of circular correlations ``corr (..., *grid)``, ``r = 0``
    moved from index 0 to ``-lo_k``, into ``out``: ``2^d`` block copies (``index_select``, ``roll``:
    slower)."""
    d = len(lo)
    if out is None:
        out = corr.new_empty(corr.shape[:-d] + tuple(h - lo_ + 1 for lo_, h in zip(lo, hi, strict=True)))
    axes = []
    for g, lo_, h in zip(corr.shape[-d:], lo, hi, strict=True):
        neg = -lo_  # negative displacements sit at the end of the circular axis
        blocks = [(slice(g - neg, g), slice(0, neg))] if neg else []
        axes.append(blocks + [(slice(0, h + 1), slice(neg, neg + h + 1))])
    for combo in itertools.product(*axes):
        out[(..., *(b[1] for b in combo))] = corr[(..., *(b[0] for b in combo))]
    return out


def _pair_counts(shape: Sequence[int], lo: Sequence[int], hi: Sequence[int], device: torch.device) -> Tensor:
    """Exact number of pairs ``prod_k (s_k - |r_k|)`` over the window (float64, or float32 on MPS)."""
    wide = torch.float64 if device.type != "mps" else torch.float32
    out = torch.ones((), dtype=wide, device=device)
    for s, lo_, h in zip(shape, lo, hi, strict=True):
        out = out[..., None] * (s - torch.arange(lo_, h + 1, device=device).abs()).to(wide)
    return out


def _end_sums(g: Tensor, lo: Sequence[int], hi: Sequence[int], wide: torch.dtype) -> Tensor:
    """``sum g(x)`` over the first ends ``x`` of the pairs ``(x, x + r)`` inside the grid, for each ``r``
    of the window: box sums from cumulative sums along each spatial axis, in ``wide``."""
    d = len(lo)
    out = g.to(wide)
    for k in range(d):
        axis = g.ndim - d + k
        s = g.shape[axis]
        r = torch.arange(lo[k], hi[k] + 1, device=g.device)
        start, stop = (-r).clamp(min=0), s - r.clamp(min=0)
        c = out.cumsum(axis)
        c = torch.cat([torch.zeros_like(c.narrow(axis, 0, 1)), c], dim=axis)
        out = c.index_select(axis, stop).sub_(c.index_select(axis, start))
    return out


def _mask_norm(mask: Tensor, lo: Sequence[int], hi: Sequence[int], grid: Sequence[int]) -> Tensor:
    """``sum_x m(x) m(x + r)`` over the window (float64), ``NaN`` where no pair has weight."""
    wide = torch.float64 if mask.device.type != "mps" else torch.float32
    d = len(lo)
    m = mask.to(wide)
    dims = tuple(range(-d, 0))
    spec = torch.fft.rfftn(m, s=tuple(grid), dim=dims)
    norm = _window(torch.fft.irfftn(spec.real.square() + spec.imag.square(), s=tuple(grid), dim=dims), lo, hi)
    total = m.square().sum(dim=dims)
    tiny = (total * _MASK_ZERO).reshape(total.shape + (1,) * d)
    return norm.masked_fill_(norm <= tiny, float("nan"))


def _correlate(get_chunk: Callable[[int, int], Tensor], n: int, n_fields: int, shape: tuple[int, ...],
               pairs: Sequence[tuple[int, int]], periodic: bool, lo: Sequence[int], hi: Sequence[int],
               dtype: torch.dtype, device: torch.device, mask: Tensor | None = None,
               max_pixels: int | None = None, complement: bool = False) -> Tensor:
    """The engine: ``S_ij`` for each pair of fields, ``(n, len(pairs), *window)`` of ``dtype`` on ``device``.

    ``get_chunk(i, j)`` returns the fields of samples ``i:j``, ``(j - i, n_fields, *shape)`` of ``dtype``
    on ``device``; ``mask`` is ``None`` or ``(1 or n, *shape)`` in ``[0, 1]``. ``complement``: one field,
    the indicator of phase 0, and phase 1 is its complement (two-phase microstructures).
    """
    d = len(shape)
    dims = tuple(range(-d, 0))
    spans = list(zip(shape, lo, hi, strict=True))
    grid = shape if periodic else tuple(_fast_len(s + max(-lo_, h)) for s, lo_, h in spans)
    # f = m + g with m the mean of f: the FFT sees g (round-off scales with the fluctuations, not the mean);
    # needed where few pairs average (non-periodic windows beyond PyMKS's cutoff) and for complements
    centre = mask is None and (complement or (not periodic and any(
        h > (s - 1) // 2 for s, h in zip(shape, hi, strict=True))))
    wide = torch.float64 if device.type != "mps" else dtype
    q = len(pairs)
    if mask is None:
        count = (_pair_counts(shape, lo, hi, device) if not periodic
                 else torch.full((), float(np.prod(shape)), dtype=wide, device=device))
        norm = count.to(dtype)
    elif mask.shape[0] == 1:
        norm = _mask_norm(mask, lo, hi, grid).to(dtype)[:, None]
    idx_i = torch.tensor([p[0] for p in pairs], device=device)
    idx_j = torch.tensor([p[1] for p in pairs], device=device)
    # phase 1 = 1 - phase 0 = (1 - m) - g: signs of g in each pair
    sign = torch.tensor([1.0 if (i == 0) == (j == 0) else -1.0 for i, j in pairs], dtype=dtype, device=device)
    sign = sign.reshape((1, q) + (1,) * d)
    if max_pixels is None:
        max_pixels = _CHUNK_CPU if device.type == "cpu" else _CHUNK_GPU
    step = max(1, int(max_pixels) // (int(np.prod(grid)) * max(n_fields, 1 if complement else q)))
    out = torch.empty((n, q) + tuple(h - lo_ + 1 for _, lo_, h in spans), dtype=dtype, device=device)
    for i0 in range(0, n, step):
        i1 = min(n, i0 + step)
        x, dst = get_chunk(i0, i1), out[i0:i1]
        if mask is not None:
            m = mask if mask.shape[0] == 1 else mask[i0:i1]
            x = x * m[:, None]
            if mask.shape[0] != 1:
                norm = _mask_norm(m, lo, hi, grid).to(dtype)[:, None]
        if centre:
            mean = x.mean(dim=dims, keepdim=True, dtype=wide)   # (b, p, 1, ..., 1)
            x = x - mean.to(dtype)
            # sums of g over the first ends of the pairs at r (periodic: every voxel; ~0)
            ends = _end_sums(x, lo, hi, wide) if not periodic else x.sum(dim=dims, keepdim=True, dtype=wide)
            if complement:
                mean, ends = torch.cat([mean, 1 - mean], 1), torch.cat([ends, -ends], 1)
        spec = torch.fft.rfftn(x, s=grid, dim=dims)
        if complement or all(i == j for i, j in pairs):
            a = spec if complement else spec.index_select(1, idx_i)
            prod = a.real.square() + a.imag.square()
        else:
            prod = spec.index_select(1, idx_i).conj() * spec.index_select(1, idx_j)
        corr = torch.fft.irfftn(prod, s=grid, dim=dims)
        if complement:
            torch.mul(_window(corr, lo, hi), sign, out=dst)
        else:
            _window(corr, lo, hi, out=dst)
        if centre:
            # sum f_i(x) f_j(x+r) = sum g_i g_j' + m_j E_i(r) + m_i E_j(-r) + m_i m_j N(r)
            mi, mj = mean.index_select(1, idx_i), mean.index_select(1, idx_j)
            ei, ej = ends.index_select(1, idx_i), ends.index_select(1, idx_j)
            dst.add_((mj * ei + mi * ej.flip(dims) + mi * mj * count).to(dtype))
        dst.div_(norm)
    return out


def _as_real(x: Any, name: str, dtype: torch.dtype, ndims: Sequence[int] = (3, 4),
             layout: str = "(n, h, w) or (n, d, h, w)") -> Tensor:
    """Validate real finite fields with ``ndim`` in ``ndims`` and return them as a ``dtype`` tensor
    (on the input's device; CPU for NumPy)."""
    want = " or ".join(str(k) for k in ndims)
    if isinstance(x, Tensor):
        if x.ndim not in ndims:
            raise ShapeError(f"{name} must have {want} dimensions {layout}, got shape {tuple(x.shape)}")
        if x.is_complex():
            raise InvalidParameterError(f"{name} must be real, got dtype {x.dtype}")
        t = x.detach().to(dtype)
        if t.numel() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise NonFiniteError(f"{name} must be finite, got {bad} NaN or infinite values")
    else:
        arr = as_array(x, name)
        if arr.ndim not in ndims:
            raise ShapeError(f"{name} must have {want} dimensions {layout}, got shape {arr.shape}")
        if arr.dtype.kind not in "biuf":
            raise InvalidParameterError(f"{name} must be a real numeric array, got dtype {arr.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(arr)).to(dtype)
        if arr.dtype.itemsize > 4 and arr.dtype.kind == "f" and dtype == torch.float32 and arr.size \
                and not bool(torch.isfinite(t).all()):
            raise NonFiniteError(f"{name} must fit in float32, got values beyond +-3.4e38")
    if min(t.shape) == 0:
        raise ShapeError(f"{name} must be non-empty {layout}, got shape {tuple(t.shape)}")
    return t


def _check_dtype(dtype: Any) -> None:
    if dtype not in (torch.float32, torch.float64):
        raise InvalidParameterError(f"dtype must be torch.float32 or torch.float64, got {dtype!r}")


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool | np.bool_):
        raise InvalidParameterError(f"{name} must be True or False, got {value!r}")


@torch.no_grad()
def two_point_stats(a: np.ndarray | Tensor, b: np.ndarray | Tensor | None = None, *, periodic: bool = True,
                    cutoff: int | Sequence[int] | str | None = None, mask: np.ndarray | Tensor | None = None,
                    dtype: torch.dtype = torch.float32) -> np.ndarray | Tensor:
    """Two-point cross-correlation ``S_ab(r) = sum_x a(x) b(x + r) / norm(r)`` of each sample (PyMKS's).

    Parameters
    ----------
    a, b
        ``(n, h, w)`` or ``(n, d, h, w)`` real finite fields of the same shape; ``b=None``: ``b = a``
        (autocorrelation, one FFT). Tensors are processed on ``a``'s device, NumPy on the CPU.
    periodic
        Wrap-around displacements (``True``, PyMKS's default) or pairs inside the grid only.
    cutoff
        ``None`` (PyMKS's ``(min(shape) - 1) // 2``), an int, one int per axis, or ``"full"``; see
        the module notes. Voxels.
    mask
        ``None``, or weights in ``[0, 1]`` of shape ``(n, *spatial)`` or ``spatial`` (shared):
        ``S = sum m a(x) m b(x + r) / sum m(x) m(x + r)``; ``NaN`` where no pair has weight.
    dtype
        ``torch.float32`` (default, fast) or ``torch.float64``.

    Returns
    -------
    ``(n, *window)``: ``out[k, c_1 + r_1, ...] = S(r)`` for sample ``k``, units of ``a`` times ``b``;
    NumPy (``dtype``) for NumPy input, else a tensor on the input's device.

    Examples
    --------
    >>> import numpy as np
    >>> a = np.zeros((1, 5, 5)); a[0, 1, 1] = 1
    >>> b = np.zeros((1, 5, 5)); b[0, 1, 2] = 1
    >>> s = two_point_stats(a, b, cutoff=2)   # b is a shifted by r = (0, +1)
    >>> np.round(s[0], 3) + 0.0    # one pair in 25 voxels at r = (0, 1), index (2, 3)
    array([[0.  , 0.  , 0.  , 0.  , 0.  ],
           [0.  , 0.  , 0.  , 0.  , 0.  ],
           [0.  , 0.  , 0.  , 0.04, 0.  ],
           [0.  , 0.  , 0.  , 0.  , 0.  ],
           [0.  , 0.  , 0.  , 0.  , 0.  ]], dtype=float32)
    """
    _check_dtype(dtype)
    _check_bool("periodic", periodic)
    numpy_in = not isinstance(a, Tensor)
    x = _as_real(a, "a", dtype)
    fields = [x]
    if b is not None and b is not a:
        y = _as_real(b, "b", dtype).to(x.device)
        if y.shape != x.shape:
            raise ShapeError(f"b must have the shape of a {tuple(x.shape)}, got {tuple(y.shape)}")
        fields.append(y)
    shape = tuple(x.shape[1:])
    lo, hi = _ranges(shape, bool(periodic), cutoff)
    m = None
    if mask is not None:
        m = _as_real(mask, "mask", dtype, (x.ndim - 1, x.ndim), "(n, *spatial) or spatial").to(x.device)
        if m.ndim == x.ndim - 1:
            m = m[None]
        if tuple(m.shape[1:]) != shape or m.shape[0] not in (1, x.shape[0]):
            raise ShapeError(f"mask must have shape {tuple(x.shape)} or {shape}, got {tuple(m.shape)}")
        if bool((m < 0).any()) or bool((m > 1).any()):
            raise InvalidParameterError(
                f"mask must be in [0, 1], got values in [{float(m.min()):g}, {float(m.max()):g}]")
    res = _correlate(lambda i, j: torch.stack([f[i:j] for f in fields], dim=1), x.shape[0], len(fields),
                     shape, [(0, len(fields) - 1)], bool(periodic), lo, hi, dtype, x.device, mask=m)[:, 0]
    return res.cpu().numpy() if numpy_in else res


def correlation_pairs(n_phases: int, pairs: str | Sequence[Sequence[int]] = "auto") -> list[tuple[int, int]]:
    """The ``(i, j)`` phase pairs, in output order, of :func:`correlations` for ``pairs``.

    ``"auto"``: ``(0, 0), (1, 1), ...``; ``"all"``: every ``(i, j)`` with ``i <= j``, row by row
    (``S_ji(r) = S_ij(-r)`` gives the rest); ``"first"``: ``(0, j)`` for every ``j`` (PyMKS's default
    ``correlations=None``); or an explicit sequence of pairs of phase indices.

    Examples
    --------
    >>> correlation_pairs(3, "all")
    [(0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)]
    """
    check_int("n_phases", n_phases, 1)
    k = int(n_phases)
    if isinstance(pairs, str):
        named = {"auto": [(i, i) for i in range(k)], "all": [(i, j) for i in range(k) for j in range(i, k)],
                 "first": [(0, j) for j in range(k)]}
        if pairs not in named:
            raise InvalidParameterError(
                f"pairs must be 'auto', 'all', 'first' or a list of (i, j), got {pairs!r}")
        return named[pairs]
    ok = isinstance(pairs, Sequence) and len(pairs) > 0 and all(
        isinstance(p, Sequence) and len(p) == 2 and all(_is_int(v) and 0 <= v < k for v in p) for p in pairs)
    if not ok:
        raise InvalidParameterError(
            f"pairs must be 'auto', 'all', 'first' or a non-empty list of (i, j) phase indices in "
            f"[0, {k - 1}], got {pairs!r}")
    return [(int(i), int(j)) for i, j in pairs]


def _as_labels(labels: Any) -> np.ndarray | Tensor:
    """Validate integer phase labels ``(n, *spatial)`` (NumPy stays NumPy: converted per chunk)."""
    layout = "(n, h, w) or (n, d, h, w)"
    if isinstance(labels, Tensor):
        lab: np.ndarray | Tensor = labels.detach()
        if lab.is_complex():
            raise InvalidParameterError(f"labels must be integer phase labels, got dtype {lab.dtype}")
        integral = not lab.is_floating_point() or bool((lab == lab.round()).all())
    else:
        lab = as_array(labels, "labels")
        if lab.dtype.kind not in "biuf":
            raise InvalidParameterError(f"labels must be integer phase labels, got dtype {lab.dtype}")
        integral = lab.dtype.kind != "f" or bool((lab == np.round(lab)).all())
    if lab.ndim not in (3, 4):
        raise ShapeError(f"labels must have 3 or 4 dimensions {layout} (a single microstructure: "
                         f"labels[None]), got shape {tuple(lab.shape)}")
    if min(lab.shape) == 0:
        raise ShapeError(f"labels must be non-empty {layout}, got shape {tuple(lab.shape)}")
    if not integral:
        raise InvalidParameterError("labels must be integer phase labels, got non-integer values")
    if float(lab.min()) < 0:
        raise InvalidParameterError(f"labels must be >= 0, got a minimum of {float(lab.min()):g}")
    return lab


@torch.no_grad()
def correlations(labels: np.ndarray | Tensor, n_phases: int | None = None, *,
                 pairs: str | Sequence[Sequence[int]] = "auto", periodic: bool = True,
                 cutoff: int | Sequence[int] | str | None = None, dtype: torch.dtype = torch.float32,
                 device: str | torch.device | None = None) -> np.ndarray | Tensor:
    """Two-point statistics ``S_ij`` of the phase indicators of labelled microstructures.

    Parameters
    ----------
    labels
        ``(n, h, w)`` or ``(n, d, h, w)`` integer phase labels ``0 .. n_phases - 1`` (bool, or floats
        with integer values, are accepted). The batch axis is required: a single microstructure is
        ``labels[None]``.
    n_phases
        Number of phases; ``None``: ``labels.max() + 1`` over the batch (pass it to get the same
        pairs for every batch).
    pairs
        ``"auto"``, ``"all"``, ``"first"`` or a list of ``(i, j)``; see :func:`correlation_pairs`,
        which gives the output order. ``S_ij(r)``: ``x`` in phase ``i`` and ``x + r`` in ``j``.
    periodic, cutoff, dtype
        As in :func:`two_point_stats`.
    device
        Where to compute: ``None`` = the tensor's device (CPU for NumPy input).

    Returns
    -------
    ``(n, n_pairs, *window)`` probabilities: NumPy (``dtype``) for NumPy input, else a tensor on
    ``device``. Each indicator's FFT is shared by its pairs; memory is bounded by chunking.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[[0, 1, 1], [1, 0, 1], [1, 1, 0]]])
    >>> s = correlations(x, pairs="all", cutoff=1)     # pairs (0, 0), (0, 1), (1, 1)
    >>> s.shape, np.round(s[0, :, 1, 1], 4) + 0.0   # r = 0: volume fractions and S_01(0) = 0
    ((1, 3, 3, 3), array([0.3333, 0.    , 0.6667], dtype=float32))
    """
    _check_dtype(dtype)
    _check_bool("periodic", periodic)
    lab = _as_labels(labels)
    top = int(lab.max())
    if n_phases is None:
        n_phases = top + 1
    check_int("n_phases", n_phases, 1)
    if top >= n_phases:
        raise InvalidParameterError(f"labels must be < n_phases = {n_phases}, got a label {top}")
    plist = correlation_pairs(int(n_phases), pairs)
    try:
        dev = torch.device(device) if device is not None else (
            lab.device if isinstance(lab, Tensor) else torch.device("cpu"))
    except (RuntimeError, TypeError) as exc:
        raise InvalidParameterError(f"device must be a torch device or its name, got {device!r}") from exc
    # two phases: phase 1 = 1 - phase 0, one (mean-centred) FFT serves every pair
    complement = int(n_phases) == 2
    used = [0] if complement else sorted({i for p in plist for i in p})
    where = {phase: k for k, phase in enumerate(used)}
    shape = tuple(int(s) for s in lab.shape[1:])
    lo, hi = _ranges(shape, bool(periodic), cutoff)
    spread = (1, len(used)) + (1,) * len(shape)
    ids_np, ids_t = np.asarray(used).reshape(spread), torch.tensor(used, device=dev).reshape(spread)
    np_dtype = np.float32 if dtype == torch.float32 else np.float64

    def indicators(i: int, j: int) -> Tensor:
        part = lab[i:j]
        if isinstance(part, Tensor):
            return (part.to(device=dev).unsqueeze(1) == ids_t).to(dtype)
        return torch.from_numpy((part[:, None] == ids_np).astype(np_dtype)).to(dev)

    run_pairs = plist if complement else [(where[i], where[j]) for i, j in plist]
    res = _correlate(indicators, int(lab.shape[0]), len(used), shape, run_pairs, bool(periodic), lo, hi,
                     dtype, dev, complement=complement)
    return res.cpu().numpy() if not isinstance(labels, Tensor) else res
