"""Randomness only through arguments: one helper turns seeds into generators."""

from __future__ import annotations

import numpy as np

RandomLike = np.random.Generator | int | None


def as_generator(rng: RandomLike) -> np.random.Generator:
    """Return a :class:`numpy.random.Generator` for ``rng``.

    ``None`` gives fresh OS entropy, an ``int`` a reproducible generator, and a
    ``Generator`` is returned unchanged. The library never touches global state.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or isinstance(rng, (int, np.integer)):
        if rng is not None and rng < 0:
            from microdl.exceptions import InvalidParameterError

            raise InvalidParameterError(f"seed must be a non-negative integer, got {rng}")
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy Generator, an int seed or None, got {type(rng).__name__}")
