"""Models with Keras's names: `Sequential`, the functional `Model`, configs.

Example:
    >>> import lstmkit as lk
    >>> model = lk.Sequential([lk.Input((10, 8)), lk.layers.LSTM(4)])
    >>> model.output_shape
    (None, 4)
"""

from .. import layers as _layers
from .config import deserialize, serialize
from .model import Functional, Model
from .sequential import Sequential

# Models nest as layers: a file's nested "Sequential" / "Functional" entry deserializes.
_layers.register(Sequential)
_layers.register(Functional, "Model")


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a `.keras` / `.h5` model file (implemented by `lstmkit.saving`)."""
    from .. import saving as _io
    return _io.load_model(filepath, custom_objects=custom_objects, compile=compile,
                          safe_mode=safe_mode)


def save_model(model, filepath, overwrite=True, **kwargs):
    """Save a model as `.keras` (or legacy `.h5`) (implemented by `lstmkit.saving`)."""
    from .. import saving as _io
    return _io.save_model(model, filepath, overwrite=overwrite, **kwargs)


def model_from_json(json_string, custom_objects=None):
    """A model from `model.to_json()`'s string (implemented by `lstmkit.saving`)."""
    from .. import saving as _io
    return _io.model_from_json(json_string, custom_objects=custom_objects)


__all__ = [
    "Functional",
    "Model",
    "Sequential",
    "deserialize",
    "load_model",
    "model_from_json",
    "save_model",
    "serialize",
]
