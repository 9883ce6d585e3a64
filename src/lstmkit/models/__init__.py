"""Models with Keras's names: `Sequential`, the functional `Model`, configs.

Example:
    >>> import lstmkit as lk
    >>> model = lk.Sequential([lk.Input((10, 8)), lk.layers.LSTM(4)])
    >>> model.output_shape
    (None, 4)
"""

from .config import deserialize, serialize
from .model import Functional, Model
from .sequential import Sequential


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a `.keras` / `.h5` model file (implemented by `lstmkit.io`)."""
    from .. import io as _io
    return _io.load_model(filepath, compile=compile)


__all__ = ["Model", "Functional", "Sequential", "serialize", "deserialize", "load_model"]
