"""Legacy HDF5 model files (keras/src/legacy/saving/legacy_h5_format.py; tf-keras
saving/legacy/hdf5_format.py), read and written safely.

Root attributes `model_config` (JSON), `keras_version`, `backend`; a group
`model_weights` with attribute `layer_names`, one subgroup per layer with attribute
`weight_names` (Keras 2 names end in ":0"). Keras loads by order: the layers that
have weights, in model order, take the file's layers that have weights, in file
order; inside a layer, weights go by position.

Example:
    >>> from lstmkit.saving._legacy_h5 import LegacyH5
    >>> f = LegacyH5("tests/data/keras_files/tfkeras2_classifier.h5")
    >>> f.keras_version, [name for name, _ in f.layers() if _]
    ('2.21.0', ['lstm', 'logits'])
"""

from __future__ import annotations

import io
import json
import os

import numpy as np

from ..layers._snapshot import publish
from . import _cudnn, _h5


class LegacyH5:
    """A legacy `.h5` model (or weights) file: config, version and weights by layer.

    Read in `_sandbox.run_isolated` (a corrupt file cannot hang the caller): first the
    attributes and every listed weight's shape and dtype, then (`read_many`) only the
    weights the model takes, each checked against its expected shape before reading.
    """

    def __init__(self, source, path: str | None = None):
        from . import _sandbox
        from ._weights import _source_size

        self.source = os.fspath(source) if isinstance(source, os.PathLike) else source
        self.path = path or str(source)
        self.size = _source_size(self.source)
        content = _sandbox.run_isolated(_h5.index_legacy, self.source, self.path,
                                        what=self.path, memory=self.size)
        self.keras_version = content["keras_version"]
        self.backend = content["backend"]
        self.has_layer_names = content["has_layer_names"]
        self._config = content["model_config"]
        self._training_config = content["training_config"]
        self._layers = [(name, [(tuple(shape), (name, wname, dtype))
                                for wname, shape, dtype in weights])
                        for name, weights in content["layers"]]

    def close(self):
        self._layers = []

    def model_config(self):
        """The `model_config` entry as a dict, or None for a weights-only file."""
        if self._config is None:
            return None
        try:
            value = json.loads(self._config)
        except (ValueError, RecursionError) as err:
            raise ValueError(f"{self.path}: model_config is not valid JSON: {err}") from None
        if not isinstance(value, dict):
            raise ValueError(f"{self.path}: model_config must be a JSON object")
        return value

    def compile_config(self):
        """Keras 3's `compile_config` from the legacy `training_config`, or None."""
        if self._training_config is None:
            return None
        try:
            value = json.loads(self._training_config)
        except (ValueError, RecursionError) as err:
            raise ValueError(f"{self.path}: training_config is not valid JSON: {err}") from None
        if not isinstance(value, dict):
            raise ValueError(f"{self.path}: training_config must be a JSON object")
        return {"optimizer": value.get("optimizer_config"), "loss": value.get("loss"),
                "metrics": value.get("metrics"), "loss_weights": value.get("loss_weights"),
                "weighted_metrics": value.get("weighted_metrics")}

    def layers(self):
        """[(layer name, [(shape, array)])] in the file's order."""
        if not self.has_layer_names:
            raise ValueError(f"{self.path}: no 'layer_names': not a Keras .h5 model or weights "
                             "file")
        return self._layers

    def total_elements(self) -> int:
        return sum(int(np.prod(shape, dtype=np.float64)) for _, entries in self.layers()
                   for shape, _ in entries)

    @staticmethod
    def dtype(entry) -> np.dtype:
        return np.dtype(entry[1][2])

    def read_many(self, items) -> list:
        """Arrays for [(entry, expected shape)], in one sandboxed read; nothing else is read."""
        from . import _sandbox

        wanted = [[name, wname, list(shape)] for (_, (name, wname, _)), shape in items]
        nbytes = sum(int(np.prod(shape, dtype=np.float64)) * self.dtype(entry).itemsize
                     for entry, shape in items)
        return _sandbox.run_isolated(_h5.read_legacy, self.source, self.path, wanted,
                                     what=self.path, size=nbytes, memory=self.size + nbytes)

    def read(self, entry, expected_shape, what):
        return self.read_many([(entry, entry[0] if expected_shape is None
                                else tuple(expected_shape))])[0]


def load_by_order(legacy: LegacyH5, model, path: str, skip=()) -> None:
    """Set the model's weights from a legacy file, matched by order, all checked first.

    `skip`: file layers already used otherwise (an adapted Normalization's statistics).
    """
    file_layers = [(n, e) for n, e in legacy.layers() if e and n not in skip]
    model_layers = [layer for layer in model.layers if layer.weights]
    if len(file_layers) != len(model_layers):
        raise ValueError(
            f"{path}: the file has weights for {len(file_layers)} layers "
            f"({', '.join(n for n, _ in file_layers)}), the model has "
            f"{len(model_layers)} layers with weights "
            f"({', '.join(layer.name for layer in model_layers)})")
    checked = []  # (variable, entry): (shape, key in the file) or (shape, converted array)
    for layer, (name, entries) in zip(model_layers, file_layers):
        variables = layer.weights
        entries = _from_cudnn(legacy, layer, entries)
        if len(entries) != len(variables):
            raise ValueError(f"{path}: layer {layer.name!r} expects {len(variables)} weights, "
                             f"the file's layer {name!r} holds {len(entries)}")
        for var, entry in zip(variables, entries):
            what = f"weight {var.name!r} of layer {layer.name!r}"
            if entry[0] != tuple(var.shape):
                raise ValueError(f"{path}: {what} has shape {entry[0]} in the file (layer "
                                 f"{name!r}), the model expects {tuple(var.shape)}")
            dtype = _entry_dtype(legacy, entry)
            if dtype.kind != "f":
                raise ValueError(f"{path}: {what} has dtype {dtype}; a float was expected")
            checked.append((var, entry))
    unread = [(entry, tuple(var.shape)) for var, entry in checked
              if not isinstance(entry[1], np.ndarray)]
    read = iter(legacy.read_many(unread) if unread else ())
    values = [entry[1] if isinstance(entry[1], np.ndarray) else next(read)
              for _, entry in checked]
    publish([var for var, _ in checked], values, copy=False)  # fresh arrays: no copy


def _entry_dtype(legacy, entry) -> np.dtype:
    return entry[1].dtype if isinstance(entry[1], np.ndarray) else legacy.dtype(entry)


def _from_cudnn(legacy, layer, entries):
    """A file layer's entries, with Keras 2 CuDNNGRU / CuDNNLSTM weights (cuDNN's layout,
    told apart by the bias shape) read and converted for the GRU / LSTM the config became:
    those entries hold the converted array instead of the file's key."""
    subs = [layer.forward_layer, layer.backward_layer] if hasattr(layer, "forward_layer") \
        else [layer]
    if len(entries) != 3 * len(subs):
        return entries
    out = []
    for k, sub in enumerate(subs):
        part = entries[3 * k:3 * k + 3]
        kind = type(sub).__name__
        if _cudnn.is_cudnn_layout(kind, [shape for shape, _ in part]):
            if kind == "GRU" and not sub.cell.reset_after:
                raise ValueError(f"layer {sub.name!r}: CuDNNGRU weights fit GRU(reset_after="
                                 "True) only, not reset_after=False")
            arrays = legacy.read_many([(entry, entry[0]) for entry in part])
            part = [(a.shape, a) for a in _cudnn.from_cudnn(kind, arrays)]
        out += part
    return out


def legacy_h5_bytes(model, model_config: dict | None, keras_version: str) -> bytes:
    """A legacy `.h5` (Keras 3 style names, no ":0"), with `model_config` if given."""
    import h5py

    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        if model_config is not None:
            f.attrs["model_config"] = json.dumps(model_config)
        f.attrs["keras_version"] = keras_version
        f.attrs["backend"] = "numpy"
        group = f.create_group("model_weights") if model_config is not None else f
        group.attrs["keras_version"] = keras_version
        group.attrs["backend"] = "numpy"
        layers = model.layers
        group.attrs["layer_names"] = np.array([layer.name.encode() for layer in layers])
        for layer in layers:
            g = group.create_group(layer.name)
            names = [var.path.encode() for var in layer.weights]
            g.attrs["weight_names"] = np.array(names) if names else np.zeros(0)
            for var in layer.weights:
                g.create_dataset(var.path, data=np.asarray(var.value))
        if model_config is not None:
            group.create_group("top_level_model_weights").attrs["weight_names"] = np.zeros(0)
    return buffer.getvalue()
