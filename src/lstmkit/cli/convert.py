"""`lstmkit convert MODEL --to onnx|torch --out PATH`: a Keras model file for another engine.

- `--to onnx` writes an ONNX model on the standard `LSTM` operator; run it with
  onnxruntime. Inputs are named after the model's inputs, batch-major; masks from
  `Embedding(mask_zero=True)`/`Masking` work as in Keras, padding anywhere.
- `--to torch` writes a PyTorch ExportedProgram (`.pt2`) that needs only torch:
  `torch.export.load(PATH).module()(x)`. Its batch axis is dynamic, its number of
  timesteps fixed (the model's, or `--timesteps`).

Each conversion is checked: the converted model runs on random inputs and must
match lstmkit within `--atol` (default 1e-5), else the command exits with 1.

Example:
    $ lstmkit convert model.keras --to onnx --out model.onnx
    $ lstmkit convert model.keras --to torch --out model.pt2 --timesteps 50
"""

from __future__ import annotations

import numpy as np


def add_parser(sub):
    p = sub.add_parser(
        "convert", help="convert a Keras model file to ONNX or PyTorch (.pt2)",
        description="Convert a Keras model file (.keras, .h5) to ONNX (standard LSTM operator) "
                    "or to a PyTorch ExportedProgram, and check the outputs match.")
    p.add_argument("model", help="path to a .keras or .h5 model file")
    p.add_argument("--to", required=True, choices=("onnx", "torch"), help="target format")
    p.add_argument("--out", "-o", required=True, help="output path (.onnx or .pt2)")
    p.add_argument("--timesteps", type=int, default=None,
                   help="sequence length for --to torch when the model's is not fixed")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    p.add_argument("--atol", type=float, default=1e-5,
                   help="largest difference allowed in the check (default 1e-5)")
    p.add_argument("--no-check", action="store_true", help="skip the output check")
    return p


def sample_inputs(model, timesteps=None, batch_size=3, seed=0) -> list:
    """Random inputs for `model`: floats ~ N(0, 1); integer ids in [1, vocabulary) with
    zeros (padding) after a random length in each row, and anywhere in every other row."""
    rng = np.random.default_rng(seed)
    arrays = []
    for t in model.inputs:
        shape = [batch_size, *t.shape[1:]]
        if len(shape) > 1 and shape[1] is None:
            shape[1] = timesteps or 8
        if any(d is None for d in shape):
            raise ValueError(f"Input {t._keras_history[0].name!r} has unknown dimensions "
                             f"{t.shape}")
        if t.dtype.startswith("int") or t.dtype.startswith("uint"):
            # Ids 1.. with padding (0): trailing in some rows, anywhere in others.
            ids = rng.integers(1, max(_vocabulary(model, t), 2), size=shape)
            if len(shape) > 1:
                lens = rng.integers(0, shape[1] + 1, size=shape[0])
                ids[np.arange(shape[1])[None, :] >= lens[:, None]] = 0
                ids[1::2][rng.random(ids[1::2].shape) < 0.3] = 0
            arrays.append(ids.astype(t.dtype))
        else:
            arrays.append(rng.normal(size=shape).astype("float32"))
    return arrays


def _vocabulary(model, tensor) -> int:
    for node in model._run_order:
        if type(node.layer).__name__ == "Embedding" and node.call_args is tensor:
            return node.layer.input_dim
    return 2


def _max_diff(expected, got) -> float:
    expected = expected if isinstance(expected, list) else [expected]
    return max(float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
               for a, b in zip(expected, got))


def run(args) -> int:
    from .._extras import extra_needed

    with extra_needed(f"lstmkit convert --to {args.to}"):
        return _convert(args)


def _convert(args) -> int:
    from ..saving import load_model

    model = load_model(args.model)
    if args.to == "onnx":
        from ..convert.onnx import to_onnx

        to_onnx(model, args.out, opset=args.opset)
    else:
        from ..convert._torch_export import save_torch

        save_torch(model, args.out, timesteps=args.timesteps)
    print(f"wrote {args.out} ({args.to})")
    if args.no_check:
        return 0
    fixed_t = model.inputs[0].shape[1] if len(model.inputs[0].shape) > 1 else None
    arrays = sample_inputs(model, timesteps=fixed_t or args.timesteps)
    expected = model.predict(arrays if len(arrays) > 1 else arrays[0], verbose=0)
    if args.to == "onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(args.out, providers=["CPUExecutionProvider"])
        got = sess.run(None, {i.name: a for i, a in zip(sess.get_inputs(), arrays)})
    else:
        import torch

        program = torch.export.load(args.out).module()
        with torch.no_grad():
            out = program(*[torch.from_numpy(a) for a in arrays])
        got = [o.numpy() for o in (out if isinstance(out, (list, tuple)) else [out])]
    diff = _max_diff(expected, got)
    ok = diff <= args.atol
    print(f"check: largest difference from lstmkit {diff:.3g} on random inputs "
          f"({'ok' if ok else f'above --atol {args.atol:g}'})")
    return 0 if ok else 1
