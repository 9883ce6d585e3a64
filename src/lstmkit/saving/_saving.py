"""`load_model`, `save_model`, `load_weights`, `save_weights`: Keras files in and out.

The kind of a file is read from its first bytes (zip or HDF5), not trusted from its
name. Loading: read the file as data (`_archive`, `_h5`, `_legacy_h5`), check the
config (`_compat.check_config`: known classes only, sane sizes, no more weights
than the file holds), rewrite Keras 2 configs as Keras 3's, build the model with
`lstmkit.models.deserialize`, then set every weight after checking its shape.
Saving writes exactly one file, `filepath`, from bytes made in memory.
"""

from __future__ import annotations

import contextlib
import datetime
import io
import json
import os
import warnings
import zipfile

import numpy as np

from .. import _files, _registration
from . import _archive, _budget, _compat, _legacy_h5, _weights

#: The Keras format version lstmkit writes (config.json and weights as Keras 3.15 writes them).
KERAS_FORMAT_VERSION = "3.15.1"
ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def sniff(path) -> str:
    """"keras" (zip) or "h5" (HDF5) from the file's first bytes; ValueError otherwise."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"{path} is a directory; a .keras or .h5 file was expected "
                         "(unzipped Keras directories and SavedModels are not supported)")
    _files.check_regular_file(path, "model file")  # a FIFO would block open() forever
    with open(path, "rb") as f:
        head = f.read(8)
    if head.startswith((ZIP_MAGIC, EMPTY_ZIP_MAGIC)):
        return "keras"
    if head == HDF5_MAGIC:
        return "h5"
    if not head:
        raise ValueError(f"{path} is empty; a .keras or .h5 model file was expected")
    raise ValueError(f"{path} is neither a .keras (zip) nor an .h5 (HDF5) file "
                     f"(it starts with {head!r})")


def _is_keras2(version, config) -> bool:
    module = str(config.get("module") or "") if isinstance(config, dict) else ""
    if module.startswith(("tf_keras", "tensorflow")):
        return True
    return isinstance(version, str) and version.split(".")[0] in ("2", "1")


class LoadedFile:
    """What `read_model_file` found: the Keras 3 config, writer version, weights store."""

    def __init__(self, path, kind, config, keras_version, backend, store, keras2,
                 compile_config=None, held=None):
        self.path, self.kind, self.config = path, kind, config
        self.compile_config, self.held = compile_config, held
        self.saved_by = None  # "lstmkit x.y.z" for files lstmkit wrote
        self.keras_version, self.backend, self.store, self.keras2 = (
            keras_version, backend, store, keras2)

    def close(self):
        if self.store is not None:
            self.store.close()


def read_model_file(filepath) -> LoadedFile:
    """Read and check a model file without building anything (used by `lstmkit info`)."""
    path = os.fspath(filepath)
    kind = sniff(path)
    if kind == "keras":
        archive = _archive.read_archive(path)
        version = archive.metadata.get("keras_version")
        config = archive.config
        compile_config = config.get("compile_config")
        store = (_weights.H5Store({"path": path, "member": _archive.WEIGHTS_H5}, path)
                 if archive.weights_format == "h5" else _weights.NpzStore(archive.weights, path))
        backend = None
    else:
        store = _legacy_h5.LegacyH5(path)
        config = store.model_config()
        if config is None:
            store.close()
            raise ValueError(f"{path} holds weights only (no model_config); build the model "
                             "and call model.load_weights(path)")
        version, backend = store.keras_version, store.backend
        try:
            compile_config = store.compile_config()
        except ValueError:
            compile_config = None  # the model itself is still usable
        if isinstance(version, str) and version.startswith("1."):
            store.close()
            raise ValueError(f"{path} was written by Keras {version}; Keras 1 files are not "
                             "supported")
    try:
        needed = _compat.check_config(config, f"{path}: config")
        held = store.total_elements()
        if needed > held:
            raise ValueError(f"{path}: the config asks for at least {needed} weights but the "
                             f"file holds {held}; refusing to build it")
        keras2 = _is_keras2(version, config)
        config = _compat.normalize_config(config, keras2)
        compile_config = _compat.normalize_compile_config(compile_config, keras2)
    except BaseException:
        store.close()
        raise
    consumed = _fill_adapted_normalization(config, store, kind)
    loaded = LoadedFile(path, kind, config, version, backend, store, keras2, compile_config, held)
    loaded.stats_layers = consumed
    if kind == "keras" and isinstance(archive.metadata.get("saved_by"), str):
        loaded.saved_by = archive.metadata["saved_by"]
    return loaded


def _fill_adapted_normalization(config, store, kind):
    """An adapted Keras Normalization keeps mean/variance as variables (adapt_mean,
    adapt_variance, count) and None in its config; lstmkit's takes them in the config."""
    entries = config["config"].get("layers", [])  # none in a subclassed model's config
    targets = [e for e in entries if e.get("class_name") == "Normalization"
               and (e.get("config") or {}).get("mean") is None]
    consumed = set()
    if not targets:
        return consumed
    if kind == "keras":
        kept = [e for e in entries if e.get("class_name") not in _compat.MASK_OPS
                and (e.get("class_name") != "InputLayer" or config["class_name"] != "Sequential")]
        paths = dict(zip(map(id, kept), (p for _, p in _weights.layer_paths(
            [type(e["class_name"], (), {})() for e in kept]))))
        found = {id(e): store.get(paths[id(e)]) for e in targets}
    else:
        by_name = dict(store.layers())
        found = {id(e): by_name.get(e["config"].get("name")) for e in targets}
    for entry in targets:
        arrays = found.get(id(entry))
        if not arrays or len(arrays) < 2:
            continue  # build reports the missing statistics by name
        mean, variance = (np.asarray(a, np.float64)
                          for a in store.read_many([(a, a[0]) for a in arrays[:2]]))
        entry["config"]["mean"] = mean.tolist()
        entry["config"]["variance"] = variance.tolist()
        consumed.add(entry["config"].get("name"))
    return consumed


def _build(loaded: LoadedFile):
    from .. import models

    budget = (_budget.weight_budget(loaded.held, loaded.path) if loaded.held is not None
              else contextlib.nullcontext())
    try:
        with budget:
            model = models.deserialize(loaded.config)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError,
            RecursionError) as err:
        raise ValueError(f"{loaded.path}: cannot build the model from its config: "
                         f"{type(err).__name__}: {err}") from None
    if loaded.keras2:
        _use_keras2_hard_sigmoid(model)
    return model


def _sublayers(layer):
    yield layer
    for attr in ("forward_layer", "backward_layer", "layer", "cell"):
        sub = getattr(layer, attr, None) if attr in vars(layer) else None
        if sub is not None:
            yield from _sublayers(sub)
    for sub in vars(layer).get("cells", ()):  # StackedRNNCells
        yield from _sublayers(sub)


def _use_keras2_hard_sigmoid(model):
    """Every cell's "hard_sigmoid" is Keras 2's in a tf.keras file. The config carries
    `_keras2_activations`, but a Bidirectional rebuilds its halves from get_config, which
    does not keep that flag, so it is set again here on every cell."""
    from .. import activations

    keras3 = activations.get("hard_sigmoid")
    for layer in model.layers:
        for sub in _sublayers(layer):
            for attr in ("activation", "recurrent_activation"):
                if type(sub).__name__ in ("LSTMCell", "GRUCell", "SimpleRNNCell") and \
                        getattr(sub, attr, None) is keras3:
                    setattr(sub, attr, activations.hard_sigmoid_keras2)


def _config_layers(model, config):
    """The model's layers in the order of the file's config (the order Keras saved)."""
    if "layers" not in config["config"]:  # a subclassed model: weights by attribute paths
        return model.layers
    entries = config["config"]["layers"]
    names = [e.get("name") or (e.get("config") or {}).get("name") for e in entries
             if (e.get("class_name") != "InputLayer" or config["class_name"] != "Sequential")
             and e.get("class_name") not in _compat.MASK_OPS]
    by_name = {layer.name: layer for layer in model.layers}
    if config["class_name"] != "Sequential" and all(n in by_name for n in names):
        return [by_name[n] for n in names]
    return model.layers


def _assign(model, loaded: LoadedFile):
    if loaded.kind == "keras":
        groups = _weights.model_var_groups(model, _config_layers(model, loaded.config))
        _weights.load_groups(loaded.store, groups, loaded.path)
    else:
        _legacy_h5.load_by_order(loaded.store, model, loaded.path,
                                 skip=getattr(loaded, "stats_layers", ()))


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """Load a Keras model file (`.keras`, or legacy `.h5`) written by Keras 3 or tf.keras 2.

    Nothing in the file is run or imported: only lstmkit's own layer classes are built.
    `custom_objects` are not supported, and `safe_mode` cannot be turned off.

    Args:
        filepath: path to a `.keras` or `.h5` file.

    Returns:
        An `lk.Sequential` or functional `lk.Model` with the file's weights.

    Raises:
        ValueError: the file is not a valid model file, or holds something lstmkit
            does not build (a Lambda, a custom class, GRU, ...), named in the message.
        OSError: the file cannot be read.

    Example:
        >>> import lstmkit as lk
        >>> model = lk.models.load_model("tests/data/keras_files/keras3_classifier.keras")
        >>> model.output_shape
        (None, 3)
    """
    if custom_objects:
        raise ValueError("custom_objects are not supported: lstmkit builds only its own layers")
    if safe_mode is False:
        raise ValueError("safe_mode=False is not supported: lstmkit never runs code from a file")
    loaded = read_model_file(filepath)
    try:
        model = _build(loaded)
        _assign(model, loaded)
        if compile and isinstance(loaded.compile_config, dict) and loaded.compile_config:
            if _compile(model, loaded) and loaded.kind == "keras":
                _weights.restore_optimizer(model, loaded.store, loaded.path)
    finally:
        loaded.close()
    return model


def _compile(model, loaded):
    """Compile from the file's compile_config, as Keras does; warn (like Keras) if we can't."""
    from ..training import trainer

    try:
        return trainer.compile_from_config(model, loaded.compile_config)
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        warnings.warn(f"{loaded.path}: the model was loaded but not compiled: its "
                      f"compile_config could not be used ({err}); call model.compile()",
                      UserWarning, stacklevel=3)
        return False


# -- saving ----------------------------------------------------------------------------------
def _check_savable(model):
    from ..activations import hard_sigmoid_keras2

    if not model._traced:  # a subclassed model's own config names its layers' classes
        for layer in model.layers:
            cls = type(layer)
            if (layer._traced or cls.__module__.split(".")[0] != "lstmkit") and \
                    not _registration.is_registered(cls):
                raise ValueError(
                    f"Layer {layer.name!r} is an instance of the custom class "
                    f"{cls.__name__!r}, which is not registered: decorate it with "
                    f"@lk.saving.register_keras_serializable() so that a file can name it")
    for layer in model.layers:
        for sub in _sublayers(layer):
            if hard_sigmoid_keras2 in (getattr(sub, "activation", None),
                                       getattr(sub, "recurrent_activation", None)):
                raise ValueError(
                    f"Layer {layer.name!r} uses Keras 2's hard_sigmoid (0.2 x + 0.5), which a "
                    "Keras 3 file cannot express: Keras would compute relu6(x + 3) / 6")


def _write(path, data: bytes, overwrite: bool):
    # Atomic: a save that fails part-way (disk full, a kill) leaves the old file as it was.
    _files.atomic_write(path, data, overwrite=overwrite)


def model_entry(model) -> dict:
    """The model's Keras 3 entry (config.json's content)."""
    from .. import models

    return models.serialize(model)


def keras_bytes(model) -> bytes:
    """The bytes of a `.keras` file for `model` (Keras 3.15's layout, members stored)."""
    from .. import __version__

    _check_savable(model)
    entry = model_entry(model)
    metadata = {"keras_version": KERAS_FORMAT_VERSION,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                "saved_by": f"lstmkit {__version__}"}
    weights = _weights.weights_h5_bytes(model)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(_archive.METADATA_FILENAME, json.dumps(metadata))
        zf.writestr(_archive.CONFIG_FILENAME, json.dumps(entry))
        zf.writestr(_archive.WEIGHTS_H5, weights)
    return buffer.getvalue()


def save_model(model, filepath, overwrite=True, zipped=None, **kwargs):
    """Save `model` as `.keras` (Keras 3 loads it) or legacy `.h5`; writes only `filepath`.

    Example:
        >>> import os, tempfile
        >>> import lstmkit as lk
        >>> model = lk.Sequential([lk.Input((5, 3)), lk.layers.LSTM(4)])
        >>> path = os.path.join(tempfile.mkdtemp(), "m.keras")
        >>> lk.models.save_model(model, path)
        >>> lk.models.load_model(path).output_shape
        (None, 4)
    """
    if kwargs:
        raise TypeError(f"save_model got unexpected arguments {sorted(kwargs)}")
    path = os.fspath(filepath)
    if zipped is False:
        raise ValueError("zipped=False (a directory) is not supported; use a .keras file")
    if path.endswith(".keras"):
        _write(path, keras_bytes(model), overwrite)
    elif path.endswith((".h5", ".hdf5")):
        _check_savable(model)
        entry = model_entry(model)
        config = {"class_name": entry["class_name"], "config": entry["config"]}
        _write(path, _legacy_h5.legacy_h5_bytes(model, config, KERAS_FORMAT_VERSION), overwrite)
    else:
        raise ValueError(f"Invalid filepath extension for saving: {path!r}. Add a `.keras` "
                         "extension (or `.h5` for the legacy format)")


def save_weights(model, filepath, overwrite=True):
    """Write the weights as Keras 3's `.weights.h5` (paths `layers/<snake>/.../vars/<i>`)."""
    path = os.fspath(filepath)
    if not path.endswith(".weights.h5"):
        raise ValueError(f"The filename must end in `.weights.h5`. Received: filepath={path}")
    _write(path, _weights.weights_h5_bytes(model), overwrite)


def load_weights(model, filepath, skip_mismatch=False, **kwargs):
    """Set a model's weights from `.weights.h5` (Keras 3), a legacy `.h5`, or a `.keras`."""
    if kwargs:
        raise TypeError(f"load_weights got unexpected arguments {sorted(kwargs)}")
    if skip_mismatch:
        raise ValueError("skip_mismatch=True is not supported: every weight is checked")
    path = os.fspath(filepath)
    kind = sniff(path)
    if kind == "keras":
        archive = _archive.read_archive(path)
        store = (_weights.H5Store({"path": path, "member": _archive.WEIGHTS_H5}, path)
                 if archive.weights_format == "h5" else _weights.NpzStore(archive.weights, path))
        try:
            _weights.load_groups(store, _weights.model_var_groups(model), path)
        finally:
            store.close()
        return
    legacy = _legacy_h5.LegacyH5(path)
    if legacy.has_layer_names:
        _legacy_h5.load_by_order(legacy, model, path)
        return
    store = _weights.H5Store(path)
    try:
        _weights.load_groups(store, _weights.model_var_groups(model), path)
    finally:
        store.close()


def to_json(model, **kwargs) -> str:
    """The model's Keras 3 config entry as JSON (`model.to_json()`)."""
    return json.dumps(model_entry(model), **kwargs)


def model_from_json(json_string, custom_objects=None):
    """A model (fresh weights) from `to_json`'s string, Keras 3's or tf.keras 2's."""
    if custom_objects:
        raise ValueError("custom_objects are not supported: lstmkit builds only its own layers")
    try:
        entry = json.loads(json_string)
    except (TypeError, ValueError, RecursionError) as err:
        raise ValueError(f"model_from_json: not valid JSON: {err}") from None
    _compat.check_config(entry, "model_from_json")
    version = entry.get("keras_version") if isinstance(entry, dict) else None
    entry = _compat.normalize_config(entry, _is_keras2(version, entry))
    loaded = LoadedFile("model_from_json", "json", entry, version, None, None, False)
    return _build(loaded)
