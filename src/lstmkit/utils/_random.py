"""Random state: one global generator that `set_random_seed` resets.

Every unseeded draw in lstmkit (weight initialization, dropout masks,
shuffling in `fit`) takes its seed from the global generator, so
`lk.utils.set_random_seed(s)` makes a whole run repeat exactly, as
`keras.utils.set_random_seed` does.
"""

from __future__ import annotations

import random

import numpy as np

_GLOBAL = np.random.default_rng()


def set_random_seed(seed: int) -> None:
    """Seed lstmkit's global generator (and Python's and NumPy's legacy ones).

    Example:
        >>> import lstmkit as lk
        >>> lk.utils.set_random_seed(0)
    """
    global _GLOBAL
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}: {seed!r}")
    _GLOBAL = np.random.default_rng(int(seed))
    random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)


def make_rng(seed=None) -> np.random.Generator:
    """A generator seeded by `seed`, or by a draw from the global generator when None."""
    if seed is None:
        return np.random.default_rng(_GLOBAL.integers(2**63))
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(int(seed))


class SeedGenerator:
    """A stream of generators, like Keras's `SeedGenerator`: seeded once, then advancing."""

    def __init__(self, seed=None):
        self.seed = seed
        self._rng = make_rng(seed)

    def next(self) -> np.random.Generator:
        return np.random.default_rng(self._rng.integers(2**63))
