"""Utilities with Keras's names: seeding (`set_random_seed`), `to_categorical`, `pad_sequences`."""

from ._random import SeedGenerator, make_rng, set_random_seed
from ._sequences import pad_sequences, to_categorical

__all__ = ["SeedGenerator", "make_rng", "pad_sequences", "set_random_seed", "to_categorical"]
