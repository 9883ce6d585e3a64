"""lstmkit against onnxruntime and PyTorch on DESIGN.md's grid: see `lstmkit.bench`.

    python benchmarks/bench_lstm.py --threads 2     (the same as `lstmkit bench`)
"""

from lstmkit.bench import main

if __name__ == "__main__":
    raise SystemExit(main())
