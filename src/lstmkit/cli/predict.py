"""`lstmkit predict MODEL --input X --output Y.npy`: run a Keras model file on arrays.

Inputs: `.npy` (read without pickle), `.npz` (one array per model input, by input
name, or a single array), or `.csv` (numbers; an optional header row; each row is
one sample, reshaped to the model's input shape). A functional model with several
inputs takes `--input NAME=FILE` once per input, or one `.npz` holding them all.
The output is `.npy` for one output, `.npz` (by output name) for several.

Example:
    $ lstmkit predict model.keras --input x.npy --output y.npy
    $ lstmkit predict seq2seq.keras --input encoder_inputs=enc.npy \\
          --input decoder_inputs=dec.npy --output y.npy
"""

from __future__ import annotations

import os

import numpy as np

from .. import _files
from .._files import check_regular_file
from . import _arrays


def add_parser(sub):
    p = sub.add_parser(
        "predict", help="run a Keras model file (.keras, .h5) on .npy/.npz/.csv inputs",
        description="Load a Keras model file safely and write its predictions. For several "
                    "inputs give --input NAME=FILE for each, or one .npz keyed by input name.")
    p.add_argument("model", help="path to a .keras or .h5 model file")
    p.add_argument("--input", "-i", action="append", required=True, metavar="[NAME=]FILE",
                   help="input array: .npy, .npz or .csv (repeat with NAME= for several inputs)")
    p.add_argument("--output", "-o", required=True,
                   help="where to write predictions: .npy (one output) or .npz")
    p.add_argument("--batch-size", type=int, default=None, help="samples per batch")
    _arrays.add_budget_argument(p)
    return p


def read_csv(path, shape, budget=None) -> np.ndarray:
    """Rows of numbers (header row optional), reshaped to `(rows, *shape[1:])` if possible."""
    from .._csv import numbers, read_table

    budget = budget or _arrays.Budget.from_args(None)
    # Parsed, the numbers take about 8x their text (Python floats in lists).
    budget.take(8 * os.path.getsize(path), f"{path} (parsed)")
    x = numbers(read_table(path), allow_empty=False)  # (rows, values)
    feature_shape = tuple(shape[1:])
    if None not in feature_shape and x.shape[1] != int(np.prod(feature_shape)):
        raise ValueError(f"{path}: each row has {x.shape[1]} values; the model input "
                         f"{_fmt(shape)} needs {int(np.prod(feature_shape))} per sample")
    if None not in feature_shape:
        x = x.reshape((x.shape[0], *feature_shape))
    elif len(feature_shape) == 2 and feature_shape[1] is not None:
        x = x.reshape((x.shape[0], -1, feature_shape[1]))
    return x


def _fmt(shape):
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def read_array(path, name, shape, budget=None) -> np.ndarray:
    """An input array from .npy/.npz/.csv, its size checked against `budget` before reading."""
    if not os.path.exists(path):
        raise OSError(f"no such input file: {path}")
    check_regular_file(path, "input file")  # a FIFO would block forever
    budget = budget or _arrays.Budget.from_args(None)
    if path.endswith(".csv"):
        return read_csv(path, shape, budget)
    if path.endswith(".npz"):
        return _arrays.load_npz(path, name, budget)
    if path.endswith(".npy"):
        return _arrays.load_npy(path, budget)
    raise ValueError(f"{path}: input files must be .npy, .npz or .csv")


def gather_inputs(specs, model, budget=None) -> list:
    """One array per model input, in the model's input order (within `budget` together)."""
    budget = budget or _arrays.Budget.from_args(None)
    names = list(model.input_names)
    shapes = {n: t.shape for n, t in zip(names, model.inputs)}
    named, unnamed = {}, []
    for spec in specs:
        name, sep, path = spec.partition("=")
        if sep and name in shapes:
            if name in named:
                raise ValueError(f"input {name!r} given twice")
            named[name] = path
        else:
            unnamed.append(spec)
    if len(unnamed) > 1:
        raise ValueError(f"several unnamed --input files {unnamed}; the model's inputs are "
                         f"{names}: give them as NAME=FILE")
    if unnamed:
        path = unnamed[0]
        if len(names) > 1 and not path.endswith(".npz"):
            missing = [n for n in names if n not in named]
            if len(missing) != 1:
                raise ValueError(f"the model has inputs {names}; give --input NAME=FILE for "
                                 f"each, or one .npz keyed by input name")
            named[missing[0]] = path
        else:
            for n in names:
                named.setdefault(n, path)
    missing = [n for n in names if n not in named]
    if missing:
        raise ValueError(f"no --input for model input(s) {missing} (inputs: {names})")
    arrays = []
    for n in names:
        x = read_array(named[n], n, shapes[n], budget)
        if x.ndim != len(shapes[n]):
            raise ValueError(f"input {n!r} must have shape {_fmt(shapes[n])}, got {x.shape} "
                             f"from {named[n]}")
        arrays.append(x)
    return arrays


def run(args) -> int:
    from ..saving import load_model

    if not args.output.endswith((".npy", ".npz")):
        raise ValueError(f"--output must end in .npy or .npz, got {args.output!r}")
    model = load_model(args.model)
    inputs = gather_inputs(args.input, model, _arrays.Budget.from_args(args))
    y = model.predict(inputs if len(inputs) > 1 else inputs[0], batch_size=args.batch_size,
                      verbose=0)
    outputs = list(y) if isinstance(y, (list, tuple)) else [y]
    if args.output.endswith(".npy"):
        if len(outputs) > 1:
            raise ValueError(f"the model has {len(outputs)} outputs {model.output_names}; "
                             "use an --output ending in .npz")
        _files.atomic_write(args.output, write=lambda f: np.save(f, np.asarray(outputs[0]),
                                                                  allow_pickle=False))
    else:
        names = list(model.output_names)
        if len(set(names)) != len(names):
            names = [f"output_{i}" for i in range(len(outputs))]
        _files.atomic_write(args.output, write=lambda f: np.savez(
            f, **{n: np.asarray(o) for n, o in zip(names, outputs)}))
    shapes = ", ".join(str(np.shape(o)) for o in outputs)
    print(f"wrote {args.output}: {shapes}")
    return 0
