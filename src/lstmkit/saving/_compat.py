"""Model configs from files: checked as data, and Keras 2 configs rewritten as Keras 3's.

`check_config` walks every layer entry before anything is built: a class that
lstmkit does not have (a `Lambda`, a custom or unknown class, GRU) gets a
`ValueError` naming the layer; `module` and `registered_name` are never imported;
sizes such as `units=10**12` are refused before any allocation.

`normalize_config` rewrites a tf.keras 2 config into Keras 3's form, as Keras 3's
legacy loader does (keras/src/legacy/saving/legacy_h5_format.py,
keras/src/models/functional.py `functional_from_config`): `batch_input_shape` becomes
an `InputLayer`'s `batch_shape`, `time_major` and `input_length` go,
`hard_sigmoid` keeps Keras 2's formula (`_keras2_activations=True`), Keras 2's
`CuDNNGRU` / `CuDNNLSTM` become `GRU(reset_after=True)` / `LSTM` (their weights are
converted from cuDNN's layout by `_cudnn.py` when they are set), node lists
`[layer, node, tensor, kwargs]` become `{"args", "kwargs"}` with `__keras_tensor__`
entries, and `Model` / `Functional` class names become Keras 3's `Functional`.

Example:
    >>> cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": [
    ...     {"class_name": "LSTM", "config": {"name": "lstm", "units": 4,
    ...      "batch_input_shape": [None, 5, 3], "time_major": False,
    ...      "recurrent_activation": "hard_sigmoid"}}]}}
    >>> out = normalize_config(cfg, keras2=True)
    >>> [layer["class_name"] for layer in out["config"]["layers"]]
    ['InputLayer', 'LSTM']
    >>> out["config"]["layers"][1]["config"]["_keras2_activations"]
    True
"""

from __future__ import annotations

import copy

from .. import _registration

#: Largest value accepted for a size in a config (units, input_dim, output_dim, n, a shape).
MAX_DIM = 1 << 24
#: Largest number of weights a config may ask for before any file check (2**31 floats).
MAX_WEIGHTS = 1 << 31
MAX_DEPTH = 64
MAX_LAYERS = 100_000

_MODEL_CLASSES = ("Sequential", "Functional", "Model")
_NOT_YET = ("ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D")
#: Keras 2's cuDNN-only layers and what they are in Keras 3 (same math, another weight layout).
_CUDNN = {"CuDNNGRU": ("GRU", {"reset_after": True}), "CuDNNLSTM": ("LSTM", {})}
#: Layers and cells whose configs hold activations and the Keras 2 `time_major` key.
_RECURRENT = ("LSTM", "LSTMCell", "GRU", "GRUCell", "SimpleRNN", "SimpleRNNCell", "RNN")
_CODE_CARRIERS = ("Lambda", "TFOpLambda", "SlicingOpLambda", "TFOpLayer")
_RNN_CLASSES = ("LSTM", "Bidirectional", "GRU", "SimpleRNN", "RNN")
# Ops (not layers) a Keras 3 functional config records to compute masks, e.g. NotEqual after
# Embedding(mask_zero=True); lstmkit.models.config skips them when it builds the graph.
MASK_OPS = ("NotEqual", "Any", "Equal", "All", "LogicalAnd", "LogicalOr", "ExpandDims")
_SIZE_KEYS = ("units", "input_dim", "output_dim", "n")
_WRAPPED_KEYS = ("layer", "backward_layer")
_KERAS_OPTIMIZERS = ("Adam", "AdamW", "SGD", "RMSprop", "Adagrad", "Adadelta", "Adamax", "Nadam",
                     "Ftrl", "Lion")


def _name(entry) -> str:
    config = entry.get("config") if isinstance(entry, dict) else None
    name = (config or {}).get("name") if isinstance(config, dict) else None
    return name if isinstance(name, str) else (entry.get("name") if isinstance(entry, dict)
                                               and isinstance(entry.get("name"), str) else "?")


def _check_size(value, key, where):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}: {key} must be a positive integer, got {value!r}")
    if value <= 0 or value > MAX_DIM:
        raise ValueError(f"{where}: {key}={value} is out of range (1..{MAX_DIM}); refusing to "
                         "allocate for it")


def _check_shape(shape, key, where):
    if shape is None:
        return
    if not isinstance(shape, (list, tuple)) or len(shape) > 8:
        raise ValueError(f"{where}: {key} must be a list of at most 8 dimensions, got "
                         f"{shape!r:.80}")
    for d in shape:
        if d is not None:
            _check_size(d, key, where)


def _known_class(class_name: str, where: str):
    from .. import layers

    if class_name in _CODE_CARRIERS:
        raise ValueError(f"{where} is a {class_name} layer: its Python code is stored in the "
                         "file, and lstmkit never runs code from a model file (no unsafe mode)")
    if class_name in _NOT_YET:
        raise ValueError(f"{where} is a {class_name} layer, which lstmkit does not support yet "
                         "(LSTM, GRU, SimpleRNN and RNN(cell) only)")
    if class_name in _CUDNN:
        return  # read as its Keras 3 twin (normalize_config)
    try:
        layers.get(class_name)
    except ValueError:
        raise ValueError(f"{where} has class {class_name!r}, which lstmkit does not know; "
                         "lstmkit builds only its own layer classes and classes registered "
                         "with lk.saving.register_keras_serializable, and never imports a "
                         "module named in a file") from None


def _min_weights(class_name, config) -> int:
    """A lower bound on the weights a layer config allocates (inputs unknown)."""
    units = config.get("units")
    if class_name == "LSTM" and isinstance(units, int):
        return 4 * units * (units + 1)
    gates = {"GRU": 3, "SimpleRNN": 1}.get(class_name)
    if gates is not None and isinstance(units, int):
        return gates * units * (units + 1)
    if class_name == "Embedding":
        a, b = config.get("input_dim"), config.get("output_dim")
        if isinstance(a, int) and isinstance(b, int):
            return a * b
    if class_name == "Dense" and isinstance(units, int):
        return units
    return 0


def check_layer_entry(entry, where: str = "model", depth: int = 0) -> int:
    """Check one layer entry (and wrapped layers); returns its minimal weight count."""
    if depth == 0 and isinstance(entry, dict) and entry.get("class_name") in MASK_OPS:
        return 0  # an op Keras records for masks; lstmkit computes masks itself, skips it
    if depth > MAX_DEPTH:
        raise ValueError(f"{where}: layers nested deeper than {MAX_DEPTH}")
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise ValueError(f"{where}: a layer entry must be an object with a 'class_name' string, "
                         f"got {entry!r:.80}")
    class_name = entry["class_name"]
    config = entry.get("config", {})
    where = f"layer {_name(entry)!r} ({where})" if depth == 0 else f"{where} > {_name(entry)!r}"
    if not isinstance(config, dict):
        raise ValueError(f"{where}: 'config' must be an object, got {type(config).__name__}")
    registered = entry.get("registered_name")
    if isinstance(registered, str) and _registration.get_registered_object(registered):
        pass  # a class this process registered (lk.saving.register_keras_serializable)
    elif registered not in (None, class_name) and class_name not in _MODEL_CLASSES:
        _known_class(str(registered), where)  # a custom class nobody registered: refused
    else:
        _known_class(class_name, where)
    for key in _SIZE_KEYS:
        if key in config and config[key] is not None:
            _check_size(config[key], key, where)
    for key in ("batch_shape", "batch_input_shape", "shape", "target_shape", "dims"):
        if key in config:
            _check_shape(config[key], key, where)
    total = _min_weights(class_name, config)
    for key in _WRAPPED_KEYS:
        if isinstance(config.get(key), dict):
            inner = check_layer_entry(config[key], where, depth + 1)
            total += inner * (2 if class_name == "Bidirectional" and key == "layer"
                              and "backward_layer" not in config else 1)
    for cell in _cell_entries(config, where):  # RNN(cell), StackedRNNCells(cells)
        total += check_layer_entry(cell, where, depth + 1)
    if total > MAX_WEIGHTS:
        raise ValueError(f"{where} would allocate at least {total} weights (limit "
                         f"{MAX_WEIGHTS}); refusing")
    return total


def check_config(entry, where: str = "config") -> int:
    """Check a whole model entry as data; returns the minimal number of weights it needs."""
    if not isinstance(entry, dict) or not isinstance(entry.get("class_name"), str):
        raise ValueError(f"{where}: a model entry with 'class_name' and 'config' expected, got "
                         f"{entry!r:.80}")
    class_name = entry["class_name"]
    registered = entry.get("registered_name")
    if isinstance(registered, str) and _registration.get_registered_object(registered):
        return check_layer_entry(entry, where)  # a registered subclassed model
    if class_name not in _MODEL_CLASSES:
        check_layer_entry(entry, where)
        raise ValueError(f"{where}: the file holds a single {class_name} layer, not a model "
                         "(Sequential or Functional)")
    config = entry.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError(f"{where}: {class_name} config must have a 'layers' list")
    if len(config["layers"]) > MAX_LAYERS:
        raise ValueError(f"{where}: {len(config['layers'])} layers is more than {MAX_LAYERS}")
    total = 0
    for i, layer in enumerate(config["layers"]):
        total += check_layer_entry(layer, f"{where}, {class_name} layer {i}")
        if total > MAX_WEIGHTS:
            raise ValueError(f"{where}: the model would allocate at least {total} weights "
                             f"(limit {MAX_WEIGHTS}); refusing")
    return total


def _cell_entries(config, where) -> list:
    """The cell entries an RNN (`cell`) or StackedRNNCells (`cells`) config holds."""
    cells = []
    if "cell" in config:
        cells.append(config["cell"])
    if "cells" in config:
        if not isinstance(config["cells"], list):
            raise ValueError(f"{where}: 'cells' must be a list of cell entries")
        cells += config["cells"]
    return cells


# -- Keras 2 -> Keras 3 -----------------------------------------------------------------------
def _tensor(ref, shapes=None):
    name, node_index, tensor_index = ref[:3]
    return {"class_name": "__keras_tensor__",
            "config": {"shape": None, "dtype": None,
                       "keras_history": [name, node_index, tensor_index]}}


def _is_ref(value) -> bool:
    return (isinstance(value, list) and len(value) in (3, 4) and isinstance(value[0], str)
            and isinstance(value[1], int) and isinstance(value[2], int))


def _convert_kwargs(value):
    if _is_ref(value):
        return _tensor(value)
    if isinstance(value, list):
        return [_convert_kwargs(v) for v in value]
    if isinstance(value, dict):
        return {k: _convert_kwargs(v) for k, v in value.items()}
    return value


def _convert_node(node, class_name, where):
    """Keras 2 `[[name, node, tensor, kwargs], ...]` -> Keras 3 `{"args", "kwargs"}`."""
    if isinstance(node, dict):
        return node  # already Keras 3's form
    if not isinstance(node, list) or not node or not all(_is_ref(r) for r in node):
        raise ValueError(f"{where}: inbound node must be a list of [layer, node, tensor, kwargs], "
                         f"got {node!r:.80}")
    tensors = [_tensor(r) for r in node]
    kwargs = {}
    for ref in node:
        if len(ref) == 4 and isinstance(ref[3], dict):
            kwargs.update(_convert_kwargs(ref[3]))
    if class_name in _RNN_CLASSES and len(tensors) > 1:
        # tf.keras records initial states as extra inbound tensors of the RNN call.
        args = [tensors[0]]
        kwargs["initial_state"] = tensors[1:]
    elif len(tensors) == 1:
        args = [tensors[0]]
    else:
        args = [tensors]
    return {"args": args, "kwargs": kwargs}


def _io_layers(value):
    """Keras 2 lists of triples -> Keras 3 (a flat triple for one tensor)."""
    if isinstance(value, list) and len(value) == 1 and _is_ref(value[0]):
        return list(value[0][:3])
    if isinstance(value, list) and all(_is_ref(v) for v in value):
        return [list(v[:3]) for v in value]
    return value


def _normalize_layer(entry, keras2, where):
    entry = dict(entry)
    class_name = entry["class_name"]
    config = dict(entry.get("config") or {})
    entry.setdefault("module", "keras.layers")
    entry.setdefault("registered_name", None)
    if class_name == "InputLayer" and "batch_input_shape" in config:
        config.setdefault("batch_shape", config.pop("batch_input_shape"))
    if class_name in _CUDNN:  # Keras 2's cuDNN-only layers: the Keras 3 layer with cuDNN's math
        class_name, fixed = _CUDNN[class_name]
        entry["class_name"] = class_name
        config.update(fixed)
    if class_name in _RECURRENT:
        if config.pop("time_major", False):
            raise ValueError(f"{where}: time_major=True (inputs as (T, B, D)) was removed in "
                             "Keras 3 and is not supported; transpose the inputs instead")
        if keras2 and "hard_sigmoid" in (config.get("activation"),
                                         config.get("recurrent_activation")):
            config["_keras2_activations"] = True  # 0.2 x + 0.5, not Keras 3's relu6(x + 3) / 6
    if class_name == "Embedding":
        config.pop("input_length", None)
    if config.get("activity_regularizer", 0) is None and class_name not in (
            "LSTM", "GRU", "SimpleRNN"):
        config.pop("activity_regularizer")
    for key in _WRAPPED_KEYS:
        if isinstance(config.get(key), dict):
            inner = _normalize_layer(config[key], keras2, f"{where} > {key}")
            inner["config"].pop("batch_input_shape", None)
            config[key] = inner
    if isinstance(config.get("cell"), dict):
        config["cell"] = _normalize_layer(config["cell"], keras2, f"{where} > cell")
    if isinstance(config.get("cells"), list):
        config["cells"] = [_normalize_layer(c, keras2, f"{where} > cells")
                           if isinstance(c, dict) else c for c in config["cells"]]
    entry["config"] = config
    if "inbound_nodes" in entry and isinstance(entry["inbound_nodes"], list):
        entry["inbound_nodes"] = [_convert_node(n, class_name, where)
                                  for n in entry["inbound_nodes"]]
    return entry


def normalize_config(entry: dict, keras2: bool) -> dict:
    """A Keras 3 model entry from a Keras 3 or tf.keras 2 one (the input is not modified).

    Args:
        entry: `{"class_name": "Sequential"|"Functional"|"Model", "config": {...}}`.
        keras2: the file was written by Keras 2 (tf.keras): Keras 2's formulas apply.
    """
    entry = copy.deepcopy(entry)
    class_name = entry["class_name"]
    config = entry["config"]
    if "layers" not in config:  # a registered subclassed model: its own config
        return entry
    layers = []
    for i, layer in enumerate(config["layers"]):
        where = f"layer {_name(layer)!r}"
        layer = _normalize_layer(layer, keras2, where)
        batch_shape = layer["config"].pop("batch_input_shape", None)
        if (class_name == "Sequential" and i == 0 and layer["class_name"] != "InputLayer"
                and batch_shape is not None):
            dtype = "int32" if layer["class_name"] == "Embedding" else "float32"
            layers.append({"module": "keras.layers", "class_name": "InputLayer",
                           "config": {"batch_shape": batch_shape, "dtype": dtype,
                                      "name": f"{_name(layer)}_input"},
                           "registered_name": None})
        layers.append(layer)
    config["layers"] = layers
    if class_name == "Sequential":
        entry.setdefault("module", "keras")
        entry.setdefault("registered_name", None)
    else:
        entry["class_name"] = "Functional"
        entry["module"] = "keras.src.models.functional"
        entry["registered_name"] = "Functional"
        for key in ("input_layers", "output_layers"):
            if key in config:
                config[key] = _io_layers(config[key])
    return entry


def normalize_compile_config(compile_config, keras2: bool):
    """Keras 3's `compile_config` from a file's; tf.keras 2 optimizer keys Keras 3 dropped go."""
    if not isinstance(compile_config, dict) or not keras2:
        return compile_config
    out = copy.deepcopy(compile_config)
    opt = out.get("optimizer")
    if isinstance(opt, dict) and isinstance(opt.get("class_name"), str):
        # tf-keras writes its own built-in optimizers as "Custom>Adam" in legacy .h5 files.
        name = opt["class_name"]
        if name.startswith("Custom>") and name[len("Custom>"):] in _KERAS_OPTIMIZERS:
            opt["class_name"] = name[len("Custom>"):]
    if isinstance(opt, dict) and isinstance(opt.get("config"), dict):
        config = opt["config"]
        for key in ("jit_compile", "is_legacy_optimizer", "decay"):
            config.pop(key, None)
        if "lr" in config:
            config.setdefault("learning_rate", config.pop("lr"))
    for key in ("metrics", "weighted_metrics"):
        # tf-keras .h5 nests metrics per output: [[...]] for a single-output model.
        value = out.get(key)
        if isinstance(value, list) and len(value) == 1 and isinstance(value[0], list):
            out[key] = value[0]
    return out
