"""GRU speed against onnxruntime's GRU and torch.nn.GRU on the LSTM's benchmark grid.

Forward is `GRU(H)(x)` returning h_T (reset_after=True, the form all three compute);
the train step is forward + backward + SGD update (lstmkit `train_on_batch`, PyTorch
autograd). Interleaved rounds, medians, ratios (`lstmkit.bench.interleaved`).

    KERAS_BACKEND=torch .venv/bin/python scripts/bench_gru.py [--sizes all|small] [--threads 2]
"""

from __future__ import annotations

import argparse
import os

import numpy as np

GRID = [(32, 10, 8, 4), (1, 100, 16, 64), (32, 50, 32, 64), (64, 100, 128, 256),
        (128, 100, 512, 512)]


def contenders(B, T, D, H, threads):
    import onnxruntime as ort
    import torch

    import lstmkit as lk
    from lstmkit.convert import _torch_gru

    rng = np.random.default_rng(0)
    x = rng.normal(size=(B, T, D)).astype("float32")
    y = rng.normal(size=(B, H)).astype("float32")
    layer = lk.layers.GRU(H)
    layer.build((B, T, D))
    weights = layer.get_weights()
    fwd, train = {}, {}
    fwd["lstmkit"] = lambda: layer(x)
    model = lk.Sequential([lk.Input((T, D)), lk.layers.GRU(H)])
    model.set_weights(weights)
    model.compile(optimizer=lk.optimizers.SGD(0.01), loss="mse")
    train["lstmkit"] = lambda: model.train_on_batch(x, y)

    gru = torch.nn.GRU(D, H, batch_first=True)
    w_ih, w_hh, b_ih, b_hh = _torch_gru.gru_keras_to_torch(*weights)
    with torch.no_grad():
        for p, v in zip(gru.parameters(), (w_ih, w_hh, b_ih, b_hh)):
            p.copy_(torch.from_numpy(v))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def torch_fwd():
        with torch.inference_mode():
            return gru(xt)[1]
    fwd["PyTorch"] = torch_fwd
    opt = torch.optim.SGD(gru.parameters(), lr=0.01)

    def torch_step():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(gru(xt)[1][0], yt)
        loss.backward()
        opt.step()
    train["PyTorch"] = torch_step

    from onnx import TensorProto, helper, numpy_helper
    K, R, b = weights  # ONNX's GRU: gates z, r, h like Keras, B = [input bias, recurrent bias]
    node = helper.make_node("GRU", ["X", "W", "R", "B"], ["", "Y_h"], hidden_size=H,
                            linear_before_reset=1)
    graph = helper.make_graph(
        [node], "gru", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [T, B, D])],
        [helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, [1, B, H])],
        [numpy_helper.from_array(a, n) for a, n in
         ((K.T[None].copy(), "W"), (R.T[None].copy(), "R"), (b.reshape(1, -1), "B"))])
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    sess = ort.InferenceSession(onnx_model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])
    feed = {"X": np.ascontiguousarray(x.transpose(1, 0, 2))}  # time-major, outside the timing
    fwd["onnxruntime"] = lambda: sess.run(None, feed)
    np.testing.assert_allclose(sess.run(None, feed)[0][0], layer(x), atol=1e-4)
    return fwd, train


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", choices=("all", "small"), default="all")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    import torch

    from lstmkit.bench import interleaved, load

    torch.set_num_threads(args.threads)
    grid = GRID if args.sizes == "all" else GRID[:3]
    print(f"load {load()}, threads {args.threads}, cpus {os.cpu_count()}")
    print("| B, T, D, H | forward ms: lstmkit | onnxruntime | PyTorch | lstmkit / fastest "
          "| train ms: lstmkit | PyTorch | lstmkit / PyTorch |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for size in grid:
        fwd, train = contenders(*size, args.threads)
        min_time = 0.05 if size[-1] < 256 else 0.2
        f, _ = interleaved(fwd, args.rounds, min_time)
        t, _ = interleaved(train, args.rounds, min_time)
        ms = {k: 1e3 * v for k, v in {**{f"f_{k}": v for k, v in f.items()},
                                      **{f"t_{k}": v for k, v in t.items()}}.items()}
        best = min(ms["f_onnxruntime"], ms["f_PyTorch"])
        print(f"| {', '.join(map(str, size))} | {ms['f_lstmkit']:.3g} | "
              f"{ms['f_onnxruntime']:.3g} | {ms['f_PyTorch']:.3g} | "
              f"**{ms['f_lstmkit'] / best:.2f}** | {ms['t_lstmkit']:.3g} | "
              f"{ms['t_PyTorch']:.3g} | **{ms['t_lstmkit'] / ms['t_PyTorch']:.2f}** |",
              flush=True)
    print(f"load {load()}")


if __name__ == "__main__":
    main()
