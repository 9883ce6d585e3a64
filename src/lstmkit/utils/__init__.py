"""Utilities with Keras's names: seeding (`set_random_seed`)."""

from ._random import SeedGenerator, make_rng, set_random_seed

__all__ = ["SeedGenerator", "make_rng", "set_random_seed"]
