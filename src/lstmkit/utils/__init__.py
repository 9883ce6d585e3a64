"""Utilities with Keras's names: seeding (`set_random_seed`), `to_categorical`, `pad_sequences`,
`timeseries_dataset_from_array`, `get_file`."""

from ._random import SeedGenerator, make_rng, set_random_seed
from ._sequences import pad_sequences, to_categorical
from ._session import clear_session


def __getattr__(name):
    # Loaded on first use: `get_file` pulls in urllib, tarfile and zipfile.
    if name == "get_file":
        from ._files import get_file
        return get_file
    if name == "timeseries_dataset_from_array":
        from ._timeseries import timeseries_dataset_from_array
        return timeseries_dataset_from_array
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["SeedGenerator", "clear_session", "get_file", "make_rng", "pad_sequences",
           "set_random_seed", "timeseries_dataset_from_array", "to_categorical"]


def __dir__():
    return sorted(set(globals()) | {"get_file", "timeseries_dataset_from_array"})
