"""Make small real Keras model files (and Keras's predictions) for lstmkit's I/O tests.

Run once per flavour, each with the library that writes that flavour:

    # Keras 3 (TensorFlow backend, or KERAS_BACKEND=torch in the repo's venv)
    KERAS_BACKEND=tensorflow /work/tfvenv2/bin/python scripts/make_keras_files.py keras3
    # tf.keras 2 (the Keras 2 API of the `tf_keras` package, TensorFlow 2.21)
    /work/tfvenv2/bin/python scripts/make_keras_files.py tfkeras2

Each model `<name>` is written as `tests/data/keras_files/<flavour>_<name>.<ext>` beside
`<flavour>_<name>.npz` holding its fixed inputs (`x`, or `x_<input name>` for several
inputs) and Keras's predictions (`y`, or `y_0`, `y_1`, ... for several outputs).
`MANIFEST.json` lists every file with the library and version that wrote it. The models
are tiny (a few units) so that the whole directory stays a few hundred KB.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys

import numpy as np

OUT = pathlib.Path(__file__).resolve().parents[1] / "tests" / "data" / "keras_files"
# The Lambda model's function creates this file (in the working directory) when it runs:
# a test loads the model with lstmkit and checks the file never appears.
LAMBDA_MARKER = "LSTMKIT_LAMBDA_RAN"

# Which files each model gets, per flavour. Weights-only files for two models.
KERAS3_FORMATS = {
    "classifier": ("keras", "h5", "weights.h5"),
    "stacked_embedding": ("keras", "h5"),
    "bidirectional_timedistributed": ("keras", "h5"),
    "encoder_decoder": ("keras", "h5", "weights.h5"),
    "masking_backwards_dropout": ("keras", "h5"),
    "bidirectional_state_concat": ("keras", "h5"),
    "repeat_vector": ("keras",),
    "functional_embedding": ("keras",),
    "hard_sigmoid": ("keras",),
    "classifier_npz": ("keras_npz",),
    "gru": ("keras",),
    "lambda": ("keras",),
    "normalization": ("keras", "h5"),
}
TFKERAS2_FORMATS = {
    "classifier": ("h5", "keras"),
    "stacked_embedding": ("h5", "keras"),
    "bidirectional_timedistributed": ("h5", "keras"),
    "encoder_decoder": ("h5", "keras"),
    "masking_backwards_dropout": ("h5", "keras"),
    "bidirectional_state_concat": ("h5", "keras"),
    "hard_sigmoid": ("h5", "keras"),
    "gru": ("h5",),
    "lambda": ("h5",),
    "bidirectional_hard_sigmoid": ("h5",),
    "normalization": ("h5", "keras"),
}


# Runs only if a loader executes the file's code: leaves a marker file behind. A `lambda`
# (not a named function) so that Keras stores its bytecode in the file rather than a name;
# the marker's name is a literal because the bytecode is stored without its globals.
_marker_lambda = lambda x: (open("LSTMKIT_LAMBDA_RAN", "w").close(), x * 2.0)[1]  # noqa: E731, SIM115


def build_models(K):
    """name -> (model, inputs dict or array). `K` is `keras` (3) or `tf_keras` (2)."""
    L = K.layers
    rng = np.random.default_rng(5)

    def seq(*shape):
        return rng.normal(size=shape).astype("float32")

    models = {}

    inp = K.Input((6, 3), name="series")
    y = L.LSTM(5, name="lstm")(inp)
    y = L.Dense(3, name="logits")(y)
    y = L.Activation("softmax", name="probs")(y)
    model = K.Model(inp, y, name="classifier")
    # Compiled, so the files carry a compile_config / training_config (load_model compiles).
    model.compile(optimizer=K.optimizers.Adam(learning_rate=0.002),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    models["classifier"] = (model, seq(4, 6, 3))
    models["classifier_npz"] = models["classifier"]

    tokens = np.array([[3, 7, 1, 9, 0, 0, 0], [5, 2, 2, 8, 11, 4, 6], [1, 0, 0, 0, 0, 0, 0],
                       [4, 4, 0, 6, 19, 0, 0]], "int32")
    m = K.Sequential([
        K.Input((7,), dtype="int32"),
        L.Embedding(20, 4, mask_zero=True),
        L.LSTM(5, return_sequences=True),
        L.LSTM(4),
        L.Dense(1, activation="sigmoid"),
    ], name="stacked_embedding")
    models["stacked_embedding"] = (m, tokens)

    m = K.Sequential([
        K.Input((6, 3)),
        L.Bidirectional(L.LSTM(4, return_sequences=True)),
        L.TimeDistributed(L.Dense(2)),
    ], name="bidirectional_timedistributed")
    models["bidirectional_timedistributed"] = (m, seq(3, 6, 3))

    enc_in = K.Input((5, 3), name="encoder_inputs")
    dec_in = K.Input((4, 2), name="decoder_inputs")
    _, h, c = L.LSTM(4, return_state=True, name="encoder")(enc_in)
    dec = L.LSTM(4, return_sequences=True, name="decoder")(dec_in, initial_state=[h, c])
    out = L.Dense(3, activation="softmax", name="head")(dec)
    m = K.Model([enc_in, dec_in], out, name="encoder_decoder")
    models["encoder_decoder"] = (m, {"encoder_inputs": seq(3, 5, 3),
                                     "decoder_inputs": seq(3, 4, 2)})

    x = seq(4, 6, 3)
    x[0, 4:] = 0.0  # masked trailing steps
    x[2, 1] = 0.0  # a masked step in the middle
    x[3, :] = 0.0  # a fully masked row
    m = K.Sequential([
        K.Input((6, 3)),
        L.Masking(0.0),
        L.Dropout(0.3),
        L.LSTM(4, go_backwards=True, return_sequences=True, dropout=0.2, recurrent_dropout=0.1),
        L.LSTM(3, go_backwards=True),
        L.Dropout(0.5),
        L.Dense(2),
    ], name="masking_backwards_dropout")
    models["masking_backwards_dropout"] = (m, x)

    inp = K.Input((5, 3), name="x")
    out, h_f, c_f, h_b, c_b = L.Bidirectional(L.LSTM(4, return_state=True), name="bilstm")(inp)
    states = L.Concatenate(name="states")([h_f, c_f, h_b, c_b])
    summed = L.Add(name="h_sum")([h_f, h_b])
    head = L.Dense(2, name="head")(L.Concatenate(name="features")([out, summed]))
    m = K.Model(inp, [head, states], name="bidirectional_state_concat")
    models["bidirectional_state_concat"] = (m, seq(3, 5, 3))

    m = K.Sequential([
        K.Input((5, 3)),
        L.LSTM(4),
        L.RepeatVector(3),
        L.LSTM(4, return_sequences=True),
        L.TimeDistributed(L.Dense(2)),
        L.Flatten(),
    ], name="repeat_vector")
    models["repeat_vector"] = (m, seq(3, 5, 3))

    # Functional Embedding(mask_zero=True): Keras 3 records a NotEqual op for the mask.
    inp = K.Input((7,), dtype="int32", name="tokens")
    y = L.Embedding(20, 4, mask_zero=True)(inp)
    y = L.Bidirectional(L.LSTM(3, return_sequences=True))(y)
    y = L.LSTM(2)(y)
    m = K.Model(inp, L.Dense(1)(y), name="functional_embedding")
    models["functional_embedding"] = (m, tokens)

    m = K.Sequential([
        K.Input((6, 3)),
        L.LSTM(4, recurrent_activation="hard_sigmoid", activation="tanh"),
        L.Dense(1),
    ], name="hard_sigmoid")
    models["hard_sigmoid"] = (m, 3.0 * seq(3, 6, 3))  # large inputs reach the linear pieces

    m = K.Sequential([K.Input((5, 3)), L.GRU(4, name="my_gru"), L.Dense(1)], name="gru")
    models["gru"] = (m, seq(2, 5, 3))

    m = K.Sequential([K.Input((5, 3)), L.Lambda(_marker_lambda, name="my_lambda"), L.LSTM(4)],
                     name="lambda")
    models["lambda"] = (m, seq(2, 5, 3))

    m = K.Sequential([
        K.Input((6, 3)),
        L.Bidirectional(L.LSTM(3, recurrent_activation="hard_sigmoid", return_sequences=True)),
        L.TimeDistributed(L.Dense(1)),
    ], name="bidirectional_hard_sigmoid")
    models["bidirectional_hard_sigmoid"] = (m, 3.0 * seq(3, 6, 3))

    # An adapted Normalization keeps its statistics as variables, not in its config.
    m = K.Sequential([K.Input((5, 3)), L.Normalization(), L.LSTM(4), L.Dense(2)],
                     name="normalization")
    m.adapt_data = 3.0 + 2.0 * seq(16, 5, 3)
    models["normalization"] = (m, 3.0 + 2.0 * seq(3, 5, 3))
    return models


def _randomize(model, seed):
    """Non-trivial weights (biases too), so that parity checks every array."""
    rng = np.random.default_rng(seed)
    model.set_weights([rng.normal(scale=0.5, size=w.shape).astype(w.dtype)
                       for w in model.get_weights()])


def _save(K, model, path, fmt):
    if fmt == "weights.h5":
        model.save_weights(path)
    elif fmt == "keras_npz":
        from keras.src.saving import saving_lib  # `model.save` does not pass weights_format

        saving_lib.save_model(model, path, weights_format="npz")
    else:
        model.save(path)


def start(argv, description):
    """The flavour from the command line, its Keras module `K` (seeded), the writer's
    record for MANIFEST.json, and the manifest as it stands: (flavour, K, writer, manifest)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("flavour", choices=("keras3", "tfkeras2"))
    flavour = parser.parse_args(argv).flavour
    if flavour == "keras3":
        import keras as K

        writer = {"library": "keras", "version": K.__version__, "backend": K.backend.backend()}
    else:
        import tensorflow as tf
        import tf_keras as K

        writer = {"library": "tf_keras", "version": K.__version__, "tensorflow": tf.__version__}
    K.utils.set_random_seed(1)
    OUT.mkdir(parents=True, exist_ok=True)
    manifest_path = OUT / "MANIFEST.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    return flavour, K, writer, manifest


def save_formats(K, model, name, fmts, flavour, writer, manifest) -> list:
    """Write `model` as `<flavour>_<name>.<ext>` in each of `fmts`, listed in `manifest`
    beside its data file `<flavour>_<name>.npz`; returns the paths."""
    stem, paths = f"{flavour}_{name}", []
    for fmt in fmts:
        ext = {"keras_npz": "keras"}.get(fmt, fmt)
        path = OUT / f"{stem}.{ext}"
        _save(K, model, str(path), fmt)
        manifest[path.name] = {"model": name, "format": fmt, "data": f"{stem}.npz",
                               "flavour": flavour, **writer}
        print(f"{path.name}: {path.stat().st_size} bytes", file=sys.stderr)
        paths.append(path)
    return paths


def write_manifest(manifest):
    (OUT / "MANIFEST.json").write_text(json.dumps(dict(sorted(manifest.items())), indent=1) + "\n")


def main(argv=None):
    flavour, K, writer, manifest = start(argv, __doc__.splitlines()[0])
    formats = KERAS3_FORMATS if flavour == "keras3" else TFKERAS2_FORMATS
    cwd = os.getcwd()
    os.chdir(OUT)  # the Lambda writes its marker here when traced and run; removed below
    try:
        models = build_models(K)
    finally:
        os.chdir(cwd)
    for i, (name, fmts) in enumerate(formats.items()):
        model, x = models[name]
        _randomize(model, 100 + i)
        if hasattr(model, "adapt_data"):
            model.layers[0].adapt(model.adapt_data)  # statistics, not random numbers
        inputs = ([x[n] for n in sorted(x, key=[t.name.split(":")[0] for t in model.inputs].index)]
                  if isinstance(x, dict) else x)
        os.chdir(OUT)
        try:
            y = model.predict(inputs, verbose=0)
        finally:
            os.chdir(cwd)
            (OUT / LAMBDA_MARKER).unlink(missing_ok=True)
        arrays = {f"x_{k}": v for k, v in x.items()} if isinstance(x, dict) else {"x": x}
        ys = y if isinstance(y, list) else [y]
        arrays.update({"y": ys[0]} if len(ys) == 1 else {f"y_{j}": v for j, v in enumerate(ys)})
        np.savez(OUT / f"{flavour}_{name}.npz", **arrays)
        save_formats(K, model, name, fmts, flavour, writer, manifest)
    write_manifest(manifest)


if __name__ == "__main__":
    main()
