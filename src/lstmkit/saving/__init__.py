"""Keras model files, read and written safely: `.keras`, legacy `.h5`, `.weights.h5`.

A model file is untrusted data: loading never imports a module named in it, never
unpickles and never runs code from it (a `Lambda` or an unknown class gets a
`ValueError` naming the layer); zip members are read in memory by exact name after
size checks; HDF5 links, dtypes and shapes are checked before any read; saving
writes only the path it is given.

Example:
    >>> import lstmkit as lk
    >>> model = lk.models.load_model("tests/data/keras_files/tfkeras2_classifier.h5")
    >>> [layer.name for layer in model.layers]
    ['series', 'lstm', 'logits', 'probs']
"""

from .._registration import (
                      get_registered_name,
                      get_registered_object,
                      register_keras_serializable,
)
from ._saving import (
                      load_model,
                      load_weights,
                      model_from_json,
                      read_model_file,
                      save_model,
                      save_weights,
                      to_json,
)

__all__ = ["register_keras_serializable", "get_registered_name", "get_registered_object",
           "load_model", "save_model", "load_weights", "save_weights", "to_json",
           "model_from_json", "read_model_file"]
