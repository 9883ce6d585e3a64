"""Make small Keras model files with GRU, SimpleRNN, RNN(cell) and stacked cells (and Keras 2's
CuDNNGRU / CuDNNLSTM layouts) for lstmkit's I/O tests; the LSTM files come from
make_keras_files.py, whose layout, naming and MANIFEST.json this script shares.

    # Keras 3 (the repo's venv, torch backend)
    KERAS_BACKEND=torch .venv/bin/python scripts/make_keras_rnn_files.py keras3
    # tf.keras 2 (tf_keras 2.21 with TensorFlow 2.21 in a throwaway venv)
    /tmp/tfvenv/bin/python scripts/make_keras_rnn_files.py tfkeras2

CuDNNGRU / CuDNNLSTM run only on a GPU, but they build (and save) on a CPU. Their files
hold the weights in cuDNN's layout; Keras's predictions for them come from a twin model
with GRU(reset_after=True) / LSTM that loads the same file through tf_keras's own
converter (`hdf5_format._convert_rnn_weights`).
"""

from __future__ import annotations

import pathlib
import sys

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import make_keras_files as base  # noqa: E402

KERAS3_FORMATS = {"gru_family": ("keras", "h5"), "rnn_cells": ("keras", "h5")}
TFKERAS2_FORMATS = {"gru_family": ("h5", "keras"), "rnn_cells": ("h5", "keras"),
                    "cudnn_gru": ("h5",), "cudnn_lstm": ("h5",)}


def build_models(K, flavour):
    """name -> (model, inputs). `K` is `keras` (3) or `tf_keras` (2)."""
    L = K.layers
    rng = np.random.default_rng(17)

    def seq(*shape):
        return rng.normal(size=shape).astype("float32")

    models = {}
    x = seq(4, 6, 3)
    x[1, 4:] = 0.0  # masked trailing steps
    x[2, 2] = 0.0  # a masked step in the middle
    inp = K.Input((6, 3), name="series")
    h = L.Masking(0.0)(inp)
    h = L.GRU(5, return_sequences=True, name="gru_after")(h)
    h = L.GRU(4, reset_after=False, return_sequences=True, go_backwards=True,
              name="gru_before")(h)
    h = L.Bidirectional(L.SimpleRNN(3, return_sequences=True), name="bi_simple")(h)
    out, state = L.GRU(3, return_state=True, name="gru_state")(h)
    y = L.Dense(2, name="head")(L.Concatenate()([out, state]))
    models["gru_family"] = (K.Model(inp, y, name="gru_family"), x)

    inp = K.Input((5, 3), name="x")
    h = L.RNN(L.GRUCell(4), return_sequences=True, name="rnn_gru")(inp)
    h = L.RNN([L.LSTMCell(4), L.GRUCell(3), L.SimpleRNNCell(2)], return_sequences=True,
              name="stacked")(h)
    h = L.Bidirectional(L.RNN(L.SimpleRNNCell(2)), name="bi_rnn")(h)
    models["rnn_cells"] = (K.Model(inp, L.Dense(1, name="head")(h), name="rnn_cells"),
                           seq(3, 5, 3))
    if flavour == "tfkeras2":
        for name, cudnn, plain in (("cudnn_gru", "CuDNNGRU", L.GRU),
                                   ("cudnn_lstm", "CuDNNLSTM", L.LSTM)):
            # tf.compat.v1.keras.layers.CuDNNGRU / CuDNNLSTM (tf_keras's v1 API)
            from tf_keras.api._v1.keras import layers as v1_layers

            cls = getattr(v1_layers, cudnn)
            m = K.Sequential([K.Input((5, 3)), cls(4, return_sequences=True, name="rnn"),
                              L.Dense(2, name="head")], name=name)
            twin_kwargs = {"reset_after": True} if plain is L.GRU else {}
            twin = K.Sequential([K.Input((5, 3)), plain(4, return_sequences=True, name="rnn",
                                                        **twin_kwargs),
                                 L.Dense(2, name="head")], name=name)
            m.twin = twin
            models[name] = (m, seq(3, 5, 3))
    return models


def main(argv=None):
    flavour, K, writer, manifest = base.start(argv, __doc__.splitlines()[0])
    formats = KERAS3_FORMATS if flavour == "keras3" else TFKERAS2_FORMATS
    models = build_models(K, flavour)
    for i, (name, fmts) in enumerate(formats.items()):
        model, x = models[name]
        base._randomize(model, 300 + i)
        paths = base.save_formats(K, model, name, fmts, flavour, writer, manifest)
        twin = getattr(model, "twin", None)
        if twin is not None:  # tf_keras converts the cuDNN layout while loading
            twin.load_weights(str(paths[0]))
            y = twin.predict(x, verbose=0)
        else:
            y = model.predict(x, verbose=0)
        np.savez(base.OUT / f"{flavour}_{name}.npz", x=x, y=y)
    base.write_manifest(manifest)


if __name__ == "__main__":
    main()
