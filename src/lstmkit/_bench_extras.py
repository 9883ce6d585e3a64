"""`lstmkit bench`'s measurements besides the grid: the machine it ran on, training memory,
and fresh processes running the seed example (lstmkit against TF-Keras)."""

from __future__ import annotations

import contextlib
import glob
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numpy as np

SEED_EXAMPLE = """
import numpy as np
import lstmkit as lk
inputs = np.random.normal(size=(32, 10, 8)).astype("float32")
lstm = lk.layers.LSTM(4)
output = lstm(inputs)
lstm = lk.layers.LSTM(4, return_sequences=True, return_state=True)
whole_seq_output, final_memory_state, final_carry_state = lstm(inputs)
"""
# The same example in TF-Keras, timed when a python with TensorFlow is named (--tf-python or
# LSTMKIT_TF_PYTHON): name -> (environment it needs, code).
TF_SEED_EXAMPLES = {
    "keras3_tensorflow": ({"KERAS_BACKEND": "tensorflow"}, SEED_EXAMPLE.replace(
        "import lstmkit as lk", "import keras").replace("lk.layers", "keras.layers")),
    "tf_keras2": ({"TF_USE_LEGACY_KERAS": "1"}, SEED_EXAMPLE.replace(
        "import lstmkit as lk", "import tensorflow as tf").replace("lk.layers", "tf.keras.layers")),
}


def training_memory(B, T, D, H):
    """Peak traced bytes of one training forward + backward, and the cache's bytes."""
    from lstmkit import kernels

    rng = np.random.default_rng(0)
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    K = (rng.normal(size=(D, 4 * H)) * 0.05).astype(np.float32)
    R = (rng.normal(size=(H, 4 * H)) * 0.05).astype(np.float32)
    b = np.zeros(4 * H, np.float32)
    d_out = rng.normal(size=(B, T, H)).astype(np.float32)
    kernels.lstm_backward(kernels.lstm_forward(x, K, R, b, None, None, keep_cache=True), d_out)
    tracemalloc.start()
    res = kernels.lstm_forward(x, K, R, b, None, None, keep_cache=True)
    after_forward = tracemalloc.get_traced_memory()[0]
    parts = getattr(res.cache, "parts", [res.cache])  # one cache per batch shard
    cache_bytes = {k: sum(int(getattr(p, k).nbytes) for p in parts) for k in ("X", "A", "S", "C")}
    kernels.lstm_backward(res, d_out)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"B*T*H*4*6": B * T * H * 4 * 6, "cache_bytes": cache_bytes,
            "outputs_bytes": int(res.outputs.nbytes), "after_forward_bytes": after_forward,
            "peak_forward_backward_bytes": peak}


def fresh_process_table(runs=7, tf_python=None, cold=False):
    """Median wall times (s) of new processes running the seed example, interleaved:
    lstmkit, and with `tf_python` (a python with TensorFlow) the same in TF-Keras
    (`TF_SEED_EXAMPLES`). `cold`: lstmkit with an empty numba cache, one run: the time to
    the first answer (the reference's, while a background process compiles the kernels;
    that process is stopped afterwards)."""
    jobs = {"lstmkit": (sys.executable, {}, SEED_EXAMPLE)}
    if tf_python and not cold:
        jobs.update({name: (tf_python, env, code)
                     for name, (env, code) in TF_SEED_EXAMPLES.items()})
    times = {name: [] for name in jobs}
    for _ in range(1 if cold else runs):
        for name, (python, extra_env, code) in jobs.items():
            env = dict(os.environ, **extra_env)
            if cold:
                env["NUMBA_CACHE_DIR"] = tempfile.mkdtemp(prefix="lstmkit-numba-cold-")
            t0 = time.perf_counter()
            subprocess.run([python, "-c", code], check=True, env=env, capture_output=True)
            times[name].append(time.perf_counter() - t0)
            if cold:
                _stop_background_compile(env["NUMBA_CACHE_DIR"])
                shutil.rmtree(env["NUMBA_CACHE_DIR"], ignore_errors=True)
    return {name: statistics.median(t) for name, t in times.items()}


def _stop_background_compile(cache_dir):
    """Stop the compile a cold run started (its process id is in the lock file)."""
    for lock in glob.glob(os.path.join(cache_dir, "lstmkit-kernels-*.compiling")):
        with contextlib.suppress(OSError, ValueError), open(lock) as f:
            os.kill(int(f.read().strip()), signal.SIGTERM)


def startup_report(runs=7, tf_python=None):
    """The fresh-process goal: lstmkit's time, TF-Keras's, and lstmkit / TF-Keras."""
    table = fresh_process_table(runs, tf_python)
    report = {"lstmkit_warm_cache": table.pop("lstmkit"),
              "lstmkit_cold_cache": fresh_process_table(cold=True)["lstmkit"], "runs": runs}
    if not table:
        report["tf_keras"] = "not timed: name a python with TensorFlow (--tf-python)"
    for name, seconds in table.items():
        report[name] = seconds
        report[f"lstmkit_over_{name}"] = report["lstmkit_warm_cache"] / seconds
    return report


def machine(threads=None) -> dict:
    """What the numbers depend on: CPU model, the ISA the kernels are compiled for, the BLAS
    libraries (threadpoolctl) and thread counts, library versions. Also `lstmkit info
    --system`."""
    from importlib import metadata

    from . import kernels

    info = {"python": sys.version.split()[0], "platform": platform.platform(),
            "cpu": _cpu_name(), "cores": os.cpu_count(), "threads": threads,
            "isa": kernels.isa()._asdict(),
            "environment": {k: os.environ.get(k) for k in (
                "NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", "OPENBLAS_CORETYPE",
                "ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "LSTMKIT_NUM_THREADS",
                "LSTMKIT_PARALLEL", "OMP_NUM_THREADS", "GOMP_SPINCOUNT", "OMP_WAIT_POLICY")
                if k in os.environ}}
    import numba

    try:
        info["numba_threading_layer"] = numba.threading_layer()  # the one that started
    except ValueError:  # none started yet: the configured choice
        info["numba_threading_layer"] = numba.config.THREADING_LAYER
    try:
        import scipy.linalg  # noqa: F401  the BLAS the kernels call, so that it is listed
        import threadpoolctl

        info["blas"] = [{k: d.get(k) for k in ("user_api", "internal_api", "prefix", "filepath",
                                                "version", "architecture", "threading_layer",
                                                "num_threads")}
                        for d in threadpoolctl.threadpool_info()]
    except ImportError:
        info["blas"] = "threadpoolctl not installed"
    versions = {}
    for name in ("lstmkit", "numpy", "scipy", "numba", "llvmlite", "threadpoolctl", "torch",
                 "onnxruntime", "onnx"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    info["versions"] = versions
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    except ImportError:
        pass
    return info


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
