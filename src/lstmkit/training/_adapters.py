"""The data of `fit` / `evaluate` / `predict`: argument checks, validation split, class
weights, batches.

Follows keras/src/trainers/data_adapters: `validation_split` keeps the last
fraction of the samples (before any shuffling) for validation; class weights
become per-sample weights from the (argmax'ed or rounded) targets.
"""

from __future__ import annotations

import math

import numpy as np


def as_arrays(value, n, what, names=None):
    """`value` as a list of `n` arrays (one per model input or output).

    A dict is read by `names` (the model's input or output layer names).
    """
    if value is None:
        return None
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, dict) and names is not None:
        missing = [name for name in names if name not in value]
        if missing:
            raise ValueError(f"Missing {what}s {missing} in the dict; expected keys {names}, "
                             f"got {sorted(value)}")
        value = [value[name] for name in names]
    if n == 1:
        if isinstance(value, (list, tuple)) and len(value) == 1 and isinstance(
                value[0], np.ndarray):
            value = value[0]
        return [np.asarray(value)]
    if isinstance(value, dict):
        raise TypeError(f"`{what}` as a dict is not supported here; pass a list in order")
    if not isinstance(value, (list, tuple)) or len(value) != n:
        raise ValueError(f"The model has {n} {what}s; pass a list of {n} arrays, got "
                         f"{type(value).__name__}")
    return [np.asarray(v) for v in value]


def num_samples(xs, ys=None, sample_weight=None) -> int:
    """The common first dimension of every array; ValueError if they differ."""
    sizes = {}
    for what, arrays in (("x", xs), ("y", ys), ("sample_weight", sample_weight)):
        if arrays is None:
            continue
        arrays = arrays if isinstance(arrays, list) else [arrays]
        for i, arr in enumerate(arrays):
            if arr is None:
                continue
            if np.ndim(arr) == 0:
                raise ValueError(f"{what} must be arrays with a batch axis, got a scalar")
            sizes[f"{what}[{i}]" if len(arrays) > 1 else what] = np.shape(arr)[0]
    if len(set(sizes.values())) > 1:
        detail = ", ".join(f"{k} sizes: {v}" for k, v in sizes.items())
        raise ValueError(
            f"Data cardinality is ambiguous. Make sure all arrays contain the same number of "
            f"samples. {detail}"
        )
    if not sizes:
        raise ValueError("No data: pass x (and y) as arrays")
    n = next(iter(sizes.values()))
    if n == 0:
        raise ValueError("Got 0 samples; pass at least one sample")
    return n


def take(value, index):
    """`value[index]` for an array or a list of arrays (None stays None)."""
    if value is None:
        return None
    if isinstance(value, list):
        return [None if v is None else v[index] for v in value]
    return value[index]


def split_validation(x, y, sample_weight, validation_split):
    """(train, validation) tuples of (x, y, sample_weight): the last fraction validates."""
    if not 0 < validation_split < 1:
        raise ValueError(f"validation_split must be in (0, 1), got {validation_split}")
    n = num_samples(x, y, sample_weight)
    split_at = math.floor(n * (1.0 - validation_split))
    if split_at == 0 or split_at == n:
        raise ValueError(
            f"Training data contains {n} samples, which is not sufficient to split it into a "
            f"validation and training set as specified by `validation_split={validation_split}`."
        )
    first, last = slice(0, split_at), slice(split_at, n)
    return ((take(x, first), take(y, first), take(sample_weight, first)),
            (take(x, last), take(y, last), take(sample_weight, last)))


def unpack_validation_data(data):
    if not isinstance(data, (list, tuple)) or len(data) not in (2, 3):
        raise ValueError(
            "validation_data must be a tuple (x_val, y_val) or (x_val, y_val, val_sample_weight), "
            f"got {type(data).__name__}"
        )
    return tuple(data) + ((None,) if len(data) == 2 else ())


def class_weight_to_sample_weights(y, class_weight):
    """Keras's rule: weight of each sample's class (argmax for one-hot, rounded otherwise)."""
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict {{class index: weight}}, got "
                        f"{type(class_weight).__name__}")
    y = np.asarray(y)
    weights = np.ones((y.shape[0],), np.float32)
    if y.ndim > 1:
        y = np.argmax(y, axis=-1) if y.shape[-1] != 1 else np.squeeze(y, axis=-1)
    y = np.round(y).astype("int32")
    if y.ndim > 1:
        raise ValueError("class_weight is not supported for targets with a time axis; use "
                         "sample_weight")
    for i, label in enumerate(y):
        weights[i] = class_weight.get(int(label), 1.0)
    return weights


def batch_slices(n, batch_size, shuffle, rng):
    """Index arrays for each batch; shuffled each epoch when `shuffle` is True."""
    order = rng.permutation(n) if shuffle else np.arange(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def is_batch_sequence(x) -> bool:
    """Whether `x` is a Keras `PyDataset`-like source: `len(x)` batches, `x[i]` -> (x, y[, w])."""
    return (hasattr(x, "__getitem__") and hasattr(x, "__len__") and not hasattr(x, "shape")
            and not isinstance(x, (list, tuple, dict, str, bytes)))


class ArraySource:
    """Batches from in-memory (or memory-mapped) arrays."""

    def __init__(self, xs, ys, sw, batch_size):
        self.xs, self.ys, self.sw, self.batch_size = xs, ys, sw, batch_size
        self.n = num_samples(xs, ys, sw)
        self.steps = -(-self.n // batch_size)

    def batches(self, shuffle=False, rng=None):
        for index in batch_slices(self.n, self.batch_size, shuffle, rng):
            yield take(self.xs, index), take(self.ys, index), take(self.sw, index)

    def on_epoch_end(self):
        pass


class SequenceSource:
    """Batches from a `PyDataset`-like sequence (e.g. `lk.data.ArraySequence`).

    `standardize(batch)` turns one `(x, y)` or `(x, y, sample_weight)` item into arrays.
    """

    def __init__(self, sequence, standardize):
        self.sequence, self.standardize = sequence, standardize
        self.steps = len(sequence)
        if self.steps == 0:
            raise ValueError("The batch sequence is empty (len() == 0)")

    def batches(self, shuffle=False, rng=None):
        for i in range(self.steps):
            item = self.sequence[i]
            if not isinstance(item, tuple) or len(item) not in (2, 3):
                raise ValueError(
                    f"A batch sequence must give (x, y) or (x, y, sample_weight) tuples; "
                    f"item {i} is {type(item).__name__}"
                    + (f" of length {len(item)}" if isinstance(item, tuple) else "")
                )
            yield self.standardize(*item)

    def on_epoch_end(self):
        hook = getattr(self.sequence, "on_epoch_end", None)
        if callable(hook):
            hook()


# -- the arguments of fit / evaluate / predict, checked as Keras does -------------------------
def check_batch_size(batch_size) -> int:
    """`batch_size` as an int (Keras's default 32 for None)."""
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or \
            batch_size <= 0:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    return int(batch_size)


def check_steps(steps, available, what="steps") -> int:
    """How many batches to run: `steps` (at most `available`), else all of them."""
    if steps is None:
        return available
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps <= 0:
        raise ValueError(f"{what} must be a positive int or None, got {steps!r}")
    return min(int(steps), available)


def inputs_targets(model, x, y, sample_weight):
    """(xs, ys, sample weights): lists of arrays, one per model input / output, checked."""
    if x is None:
        raise ValueError("Pass the input data x")
    xs = as_arrays(x, len(model.inputs), "input", model.input_names)
    if y is None:
        raise ValueError("Pass the targets y: this model trains on (x, y) pairs")
    ys = as_arrays(y, len(model.outputs), "output", model.output_names)
    sw = None
    if isinstance(sample_weight, dict):
        sample_weight = [sample_weight.get(name) for name in model.output_names]
    if isinstance(sample_weight, (list, tuple)) and len(model.outputs) > 1 and \
            len(sample_weight) == len(model.outputs) and not np.isscalar(sample_weight[0]):
        # one weight array per output (None for unweighted), as Keras accepts
        sw = [None if w is None else np.asarray(w, np.float32) for w in sample_weight]
    elif sample_weight is not None:
        sw = np.asarray(sample_weight, np.float32)
    num_samples(xs, ys, sw)
    return xs, ys, sw


def make_source(model, x, y, sample_weight, batch_size, what="x"):
    """A batch source for arrays or for a PyDataset-like sequence."""
    if is_batch_sequence(x):
        if y is not None or sample_weight is not None:
            raise ValueError(f"When `{what}` is a batch sequence, its items carry the targets: "
                             "pass y=None and sample_weight=None")
        return SequenceSource(x, lambda bx, by, bsw=None: inputs_targets(model, bx, by, bsw))
    return ArraySource(*inputs_targets(model, x, y, sample_weight), batch_size)


def fit_sources(model, x, y, sample_weight, batch_size, validation_data, validation_split,
                validation_batch_size, class_weight):
    """(training source, validation source or None) for `fit`'s data arguments."""
    source = make_source(model, x, y, sample_weight, batch_size)
    val = None
    if validation_data is not None:
        if is_batch_sequence(validation_data):
            val = make_source(model, validation_data, None, None, batch_size, "validation_data")
        else:
            vx, vy, vsw = unpack_validation_data(validation_data)
            val = make_source(model, vx, vy, vsw, validation_batch_size or batch_size)
    elif validation_split:
        if not isinstance(source, ArraySource):
            raise ValueError("`validation_split` is only supported for arrays; pass "
                             "validation_data for a batch sequence")
        train, held = split_validation(source.xs, source.ys, source.sw, validation_split)
        source = ArraySource(*train, batch_size)
        val = ArraySource(*held, validation_batch_size or batch_size)
    if class_weight is not None:
        if not isinstance(source, ArraySource):
            raise ValueError("`class_weight` needs arrays; weight the batches of a sequence "
                             "with sample weights")
        if len(source.ys) > 1:
            raise ValueError("`class_weight` is only supported for Models with a single output.")
        if source.sw is not None:
            raise ValueError("You cannot `class_weight` and `sample_weight` at the same time.")
        source.sw = class_weight_to_sample_weights(source.ys[0], class_weight)
    return source, val


def _slice(x, index):
    if isinstance(x, (list, tuple)):
        return [_slice(v, index) for v in x]
    if isinstance(x, dict):
        return {k: _slice(v, index) for k, v in x.items()}
    return None if x is None else np.asarray(x)[index]


def _predict_samples(x):
    if isinstance(x, dict):
        x = list(x.values())
    if isinstance(x, (list, tuple)):
        sizes = {np.shape(v)[0] for v in x}
        if len(sizes) > 1:
            raise ValueError(
                f"All inputs must have the same number of samples, got {sorted(sizes)}")
        return sizes.pop()
    return np.shape(x)[0]


def first_batch(x, batch_size=None):
    """The first `batch_size` samples of `x` (array, list or dict; all of it for None)."""
    return x if batch_size is None or x is None else _slice(x, slice(0, batch_size))


def predict_batches(x, batch_size, steps) -> list:
    """`predict`'s input batches, as the model takes them: from arrays (a list or dict of
    arrays for several inputs) or a PyDataset-like sequence of `(x,)` or `x` items."""
    if is_batch_sequence(x):
        items = [x[i] for i in range(check_steps(steps, len(x)))]
        return [item[0] if isinstance(item, tuple) else item for item in items]
    batch_size = check_batch_size(batch_size)
    n = _predict_samples(x)
    starts = range(0, n, batch_size)
    return [_slice(x, slice(start, start + batch_size))
            for start in starts[:check_steps(steps, len(starts))]]
