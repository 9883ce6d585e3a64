"""The compatibility suite: Keras example scripts run with `import lstmkit as keras`.

Each script in this folder was written from a public Keras example or guide (named in
its docstring), with the data download replaced by synthetic arrays of the same kind
and sizes scaled down. Each ends with `CHECKS = {name: (model, inputs)}`.

For every script, this test runs it with lstmkit (warnings are errors) in a temporary
folder; where Keras 3 is installed it runs the same source with `import keras` and
compares, for each checked model: parameter counts, output shapes, and predictions
after copying lstmkit's weights into the Keras model (within 1e-5); and every summary
the script printed, apart from lstmkit's backend line.

Keras's `timeseries_dataset_from_array` needs TensorFlow, which the test environment
does not have: the Keras run gets lstmkit's NumPy batches wrapped in a
`keras.utils.PyDataset` instead (the batches are the same; only the loader differs).
"""

import contextlib
import io
import os
import pathlib
import re
import sys
import warnings

import numpy as np
import pytest

import lstmkit as lk

HERE = pathlib.Path(__file__).parent
SCRIPTS = sorted(p.stem for p in HERE.glob("*.py") if not p.stem.startswith(("test_", "_")))
sys.path.insert(0, str(HERE.parent))


def _run(name, lib, tmp_path):
    """Execute the script with `lib` ("lstmkit" or "keras"); (namespace, stdout)."""
    source = (HERE / f"{name}.py").read_text()
    if lib == "keras":
        source = source.replace("import lstmkit as keras", "import keras")
        source = re.sub(r"\bfrom lstmkit\b", "from keras", source)
    namespace = {"__name__": "__main__", "__file__": str(HERE / f"{name}.py")}
    out = io.StringIO()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(source, f"{name}.py ({lib})", "exec"), namespace)
    finally:
        os.chdir(cwd)
    return namespace, out.getvalue()


def _summaries(text) -> list:
    """The summary tables printed, without lstmkit's backend line.

    The byte sizes on the "Total params" and "Optimizer params" lines of a trained model
    are dropped: they count the optimizer's `iterations`, int32 on Keras's torch backend
    and int64 (as lstmkit keeps it, for TensorFlow-made files) on TensorFlow.
    """
    blocks = re.findall(r'Model: ".*?"\n.*?Non-trainable params:[^\n]*(?:\n Optimizer[^\n]*)?',
                        text, flags=re.S)
    return [re.sub(r"^( (?:Total|Optimizer) params: [\d,]+) \(.*\)$", r"\1", b, flags=re.M)
            if "Optimizer params" in b else b for b in blocks]


def _keras_dataset_adapter(keras):
    """`timeseries_dataset_from_array` for the Keras run: lstmkit's batches as a PyDataset."""

    class Batches(keras.utils.PyDataset):
        def __init__(self, ds):
            super().__init__()
            self.ds = ds

        def __len__(self):
            return len(self.ds)

        def __getitem__(self, i):
            return self.ds[i]

        def take(self, count):
            return self.ds.take(count)

    def timeseries_dataset_from_array(*args, **kwargs):
        return Batches(lk.utils.timeseries_dataset_from_array(*args, **kwargs))

    return timeseries_dataset_from_array


def _predict(model, x):
    out = model.predict(x, verbose=0)
    return [np.asarray(o) for o in out] if isinstance(out, (list, tuple)) else [np.asarray(out)]


@pytest.mark.parametrize("name", SCRIPTS)
def test_script_runs_and_matches_keras(name, tmp_path, monkeypatch):
    lk.utils.clear_session()
    (tmp_path / "lstmkit").mkdir()
    ours, ours_out = _run(name, "lstmkit", tmp_path / "lstmkit")
    assert ours["CHECKS"], f"{name} checks nothing"
    # One prediction per model: a stateful model's state moves with every call.
    preds = {key: _predict(model, x) for key, (model, x) in ours["CHECKS"].items()}
    for key, ys in preds.items():
        assert all(np.all(np.isfinite(y)) for y in ys), f"{name}: {key} predicts non-finite"
    from _oracle import keras as _keras  # torch backend set before Keras is imported
    from _oracle import quiet

    keras = _keras()

    monkeypatch.setenv("COLUMNS", "80")  # Keras sizes its summary to the terminal
    monkeypatch.setattr(keras.utils, "timeseries_dataset_from_array",
                        _keras_dataset_adapter(keras))
    keras.utils.clear_session()
    (tmp_path / "keras").mkdir()
    with quiet(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras's own deprecation and input_shape warnings
        theirs, theirs_out = _run(name, "keras", tmp_path / "keras")
        assert sorted(theirs["CHECKS"]) == sorted(ours["CHECKS"])
        for key, (model, _) in ours["CHECKS"].items():
            k_model, k_x = theirs["CHECKS"][key]
            assert model.count_params() == k_model.count_params(), f"{name}: {key} params"
            k_model.set_weights(model.get_weights())
            ys, k_ys = preds[key], _predict(k_model, k_x)
            assert [y.shape for y in ys] == [y.shape for y in k_ys], f"{name}: {key} shapes"
            for y, k_y in zip(ys, k_ys):
                np.testing.assert_allclose(y, k_y, rtol=1e-5, atol=1e-5,
                                           err_msg=f"{name}: {key} predictions")
    ours_sum, theirs_sum = _summaries(ours_out), _summaries(theirs_out)
    assert len(ours_sum) == len(theirs_sum), f"{name}: number of summaries printed"
    for a, b in zip(ours_sum, theirs_sum):
        if re.search(r"\((NotEqual|Any)\)", b):
            # Keras 3.15 records the mask an Embedding(mask_zero=True) or Masking makes in
            # a functional graph as operations (NotEqual, Any) and lists them as rows;
            # lstmkit's summary lists layers only (see the README's coverage table).
            a, b = a[a.index(" Total params"):], b[b.index(" Total params"):]
        assert a == b, f"{name}: summary differs\n{a}\n---- Keras ----\n{b}"
