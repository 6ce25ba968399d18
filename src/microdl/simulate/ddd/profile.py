"""Strain profiles: the loading-direction strain on a regular pixel grid, and its 8-bit rendering.

The simulator evaluates the *total* displacement ``u = u~ + u^`` (dislocation fields
with their cuts, surface steps, and the FE correction interpolated with the Q4 shape
functions) at the ``(n_x + 1) x (n_y + 1)`` corners of a regular pixel grid covering
the pillar. A pixel's strain is the central difference of ``u_y`` along the loading
axis y, averaged over its two vertical edges::

    eps_yy[i, j] = ( u_y[i, j+1] - u_y[i, j] + u_y[i+1, j+1] - u_y[i+1, j] ) / (2 dy)

so a slip line crossing the pixel contributes ``b s_y n_y * (slipped length) / area``
exactly (DIC-like), and the elastic part is the cell average.

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
053003 (2019) (DIC emulated with DDD).
"""

from __future__ import annotations

import numpy as np

from microdl.exceptions import InvalidParameterError, ShapeError


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


def strain_yy(u: np.ndarray, dy_m: float) -> np.ndarray:
    """Pixel ``eps_yy`` from corner displacements ``u`` of shape ``(2, nx+1, ny+1)`` (m)."""
    u = np.asarray(u, dtype=float)
    if u.ndim != 3 or u.shape[0] != 2:
        raise ShapeError(f"u must have shape (2, nx+1, ny+1), got {u.shape}")
    duy = np.diff(u[1], axis=1)  # (nx+1, ny)
    return 0.5 * (duy[:-1] + duy[1:]) / dy_m


def strain_profile(u_current: np.ndarray, u_reference: np.ndarray, dy_m: float, mode: str = "full") -> np.ndarray:
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
    """
    if mode == "full":
        return strain_yy(np.asarray(u_current) - np.asarray(u_reference), dy_m)
    if mode == "mean":
        return strain_yy(u_current, dy_m) - float(np.mean(strain_yy(u_reference, dy_m)))
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
