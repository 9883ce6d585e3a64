"""lstmkit leaves the process as it found it: garbage collector, import machinery,
environment, exit handlers, BLAS thread counts and threads' CPU affinities.

Each check runs in a new interpreter: it imports the third-party libraries lstmkit uses
first (their own import-time effects are theirs), records the process state, then
imports lstmkit, calls a layer (one call small, one in batch shards), fits a model
briefly, saves and loads it, and records the state again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("numba")
pytest.importorskip("threadpoolctl")
pytest.importorskip("h5py")

STATE = """
def state():
    import atexit, gc, os, sys, threadpoolctl
    return {
        "gc_enabled": gc.isenabled(), "gc_frozen": gc.get_freeze_count(),
        "gc_thresholds": list(gc.get_threshold()),
        "meta_path": [repr(f) for f in sys.meta_path],
        "path_hooks": [repr(h) for h in sys.path_hooks],
        "environ": dict(os.environ), "atexit": atexit._ncallbacks(),
        "blas_threads": {d["filepath"]: d["num_threads"]
                         for d in threadpoolctl.threadpool_info() if d["user_api"] == "blas"},
        "affinities": affinities(),
    }

def affinities():  # every thread's CPU affinity, lstmkit's workers included (_placement)
    import os
    if not hasattr(os, "sched_getaffinity"):
        return []
    found = set()
    for tid in os.listdir("/proc/self/task"):
        try:
            found.add(tuple(sorted(os.sched_getaffinity(int(tid)))))
        except OSError:  # a thread that has just ended
            pass
    return sorted(found)
"""

# multiprocessing.synchronize: numba imports it when its threading layer starts, and
# multiprocessing registers an exit handler of its own on import.
DEPENDENCIES = ("import numpy, scipy.linalg, numba, h5py, threadpoolctl, "
                "multiprocessing.synchronize\n")

WORK = """
import os, tempfile
import numpy as np
import lstmkit as lk
rng = np.random.default_rng(0)
x = rng.normal(size=(32, 10, 8)).astype("float32")
lk.layers.LSTM(4, return_sequences=True, return_state=True)(x)
big = lk.layers.LSTM(64)
big(rng.normal(size=(64, 5, 8)).astype("float32"))  # batch shards (OpenMP or the pool)
model = lk.Sequential([lk.Input((10, 8)), lk.layers.LSTM(8), lk.layers.Dense(1)])
model.compile(optimizer="adam", loss="mse")
model.fit(x, rng.normal(size=(32, 1)).astype("float32"), epochs=2, batch_size=8, verbose=0)
path = os.path.join(tempfile.mkdtemp(), "model.keras")
model.save(path)
loaded = lk.saving.load_model(path)
np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
backends = [big.backend_, model.layers[0].backend_]
"""


def _run(code: str, **env) -> dict:
    environ = {k: v for k, v in os.environ.items() if k != "NUMBA_DISABLE_CACHING"}
    environ.update(env)
    wrapped = code + "\nimport json\nprint(json.dumps(out))\n"
    proc = subprocess.run([sys.executable, "-c", wrapped], capture_output=True, text=True,
                          env=environ, check=False, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.mark.parametrize("parallel", ["auto", "1"])  # batch shards on the pool, on OpenMP
def test_import_call_fit_save_load_leave_the_process_as_it_was(parallel):
    out = _run(STATE + DEPENDENCIES + "before = state()\n" + WORK
               + "out = {'before': before, 'after': state(), 'backends': backends}",
               LSTMKIT_NUM_THREADS="2", LSTMKIT_PARALLEL=parallel)
    assert out["backends"] == ["kernel", "kernel"]
    before, after = out["before"], out["after"]
    assert after.keys() == before.keys()
    for key in before:
        assert after[key] == before[key], key


@pytest.mark.parametrize("setup", ["gc.disable()", "gc.freeze()", "gc.set_threshold(5000, 20, 20)"])
def test_the_applications_gc_settings_are_kept(setup):
    out = _run(STATE + DEPENDENCIES + f"import gc\n{setup}\nbefore = state()\n" + WORK
               + "out = {'before': before, 'after': state()}")
    for key in ("gc_enabled", "gc_thresholds"):
        assert out["after"][key] == out["before"][key]
    frozen = out["before"]["gc_frozen"]  # frozen objects may die, but none may join
    assert out["after"]["gc_frozen"] <= frozen


def test_blas_thread_limit_is_scoped_to_the_call():
    """Inside a call that limits SciPy's BLAS, it runs one thread; after, its own count."""
    out = _run(DEPENDENCIES + """
import numpy as np
import threadpoolctl
from lstmkit.kernels import _blas
controller = threadpoolctl.ThreadpoolController()
controller.limit(limits=2, user_api="blas")  # every BLAS on 2 threads, as an app might
lib = _blas._BLAS.lib()
outer = _blas.single_thread_if_small(0)
inner = _blas.single_thread_if_small(0)  # an overlapping call (another thread)
during = lib.get_num_threads()
_blas.restore_threads(inner)
still = lib.get_num_threads()
_blas.restore_threads(outer)
out = {"found": lib is not None, "during": during, "still": still,
       "after": lib.get_num_threads(), "big": _blas.single_thread_if_small(1 << 30)}
""")
    assert out == {"found": True, "during": 1, "still": 1, "after": 2, "big": False}


def test_blas_thread_limit_falls_on_scipys_blas_when_scipy_is_not_loaded_yet():
    """The limit is for the BLAS numba's `np.dot` calls, SciPy's. Asked for before anything
    has loaded SciPy, when only NumPy's OpenBLAS is loaded, it once limited that one and
    left SciPy's products (the weight gradients in batch shards) on all threads."""
    out = _run("""
import os, sys
import numpy as np
from lstmkit.kernels import _blas
loaded = "scipy.linalg.cython_blas" in sys.modules
changed = _blas.single_thread_if_small(0)
import threadpoolctl
threads = {os.path.basename(os.path.dirname(i["filepath"])): i["num_threads"]
           for i in threadpoolctl.threadpool_info() if i["internal_api"] == "openblas"}
_blas.restore_threads(changed)
out = {"loaded_before": loaded, "during": threads, "limited": _blas._BLAS.lib().filepath}
""")
    assert not out["loaded_before"]  # the case this test is about
    if len(out["during"]) == 1:  # one OpenBLAS for both (conda): that one
        assert list(out["during"].values()) == [1]
    else:
        assert "scipy" in os.path.basename(os.path.dirname(out["limited"]))
        assert [n for lib, n in out["during"].items() if "scipy" in lib] == [1]
