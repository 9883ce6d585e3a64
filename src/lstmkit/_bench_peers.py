"""The contenders `lstmkit bench` times: lstmkit, onnxruntime and PyTorch, case by case.

Each builder returns a callable that runs one measured call; setup (building the model,
copying weights, transposing inputs for onnxruntime's time-major layout) happens outside
it. Weights are Keras-layout (kernel (D, 4H), recurrent_kernel (H, 4H), bias (4H,), gates
i, f, c, o) and copied into every library, so every contender computes the same numbers.
"""

from __future__ import annotations

import numpy as np


def keras_weights(rng, D, H, dtype=np.float32):
    """[kernel (D, 4H), recurrent_kernel (H, 4H), bias (4H,)] drawn like Keras's defaults."""
    s = 1 / np.sqrt(H)
    return [rng.uniform(-s, s, size=shape).astype(dtype)
            for shape in ((D, 4 * H), (H, 4 * H), (4 * H,))]


# -- lstmkit ---------------------------------------------------------------------------------

def lstmkit_layer(x, H, weights, mask=None, **options):
    """`LSTM(H, **options)` built on x with `weights`; returns (layer, call)."""
    import lstmkit as lk

    layer = lk.layers.LSTM(H, **options)
    layer(x, mask=mask)
    layer.set_weights(weights)
    layer(x, mask=mask)
    assert layer.backend_ == "kernel", layer.backend_
    return layer, lambda: layer(x, mask=mask)


def lstmkit_train(x, y, layers):
    """`Sequential(layers).train_on_batch(x, y)` with SGD and MSE."""
    import lstmkit as lk

    model = lk.Sequential([lk.Input(x.shape[1:])] + layers)
    model.compile(optimizer=lk.optimizers.SGD(learning_rate=0.01), loss="mse")
    model.train_on_batch(x, y)
    return lambda: model.train_on_batch(x, y)


def lstmkit_bidirectional(x, mask, H, weights):
    import lstmkit as lk

    layer = lk.layers.Bidirectional(lk.layers.LSTM(H, return_sequences=True))
    layer(x, mask=mask)
    layer.set_weights(weights + weights)
    assert layer.backend_ == "kernel", layer.backend_
    return lambda: layer(x, mask=mask)


def lstmkit_stream(x_steps, H, weights):
    """A stateful `LSTM(H, stateful=True)` called once per (1, 1, D) step."""
    layer, _ = lstmkit_layer(x_steps[0], H, weights, stateful=True)

    def run():
        layer.reset_states()
        for x in x_steps:
            layer(x)
    return run


# -- PyTorch ---------------------------------------------------------------------------------

def torch_lstm(D, H, weights, bidirectional=False):
    """`nn.LSTM(D, H, batch_first=True)` holding `weights` (both directions alike)."""
    import torch

    lstm = torch.nn.LSTM(D, H, batch_first=True, bidirectional=bidirectional)
    K, R, b = weights  # gate order i, f, c, o = torch's i, f, g, o
    suffixes = ["_l0", "_l0_reverse"] if bidirectional else ["_l0"]
    with torch.no_grad():
        for suffix in suffixes:
            getattr(lstm, "weight_ih" + suffix).copy_(torch.from_numpy(K.T.copy()))
            getattr(lstm, "weight_hh" + suffix).copy_(torch.from_numpy(R.T.copy()))
            getattr(lstm, "bias_ih" + suffix).copy_(torch.from_numpy(b))
            getattr(lstm, "bias_hh" + suffix).zero_()
    return lstm


def torch_forward(x, H, weights):
    """The whole output and both states (what LSTM(H, return_sequences=True,
    return_state=True) returns; torch computes them for any call)."""
    import torch

    lstm, xt = torch_lstm(x.shape[2], H, weights), torch.from_numpy(x)

    def run():
        with torch.inference_mode():
            return lstm(xt)
    return run


def torch_train(x, y, H, weights, last_only):
    """zero_grad, forward, MSE against y (on h_T when `last_only`), backward, SGD step."""
    import torch

    lstm = torch_lstm(x.shape[2], H, weights)
    opt = torch.optim.SGD(lstm.parameters(), lr=0.01)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        out, (h, _) = lstm(xt)
        loss = torch.nn.functional.mse_loss(h[0] if last_only else out, yt)
        loss.backward()
        opt.step()
    return step


def torch_bidirectional(x, lengths, H, weights, y=None):
    """Packed sequences (`pack_padded_sequence`) through a bidirectional LSTM, padded back;
    with `y`, a training step (MSE, SGD) instead of a forward."""
    import torch
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    lstm = torch_lstm(x.shape[2], H, weights, bidirectional=True)
    xt, T = torch.from_numpy(x), x.shape[1]
    lengths_t = torch.from_numpy(np.asarray(lengths, np.int64))

    def forward():
        packed = pack_padded_sequence(xt, lengths_t, batch_first=True, enforce_sorted=False)
        return pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=T)[0]

    if y is None:
        def run():
            with torch.inference_mode():
                return forward()
        return run
    opt, yt = torch.optim.SGD(lstm.parameters(), lr=0.01), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        torch.nn.functional.mse_loss(forward(), yt).backward()
        opt.step()
    return step


def torch_stream(x_steps, H, weights):
    import torch

    lstm = torch_lstm(x_steps[0].shape[2], H, weights)
    steps = [torch.from_numpy(x) for x in x_steps]

    def run():
        state = None
        with torch.inference_mode():
            for x in steps:
                _, state = lstm(x, state)
    return run


# -- onnxruntime -----------------------------------------------------------------------------

def _iofc(w):
    """Keras gates i, f, c, o -> ONNX's i, o, f, c along the last axis."""
    i, f, c, o = np.split(w, 4, axis=-1)
    return np.concatenate([i, o, f, c], axis=-1)


def onnx_session(D, H, weights, threads, outputs, direction="forward", sequence_lens=False,
                 states=False):
    """An onnxruntime session of one standard ONNX `LSTM` node (layout 0: time-major
    X (T, B, D), the only layout its CPU kernel runs) with `outputs` among Y, Y_h, Y_c."""
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    K, R, b = weights
    dirs = 2 if direction == "bidirectional" else 1
    arrays = {"W": np.stack([_iofc(K).T] * dirs), "R": np.stack([_iofc(R).T] * dirs),
              "B": np.stack([np.concatenate([_iofc(b), np.zeros(4 * H, b.dtype)])] * dirs)}
    inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "B", D])]
    names = ["X", "W", "R", "B", "", "", ""]
    if sequence_lens:
        names[4] = "sequence_lens"
        inputs.append(helper.make_tensor_value_info("sequence_lens", TensorProto.INT32, ["B"]))
    if states:
        names[5:7] = ["initial_h", "initial_c"]
        inputs += [helper.make_tensor_value_info(n, TensorProto.FLOAT, [dirs, "B", H])
                   for n in ("initial_h", "initial_c")]
    while names[-1] == "":
        names.pop()
    node = helper.make_node("LSTM", names, [n if n in outputs else "" for n in ("Y", "Y_h", "Y_c")],
                            hidden_size=H, direction=direction, layout=0)
    shapes = {"Y": ["T", dirs, "B", H], "Y_h": [dirs, "B", H], "Y_c": [dirs, "B", H]}
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, shapes[n]) for n in outputs]
    graph = helper.make_graph([node], "lstm", inputs, outs,
                              [numpy_helper.from_array(a.astype(np.float32), n)
                               for n, a in arrays.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(model)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), so,
                                providers=["CPUExecutionProvider"])


def onnx_forward(x, H, weights, threads, outputs):
    sess = onnx_session(x.shape[2], H, weights, threads, outputs)
    feed = {"X": np.ascontiguousarray(x.transpose(1, 0, 2))}  # once, outside the timing
    return lambda: sess.run(None, feed)


def onnx_bidirectional(x, lengths, H, weights, threads):
    sess = onnx_session(x.shape[2], H, weights, threads, ["Y"], "bidirectional",
                        sequence_lens=True)
    feed = {"X": np.ascontiguousarray(x.transpose(1, 0, 2)),
            "sequence_lens": np.asarray(lengths, np.int32)}
    return lambda: sess.run(None, feed)


def onnx_stream(x_steps, H, weights, threads):
    sess = onnx_session(x_steps[0].shape[2], H, weights, threads, ["Y_h", "Y_c"], states=True)
    steps = [np.ascontiguousarray(x.transpose(1, 0, 2)) for x in x_steps]
    zeros = np.zeros((1, 1, H), np.float32)

    def run():
        h = c = zeros
        for x in steps:
            h, c = sess.run(None, {"X": x, "initial_h": h, "initial_c": c})
    return run
