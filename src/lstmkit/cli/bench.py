"""`lstmkit bench`: lstmkit against onnxruntime and PyTorch on DESIGN.md's grid (lstmkit.bench)."""

from __future__ import annotations


def add_parser(sub):
    from .. import bench

    p = sub.add_parser(
        "bench", help="time lstmkit against onnxruntime and PyTorch (forward, train step)",
        description="Run the benchmark grid side by side in one process (interleaved rounds, "
                    "medians, ratios lstmkit / peer), print the table and write JSON. Needs "
                    "torch, onnx, onnxruntime and threadpoolctl.")
    bench.add_arguments(p)
    return p


def run(args):
    from .. import bench

    return bench.run(args)
