"""Write tests/features/data/pymks_two_point.npz: PyMKS's own two-point statistics on fixed inputs.

Runs in a throwaway virtualenv holding PyMKS (pure Python, no torch), not in the project's:

    python3 -m venv /tmp/pymksenv
    /tmp/pymksenv/bin/pip install pymks --no-deps
    /tmp/pymksenv/bin/pip install numpy scipy scikit-learn "dask[array]" toolz deprecated matplotlib pandas \
        pyarrow pytest
    /tmp/pymksenv/bin/python benchmarks/linkage/make_pymks_fixture.py

Each case ``<name>`` stores its inputs (``<name>__labels`` or ``<name>__a`` / ``__b`` / ``__mask``),
its arguments (``<name>__args``: JSON) and PyMKS's output (``<name>__pymks``, float64, PyMKS's layout:
``(n, *window)`` for ``two_point_stats``, ``(n, *window, n_pairs)`` for ``TwoPointCorrelation``).
tests/features/test_correlations.py compares microdl's numbers with these.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pymks
from pymks.fmks.correlations import two_point_stats

OUT = Path(__file__).resolve().parents[2] / "tests" / "features" / "data" / "pymks_two_point.npz"


def main() -> None:
    rng = np.random.default_rng(20260101)
    arrays: dict[str, np.ndarray] = {}

    def labels_case(name: str, labels: np.ndarray, n_phases: int, pairs: list[tuple[int, int]],
                    periodic: bool, cutoff: int | None) -> None:
        pipe_x = pymks.PrimitiveTransformer(n_state=n_phases, min_=0, max_=n_phases - 1).transform(labels)
        out = pymks.TwoPointCorrelation(periodic_boundary=periodic, cutoff=cutoff,
                                        correlations=[list(p) for p in pairs]).transform(pipe_x)
        arrays[f"{name}__labels"] = labels.astype(np.int64)
        arrays[f"{name}__pymks"] = np.asarray(out, dtype=np.float64)
        arrays[f"{name}__args"] = np.asarray(json.dumps(
            {"kind": "labels", "n_phases": n_phases, "pairs": pairs, "periodic": periodic, "cutoff": cutoff}))

    def fields_case(name: str, a: np.ndarray, b: np.ndarray, mask: np.ndarray | None, periodic: bool,
                    cutoff: int | None) -> None:
        out = two_point_stats(a, b, periodic_boundary=periodic, cutoff=cutoff, mask=mask)
        arrays[f"{name}__a"], arrays[f"{name}__b"] = a, b
        if mask is not None:
            arrays[f"{name}__mask"] = mask
        arrays[f"{name}__pymks"] = np.asarray(out, dtype=np.float64)
        arrays[f"{name}__args"] = np.asarray(json.dumps(
            {"kind": "fields", "periodic": periodic, "cutoff": cutoff, "mask": mask is not None}))

    two = (rng.random((4, 15, 12)) < 0.4).astype(int)
    even = (rng.random((3, 10, 14)) < 0.55).astype(int)
    three_d = (rng.random((2, 9, 8, 10)) < 0.3).astype(int)
    multi = rng.integers(0, 3, (3, 11, 13))
    for periodic in (True, False):
        tag = "per" if periodic else "nonper"
        labels_case(f"two_odd_{tag}", two, 2, [(0, 0), (0, 1), (1, 1)], periodic, 4)
        labels_case(f"two_even_default_{tag}", even, 2, [(0, 0), (0, 1)], periodic, None)
        labels_case(f"three_d_{tag}", three_d, 2, [(0, 0), (1, 0), (1, 1)], periodic, 3)
        labels_case(f"multi_{tag}", multi, 3, [(0, 0), (0, 2), (2, 1), (1, 1)], periodic, 5)
        a, b = rng.normal(1.0, 1.0, (2, 9, 12)), rng.random((2, 9, 12))
        fields_case(f"cross_{tag}", a, b, None, periodic, 4)
        mask = rng.random((2, 9, 12))
        mask[:, 2:4, 3:7] = 0.0
        fields_case(f"mask_{tag}", a, b, mask, periodic, 3)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes, {len(arrays)} arrays, pymks {version('pymks')})")


if __name__ == "__main__":
    main()
