"""Strain profiles: the loading-direction strain on a regular pixel grid, and its 8-bit rendering.

The simulator evaluates the *total* displacement ``u = u~ + u^`` (dislocation fields
with their cuts, surface steps, and the FE correction interpolated with the Q4 shape
functions) at the ``(n_x + 1) x (n_y + 1)`` corners of a regular pixel grid covering
the pillar. The pixel strain is the cell average of the distributional derivative
``d u_y / d y``, which has two parts:

* the **continuous part** (elastic fields away from cores, FE correction): from corner
  differences of ``u_y`` along the loading axis, averaged over the pixel's two vertical
  edges (exact for fields linear in x and quadratic in y)::

      eps_yy[i, j] = ( u_y[i, j+1] - u_y[i, j] + u_y[i+1, j+1] - u_y[i+1, j] ) / (2 dy)

* the **jump part**: slip leaves ``u`` discontinuous across *cuts* (the slipped part of
  a slip plane: the branch cut of each dislocation, running from it along ``-s``, and the
  whole slip line of each surface step). Corner sampling gives a crossed pixel 0, 1/2 or
  1 jump per dy depending only on which vertical edges the cut crosses (dotted traces,
  equal gray levels, orientation dependence), so this part is replaced by its exact cell
  average :func:`jump_strain_yy` (:func:`jump_correction` = exact minus corner share).

Exact cell average of a jump (derivation). Let a straight cut ``G`` with unit normal
``nu`` carry the jump ``[[u]] = u(+nu side) - u(-nu side)`` (m). Along any vertical line
``x = const`` that crosses ``G``, ``u_y`` rises by ``J = [[u_y]] sign(nu_y)`` (the jump
met going up, ``jump_up`` below; it does not depend on which way ``nu`` or the segment
points), so ``d u_y / d y`` holds ``J delta(y - y_G(x))``. Integrating over the pixel
``P`` (Fubini: first y, then x) gives ``J |X(G n P)|``, with ``X(G n P)`` the x-extent
of the part of the cut inside the pixel, and, as ``|X| = |G n P| |nu_y|``::

    <d u_y/d y>_P (jump part) = J |X(G n P)| / (dx dy) = [[u_y]] nu_y |G n P| / (dx dy)

the edge-integral (divergence-theorem) result. For an edge dislocation of signed
Burgers vector ``b`` on a plane of slip direction ``s = (cos t, sin t)`` and normal
``n = (-sin t, cos t)``, ``[[u]] = b s`` across ``n`` (:mod:`.fields`), so
``J = b sin t sign(cos t)`` and a trace of length L adds ``b s_y n_y L`` in total. A cut
ending inside a pixel (a pinned dislocation) contributes only its length inside it.

Reference subtraction (``mode``):

* ``"full"`` (default): ``eps_yy[u(reload) - u(unloaded)]`` -- the unloaded state
  (force zero after the prior strain) is the DIC reference image, so residual plastic
  and elastic distortion, average and local, is removed. What remains is the reload's
  elastic strain plus the slip that happened during the reload.
* ``"mean"``: ``eps_yy[u(reload)] - mean(eps_yy[u(unloaded)])`` -- only the spatial mean
  of the unloaded residual strain is removed (the wording of Yang et al. 2020 /
  Papanikolaou et al.); the prior slip lines stay visible.

Arrays are indexed ``[i_x, j_y]``: axis 0 runs across the width (x), axis 1 along the
loading axis (y). This is also the orientation of the published PNGs (loading axis
horizontal, about 60 x 220 pixels at w = 0.125 um).

References
----------
Z. Yang et al., Sci. Rep. 10, 8262 (2020); S. Papanikolaou et al., Phys. Rev. E 99,
053003 (2019) (DIC emulated with DDD); Y.-D. Liang and B. A. Barsky, ACM Trans. Graph.
3, 1 (1984) (segment clipping).
"""

from __future__ import annotations

import numpy as np

from microdl.exceptions import InvalidParameterError, NonFiniteError, ShapeError
from microdl.simulate.ddd._profile_kernels import clipped_jump_sum, vertical_edge_jumps


def pixel_grid(width_m: float, height_m: float, pixel_size_m: float):
    """Pixel counts and corner coordinates (m) of the profile grid.

    Returns
    -------
    nx, ny : int
        Pixels across the width and along the height (``round(side / pixel)``, >= 1).
    xs, ys : ndarray
        Corner coordinates, ``nx + 1`` and ``ny + 1`` values from 0 to the side.
    """
    if pixel_size_m <= 0:
        raise InvalidParameterError(f"pixel_size_m must be > 0, got {pixel_size_m!r}")
    nx = max(1, int(round(width_m / pixel_size_m)))
    ny = max(1, int(round(height_m / pixel_size_m)))
    return nx, ny, np.linspace(0.0, width_m, nx + 1), np.linspace(0.0, height_m, ny + 1)


def _cut_rows(x0, y0, x1, y1, jump_up) -> np.ndarray:
    return np.column_stack([np.ravel(v).astype(float) for v in (x0, y0, x1, y1, jump_up)]).reshape(-1, 5)


def slip_cuts(x_m, y_m, b_m, cos, sin, steps, width_m: float, height_m: float) -> np.ndarray:
    """Displacement cuts of dislocations and surface steps, for :func:`jump_strain_yy` (m).

    Parameters
    ----------
    x_m, y_m, b_m, cos, sin
        Dislocation positions (m), signed Burgers vectors (m) and slip-direction cosine
        and sine, as returned by ``PillarModel.dislocation_arrays()``. Each one's cut runs
        from it along ``-s`` (the branch cut of :func:`.fields.edge_displacement`).
    steps
        Surface steps ``(x0, y0, b, cos, sin)`` rows (m, m, m, -, -), ``PillarModel.steps``:
        a jump ``b s`` across the whole slip line through ``(x0, y0)``
        (:func:`.fields.step_displacement`).
    width_m, height_m
        Pillar size (m); cut ends that are not dislocations are put ``4 (w + h)`` away,
        well outside the pixel grid, so the grid clips them.

    Returns
    -------
    ndarray, shape ``(n_dislocations + n_steps, 5)``
        Rows ``(x0, y0, x1, y1, jump_up)``: a segment (m) and the rise of ``u_y`` (m)
        met when crossing it in ``+y``, ``b sin(t) sign(cos(t))``.
    """
    reach = 4.0 * (float(width_m) + float(height_m))
    x, y, b, c, s = (np.ravel(np.asarray(v, dtype=float)) for v in (x_m, y_m, b_m, cos, sin))
    st = np.asarray(steps, dtype=float).reshape(-1, 5)
    if not len(x) == len(y) == len(b) == len(c) == len(s):
        raise ShapeError(f"x_m, y_m, b_m, cos, sin must have one length, got {[len(v) for v in (x, y, b, c, s)]}")
    disl = _cut_rows(x, y, x - reach * c, y - reach * s, b * s * np.sign(c))
    sx, sy, sb, sc, ss = st.T
    surf = _cut_rows(sx - reach * sc, sy - reach * ss, sx + reach * sc, sy + reach * ss, sb * ss * np.sign(sc))
    return np.vstack([disl, surf])


def _grid_args(cuts, shape, pixel_m, origin_m):
    cuts = np.ascontiguousarray(cuts, dtype=float) if np.size(cuts) else np.zeros((0, 5))
    if cuts.ndim != 2 or cuts.shape[1] != 5:
        raise ShapeError(f"cuts must have shape (k, 5) (x0, y0, x1, y1, jump_up), got {cuts.shape}")
    if not np.all(np.isfinite(cuts)):
        raise NonFiniteError("cuts must be finite (x0, y0, x1, y1, jump_up) rows, got NaN or inf")
    nx, ny = (int(v) for v in shape)
    dx, dy = (float(v) for v in pixel_m)
    if nx < 1 or ny < 1:
        raise InvalidParameterError(f"shape must be (nx, ny) with nx, ny >= 1, got {tuple(shape)!r}")
    if not (dx > 0 and dy > 0):
        raise InvalidParameterError(f"pixel_m must be (dx, dy) > 0 in m, got {tuple(pixel_m)!r}")
    return cuts, float(origin_m[0]), float(origin_m[1]), dx, dy, nx, ny


def jump_strain_yy(cuts, shape: tuple[int, int], pixel_m: tuple[float, float],
                   origin_m: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Exact pixel average of ``d u_y / d y`` due to displacement jumps across cuts.

    ``sum_cuts jump_up * |x-extent of the cut inside the pixel| / (dx dy)`` (see the
    module notes for the derivation): for a straight trace of slip ``b`` this is
    ``b s_y n_y`` times the trace length inside the pixel per pixel area.

    Parameters
    ----------
    cuts
        ``(k, 5)`` rows ``(x0, y0, x1, y1, jump_up)`` (m), e.g. from :func:`slip_cuts`.
    shape
        Pixel counts ``(nx, ny)``.
    pixel_m
        Pixel size ``(dx, dy)`` (m).
    origin_m
        Lower-left grid corner (m).

    Returns
    -------
    ndarray, shape ``(nx, ny)``
        Strain (dimensionless), indexed ``[i_x, j_y]``.
    """
    cuts, ox, oy, dx, dy, nx, ny = _grid_args(cuts, shape, pixel_m, origin_m)
    return clipped_jump_sum(cuts, ox, oy, dx, dy, nx, ny) / (dx * dy)


def jump_correction(cuts, shape: tuple[int, int], pixel_m: tuple[float, float],
                    origin_m: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """What :func:`strain_yy` of corner displacements must add to be exact for the cuts.

    The exact jump part (:func:`jump_strain_yy`) minus the share corner differences give
    the jumps (``jump_up`` / dy for each cut crossing each of the pixel's two vertical
    edges, halved). ``strain_yy(u, dy) + jump_correction(cuts, ...)`` is the continuous
    part of ``u`` by corner differences plus the exact jump part, when ``u`` holds
    exactly the jumps of ``cuts``. Arguments and result as in :func:`jump_strain_yy`.
    """
    cuts, ox, oy, dx, dy, nx, ny = _grid_args(cuts, shape, pixel_m, origin_m)
    edge = vertical_edge_jumps(cuts, ox, oy, dx, dy, nx, ny)
    return clipped_jump_sum(cuts, ox, oy, dx, dy, nx, ny) / (dx * dy) - 0.5 * (edge[:-1] + edge[1:]) / dy


def strain_yy(u: np.ndarray, dy_m: float, correction: np.ndarray | None = None) -> np.ndarray:
    """Pixel ``eps_yy`` from corner displacements ``u`` of shape ``(2, nx+1, ny+1)`` (m).

    Corner differences along y averaged over the two vertical edges, plus
    ``correction`` (``(nx, ny)``, from :func:`jump_correction`) if given.
    """
    u = np.asarray(u, dtype=float)
    if u.ndim != 3 or u.shape[0] != 2:
        raise ShapeError(f"u must have shape (2, nx+1, ny+1), got {u.shape}")
    duy = np.diff(u[1], axis=1)  # (nx+1, ny)
    eps = 0.5 * (duy[:-1] + duy[1:]) / dy_m
    if correction is None:
        return eps
    correction = np.asarray(correction, dtype=float)
    if correction.shape != eps.shape:
        raise ShapeError(f"correction must have shape {eps.shape} (the pixels of u), got {correction.shape}")
    return eps + correction


def strain_profile(u_current: np.ndarray, u_reference: np.ndarray, dy_m: float, mode: str = "full",
                   correction_current: np.ndarray | None = None,
                   correction_reference: np.ndarray | None = None) -> np.ndarray:
    """Strain profile ``eps_yy`` (dimensionless, shape ``(nx, ny)``) relative to a reference.

    Parameters
    ----------
    u_current, u_reference
        Corner displacements (m), shape ``(2, nx+1, ny+1)``: reload and unloaded states.
    dy_m
        Pixel size along y (m).
    mode
        ``"full"`` subtracts the reference displacement field, ``"mean"`` only the
        spatial mean of the reference strain (see module notes).
    correction_current, correction_reference
        :func:`jump_correction` of each state's cuts (``(nx, ny)``); ``None`` keeps the
        corner differences alone for that state (exact only without jumps).
    """
    if mode == "full":
        eps = strain_yy(np.asarray(u_current) - np.asarray(u_reference), dy_m, correction_current)
        return eps if correction_reference is None else eps - np.asarray(correction_reference, dtype=float)
    if mode == "mean":
        ref = strain_yy(u_reference, dy_m, correction_reference)
        return strain_yy(u_current, dy_m, correction_current) - float(np.mean(ref))
    raise InvalidParameterError(f"mode must be 'full' or 'mean', got {mode!r}")


def render_uint8(profile: np.ndarray) -> np.ndarray:
    """8-bit grayscale rendering comparable to the published profiles.

    Mapping: ``g = floor(255 * |e - median(e)| / max|e - median(e)|)`` (``0`` for an
    all-constant image). The median removes the uniform elastic reload strain; the
    per-image max scaling matches "pixel values rescaled to [0, 255]" (Yang et al.
    2020). Slip traces carry strains of order ``b / pixel`` and dominate, so most
    of the image is black and the lines are thin and bright, as in the published
    images. Rows are x (width), columns y (loading axis, horizontal).
    """
    e = np.asarray(profile, dtype=float)
    if e.ndim != 2:
        raise ShapeError(f"profile must be 2-D, got shape {e.shape}")
    dev = np.abs(e - np.median(e))
    top = float(dev.max())
    if not np.isfinite(top) or top == 0.0:
        return np.zeros(e.shape, dtype=np.uint8)
    return np.floor(255.0 * dev / top).astype(np.uint8)


def image_statistics(img: np.ndarray) -> dict[str, float]:
    """Fraction of non-zero pixels, mean gray value and shape of an 8-bit image."""
    img = np.asarray(img)
    return {
        "nonzero_fraction": float(np.mean(img > 0)),
        "mean_gray": float(img.mean()),
        "rows": int(img.shape[0]),
        "cols": int(img.shape[1]),
    }
