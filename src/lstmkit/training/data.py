"""Deprecated: fit's data adapters are private now (`lstmkit.training._adapters`).

"data" in lstmkit means one thing: `lstmkit.data`, batches from files larger than memory.
`lstmkit.datasets` holds the shipped datasets. This old path keeps working for one release and
warns once, on its first import.

Example:
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", DeprecationWarning)
    ...     from lstmkit.training.data import as_arrays
    >>> [a.shape for a in as_arrays([[1.0, 2.0]], 1, "input")]
    [(1, 2)]
"""

import warnings

from ._adapters import (  # noqa: F401
    ArraySource,
    SequenceSource,
    as_arrays,
    batch_slices,
    class_weight_to_sample_weights,
    is_batch_sequence,
    num_samples,
    split_validation,
    take,
    unpack_validation_data,
)

warnings.warn("lstmkit.training.data is deprecated and will be removed in the next release; "
              "fit's adapters are private (lstmkit.training._adapters), and out-of-core "
              "batches are lstmkit.data", DeprecationWarning, stacklevel=2)
