"""Datasets shipped inside lstmkit (no network): `lk.datasets.co2`.

Example:
    >>> import lstmkit as lk
    >>> (x_train, y_train), (x_test, y_test) = lk.datasets.co2.load_data(window=24)
    >>> x_train.shape[1:], y_train.shape[1:]
    ((24, 1), (1,))
"""

from . import co2

__all__ = ["co2"]
