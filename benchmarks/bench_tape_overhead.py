"""Does the tape slow down built-in layers? `train_on_batch` of a Sequential, two source trees.

Runs `Sequential([Input, LSTM(H), Dense(1)]).train_on_batch` in a fresh process per tree and
size, alternating the trees round by round (interleaved), and prints the median of each
tree's per-round medians and their ratio. Usage:

    python benchmarks/bench_tape_overhead.py BEFORE_SRC AFTER_SRC [--rounds 7]

where each *_SRC is a `src` directory holding `lstmkit` (e.g. a `git archive` of main).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

SIZES = [(32, 10, 8, 4), (1, 100, 16, 64), (32, 50, 32, 64)]

CHILD = r"""
import json, sys, time
import numpy as np
import lstmkit as lk
B, T, D, H, calls = map(int, sys.argv[1:6])
rng = np.random.default_rng(0)
x = rng.normal(size=(B, T, D)).astype("float32")
y = rng.normal(size=(B, 1)).astype("float32")
model = lk.Sequential([lk.Input((T, D)), lk.layers.LSTM(H), lk.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
for _ in range(10):
    model.train_on_batch(x, y)
times = []
for _ in range(calls):
    start = time.perf_counter()
    model.train_on_batch(x, y)
    times.append(time.perf_counter() - start)
print(json.dumps(float(np.median(times))))
"""


def run(src, size, calls):
    env = dict(os.environ, PYTHONPATH=src)
    out = subprocess.run([sys.executable, "-c", CHILD, *map(str, size), str(calls)], env=env,
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--sizes", nargs="*", default=None,
                        help='sizes as "B,T,D,H" (default: three of the grid)')
    args = parser.parse_args()
    sizes = [tuple(map(int, s.split(","))) for s in args.sizes] if args.sizes else SIZES
    print("| B, T, D, H | train_on_batch ms before | after | after / before |")
    print("| --- | --- | --- | --- |")
    for size in sizes:
        results = {"before": [], "after": []}
        for r in range(args.rounds):
            order = ("before", "after") if r % 2 == 0 else ("after", "before")
            for which in order:
                results[which].append(run(getattr(args, which), size, args.calls))
        before = statistics.median(results["before"]) * 1e3
        after = statistics.median(results["after"]) * 1e3
        print(f"| {', '.join(map(str, size))} | {before:.3f} | {after:.3f} | "
              f"{after / before:.3f} |", flush=True)


if __name__ == "__main__":
    main()
