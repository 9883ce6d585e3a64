"""Train an lstmkit model with PyTorch DistributedDataParallel, then save it as `.keras`.

The path for training that outgrows one process: lstmkit -> PyTorch (exact conversion)
-> DistributedDataParallel over N processes (gloo on CPUs; nccl on GPUs) -> the trained
weights back into lstmkit -> a Keras file that Keras and lstmkit load.

The data are `.npy` files that every process opens memory-mapped, so they may be larger
than memory. This script writes a synthetic data set (noisy sine waves, predict the next
value) unless you pass your own.

    python examples/ddp_train.py --world-size 2 --epochs 5 --out forecaster.keras
    python examples/ddp_train.py --x my_x.npy --y my_y.npy --world-size 4
    lstmkit predict forecaster.keras --input my_x.npy --output y.npy

On several machines, launch the same training through `torchrun` with
`lk.convert.to_torch(model)` in your own script (see docs/going-bigger.md);
`train_distributed` starts local processes.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

import lstmkit as lk

try:
    from lstmkit.convert import train_distributed  # PyTorch: the `torch` extra
except ImportError as err:  # says which extra to install, without a traceback
    raise SystemExit(f"{__file__}: {err}") from None


def write_sine_data(directory, n=2048, timesteps=24, seed=0):
    """Noisy sine windows (n, T, 1) and the next value (n, 1), as memory-mapped .npy files."""
    rng = np.random.default_rng(seed)
    paths = os.path.join(directory, "x.npy"), os.path.join(directory, "y.npy")
    x = np.lib.format.open_memmap(paths[0], "w+", "float32", (n, timesteps, 1))
    y = np.lib.format.open_memmap(paths[1], "w+", "float32", (n, 1))
    t = np.arange(timesteps + 1)
    for start in range(0, n, 256):  # written in chunks: nothing needs the whole set in memory
        rows = min(256, n - start)
        phase = rng.uniform(0, 2 * np.pi, size=(rows, 1))
        freq = rng.uniform(0.1, 0.4, size=(rows, 1))
        wave = np.sin(freq * t + phase) + 0.05 * rng.normal(size=(rows, timesteps + 1))
        x[start:start + rows] = wave[:, :-1, None]
        y[start:start + rows] = wave[:, -1:]
    x.flush()
    y.flush()
    return paths


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--x", help=".npy inputs (n, timesteps, features); default: synthetic")
    p.add_argument("--y", help=".npy targets (n, outputs)")
    p.add_argument("--world-size", type=int, default=2, help="number of processes")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=64, help="per process")
    p.add_argument("--learning-rate", type=float, default=0.01)
    p.add_argument("--out", default="forecaster.keras", help="where to save the trained model")
    args = p.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        x_path, y_path = (args.x, args.y) if args.x else write_sine_data(tmp)
        x = np.load(x_path, mmap_mode="r")
        y = np.load(y_path, mmap_mode="r")
        model = lk.Sequential([
            lk.Input(x.shape[1:]),
            lk.layers.LSTM(32, return_sequences=True),
            lk.layers.LSTM(16),
            lk.layers.Dense(y.shape[1]),
        ])
        start = time.perf_counter()
        result = train_distributed(model, x_path, y_path, loss="mse", optimizer="adam",
                                   learning_rate=args.learning_rate, epochs=args.epochs,
                                   batch_size=args.batch_size, world_size=args.world_size)
        seconds = time.perf_counter() - start
        for epoch, loss in enumerate(result["loss"], 1):
            print(f"epoch {epoch}: loss {loss:.5f}")
        print(f"{args.world_size} processes, {seconds:.1f} s; the ranks ended with identical "
              f"weights")
        # The weights are back in the lstmkit model; check one batch against torch.
        import torch

        sample = np.array(x[:64])  # a writable copy of the first rows
        with torch.no_grad():
            expected = result["module"](torch.from_numpy(sample)).numpy()
        diff = float(np.max(np.abs(model.predict(sample, verbose=0) - expected)))
        print(f"lstmkit vs torch on 64 samples: largest difference {diff:.2g}")
        model.save(args.out)
        print(f"saved {args.out}")


if __name__ == "__main__":
    main()
