"""Helpers shared by the FE tests: meshes graded around a point."""

from __future__ import annotations

import numpy as np


def graded(length: float, x0: float, hmin: float, growth: float, hmax: float) -> np.ndarray:
    """Nodes on [0, length] with spacing hmin at x0 growing geometrically up to hmax."""

    def side(extent: float) -> np.ndarray:
        pts, h = [0.0], hmin
        while pts[-1] < extent:
            pts.append(pts[-1] + h)
            h = min(h * growth, hmax)
        p = np.array(pts)
        return p * extent / p[-1]

    return np.concatenate([x0 - side(x0)[::-1], x0 + side(length - x0)[1:]])
