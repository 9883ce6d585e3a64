"""What a fresh process imports: `import lstmkit` and the README's seed example stay light.

These are behavioural checks on `sys.modules` of new processes (no timings): the
heavy imports that the seed example does not need stay out, and the shortcut that
keeps them out (lazy layer classes) leaves everything working for code that does
need them. What the process is left with is checked in tests/test_side_effects.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import lstmkit as lk
from lstmkit import bench

SEED_EXAMPLE = bench.SEED_EXAMPLE  # the README's seed example, as the benchmark times it


def _run(code: str) -> dict:
    """Run `code` in a new interpreter; it leaves its findings in `out` (JSON)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_DISABLE_CACHING", "LSTMKIT_BACKEND")}
    wrapped = "import json, sys\nout = {}\n" + code + "\nprint(json.dumps(out))\n"
    proc = subprocess.run([sys.executable, "-c", wrapped], capture_output=True, text=True,
                          env=env, check=False, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def test_import_lstmkit_loads_no_heavy_dependency():
    out = _run("import lstmkit\nout['modules'] = sorted(sys.modules)")
    modules = set(out["modules"])
    for heavy in ("numba", "llvmlite", "scipy", "h5py", "torch", "keras", "tensorflow",
                  "onnx", "onnxruntime", "matplotlib", "logging", "concurrent.futures",
                  "lstmkit.models", "lstmkit.training", "lstmkit.saving", "lstmkit.inspection",
                  "lstmkit.layers.core", "lstmkit.layers.bidirectional",
                  "lstmkit.kernels._run"):
        assert heavy not in modules, f"`import lstmkit` imported {heavy}"


def test_seed_example_runs_the_cached_kernels():
    lk.layers.LSTM(4)(np.zeros((32, 10, 8), np.float32))  # fills the numba cache if needed
    lk.layers.LSTM(4, return_sequences=True, return_state=True)(np.zeros((32, 10, 8), np.float32))
    out = _run(SEED_EXAMPLE + """
from numba.core.dispatcher import Dispatcher
dispatchers = {id(f): f for name, module in list(sys.modules.items())
               if name.startswith('lstmkit.kernels.') for f in vars(module).values()
               if isinstance(f, Dispatcher)}.values()
out['backend'] = lstm.backend_
out['misses'] = sum(len(f.stats.cache_misses) for f in dispatchers)
out['hits'] = sum(len(f.stats.cache_hits) for f in dispatchers)
out['modules'] = sorted(sys.modules)
""")
    assert out["backend"] == "kernel"
    assert out["misses"] == 0 and out["hits"] >= 1  # loaded from the cache, nothing compiled
    modules = set(out["modules"])
    assert "scipy.linalg.cython_blas" in modules  # what numba's np.dot calls
    for unneeded in ("h5py", "torch", "lstmkit.layers.core", "lstmkit.models"):
        assert unneeded not in modules, f"the seed example imported {unneeded}"


def test_lazy_layer_classes_resolve_and_deserialize():
    out = _run("""
import lstmkit as lk
from lstmkit.layers import Dense
out['dense_same'] = lk.layers.Dense is Dense and lk.layers.get('Dense') is Dense
layer = lk.layers.deserialize({'class_name': 'Bidirectional', 'config': {
    'layer': lk.layers.serialize(lk.layers.LSTM(2))}})
out['bidir'] = type(layer).__name__
out['core_module'] = lk.layers.core.Dense is Dense
out['all'] = all(hasattr(lk.layers, name) for name in lk.layers.__all__)
out['dir'] = {'Dense', 'TimeDistributed', 'Input'} <= set(dir(lk.layers))
try:
    lk.layers.NoSuchLayer
except AttributeError as err:
    out['missing'] = str(err)
try:
    lk.layers.get('NoSuchLayer')
except ValueError as err:
    out['unknown'] = str(err)
""")
    assert out["dense_same"] and out["core_module"] and out["all"] and out["dir"]
    assert out["bidir"] == "Bidirectional"
    assert "NoSuchLayer" in out["missing"]
    assert "NoSuchLayer" in out["unknown"] and "Conv1D" in out["unknown"]
    assert "Input" not in out["unknown"].split("knows", 1)[1].split(", ")  # a function


@pytest.mark.parametrize("name", ["Dense", "Masking", "Normalization", "TimeDistributed"])
def test_get_registers_a_lazy_class_once(name):
    cls = lk.layers.get(name)
    assert cls is getattr(lk.layers, name) and cls.__name__ == name
    assert lk.layers.get(name) is cls


def test_bench_times_tf_keras_beside_lstmkit_with_the_same_example(tmp_path):

    for name, (env, code) in bench.TF_SEED_EXAMPLES.items():  # only the library differs
        library = "keras" if name == "keras3_tensorflow" else "tf.keras"
        assert code.count(f"{library}.layers.LSTM(4") == 2 and "lstmkit" not in code
        assert code.replace(f"{library}.layers", "lk.layers").split("\n", 3)[3] == \
            bench.SEED_EXAMPLE.split("\n", 3)[3]
        assert env
    # A stand-in "python with TensorFlow" that records what it was asked to run.
    log = tmp_path / "calls.txt"
    fake = tmp_path / "python"
    fake.write_text(f'#!/bin/sh\necho "$KERAS_BACKEND|$TF_USE_LEGACY_KERAS|$1" >> {log}\n')
    fake.chmod(0o755)
    table = bench.fresh_process_table(runs=1, tf_python=str(fake))
    assert set(table) == {"lstmkit", "keras3_tensorflow", "tf_keras2"}
    assert all(seconds > 0 for seconds in table.values())
    calls = [line.split("|") for line in log.read_text().split()]  # backend, legacy, argv[1]
    assert len(calls) == 2 and all(call[2] == "-c" for call in calls)
    assert "tensorflow" in [call[0] for call in calls]  # Keras 3 on TensorFlow
    assert "1" in [call[1] for call in calls]  # tf.keras 2 (TF_USE_LEGACY_KERAS=1)
