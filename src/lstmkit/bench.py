"""lstmkit against onnxruntime, PyTorch (and TF-Keras when installed) on DESIGN.md's grid.

Everything runs in one process, side by side: for each case every contender is timed
once per round, rounds interleaved, and the table shows medians over rounds and the
ratio lstmkit / peer. Absolute times on a shared machine are noise; the ratios of
interleaved medians are what this reports, with the load (`uptime`) before and after.
The contenders are built in `lstmkit._bench_peers`.

For each size (B, T, D, H) of the grid:
    forward      `LSTM(H)(x)` returning h_T (B, H), Keras's default; onnxruntime's
                 standard ONNX `LSTM` op with only Y_h requested; torch `nn.LSTM`.
    seed config  `LSTM(H, return_sequences=True, return_state=True)(x)`: the whole output
                 and both states (onnxruntime: Y, Y_h, Y_c).
    train step   `Sequential([LSTM(H)]).train_on_batch`, loss MSE(h_T, y), SGD; torch
                 `zero_grad`, forward, `mse_loss`, `backward`, `SGD.step`.
Cases (`--cases`):
    bidirectional  `Bidirectional(LSTM(128, return_sequences=True))` on (32, 80, 64) with a
                 padding mask (lengths uniform in 20..80): onnxruntime with `sequence_lens`,
                 torch on packed sequences; and its training step against torch's.
    stream       a stateful `LSTM(64, stateful=True)` called on (1, 1, 16) 1000 times (the
                 serving case: per-call overhead); onnxruntime and torch pass the states.

Also reported: NumPy's sgemm GFLOP/s next to lstmkit's forward rate at the largest
size, training's peak traced memory, and the time of a fresh process that imports
lstmkit and runs the seed example (warm and cold numba cache), next to TF-Keras's
when `--tf-python` or `LSTMKIT_TF_PYTHON` names a python with TensorFlow. The JSON
records the machine: CPU model, the ISA the kernels are compiled for, the BLAS
libraries and their threads, thread counts and library versions (`machine`).

Usage (needs the peers: `pip install lstmkit[torch,onnx]`, or `.[dev]`):
    lstmkit bench [--threads 2] [--rounds 7] [--sizes 0,1,2,3,4] [--tf-python PATH]
    lstmkit bench --startup-only --tf-python /path/to/tf/venv/bin/python
    python benchmarks/bench_lstm.py ...        (the same, from a source checkout)

Results go to benchmarks/results/<UTC time>.json in a source checkout (else to the
current folder); `--markdown` prints the README table.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import statistics
import time

import numpy as np

from . import _bench_peers as peers
from . import _config
from ._bench_extras import (  # noqa: F401  (re-exported: the benchmark's public names)
    SEED_EXAMPLE,
    TF_SEED_EXAMPLES,
    fresh_process_table,
    machine,
    startup_report,
    training_memory,
)

GRID = [(32, 10, 8, 4), (1, 100, 16, 64), (32, 50, 32, 64), (64, 100, 128, 256),
        (128, 100, 512, 512)]
PAUSE = 0.05  # seconds between two contenders' measurements
def load():
    return os.getloadavg()


def calibrate(fn, min_time):
    """Calls per measurement so that one measurement takes about `min_time` seconds.

    Timed as the rounds are (after a pause, see `interleaved`) and over calls filling a
    quarter of `min_time`, not one call: right after the peers are built their threads
    still spin, and one call timed then came out 10x slow. The few calls per measurement
    that gave let each measurement's first call (cold caches, a sleeping worker) add a
    tenth to the median."""
    fn()  # warm up (compiles, allocates)
    time.sleep(PAUSE)
    calls, elapsed, t0 = 0, 0.0, time.perf_counter()
    while calls == 0 or elapsed < min_time / 4:
        fn()
        calls += 1
        elapsed = time.perf_counter() - t0
    return max(1, int(min_time / max(elapsed / calls, 1e-7)))


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


# -- extra measurements ------------------------------------------------------------------------

def sgemm_rate(m, k, n, rounds=7):
    a = np.random.default_rng(0).random((m, k), np.float32)
    b = np.random.default_rng(1).random((k, n), np.float32)
    out = np.empty((m, n), np.float32)
    t, _ = interleaved({"sgemm": lambda: np.matmul(a, b, out=out)}, rounds, 0.3)
    return 2.0 * m * k * n / t["sgemm"] / 1e9


# -- the grid and the cases ------------------------------------------------------------------------

def _timed(contenders, args, big=False):
    """{name: ms} medians of interleaved rounds (fewer, longer rounds for big cases)."""
    rounds = args.rounds_large if big else args.rounds
    times, _ = interleaved(contenders, rounds, 0.0 if big else args.min_time)
    return {name: t * 1e3 for name, t in times.items()}


def _ratios(ms, against=None):
    """lstmkit / the fastest peer (or / `against`), and which peer that is."""
    peers = [k for k in ms if k != "lstmkit"] if against is None else [against]
    fastest = min(peers, key=ms.get)
    return ms["lstmkit"] / ms[fastest], fastest


def run_size(B, T, D, H, args):
    """One grid size: forward, the seed configuration's forward, a training step."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    y = rng.normal(size=(B, H)).astype(np.float32)
    weights = peers.keras_weights(rng, D, H)
    big = H >= 256
    _, lk_forward = peers.lstmkit_layer(x, H, weights)
    _, lk_seed = peers.lstmkit_layer(x, H, weights, return_sequences=True, return_state=True)
    layer, _ = peers.lstmkit_layer(x, H, weights)
    forward = _timed({"lstmkit": lk_forward,
                      "onnxruntime": peers.onnx_forward(x, H, weights, args.threads, ["Y_h"]),
                      "torch": peers.torch_forward(x, H, weights)}, args, big)
    seed = _timed({"lstmkit": lk_seed,
                   "onnxruntime": peers.onnx_forward(x, H, weights, args.threads,
                                                     ["Y", "Y_h", "Y_c"]),
                   "torch": peers.torch_forward(x, H, weights)}, args, big)
    train = _timed({"lstmkit": peers.lstmkit_train(x, y, [layer]),
                    "torch": peers.torch_train(x, y, H, weights, last_only=True)}, args, big)
    row = {"size": [B, T, D, H], "forward_ms": forward, "seed_forward_ms": seed,
           "train_ms": train}
    row["forward_ratio_vs_fastest"], row["fastest_forward_peer"] = _ratios(forward)
    row["seed_ratio_vs_fastest"], row["fastest_seed_peer"] = _ratios(seed)
    row["train_ratio_vs_torch"], _ = _ratios(train, "torch")
    flops = 2.0 * B * T * (D + H) * 4 * H  # the GEMMs of one forward
    row["lstmkit_forward_gflops"] = flops / (forward["lstmkit"] / 1e3) / 1e9
    return row


def bidirectional_case(args, B=32, T=80, D=64, H=128):
    """`Bidirectional(LSTM(H, return_sequences=True))` on padded sequences with a mask."""
    import lstmkit as lk

    rng = np.random.default_rng(1)
    lengths = rng.integers(T // 4, T + 1, size=B)  # 20..80 at T = 80
    mask = np.arange(T)[None, :] < lengths[:, None]  # (B, T) right-padded
    x = (rng.normal(size=(B, T, D)) * mask[..., None]).astype(np.float32)
    y = rng.normal(size=(B, T, 2 * H)).astype(np.float32) * mask[..., None]
    weights = peers.keras_weights(rng, D, H)
    layer = lk.layers.Bidirectional(lk.layers.LSTM(H, return_sequences=True))
    forward = _timed({
        "lstmkit": peers.lstmkit_bidirectional(x, mask, H, weights),
        "onnxruntime": peers.onnx_bidirectional(x, lengths, H, weights, args.threads),
        "torch": peers.torch_bidirectional(x, lengths, H, weights)}, args)
    train = _timed({  # lstmkit's mask from zero padding (Masking), torch's from the lengths
        "lstmkit": peers.lstmkit_train(x, y, [lk.layers.Masking(0.0), layer]),
        "torch": peers.torch_bidirectional(x, lengths, H, weights, y=y)}, args)
    row = {"case": "bidirectional", "size": [B, T, D, H], "lengths": [T // 4, T],
           "forward_ms": forward, "train_ms": train}
    row["forward_ratio_vs_fastest"], row["fastest_forward_peer"] = _ratios(forward)
    row["train_ratio_vs_torch"], _ = _ratios(train, "torch")
    return row


def stream_case(args, steps=1000, D=16, H=64):
    """A stateful batch-1 stream: `LSTM(H, stateful=True)` on (1, 1, D), `steps` calls."""
    rng = np.random.default_rng(2)
    x_steps = [rng.normal(size=(1, 1, D)).astype(np.float32) for _ in range(steps)]
    weights = peers.keras_weights(rng, D, H)
    ms = _timed({"lstmkit": peers.lstmkit_stream(x_steps, H, weights),
                 "onnxruntime": peers.onnx_stream(x_steps, H, weights, args.threads),
                 "torch": peers.torch_stream(x_steps, H, weights)}, args, big=True)
    row = {"case": "stream", "size": [1, 1, D, H], "calls": steps, "forward_ms": ms,
           "us_per_call": {k: v * 1e3 / steps for k, v in ms.items()}}
    row["forward_ratio_vs_fastest"], row["fastest_forward_peer"] = _ratios(ms)
    return row


CASES = {"bidirectional": bidirectional_case, "stream": stream_case}


def markdown(result):
    """The README's tables: the grid, then the cases."""
    lines = [
        ("| B, T, D, H | fwd ms lstmkit | onnxruntime | PyTorch | lstmkit / fastest | "
         "seed config / fastest | train ms lstmkit | PyTorch | lstmkit / PyTorch |"),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in result["grid"]:
        f, t = r["forward_ms"], r["train_ms"]
        lines.append(
            f"| {', '.join(map(str, r['size']))} | {f['lstmkit']:.3g} | {f['onnxruntime']:.3g} | "
            f"{f['torch']:.3g} | **{r['forward_ratio_vs_fastest']:.2f}** | "
            f"**{r['seed_ratio_vs_fastest']:.2f}** | "
            f"{t['lstmkit']:.3g} | {t['torch']:.3g} | **{r['train_ratio_vs_torch']:.2f}** |")
    if result.get("cases"):
        lines += ["", "| case | fwd ms lstmkit | onnxruntime | PyTorch | lstmkit / fastest | "
                  "train ms lstmkit | PyTorch | lstmkit / PyTorch |",
                  "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for r in result["cases"]:
            f, t = r["forward_ms"], r.get("train_ms")
            train = (f"{t['lstmkit']:.3g} | {t['torch']:.3g} | "
                     f"**{r['train_ratio_vs_torch']:.2f}**") if t else "- | - | -"
            lines.append(f"| {r['case']} {', '.join(map(str, r['size']))} | "
                         f"{f['lstmkit']:.3g} | {f['onnxruntime']:.3g} | {f['torch']:.3g} | "
                         f"**{r['forward_ratio_vs_fastest']:.2f}** | {train} |")
    return "\n".join(lines)


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The benchmark's options (shared by `lstmkit bench` and benchmarks/bench_lstm.py)."""
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=9, help="rounds for the small sizes")
    p.add_argument("--rounds-large", type=int, default=5, help="rounds for H >= 256")
    p.add_argument("--min-time", type=float, default=0.05,
                   help="seconds per measurement for small sizes")
    p.add_argument("--sizes", default="0,1,2,3,4", help="indices into the grid")
    p.add_argument("--cases", default=",".join(CASES),
                   help=f"cases besides the grid, comma-separated from {sorted(CASES)}, "
                        "or 'none'")
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


def _parse(args):
    """(grid indices, case names) from `args`, validated."""
    if args.threads < 1 or args.rounds < 1 or args.rounds_large < 1:
        raise ValueError("--threads, --rounds and --rounds-large must be >= 1")
    try:
        sizes = [int(i) for i in args.sizes.split(",") if i.strip()]
    except ValueError:
        raise ValueError(f"--sizes takes grid indices like 0,1,2, got {args.sizes!r}") from None
    if not all(0 <= i < len(GRID) for i in sizes):
        raise ValueError(f"--sizes: indices 0 to {len(GRID) - 1} into the grid {GRID}, "
                         f"got {args.sizes!r}")
    cases = [] if args.cases == "none" else [c for c in args.cases.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        raise ValueError(f"--cases: choose from {sorted(CASES)} or 'none', got {unknown}")
    return sizes, cases


@contextlib.contextmanager
def _threads(n):
    """Every library on n threads for the run, restored afterwards: BLAS (threadpoolctl),
    torch, and lstmkit's batch shards (LSTMKIT_NUM_THREADS)."""
    import threadpoolctl
    import torch

    from . import _config

    saved_torch = torch.get_num_threads()
    with threadpoolctl.threadpool_limits(n), _config.kernel_threads_set(n):
        torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(saved_torch)


def run(args):
    """Run the grid with parsed `args`; writes the JSON and prints the table."""
    sizes, cases = _parse(args)
    if args.startup_only:
        report = startup_report(args.rounds, args.tf_python)
        print(json.dumps({"fresh_process_seed_example_s": report, "load": load()}, indent=1))
        return 0
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import threadpoolctl  # noqa: F401
        import torch  # noqa: F401
    except ImportError as err:
        raise ImportError(
            f"the benchmark runs lstmkit against PyTorch and onnxruntime: {err.name} is missing; "
            "install them with pip install 'lstmkit[torch,onnx]'") from None
    from . import kernels

    kernels.warmup()  # compiled (or loaded) before anything is timed; loads SciPy's BLAS
    with _threads(args.threads):
        result = {"when": datetime.datetime.now(datetime.timezone.utc).isoformat(
                      timespec="seconds"),
                  "machine": machine(args.threads), "load_before": load(), "grid": [],
                  "cases": []}
        isa = result["machine"]["isa"]
        print(f"{result['machine']['cpu']}: lstmkit kernels compiled for {isa['name']} "
              f"(LLVM cpu {isa['cpu']}), {args.threads} threads, load {load()[0]:.1f}",
              flush=True)
        for idx in sizes:
            row = run_size(*GRID[idx], args)
            result["grid"].append(row)
            print(json.dumps(row), flush=True)
        for name in cases:
            row = CASES[name](args)
            result["cases"].append(row)
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
    if not args.no_extras:  # fresh processes, on their own default threads
        result["fresh_process_seed_example_s"] = startup_report(tf_python=args.tf_python)
    result["load_after"] = load()
    name = (datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
            + f"-threads{args.threads}.json")
    folder = os.path.join("benchmarks", "results") if os.path.isdir("benchmarks") else "."
    out = args.out or os.path.join(folder, name)
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
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
