"""lstmkit against onnxruntime, PyTorch (and TF-Keras when installed) on DESIGN.md's grid.

Everything runs in one process, side by side: for each size every contender is
timed once per round, rounds interleaved, and the table shows medians over rounds
and the ratio lstmkit / peer. Absolute times on a shared 2-core machine are noise;
the ratios of interleaved medians are what this reports, with the load (`uptime`)
before and after.

    forward      one call on x (B, T, D) returning h_T (B, H) (Keras's LSTM(H) default):
                 lstmkit `LSTM(H)(x)`; onnxruntime standard ONNX `LSTM` op (layout=0,
                 the only one its CPU kernel runs; x transposed to (T, B, D) once,
                 outside the timing), only Y_h requested; torch `nn.LSTM`
                 (batch_first) under `inference_mode`.
    train step   forward + backward + SGD update of the layer, loss MSE(h_T, y):
                 lstmkit `Sequential([LSTM(H)]).train_on_batch` (the layer's
                 forward/backward and a manual update if `lk.Sequential` is missing);
                 torch `zero_grad`, forward, `mse_loss`, `backward`, `SGD.step`.

Also reported: NumPy's own sgemm GFLOP/s next to lstmkit's forward FLOP rate at
the largest size, training's peak traced memory against B*T*H*4*6 bytes, and the
time of a fresh process that imports lstmkit and runs the seed example (warm and
cold numba cache), next to TF-Keras's (Keras 3 on TensorFlow and tf.keras 2) when
`--tf-python` or `LSTMKIT_TF_PYTHON` names a python with TensorFlow.

Usage (needs the peers: `pip install lstmkit[torch,onnx] threadpoolctl`, or `.[dev]`):
    lstmkit bench [--threads 2] [--rounds 7] [--sizes 0,1,2,3,4] [--tf-python PATH]
    lstmkit bench --startup-only --tf-python /path/to/tf/venv/bin/python
    python benchmarks/bench_lstm.py ...        (the same, from a source checkout)

Results go to benchmarks/results/<UTC time>.json in a source checkout (else to the
current folder); `--markdown` prints the README table.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc

import numpy as np

from . import _config

GRID = [(32, 10, 8, 4), (1, 100, 16, 64), (32, 50, 32, 64), (64, 100, 128, 256),
        (128, 100, 512, 512)]
PAUSE = 0.05  # seconds between two contenders' measurements
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


def load():
    return os.getloadavg()


def calibrate(fn, min_time):
    """Calls per measurement so that one measurement takes about `min_time` seconds."""
    fn()  # warm up (compiles, allocates)
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    return max(1, int(min_time / once))


def interleaved(contenders, rounds, min_time):
    """{name: median seconds per call} over `rounds` interleaved rounds."""
    reps = {name: calibrate(fn, min_time) for name, fn in contenders.items()}
    times = {name: [] for name in contenders}
    for r in range(rounds):
        names = list(contenders)
        names = names[r % len(names):] + names[:r % len(names)]  # rotate the order
        for name in names:
            fn, n = contenders[name], reps[name]
            # Let the previous contender's worker threads stop spinning (onnxruntime's and
            # OpenMP's pools spin after a call), so they do not run during this measurement.
            time.sleep(PAUSE)
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            times[name].append((time.perf_counter() - t0) / n)
    return {name: statistics.median(v) for name, v in times.items()}, reps


# -- contenders --------------------------------------------------------------------------------

def lstmkit_forward(x, H, weights):
    import lstmkit as lk

    layer = lk.layers.LSTM(H)
    layer(x)
    layer.set_weights(weights)
    layer(x)
    assert layer.backend_ == "kernel", layer.backend_
    return lambda: layer(x)


def lstmkit_train(x, y, H, weights):
    import lstmkit as lk

    if hasattr(lk, "Sequential"):
        model = lk.Sequential([lk.layers.LSTM(H)])
        model.compile(optimizer=lk.optimizers.SGD(learning_rate=0.01), loss="mse")
        model.train_on_batch(x, y)
        model.layers[0].set_weights(weights)
        return (lambda: model.train_on_batch(x, y)), "Sequential.train_on_batch"
    layer = lk.layers.LSTM(H)
    layer(x)
    layer.set_weights(weights)

    def step():
        out, cache = layer.forward(x, training=True)
        _, grads = layer.backward(cache, 2 * (out - y) / out.size)
        for var, g in zip(layer.trainable_weights, grads):
            var.value -= 0.01 * g
    return step, "layer forward/backward + SGD"


def torch_modules(D, H, weights):
    import torch

    lstm = torch.nn.LSTM(D, H, batch_first=True)
    K, R, b = weights  # Keras layout (D, 4H), (H, 4H), (4H,); gate order i, f, c, o = torch's
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(torch.from_numpy(K.T.copy()))
        lstm.weight_hh_l0.copy_(torch.from_numpy(R.T.copy()))
        lstm.bias_ih_l0.copy_(torch.from_numpy(b))
        lstm.bias_hh_l0.zero_()
    return lstm


def torch_forward(x, D, H, weights):
    import torch

    lstm = torch_modules(D, H, weights)
    xt = torch.from_numpy(x)

    def run():
        with torch.inference_mode():
            return lstm(xt)[1][0][0]
    return run


def torch_train(x, y, D, H, weights):
    import torch

    lstm = torch_modules(D, H, weights)
    opt = torch.optim.SGD(lstm.parameters(), lr=0.01)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        _, (h, _) = lstm(xt)
        loss = torch.nn.functional.mse_loss(h[0], yt)
        loss.backward()
        opt.step()
    return step


def onnx_forward(x, D, H, weights, threads):
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    K, R, b = weights

    def iofc(w):  # Keras gates i, f, c, o -> ONNX i, o, f, c along the last axis
        i, f, c, o = np.split(w, 4, axis=-1)
        return np.concatenate([i, o, f, c], axis=-1)
    W = iofc(K).T[None]  # (1, 4H, D)
    Rw = iofc(R).T[None]  # (1, 4H, H)
    Bw = np.concatenate([iofc(b), np.zeros(4 * H, b.dtype)])[None]  # (1, 8H)
    B, T = x.shape[:2]
    # onnxruntime's CPU LSTM supports only layout=0 (time-major X (T, B, D)); the input is
    # transposed once outside the timing, which favours onnxruntime slightly.
    node = helper.make_node("LSTM", ["X", "W", "R", "B"], ["", "Y_h"], hidden_size=H, layout=0)
    graph = helper.make_graph(
        [node], "lstm", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [T, B, D])],
        [helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, [1, B, H])],
        [numpy_helper.from_array(a.astype(np.float32), n) for a, n in
         ((W, "W"), (Rw, "R"), (Bw, "B"))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(model)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
    feed = {"X": np.ascontiguousarray(x.transpose(1, 0, 2))}
    return lambda: sess.run(None, feed)


def tf_contenders(x, y, H):
    try:
        import tensorflow as tf
    except ImportError:
        return None
    import tf_keras as keras  # pragma: no cover - not installed here

    model = keras.Sequential([keras.layers.LSTM(H)])
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    fwd = tf.function(lambda a: model(a))
    return (lambda: fwd(x)), (lambda: model.train_on_batch(x, y))


# -- extra measurements ------------------------------------------------------------------------

def sgemm_rate(m, k, n, rounds=7):
    a = np.random.default_rng(0).random((m, k), np.float32)
    b = np.random.default_rng(1).random((k, n), np.float32)
    out = np.empty((m, n), np.float32)
    t, _ = interleaved({"sgemm": lambda: np.matmul(a, b, out=out)}, rounds, 0.3)
    return 2.0 * m * k * n / t["sgemm"] / 1e9


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
    (`TF_SEED_EXAMPLES`). `cold`: lstmkit with an empty numba cache, one run."""
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
    return {name: statistics.median(t) for name, t in times.items()}


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


def machine(threads):
    info = {"python": sys.version.split()[0], "platform": platform.platform(),
            "cpu": _cpu_name(), "cores": os.cpu_count(), "threads": threads,
            "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
            "OPENBLAS_L2_SIZE": os.environ.get("OPENBLAS_L2_SIZE")}
    try:
        import threadpoolctl

        info["blas"] = [{k: d.get(k) for k in ("internal_api", "prefix", "version",
                                                "architecture", "num_threads")}
                        for d in threadpoolctl.threadpool_info()]
    except ImportError:
        info["blas"] = "threadpoolctl not installed"
    import numba
    import onnxruntime
    import torch

    info["versions"] = {"numpy": np.__version__, "numba": numba.__version__,
                        "torch": torch.__version__, "onnxruntime": onnxruntime.__version__}
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


# -- main ----------------------------------------------------------------------------------------

def run_size(B, T, D, H, args):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    y = rng.normal(size=(B, H)).astype(np.float32)
    s = 1 / np.sqrt(H)
    weights = [(rng.uniform(-s, s, size=shape)).astype(np.float32)
               for shape in ((D, 4 * H), (H, 4 * H), (4 * H,))]
    big = H >= 256
    min_time = 0.0 if big else args.min_time
    rounds = args.rounds_large if big else args.rounds
    fwd = {"lstmkit": lstmkit_forward(x, H, weights),
           "onnxruntime": onnx_forward(x, D, H, weights, args.threads),
           "torch": torch_forward(x, D, H, weights)}
    lk_step, how = lstmkit_train(x, y, H, weights)
    train = {"lstmkit": lk_step, "torch": torch_train(x, y, D, H, weights)}
    tf = tf_contenders(x, y, H)
    if tf is not None:
        fwd["tf_keras"], train["tf_keras"] = tf
    f_times, _ = interleaved(fwd, rounds, min_time)
    t_times, _ = interleaved(train, rounds, min_time)
    peers = [k for k in f_times if k != "lstmkit"]
    fastest = min(peers, key=f_times.get)
    row = {"size": [B, T, D, H], "forward_ms": {k: v * 1e3 for k, v in f_times.items()},
           "train_ms": {k: v * 1e3 for k, v in t_times.items()},
           "forward_ratio_vs_fastest": f_times["lstmkit"] / f_times[fastest],
           "fastest_forward_peer": fastest,
           "train_ratio_vs_torch": t_times["lstmkit"] / t_times["torch"],
           "lstmkit_train_via": how, "rounds": rounds}
    flops = 2.0 * B * T * (D + H) * 4 * H  # the GEMMs of one forward
    row["lstmkit_forward_gflops"] = flops / f_times["lstmkit"] / 1e9
    return row


def markdown(result):
    lines = [
        ("| B, T, D, H | fwd ms lstmkit | onnxruntime | PyTorch | lstmkit / fastest | "
        "train ms lstmkit | PyTorch | lstmkit / PyTorch |"),
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in result["grid"]:
        f, t = r["forward_ms"], r["train_ms"]
        lines.append(
            f"| {', '.join(map(str, r['size']))} | {f['lstmkit']:.3g} | {f['onnxruntime']:.3g} | "
            f"{f['torch']:.3g} | **{r['forward_ratio_vs_fastest']:.2f}** | "
            f"{t['lstmkit']:.3g} | {t['torch']:.3g} | **{r['train_ratio_vs_torch']:.2f}** |")
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The benchmark's options (shared by `lstmkit bench` and benchmarks/bench_lstm.py)."""
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=9, help="rounds for the small sizes")
    p.add_argument("--rounds-large", type=int, default=5, help="rounds for H >= 256")
    p.add_argument("--min-time", type=float, default=0.05,
                   help="seconds per measurement for small sizes")
    p.add_argument("--sizes", default="0,1,2,3,4", help="indices into the grid")
    p.add_argument("--no-extras", action="store_true",
                   help="skip sgemm rate, memory and fresh-process timings")
    p.add_argument("--tf-python", default=_config.tf_python(),
                   help="a python with TensorFlow: also time the seed example in TF-Keras "
                        "(default: $LSTMKIT_TF_PYTHON)")
    p.add_argument("--startup-only", action="store_true",
                   help="only the fresh-process timings (no peers needed)")
    p.add_argument("--out", default=None)
    p.add_argument("--markdown", action="store_true")
    return p


def main(argv=None):
    p = add_arguments(argparse.ArgumentParser(description=__doc__.split("\n")[0]))
    return run(p.parse_args(argv))


def run(args):
    """Run the grid with parsed `args`; writes the JSON and prints the table."""
    if args.threads < 1 or args.rounds < 1 or args.rounds_large < 1:
        raise ValueError("--threads, --rounds and --rounds-large must be >= 1")
    try:
        sizes = [int(i) for i in args.sizes.split(",")]
    except ValueError:
        raise ValueError(f"--sizes takes grid indices like 0,1,2, got {args.sizes!r}") from None
    if not all(0 <= i < len(GRID) for i in sizes):
        raise ValueError(f"--sizes: indices 0 to {len(GRID) - 1} into the grid {GRID}, "
                         f"got {args.sizes!r}")
    if args.startup_only:
        report = startup_report(args.rounds, args.tf_python)
        print(json.dumps({"fresh_process_seed_example_s": report, "load": load()}, indent=1))
        return 0
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import threadpoolctl
        import torch
    except ImportError as err:
        raise ImportError(
            f"the benchmark runs lstmkit against PyTorch and onnxruntime: {err.name} is missing; "
            "install them with pip install 'lstmkit[torch,onnx]' threadpoolctl"
        ) from None

    import lstmkit.kernels._run  # noqa: F401  loads SciPy's BLAS, so that the limit reaches it

    threadpoolctl.threadpool_limits(args.threads)
    torch.set_num_threads(args.threads)
    os.environ["LSTMKIT_NUM_THREADS"] = str(args.threads)  # lstmkit's batch shards
    result = {"when": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "machine": machine(args.threads), "load_before": load(), "grid": []}
    try:
        import tensorflow  # noqa: F401

        result["tf_keras"] = "installed"
    except ImportError:
        result["tf_keras"] = "not installed: no TF-Keras column"
    for idx in sizes:
        row = run_size(*GRID[idx], args)
        result["grid"].append(row)
        print(json.dumps(row), flush=True)
    if not args.no_extras:
        B, T, D, H = GRID[-1]
        result["numpy_sgemm_gflops"] = {
            "x_kernel (B*T, D) @ (D, 4H)": sgemm_rate(B * T, D, 4 * H),
            "per_step (B, H) @ (H, 4H)": sgemm_rate(B, H, 4 * H),
        }
        last = [r for r in result["grid"] if r["size"] == [B, T, D, H]]
        if last:
            result["lstmkit_forward_gflops_largest"] = last[0]["lstmkit_forward_gflops"]
        result["training_memory_largest"] = training_memory(B, T, D, H)
        result["fresh_process_seed_example_s"] = startup_report(tf_python=args.tf_python)
    result["load_after"] = load()
    name = (datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            + f"-threads{args.threads}.json")
    folder = os.path.join("benchmarks", "results") if os.path.isdir("benchmarks") else "."
    out = args.out or os.path.join(folder, name)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print(markdown(result))
    for key in ("numpy_sgemm_gflops", "lstmkit_forward_gflops_largest", "training_memory_largest",
                "fresh_process_seed_example_s", "load_before", "load_after"):
        if key in result:
            print(f"{key}: {result[key]}")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    main()
