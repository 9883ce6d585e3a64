"""The packed GEMM (`lstmkit.kernels._gemm`) against OpenBLAS, on one thread.

    python benchmarks/bench_gemm.py                    # the issue's three shapes
    python benchmarks/bench_gemm.py --blocks 5x5,6x4   # other register blocks, same lanes
    python benchmarks/bench_gemm.py --crossover        # packed vs BLAS near the thresholds
    python benchmarks/bench_gemm.py --gradients        # weight gradients: packed vs BLAS
    python benchmarks/bench_gemm.py --peak             # the register block's rate, in cache

Emulated AVX2 on an AVX-512 machine: NUMBA_CPU_NAME=haswell NUMBA_CPU_FEATURES="" for
lstmkit and OPENBLAS_CORETYPE=Haswell for OpenBLAS (NUMBA_CPU_NAME alone keeps the host's
features, so AVX-512). Both sides run inside one compiled loop: `np.dot` there is SciPy's
OpenBLAS, the BLAS the kernels fall back to. Timings are interleaved (the contenders take
turns, order rotating) and the medians over rounds are printed.
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import numpy as np
import scipy.linalg  # noqa: F401  (loads SciPy's OpenBLAS, for threadpoolctl to limit)
from numba import njit
from threadpoolctl import threadpool_info, threadpool_limits

from lstmkit.kernels import _gemm
from lstmkit.kernels._microkernel import Block

SHAPES = [(128, 512, 2048), (64, 256, 1024), (32, 64, 256)]  # (M, K, N)
MARGIN = 1.05  # a ratio to BLAS above this counts as a loss (this machine's noise)


@njit(cache=True)
def _packed_loop(blk, a, packed, c, n):
    for i in range(n):
        _gemm.matmul_with(blk, a, packed, c, i % 2 == 1)


@njit(cache=True)
def _blas_loop(a, w, c, n):
    for _ in range(n):
        np.dot(a, w, c)


@njit(cache=True)
def _one_off_loop(blk, a, w, packed, c, n):
    """Pack, then one product: what `_gemm.product` pays."""
    for _ in range(n):
        _gemm.pack_rows_with(blk, w, packed, w.shape[0], 0)
        _gemm.matmul_with(blk, a, packed, c, False)


@njit(cache=True)
def _gradient_packed_loop(blk, inputs, dZ, packed, grad_t, grad, n):
    """What `_run._weight_grad` pays on the packed path: pack inputs (T*B, n), then
    dZ^T @ inputs (`matmul_tn`, dZ (T*B, 4H) read in place) and its transpose."""
    for _ in range(n):
        _gemm.pack_rows_with(blk, inputs, packed, inputs.shape[0], 0)
        _gemm.matmul_tn_with(blk, dZ, packed, grad_t)
        grad[:] = grad_t.T


@njit(cache=True)
def _gradient_blas_loop(inputs, dZ, grad, n):
    """inputs^T @ dZ by BLAS, as `_run._weight_grad` calls it."""
    for _ in range(n):
        np.dot(inputs.T, dZ, grad)


@njit(cache=True, nogil=True)
def _block_loop(blk, a, packed, c, n):
    """One register block's product, n times (operands in cache: `peak`)."""
    for _ in range(n):
        _gemm.matmul_with(blk, a, packed, c, False)


def _timings(contenders: dict, rounds: int, budget: float = 0.02) -> dict:
    """Seconds per call of each contender (a callable taking n) in each round; the
    contenders take turns within a round, in an order that rotates."""
    calls = {}
    for name, run in contenders.items():  # compile, then size n for ~budget s a round
        run(1)
        t = time.perf_counter()
        run(10)
        calls[name] = max(1, int(budget / max((time.perf_counter() - t) / 10, 1e-9)))
    times = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            t = time.perf_counter()
            contenders[name](calls[name])
            times[name].append((time.perf_counter() - t) / calls[name])
    return {name: np.array(v) for name, v in times.items()}


def _medians(contenders: dict, rounds: int) -> dict:
    """Median seconds per call of each contender, interleaved (see `_timings`)."""
    return {name: float(np.median(v)) for name, v in _timings(contenders, rounds).items()}


def _ratios(contenders: dict, rounds: int, to: str) -> tuple[dict, float]:
    """Median over rounds of each contender's time / `to`'s time in the same round (a
    ratio within a round is less disturbed by other load than a ratio of medians),
    and `to`'s median seconds. A contender slower than `to` by more than MARGIN is
    measured again and the median taken over both runs: a loss must show twice."""
    times = _timings(contenders, rounds)
    ratios = {name: v / times[to] for name, v in times.items()}
    if any(np.median(r) > MARGIN for r in ratios.values()):
        again = _timings(contenders, rounds)
        ratios = {name: np.concatenate([r, again[name] / again[to]]) for name, r in ratios.items()}
        times = {name: np.concatenate([v, again[name]]) for name, v in times.items()}
    return {name: float(np.median(r)) for name, r in ratios.items()}, float(np.median(times[to]))


def _operands(M, K, N, dtype=np.float32):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(M, K)).astype(dtype)  # (M, K)
    w = rng.normal(size=(K, N)).astype(dtype)  # (K, N)
    return a, w, np.empty((M, N), dtype)


def _packed(blk, w):
    packed = _gemm.aligned_empty(w.size, w)
    _gemm.pack_rows_with(blk, w, packed, w.shape[0], 0)
    return packed


def shapes(blocks: list[Block], rounds: int) -> None:
    print("| M, K, N | " + " | ".join(f"{b.mr}x{b.nv} GFLOP/s" for b in blocks)
          + " | OpenBLAS GFLOP/s | " + " | ".join(f"{b.mr}x{b.nv} / BLAS time" for b in blocks)
          + " |")
    print("| --- " * (2 * len(blocks) + 2) + "|")
    for M, K, N in SHAPES:
        a, w, c = _operands(M, K, N)
        runs = {f"{b.mr}x{b.nv}": partial(_packed_loop, b, a, _packed(b, w), c) for b in blocks}
        runs["blas"] = partial(_blas_loop, a, w, c)
        med = _medians(runs, rounds)
        rate = {k: 2 * M * K * N / v / 1e9 for k, v in med.items()}
        keys = [f"{b.mr}x{b.nv}" for b in blocks]
        print(f"| {M}, {K}, {N} | " + " | ".join(f"{rate[k]:.1f}" for k in keys)
              + f" | {rate['blas']:.1f} | "
              + " | ".join(f"{med[k] / med['blas']:.2f}" for k in keys) + " |")


def _least_winning(ratios: dict) -> int:
    """The least power of two of multiply-adds from which no shape loses to BLAS."""
    losing = [macs for macs, ratio in ratios.items() if ratio > MARGIN]
    if not losing:
        return 1 << int(np.log2(min(ratios)))
    top = max(losing)
    return _gemm._NEVER if top == max(ratios) else 1 << int(np.ceil(np.log2(top + 1)))


def _steps(paybacks: list) -> int:
    """A power of two at least twice the largest number of steps to pay a pack back."""
    worst = max(paybacks, default=np.inf)
    return _gemm._NEVER if not np.isfinite(worst) else 1 << int(np.ceil(np.log2(max(2 * worst, 1))))


def crossover(rounds: int) -> None:
    """Step products h (M, H) @ R (H, 4H) around the thresholds: pre-packed (the step
    loop), pack + product (a one-off `product`), and BLAS; then the `_gemm.Thresholds`
    they give: packed_macs from the one-off products, step_macs from the pre-packed ones
    (M > 1), the steps after which the pack has paid for itself (M > 1, from step_macs
    up; and one-row products), each with a margin (see `_least_winning`, `_steps`)."""
    blk = _gemm.BLOCK
    print("| M, K, N | MACs | packed / BLAS | pack + packed / BLAS | BLAS us |")
    print("| --- | --- | --- | --- | --- |")
    one_off, stepped, results = {}, {}, []
    for H in (32, 64, 128, 256):
        for M in (1, 4, 8, 16, 32, 64):
            K, N = H, 4 * H
            a, w, c = _operands(M, K, N)
            p = _packed(blk, w)
            ratio, blas = _ratios({"packed": partial(_packed_loop, blk, a, p, c),
                                   "one_off": partial(_one_off_loop, blk, a, w, p, c),
                                   "blas": partial(_blas_loop, a, w, c)}, rounds, "blas")
            macs = M * K * N
            one_off[macs] = max(one_off.get(macs, 0), ratio["one_off"])
            if M > 1:
                stepped[macs] = max(stepped.get(macs, 0), ratio["packed"])
            # steps to pay the pack back, where a pre-packed product clearly saves time
            saves = ratio["packed"] * MARGIN <= 1
            payback = (ratio["one_off"] - ratio["packed"]) / (1 - ratio["packed"]) if saves \
                else np.inf
            results.append((M, macs, payback))
            print(f"| {M}, {K}, {N} | {macs} | {ratio['packed']:.2f} | {ratio['one_off']:.2f} | "
                  f"{blas * 1e6:.2f} |")
    step_macs = _least_winning(stepped)
    steps = _steps([pb for M, macs, pb in results
                    if M > 1 and macs >= step_macs and np.isfinite(pb)])
    one_row = [pb for M, _, pb in results if M == 1]
    found = _gemm.Thresholds(_least_winning(one_off), step_macs, steps, _steps(one_row))
    print(f"thresholds: {found}  (never = {_gemm._NEVER})")


#: Weight gradients inputs^T @ dZ, (rows, n)^T @ (rows, N): a training shard's (T*B/2
#: rows, n = D or H, N = 4H) at the grid's sizes, and between them.
GRADIENTS = [(100, 16, 256), (100, 64, 256), (800, 32, 256), (800, 64, 256), (1600, 64, 256),
             (1600, 128, 512), (3200, 128, 512), (3200, 128, 1024), (3200, 256, 1024),
             (6400, 128, 1024), (3200, 512, 2048), (6400, 512, 2048)]


def gradients(rounds: int) -> None:
    """Weight gradients on the packed path (`_run._weight_grad`) against BLAS, and the
    `Thresholds.gradient_macs` they give: the least power of two of multiply-adds above
    every size at which the packed path wins (ratio <= 1); 0 if it wins at none. Above
    it, BLAS's kernel for large products, which packs both operands, is faster."""
    blk = _gemm.BLOCK
    print("| rows, n, N | MACs | packed / BLAS | BLAS ms |")
    print("| --- | --- | --- | --- |")
    ratios = {}
    for rows, n, N in GRADIENTS:
        rng = np.random.default_rng(0)
        inputs = rng.normal(size=(rows, n)).astype(np.float32)  # (T*B, n)
        dZ = rng.normal(size=(rows, N)).astype(np.float32)  # (T*B, 4H)
        grad = np.empty((n, N), np.float32)
        packed, grad_t = _gemm.aligned_empty(inputs.size, inputs), np.empty((N, n), np.float32)
        ratio, blas = _ratios({
            "packed": partial(_gradient_packed_loop, blk, inputs, dZ, packed, grad_t, grad),
            "blas": partial(_gradient_blas_loop, inputs, dZ, grad)}, rounds, "blas")
        ratios[rows * n * N] = max(ratios.get(rows * n * N, 0), ratio["packed"])
        print(f"| {rows}, {n}, {N} | {rows * n * N} | {ratio['packed']:.2f} | "
              f"{blas * 1e3:.3f} |")
    wins = [macs for macs, r in ratios.items() if r <= 1]
    gradient_macs = 1 << int(np.ceil(np.log2(max(wins) + 1))) if wins else 0
    print(f"gradient_macs: {gradient_macs} (packed wins at {sorted(wins)})")


#: `peak`'s product, in register blocks: 4 x 4 blocks of depth 256, so that a call's
#: loads and stores of accumulators and its dispatch are a small part (one block of depth
#: 64 ran at 170 against 243 GFLOP/s on an AVX-512 core), and the packed panels stay in
#: L2 (AVX-512: 256 x 320 float32, 320 KB).
PEAK_BLOCKS, PEAK_DEPTH = 4, 256


def peak(rounds: int) -> None:
    """The register block alone, its operands in cache (L1 and L2): the most a product of
    this ISA's block can do on this machine (multiply-adds, not memory, set the pace).
    Timed on one core, then on every core at once (the rate a parallel call can have:
    clocks drop when every core is busy), each core with operands of its own."""
    blk = _gemm.BLOCK
    M, K, N = PEAK_BLOCKS * blk.mr, PEAK_DEPTH, PEAK_BLOCKS * blk.nv * blk.lanes32
    a, w, _ = _operands(M, K, N)
    packed = _packed(blk, w)
    flops = 2.0 * M * K * N
    n = 1_000
    _block_loop(blk, a, packed, np.empty((M, N), np.float32), 1)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    print("| cores busy | GFLOP/s per core (median of rounds) | all cores |")
    print("| --- | --- | --- |")
    for busy in sorted({1, cores}):
        outs = [np.empty((M, N), np.float32) for _ in range(busy)]
        rates = []
        with ThreadPoolExecutor(busy) as pool:
            for _ in range(rounds):
                t = time.perf_counter()
                list(pool.map(lambda c: _block_loop(blk, a.copy(), packed.copy(), c, n), outs))
                rates.append(flops * n / (time.perf_counter() - t) / 1e9)
        rate = float(np.median(rates))
        print(f"| {busy} | {rate:.0f} | {rate * busy:.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", default="", help="register blocks MRxNV to compare, "
                        "e.g. 5x5,6x4 (default: the ISA's own)")
    parser.add_argument("--crossover", action="store_true")
    parser.add_argument("--gradients", action="store_true")
    parser.add_argument("--peak", action="store_true")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    blas = [(i["internal_api"], i.get("architecture"), i["version"]) for i in threadpool_info()]
    print(f"isa: {_gemm.ISA.name} ({_gemm.ISA.cpu}), block {_gemm.BLOCK}; BLAS: {blas}; "
          f"load: {os.getloadavg()[0]:.1f}")
    blocks = [_gemm.BLOCK]
    if args.blocks:
        blocks = [Block(_gemm.LANES32, *map(int, s.split("x"))) for s in args.blocks.split(",")]
    with threadpool_limits(1):
        if args.crossover:
            crossover(args.rounds)
        elif args.gradients:
            gradients(args.rounds)
        elif args.peak:
            peak(args.rounds)
        else:
            shapes(blocks, args.rounds)
    print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
