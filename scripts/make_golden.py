"""Make the golden files of tests/test_parity_keras.py with real Keras 3.

Run it with Keras 3.15 on the TensorFlow backend, the authority (DESIGN.md), in a
venv of its own, never the repo's:

    python3 -m venv /work/tfvenv
    /work/tfvenv/bin/pip install tensorflow-cpu==2.21.0 keras==3.15.1
    KERAS_BACKEND=tensorflow /work/tfvenv/bin/python scripts/make_golden.py

It also runs on the torch backend (`KERAS_BACKEND=torch .venv/bin/python ...`).
The backend and versions are written into the files.

Writes tests/data/golden_lstm.json (cases: Keras's `get_config()`, the calls and the
names of their arrays) and tests/data/golden_lstm.npz (weights, inputs, masks, initial
states, and every output Keras returned). Weights are drawn from a seeded NumPy
generator and set with `set_weights`, so lstmkit can load the very same numbers.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras

OUT = Path(__file__).resolve().parents[1] / "tests" / "data"
B, T, D, H = 3, 6, 4, 3

# Masks (B, T), True = a valid step.
MASKS = {
    "right_padded": [[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0]],
    "left_padded": [[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1], [0, 0, 0, 0, 1, 1]],
    "holes": [[1, 0, 1, 1, 0, 1], [0, 1, 1, 0, 1, 0], [1, 1, 0, 1, 0, 0]],
    "fully_masked_row": [[1, 1, 1, 0, 1, 1], [0, 0, 0, 0, 0, 0], [0, 1, 1, 1, 1, 0]],
}
ACTIVATIONS = ["tanh", "sigmoid", "hard_sigmoid", "relu", "linear", None, "softsign",
               "softplus", "elu", "selu", "gelu", "silu", "swish", "exponential", "relu6",
               "hard_tanh"]


class Golden:
    """Collects arrays (npz) and case descriptions (json)."""

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}
        self.cases: dict[str, dict] = {}
        self.rng = np.random.default_rng(20261129)

    def put(self, key, value):
        value = np.asarray(keras.ops.convert_to_numpy(value))
        assert key not in self.arrays, key
        self.arrays[key] = value
        return key

    def inputs(self, name, shape=(B, T, D), dtype="float32"):
        x = self.rng.normal(size=shape)
        if dtype in ("int32", "bool"):
            x = np.round(x * 1.5)
        return self.put(f"{name}/x", x.astype(dtype))

    def set_random_weights(self, name, layer, scale=0.5):
        """Seeded random weights in Keras's order, set on the Keras layer and stored."""
        keys = []
        for i, w in enumerate(layer.get_weights()):
            value = (self.rng.normal(size=w.shape) * scale).astype(w.dtype)
            keys.append(self.put(f"{name}/w{i}", value))
        layer.set_weights([self.arrays[k] for k in keys])
        return keys


def _outputs(g, name, tag, result):
    result = result if isinstance(result, (list, tuple)) else [result]
    flat = []
    for item in result:  # LSTMCell returns (h, [h, c])
        flat.extend(item if isinstance(item, (list, tuple)) else [item])
    return [g.put(f"{name}/{tag}/y{i}", y) for i, y in enumerate(flat)]


def add_case(g, name, layer, calls, input_shape=(B, T, D), dtype="float32", scale=0.5,
             note="", keep_init=False):
    """Build `layer`, set seeded weights, run `calls`, store everything.

    calls: list of dicts with optional keys mask (name in MASKS), initial_state (True),
    training, reset_before (stateful: reset_state() before this call), batch (rows).
    """
    layer.build(input_shape)
    init_keys = []  # Keras's own initial weights, kept where the initializers are deterministic
    if keep_init:
        init_keys = [g.put(f"{name}/init{i}", w) for i, w in enumerate(layer.get_weights())]
    weights = g.set_random_weights(name, layer, scale)
    x_key = g.inputs(name, input_shape, dtype)
    x = g.arrays[x_key]
    call_specs = []
    for n, call in enumerate(calls):
        spec = {"inputs": x_key, "mask": None, "initial_state": None,
                "training": bool(call.get("training", False)),
                "reset_before": bool(call.get("reset_before", False))}
        if call.get("new_inputs"):
            spec["inputs"] = g.inputs(f"{name}/c{n}", input_shape, dtype)
        kwargs = {}
        if call.get("mask"):
            spec["mask"] = g.put(f"{name}/c{n}/mask", np.array(MASKS[call["mask"]], bool))
            kwargs["mask"] = g.arrays[spec["mask"]]
        if call.get("initial_state"):
            n_states = 4 if isinstance(layer, keras.layers.Bidirectional) else 2
            spec["initial_state"] = [
                g.put(f"{name}/c{n}/s{i}",
                      g.rng.normal(size=(input_shape[0], H)).astype(layer.dtype))
                for i in range(n_states)
            ]
            kwargs["initial_state"] = [g.arrays[k] for k in spec["initial_state"]]
        if spec["reset_before"]:
            layer.reset_state()
        result = layer(g.arrays[spec["inputs"]], training=spec["training"], **kwargs)
        spec["outputs"] = _outputs(g, name, f"c{n}", result)
        call_specs.append(spec)
    g.cases[name] = {
        "class_name": type(layer).__name__,
        "config": layer.get_config(),
        "input_shape": list(input_shape),
        "weights": weights,
        "initial_weights": init_keys,
        "calls": call_specs,
        "note": note,
    }
    del x


def add_cell_case(g, name, cell, with_state=True):
    cell.build((B, D))
    init_keys = [g.put(f"{name}/init{i}", w) for i, w in enumerate(cell.get_weights())]
    weights = g.set_random_weights(name, cell)
    x_key = g.inputs(name, (B, D))
    states = [g.put(f"{name}/c0/s{i}", g.rng.normal(size=(B, H)).astype("float32"))
              for i in range(2)]
    result = cell(g.arrays[x_key], [g.arrays[k] for k in states])
    g.cases[name] = {
        "class_name": "LSTMCell", "config": cell.get_config(), "input_shape": [B, D],
        "weights": weights, "initial_weights": init_keys, "note": "one step",
        "calls": [{"inputs": x_key, "mask": None, "initial_state": states, "training": False,
                   "reset_before": False, "outputs": _outputs(g, name, "c0", result)}],
    }


def lstm(**kw):
    kw.setdefault("units", H)
    return keras.layers.LSTM(**kw)


def make_cases(g):
    L = keras.layers
    # Output structure: every return_sequences / return_state combination.
    for rs in (False, True):
        for st in (False, True):
            add_case(g, f"returns_seq{int(rs)}_state{int(st)}",
                     lstm(return_sequences=rs, return_state=st, name="lstm"), [{}])
    # Masks, each in both output modes, repeated and zero outputs.
    for mask in MASKS:
        for zero in (False, True):
            add_case(g, f"mask_{mask}_zero{int(zero)}",
                     lstm(return_sequences=True, return_state=True, zero_output_for_mask=zero,
                          name="lstm"), [{"mask": mask}])
        add_case(g, f"mask_{mask}_last", lstm(name="lstm"), [{"mask": mask}])
    # go_backwards, with and without masks and initial states.
    add_case(g, "go_backwards", lstm(go_backwards=True, return_sequences=True,
                                     return_state=True, name="lstm"), [{}])
    for mask in ("right_padded", "left_padded", "holes"):
        add_case(g, f"go_backwards_mask_{mask}",
                 lstm(go_backwards=True, return_sequences=True, return_state=True,
                      name="lstm"), [{"mask": mask}])
    add_case(g, "go_backwards_zero_output_holes",
             lstm(go_backwards=True, return_sequences=True, zero_output_for_mask=True,
                  name="lstm"), [{"mask": "holes"}])
    add_case(g, "initial_state", lstm(return_sequences=True, return_state=True, name="lstm"),
             [{"initial_state": True}])
    add_case(g, "initial_state_mask_backwards",
             lstm(return_sequences=True, return_state=True, go_backwards=True, name="lstm"),
             [{"initial_state": True, "mask": "fully_masked_row"}])
    # Activations: every name as activation and as recurrent_activation.
    for act in ACTIVATIONS:
        tag = str(act).lower()
        add_case(g, f"activation_{tag}",
                 lstm(activation=act, return_sequences=True, return_state=True, name="lstm"),
                 [{"mask": "holes"}], scale=0.4)
        # exponential gates exceed 1 and c grows: smaller weights keep it O(1), so that
        # 1e-5 stays an absolute error of a few float32 ulps.
        add_case(g, f"recurrent_activation_{tag}",
                 lstm(recurrent_activation=act, return_sequences=True, return_state=True,
                      name="lstm"), [{}], scale=0.2 if act == "exponential" else 0.4)
    add_case(g, "activations_both_hard", lstm(activation="hard_tanh",
                                              recurrent_activation="hard_sigmoid",
                                              return_sequences=True, name="lstm"), [{}])
    # Bias and initializer layout (the initial weights are stored too).
    add_case(g, "use_bias_false", lstm(use_bias=False, return_sequences=True, return_state=True,
                                       name="lstm"), [{"mask": "holes"}])
    for ufb in (False, True):
        for init in ("zeros", "ones", keras.initializers.Constant(0.3)):
            tag = init if isinstance(init, str) else "constant"
            add_case(g, f"unit_forget_bias{int(ufb)}_{tag}",
                     lstm(unit_forget_bias=ufb, bias_initializer=init, return_sequences=True,
                          name="lstm"), [{}], keep_init=True)
    add_case(g, "initializers_by_name",
             lstm(kernel_initializer="he_normal", recurrent_initializer="identity",
                  bias_initializer="random_uniform", name="lstm"), [{}])
    add_case(g, "regularizers_constraints",
             lstm(kernel_regularizer="l2", recurrent_regularizer=keras.regularizers.L1(0.02),
                  bias_regularizer=keras.regularizers.L1L2(0.01, 0.02),
                  activity_regularizer="l1", kernel_constraint="max_norm",
                  recurrent_constraint="unit_norm", bias_constraint="non_neg",
                  name="lstm"), [{}])
    # Dropout and recurrent dropout are off without training=True.
    add_case(g, "dropout_inference", lstm(dropout=0.5, recurrent_dropout=0.3, seed=7,
                                          return_sequences=True, name="lstm"),
             [{"mask": "holes"}, {"training": False}])
    # Rates of 1.0: Keras applies no dropout at all (0 < rate < 1 in LSTMCell.call).
    add_case(g, "dropout_rate_one_training",
             lstm(dropout=1.0, recurrent_dropout=1.0, return_sequences=True, name="lstm"),
             [{"training": True, "mask": "holes"}])
    add_case(g, "implementation_1", lstm(implementation=1, return_sequences=True, name="lstm"),
             [{"mask": "right_padded"}])
    add_case(g, "unroll_use_cudnn_false",
             lstm(unroll=True, use_cudnn=False, return_sequences=True, name="lstm"), [{}])
    # The unrolled loop is another code path in Keras's rnn(): masks and directions again.
    add_case(g, "unroll_mask_backwards",
             lstm(unroll=True, go_backwards=True, return_sequences=True, return_state=True,
                  name="lstm"), [{"mask": "holes"}, {"mask": "fully_masked_row"}])
    add_case(g, "unroll_zero_output_initial_state",
             lstm(unroll=True, zero_output_for_mask=True, return_sequences=True, name="lstm"),
             [{"mask": "left_padded", "initial_state": True}])
    # A longer sequence: error accumulates over steps.
    add_case(g, "long_sequence", lstm(return_sequences=True, return_state=True, name="lstm"),
             [{}], input_shape=(2, 40, 5), scale=0.4)
    # dtypes: float64 end to end; int / bool / float16 inputs are cast to float32.
    add_case(g, "float64", lstm(dtype="float64", return_sequences=True, return_state=True,
                                name="lstm"), [{"mask": "holes"}, {"initial_state": True}],
             dtype="float64")
    for dtype in ("int32", "bool", "float16", "float64"):
        add_case(g, f"input_{dtype}", lstm(return_sequences=True, name="lstm"), [{}],
                 dtype=dtype)
    # Stateful: two calls, reset_state, a third call.
    add_case(g, "stateful", lstm(stateful=True, return_sequences=True, return_state=True,
                                 name="lstm"),
             [{}, {"new_inputs": True}, {"reset_before": True}, {"new_inputs": True}])
    add_case(g, "stateful_mask_backwards",
             lstm(stateful=True, go_backwards=True, return_state=True, name="lstm"),
             [{"mask": "holes"}, {"mask": "right_padded"}])
    # Bidirectional: every merge mode, with and without sequences, states and masks.
    for mode in ("concat", "sum", "mul", "ave", None):
        tag = str(mode).lower()
        for rs in (False, True):
            for st in (False, True):
                add_case(g, f"bidi_{tag}_seq{int(rs)}_state{int(st)}",
                         L.Bidirectional(lstm(return_sequences=rs, return_state=st,
                                              name="lstm"), merge_mode=mode,
                                         name="bidirectional"),
                         [{}, {"mask": "holes"}])
    add_case(g, "bidi_initial_state_mask",
             L.Bidirectional(lstm(return_sequences=True, return_state=True, name="lstm"),
                             name="bidirectional"),
             [{"initial_state": True, "mask": "left_padded"}])
    add_case(g, "bidi_backward_layer",
             L.Bidirectional(lstm(return_sequences=True, name="lstm"),
                             backward_layer=lstm(return_sequences=True, go_backwards=True,
                                                 activation="relu", units=2, name="back"),
                             name="bidirectional"),
             [{"mask": "fully_masked_row"}])
    # The wrapper's dtype is its own (floatx): Keras casts the merged outputs to it.
    add_case(g, "bidi_inner_float64",
             L.Bidirectional(lstm(return_sequences=True, return_state=True, dtype="float64",
                                  name="lstm"), merge_mode="sum", name="bidirectional"),
             [{"mask": "right_padded"}], dtype="float64")
    add_case(g, "bidi_stateful",
             L.Bidirectional(lstm(stateful=True, return_sequences=True, name="lstm"),
                             name="bidirectional"),
             [{}, {"new_inputs": True}, {"reset_before": True}])
    add_case(g, "bidi_float64",
             L.Bidirectional(lstm(return_sequences=True, dtype="float64", name="lstm"),
                             merge_mode="ave", dtype="float64", name="bidirectional"),
             [{"mask": "holes"}], dtype="float64")
    # The cell alone: one step.
    add_cell_case(g, "cell_default", L.LSTMCell(H, name="lstm_cell"))
    add_cell_case(g, "cell_no_bias_softsign",
                  L.LSTMCell(H, use_bias=False, activation="softsign",
                             recurrent_activation="hard_sigmoid", name="lstm_cell"))


def add_keras2_cases(g):
    """tf.keras 2 (tf_keras), whose hard_sigmoid is clip(0.2 x + 0.5, 0, 1), for old files.

    Optional: runs when tf_keras is installed (`pip install tf-keras==2.21.0`).
    """
    try:
        import tf_keras
    except ImportError:
        print("tf_keras not installed: no Keras 2 cases")
        return {}
    cases = {}
    for name, kwargs in {
        "keras2_hard_sigmoid": {"recurrent_activation": "hard_sigmoid",
                                "return_sequences": True, "return_state": True},
        "keras2_hard_sigmoid_backwards": {"recurrent_activation": "hard_sigmoid",
                                          "activation": "hard_sigmoid", "go_backwards": True,
                                          "return_sequences": True},
    }.items():
        layer = tf_keras.layers.LSTM(H, name="lstm", **kwargs)
        layer.build((None, T, D))
        weights = []
        for i, w in enumerate(layer.get_weights()):
            value = (g.rng.normal(size=w.shape) * 1.5).astype("float32")  # reach the clip
            weights.append(g.put(f"{name}/w{i}", value))
        layer.set_weights([g.arrays[k] for k in weights])
        x_key = g.inputs(name)
        mask_key = g.put(f"{name}/c0/mask", np.array(MASKS["holes"], bool))
        result = layer(g.arrays[x_key], mask=g.arrays[mask_key])
        outputs = [g.put(f"{name}/c0/y{i}", np.asarray(y)) for i, y in enumerate(
            result if isinstance(result, (list, tuple)) else [result])]
        cases[name] = {"class_name": "LSTM", "config": layer.get_config(),
                       "input_shape": [B, T, D], "weights": weights, "inputs": x_key,
                       "mask": mask_key, "outputs": outputs,
                       "tf_keras_version": tf_keras.__version__}
    return cases


def add_activation_values(g):
    """Every activation on a float32 grid through its kinks (values straight from Keras)."""
    kinks = np.array([-6.0, -3.0, -2.5, -1.0, 0.0, 1.0, 2.5, 3.0, 6.0], "float32")
    x = np.concatenate([np.linspace(-9, 9, 181, dtype="float32"), kinks, kinks + 1e-3,
                        kinks - 1e-3]).astype("float32")
    g.put("activations/x", x)
    for act in ACTIVATIONS:
        g.put(f"activations/{str(act).lower()}", keras.activations.get(act)(x))


def record_errors():
    """What Keras rejects, and with which exception, for the bad-input tests."""
    L = keras.layers
    x = np.zeros((B, T, D), "float32")

    def stateful_batch_change():
        layer = lstm(stateful=True)
        layer(x)
        layer(x[:2])

    attempts = {
        "units_zero": lambda: L.LSTM(0),
        "units_negative": lambda: L.LSTMCell(-1),
        "unknown_activation": lambda: L.LSTM(H, activation="nope"),
        "unknown_initializer": lambda: L.LSTM(H, kernel_initializer="nope"),
        "use_cudnn_invalid": lambda: L.LSTM(H, use_cudnn="yes"),
        "merge_mode_invalid": lambda: L.Bidirectional(lstm(), merge_mode="max"),
        "bidi_wrapped_go_backwards": lambda: L.Bidirectional(lstm(go_backwards=True)),
        "bidi_backward_same_direction": lambda: L.Bidirectional(
            lstm(), backward_layer=lstm()),
        "bidi_backward_return_sequences_differs": lambda: L.Bidirectional(
            lstm(return_sequences=True), backward_layer=lstm(go_backwards=True)),
        "stateful_batch_change": stateful_batch_change,
        "wrong_rank": lambda: lstm()(np.zeros((B, D), "float32")),
        "set_weights_wrong_count": lambda: _built(lstm()).set_weights([np.zeros((D, 4 * H))]),
    }
    errors = {}
    for name, attempt in attempts.items():
        try:
            attempt()
            errors[name] = None
        except Exception as err:  # noqa: BLE001 - we record what Keras raises
            errors[name] = {"type": type(err).__name__, "message": str(err)[:300]}
    return errors


def _built(layer):
    layer.build((None, T, D))
    return layer


def main():
    keras.utils.set_random_seed(20261129)  # Keras's own initial weights repeat too
    g = Golden()
    make_cases(g)
    add_activation_values(g)
    keras2 = add_keras2_cases(g)
    errors = record_errors()
    backend = keras.backend.backend()
    meta = {
        "made_by": "scripts/make_golden.py",
        "keras_version": keras.__version__,
        "backend": backend,
        "backend_version": _backend_version(backend),
        "numpy_version": np.__version__,
        "python_version": sys.version.split()[0],
        "floatx": keras.config.floatx(),
        "masks": MASKS,
        "cases": g.cases,
        "errors": errors,
        "keras2_cases": keras2,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT / "golden_lstm.npz", **g.arrays)
    (OUT / "golden_lstm.json").write_text(json.dumps(meta, separators=(",", ":")) + "\n")
    size = sum((OUT / f).stat().st_size for f in ("golden_lstm.npz", "golden_lstm.json"))
    print(f"{len(g.cases)} cases, {len(g.arrays)} arrays, {size / 1024:.0f} KiB, "
          f"Keras {keras.__version__} on {backend} {meta['backend_version']}")


def _backend_version(backend):
    if backend == "tensorflow":
        import tensorflow as tf
        return tf.__version__
    if backend == "torch":
        import torch
        return torch.__version__
    if backend == "jax":
        import jax
        return jax.__version__
    return np.__version__


if __name__ == "__main__":
    main()
