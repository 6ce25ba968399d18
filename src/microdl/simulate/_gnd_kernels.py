"""Numba kernels behind :mod:`microdl.simulate.gnd_lines`.

Everything here works in *pixel units*: the map spans ``[0, W] x [0, H]``,
pixel ``(row=iy, col=ix)`` covers ``x in [ix, ix + 1)``, ``y in [iy, iy + 1)``.
Lengths are in pixels; the public module converts them to m^-2.

Random numbers come from a small counter-based generator (SplitMix64) seeded
per map, so maps can be simulated in parallel (``prange``) and the result does
not depend on the number of threads or on the batch size: map ``m`` of a run
with root seed ``r`` is always the same map.

Walk nodes are stored in *half-pixel* integer coordinates ``(X2, Y2) = (2x, 2y)``.
A pixel-edge midpoint has exactly one odd coordinate: vertical edges have
``X2`` even / ``Y2`` odd, horizontal edges ``X2`` odd / ``Y2`` even. A pixel has
centre ``(X2, Y2)`` both odd and its four edges at ``(X2 +- 1, Y2)`` and
``(X2, Y2 +- 1)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

# SplitMix64 constants (Steele, Lea & Flood 2014; public-domain reference algorithm).
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53


@njit(cache=True, inline="always")
def _mix(z):
    z = (z ^ (z >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return z ^ (z >> _S31)


@njit(cache=True)
def map_seed(root, index):
    """Seed of map ``index`` in a run with root seed ``root`` (both uint64)."""
    return _mix(np.uint64(root) + _GOLDEN * (np.uint64(index) + np.uint64(1)))


@njit(cache=True)
def _randint(state, n):
    """Uniform integer in [0, n), advancing the one-element uint64 ``state`` array."""
    state[0] += _GOLDEN
    k = int(float(_mix(state[0]) >> _S11) * _INV53 * n)
    return k if k < n else n - 1


@njit(cache=True, inline="always")
def _draw(s, n):
    """Scalar-state version of :func:`_randint`: returns (new state, integer in [0, n))."""
    s = s + _GOLDEN
    k = int(float(_mix(s) >> _S11) * _INV53 * n)
    return s, (k if k < n else n - 1)


# ---------------------------------------------------------------- random walk


@njit(cache=True, inline="always")
def _is_boundary(x2, y2, g2w, g2h):
    return x2 == 0 or x2 == g2w or y2 == 0 or y2 == g2h


@njit(cache=True)
def random_walk(state, width, height, min_nodes, max_nodes, bx, by, avoid=False):
    """Fill ``bx, by`` (half-pixel ints) with one accepted walk; return its node count.

    Start: a uniformly chosen boundary edge midpoint. Step: uniform choice among
    the midpoints of the other edges of the (one or two) pixels touching the
    current edge, excluding the predecessor -> 3 choices at the start (boundary
    edge, one pixel), 5 afterwards (6 - predecessor). Stop on reaching the map
    boundary. Rejected and redrawn: walks with fewer than ``min_nodes`` nodes,
    walks reaching ``max_nodes`` nodes without hitting the boundary, and walks
    ending on their own start edge (a loop pinned to one boundary point).
    With ``avoid`` the walk is self-avoiding: edges it has visited are not
    candidates, and a walk left without a candidate is redrawn.
    """
    g2w = 2 * width
    g2h = 2 * height
    visited = np.zeros((g2w + 1, g2h + 1), np.bool_)
    perimeter = 2 * (width + height)
    cand_x = np.empty(8, np.int64)
    cand_y = np.empty(8, np.int64)
    st = state[0]
    while True:
        st, k = _draw(st, perimeter)
        if k < height:  # left side
            x2, y2 = 0, 2 * k + 1
        elif k < 2 * height:  # right side
            x2, y2 = g2w, 2 * (k - height) + 1
        elif k < 2 * height + width:  # bottom side
            x2, y2 = 2 * (k - 2 * height) + 1, 0
        else:  # top side
            x2, y2 = 2 * (k - 2 * height - width) + 1, g2h
        bx[0] = x2
        by[0] = y2
        px, py = -1, -1  # predecessor
        n = 1
        accepted = False
        if avoid:
            visited[:, :] = False
            visited[x2, y2] = True
        while n < max_nodes:
            # pixels touching the current edge
            nc = 0
            for side in range(2):
                s = 1 if side == 0 else -1
                if x2 % 2 == 0:  # vertical edge: pixels left/right
                    cx, cy = x2 + s, y2
                else:  # horizontal edge: pixels below/above
                    cx, cy = x2, y2 + s
                if cx <= 0 or cx >= g2w or cy <= 0 or cy >= g2h:
                    continue
                for e in range(4):
                    if e == 0:
                        ex, ey = cx - 1, cy
                    elif e == 1:
                        ex, ey = cx + 1, cy
                    elif e == 2:
                        ex, ey = cx, cy - 1
                    else:
                        ex, ey = cx, cy + 1
                    if (ex == x2 and ey == y2) or (ex == px and ey == py):
                        continue
                    if avoid and visited[ex, ey]:
                        continue
                    cand_x[nc] = ex
                    cand_y[nc] = ey
                    nc += 1
            if nc == 0:  # a self-avoiding walk that trapped itself
                break
            st, j = _draw(st, nc)
            px, py = x2, y2
            x2, y2 = cand_x[j], cand_y[j]
            if avoid:
                visited[x2, y2] = True
            bx[n] = x2
            by[n] = y2
            n += 1
            if _is_boundary(x2, y2, g2w, g2h):
                accepted = True
                break
        if not accepted or n < min_nodes:
            continue
        if x2 == bx[0] and y2 == by[0]:
            continue
        state[0] = st
        return n


# ------------------------------------------------------------ B-spline smoothing


@njit(cache=True)
def spline_weights(samples_per_span):
    """Uniform cubic B-spline basis at ``t = k / m``, ``k = 0..m-1``: shape (m, 4)."""
    m = samples_per_span
    w = np.empty((m, 4))
    for k in range(m):
        t = k / m
        t2 = t * t
        t3 = t2 * t
        w[k, 0] = (1.0 - t) ** 3 / 6.0
        w[k, 1] = (3.0 * t3 - 6.0 * t2 + 4.0) / 6.0
        w[k, 2] = (-3.0 * t3 + 3.0 * t2 + 3.0 * t + 1.0) / 6.0
        w[k, 3] = t3 / 6.0
    return w


@njit(cache=True)
def smooth_walk(bx, by, n, weights, out, start):
    """Sample the uniform cubic B-spline whose control points are the walk nodes.

    End conditions: phantom control points ``P[-1] = 2 P[0] - P[1]`` and
    ``P[n] = 2 P[n-1] - P[n-2]`` make the curve start exactly at ``P[0]`` and end
    at ``P[n-1]`` (both on the map boundary) while it approximates, and does not
    pass through, the interior nodes. Writes ``(n - 1) * m + 1`` points (pixel
    units) into ``out[start:]`` and returns the index after the last one.
    """
    m = weights.shape[0]
    ext_x = np.empty(n + 2)
    ext_y = np.empty(n + 2)
    for i in range(n):
        ext_x[i + 1] = 0.5 * bx[i]
        ext_y[i + 1] = 0.5 * by[i]
    ext_x[0] = 2.0 * ext_x[1] - ext_x[2]
    ext_y[0] = 2.0 * ext_y[1] - ext_y[2]
    ext_x[n + 1] = 2.0 * ext_x[n] - ext_x[n - 1]
    ext_y[n + 1] = 2.0 * ext_y[n] - ext_y[n - 1]
    p = start
    for j in range(n - 1):
        for k in range(m):
            out[p, 0] = (weights[k, 0] * ext_x[j] + weights[k, 1] * ext_x[j + 1]
                         + weights[k, 2] * ext_x[j + 2] + weights[k, 3] * ext_x[j + 3])
            out[p, 1] = (weights[k, 0] * ext_y[j] + weights[k, 1] * ext_y[j + 1]
                         + weights[k, 2] * ext_y[j + 2] + weights[k, 3] * ext_y[j + 3])
            p += 1
    # exact end points (on the boundary)
    out[start, 0] = ext_x[1]
    out[start, 1] = ext_y[1]
    out[p, 0] = ext_x[n]
    out[p, 1] = ext_y[n]
    return p + 1


@njit(cache=True)
def simulate_lines(state, n_lines, width, height, min_nodes, max_nodes, weights, avoid=False):
    """Walk and smooth ``n_lines`` lines: returns points (P, 2) and offsets (n_lines + 1,)."""
    m = weights.shape[0]
    bx = np.empty(max_nodes, np.int64)
    by = np.empty(max_nodes, np.int64)
    cap = 64 * m
    pts = np.empty((cap, 2))
    offsets = np.zeros(n_lines + 1, np.int64)
    p = 0
    for i in range(n_lines):
        n = random_walk(state, width, height, min_nodes, max_nodes, bx, by, avoid)
        need = p + (n - 1) * m + 1
        if need > pts.shape[0]:
            new_cap = max(2 * pts.shape[0], need)
            grown = np.empty((new_cap, 2))
            grown[:p] = pts[:p]
            pts = grown
        p = smooth_walk(bx, by, n, weights, pts, p)
        offsets[i + 1] = p
    return pts[:p], offsets


# ------------------------------------------------------------- exact clipping


@njit(cache=True)
def accumulate_lines(pts, offsets, g, rho, cnt, stamp):
    """Add every line's per-pixel length, l*xi vector and presence into the maps.

    ``g`` (H, W, 2), ``rho`` (H, W) and ``cnt`` (H, W) are accumulated in place
    (pixel units); ``stamp`` (H, W) int64 must hold values < 0 on entry.

    Each polyline segment a->b is split at every pixel-grid line it crosses;
    each piece ``[t0, t1]`` of the segment parameter is assigned to the pixel
    holding its midpoint, so pieces through a grid corner need no special case
    and zero-length pieces are dropped. (Written as one loop nest on purpose:
    helper calls taking arrays cost ~10x the arithmetic in Numba.)
    """
    height, width = rho.shape
    for i in range(offsets.shape[0] - 1):
        for p in range(offsets[i], offsets[i + 1] - 1):
            ax = pts[p, 0]
            ay = pts[p, 1]
            dx = pts[p + 1, 0] - ax
            dy = pts[p + 1, 1] - ay
            seg_len = np.sqrt(dx * dx + dy * dy)
            if seg_len == 0.0:
                continue
            fx = np.floor(ax)
            fy = np.floor(ay)
            if fx == np.floor(ax + dx) and fy == np.floor(ay + dy):
                # fast path: both end points in one pixel (most B-spline samples)
                ix = int(fx)
                iy = int(fy)
                if ix < 0 or iy < 0 or iy >= height or ix >= width:
                    continue
                rho[iy, ix] += seg_len
                g[iy, ix, 0] += dx
                g[iy, ix, 1] += dy
                if stamp[iy, ix] != i:
                    stamp[iy, ix] = i
                    cnt[iy, ix] += 1
                continue
            bx = ax + dx
            by = ay + dy
            # integer grid lines strictly between the end points, in order along a->b
            if dx > 0.0:
                kx, kx_end, sx = int(np.floor(ax)) + 1, int(np.ceil(bx)) - 1, 1
            else:
                kx, kx_end, sx = int(np.ceil(ax)) - 1, int(np.floor(bx)) + 1, -1
            if dy > 0.0:
                ky, ky_end, sy = int(np.floor(ay)) + 1, int(np.ceil(by)) - 1, 1
            else:
                ky, ky_end, sy = int(np.ceil(ay)) - 1, int(np.floor(by)) + 1, -1
            nx = max((kx_end - kx) * sx + 1, 0) if dx != 0.0 else 0
            ny = max((ky_end - ky) * sy + 1, 0) if dy != 0.0 else 0
            t0 = 0.0
            while True:
                if nx > 0 or ny > 0:
                    tx = (kx - ax) / dx if nx > 0 else 2.0
                    ty = (ky - ay) / dy if ny > 0 else 2.0
                    if tx <= ty:
                        t1 = tx
                        kx += sx
                        nx -= 1
                    else:
                        t1 = ty
                        ky += sy
                        ny -= 1
                    last = False
                else:
                    t1 = 1.0
                    last = True
                if t1 > 1.0:
                    t1 = 1.0
                if t1 > t0:
                    tm = 0.5 * (t0 + t1)
                    ix = int(np.floor(ax + tm * dx))
                    iy = int(np.floor(ay + tm * dy))
                    dt = t1 - t0
                    if ix >= 0 and iy >= 0 and iy < height and ix < width:
                        rho[iy, ix] += dt * seg_len
                        g[iy, ix, 0] += dt * dx
                        g[iy, ix, 1] += dt * dy
                        if stamp[iy, ix] != i:
                            stamp[iy, ix] = i
                            cnt[iy, ix] += 1
                    t0 = t1
                if last:
                    break


# ------------------------------------------------------------ batched maps


@njit(cache=True)
def simulate_one_map(seed, grid, lines_min, lines_max, min_nodes, max_nodes, weights,
                     g, rho, cnt, avoid=False):
    """One training map: draw its line count, simulate, accumulate into g/rho/cnt."""
    state = np.empty(1, np.uint64)
    state[0] = seed
    n_lines = lines_min + _randint(state, lines_max - lines_min + 1)
    pts, offsets = simulate_lines(state, n_lines, grid, grid, min_nodes, max_nodes, weights, avoid)
    stamp = np.full((grid, grid), -1, np.int64)
    accumulate_lines(pts, offsets, g, rho, cnt, stamp)
    return state[0]


@njit(cache=True, parallel=True)
def simulate_batch(root, first_index, n_maps, grid, lines_min, lines_max, min_nodes,
                   max_nodes, weights, window, n_min, n_max, cap_per_class, avoid=False):
    """Simulate maps ``first_index .. first_index + n_maps - 1`` and pick window centres.

    Returns ``g (B, G, G, 2)``, ``rho (B, G, G)``, ``cnt (B, G, G)`` in pixel units
    and the candidate centres ``cand (B, C, 3)`` = (row, col, N) with ``C =
    cap_per_class * n_classes`` (rows with N = -1 are unused). Candidates of a map
    are listed in a random order drawn from that map's own generator, at most
    ``cap_per_class`` per class.
    """
    g = np.zeros((n_maps, grid, grid, 2))
    rho = np.zeros((n_maps, grid, grid))
    cnt = np.zeros((n_maps, grid, grid), np.int64)
    n_classes = n_max - n_min + 1
    n_cand = cap_per_class * n_classes
    cand = np.full((n_maps, n_cand, 3), -1, np.int64)
    h = window // 2
    span = grid - 2 * h
    for b in prange(n_maps):
        seed = map_seed(root, first_index + b)
        st = simulate_one_map(seed, grid, lines_min, lines_max, min_nodes, max_nodes,
                              weights, g[b], rho[b], cnt[b], avoid)
        order = np.arange(span * span)
        for i in range(order.shape[0] - 1, 0, -1):  # Fisher-Yates
            st, j = _draw(st, i + 1)
            tmp = order[i]
            order[i] = order[j]
            order[j] = tmp
        taken = np.zeros(n_classes, np.int64)
        c = 0
        for q in range(order.shape[0]):
            r = h + order[q] // span
            col = h + order[q] % span
            n = cnt[b, r, col]
            if n < n_min or n > n_max:
                continue
            k = n - n_min
            if taken[k] >= cap_per_class:
                continue
            taken[k] += 1
            cand[b, c, 0] = r
            cand[b, c, 1] = col
            cand[b, c, 2] = n
            c += 1
            if c == n_cand:
                break
    return g, rho, cnt, cand


@njit(cache=True)
def fill_quotas(cand, quota_left, n_min):
    """Accept candidates in map order while their class quota lasts.

    ``quota_left`` (n_classes,) is decremented in place. Returns an (A, 3) array
    of (map-in-batch, row, col) for the accepted windows.
    """
    out = np.empty((cand.shape[0] * cand.shape[1], 3), np.int64)
    a = 0
    for b in range(cand.shape[0]):
        for c in range(cand.shape[1]):
            n = cand[b, c, 2]
            if n < 0:
                continue
            k = n - n_min
            if quota_left[k] > 0:
                quota_left[k] -= 1
                out[a, 0] = b
                out[a, 1] = cand[b, c, 0]
                out[a, 2] = cand[b, c, 1]
                a += 1
    return out[:a]
