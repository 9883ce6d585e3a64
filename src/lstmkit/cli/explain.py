"""`lstmkit explain`: what an LSTM returns, for a configuration or a model file.

With no arguments it explains the seed example, Keras's
`LSTM(4, return_sequences=True, return_state=True)` on inputs (32, 10, 8), runs
it on random inputs and checks every stated equality. Exit code 1 if a check
failed.

Example:
    $ lstmkit explain
    $ lstmkit explain --units 4 --input-shape 32,10,8 --no-return-sequences
    $ lstmkit explain --go-backwards --mask-last 3
    $ lstmkit explain --bidirectional concat
    $ lstmkit explain model.keras --input x.npy
"""

from __future__ import annotations

import argparse

import numpy as np

MERGE_MODES = ("concat", "sum", "mul", "ave", "none")


def add_parser(sub):
    p = sub.add_parser(
        "explain", help="say what an LSTM returns (whole sequence, h, c), checked on numbers",
        description="Explain what a Keras LSTM returns for a configuration (default: the seed "
                    "example LSTM(4, return_sequences=True, return_state=True) on inputs "
                    "(32, 10, 8)) or for every LSTM in a model file; every stated equality is "
                    "checked on a real call.")
    p.add_argument("model", nargs="?", help="optional .keras / .h5 model file to explain")
    p.add_argument("--input", "-i", action="append", metavar="[NAME=]FILE",
                   help="with MODEL: inputs (.npy/.npz/.csv) to check the equalities on")
    p.add_argument("--layer", help="with MODEL: explain only this layer")
    p.add_argument("--units", type=int, default=4, help="LSTM units (default 4)")
    p.add_argument("--input-shape", default="32,10,8", metavar="B,T,D",
                   help="batch,timesteps,features of the random inputs (default 32,10,8)")
    p.add_argument("--return-sequences", action=argparse.BooleanOptionalAction, default=True,
                   help="return the whole sequence (default: yes, as in the seed example)")
    p.add_argument("--return-state", action=argparse.BooleanOptionalAction, default=True,
                   help="also return h and c (default: yes, as in the seed example)")
    p.add_argument("--go-backwards", action="store_true", help="read the sequence backwards")
    p.add_argument("--zero-output-for-mask", action="store_true",
                   help="masked steps output zeros instead of repeating")
    p.add_argument("--mask-last", type=int, default=0, metavar="N",
                   help="mask the last N steps of every second sample (right padding)")
    p.add_argument("--bidirectional", choices=MERGE_MODES, metavar="MODE",
                   help="wrap in Bidirectional with this merge_mode: " + ", ".join(MERGE_MODES))
    p.add_argument("--seed", type=int, default=0, help="random seed for inputs and weights")
    return p


def parse_shape(text: str) -> tuple:
    try:
        shape = tuple(int(v) for v in text.replace("x", ",").split(","))
    except ValueError:
        raise ValueError(f"--input-shape must be B,T,D (three positive integers), got {text!r}") \
            from None
    if len(shape) != 3 or min(shape) <= 0:
        raise ValueError(f"--input-shape must be B,T,D (three positive integers), got {text!r}")
    return shape


def _code(args, shape) -> str:
    """The Python lines this command explains."""
    kw = [str(args.units)]
    for key in ("return_sequences", "return_state", "go_backwards", "zero_output_for_mask"):
        if getattr(args, key):
            kw.append(f"{key}=True")
    layer = f"lk.layers.LSTM({', '.join(kw)})"
    if args.bidirectional:
        mode = "None" if args.bidirectional == "none" else repr(args.bidirectional)
        layer = f"lk.layers.Bidirectional({layer}, merge_mode={mode})"
    call = "layer(inputs, mask=mask)" if args.mask_last else "layer(inputs)"
    lines = [f'>>> inputs = np.random.normal(size={shape}).astype("float32")',
             f">>> layer = {layer}"]
    if args.mask_last:
        lines.append(f">>> mask = np.ones({shape[:2]}, bool); mask[::2, -{args.mask_last}:] = "
                     "False")
    if not args.bidirectional and args.return_state:
        first = "whole_seq_output" if args.return_sequences else "output"
        lines.append(f">>> {first}, final_memory_state, final_carry_state = {call}")
    else:
        lines.append(f">>> outputs = {call}")
    return "\n".join(lines)


def _build(args):
    import lstmkit as lk

    if args.units <= 0:
        raise ValueError(f"--units must be a positive integer, got {args.units}")
    shape = parse_shape(args.input_shape)
    B, T, _ = shape
    if not 0 <= args.mask_last <= T:
        raise ValueError(f"--mask-last must be between 0 and the timesteps {T}, got "
                         f"{args.mask_last}")
    rng = np.random.default_rng(args.seed)
    x = rng.normal(size=shape).astype("float32")
    mask = None
    if args.mask_last:
        mask = np.ones((B, T), bool)
        mask[::2, T - args.mask_last:] = False
    layer = lk.layers.LSTM(args.units, return_sequences=args.return_sequences,
                           return_state=args.return_state, go_backwards=args.go_backwards,
                           zero_output_for_mask=args.zero_output_for_mask, seed=args.seed,
                           name="lstm")
    if args.bidirectional:
        mode = None if args.bidirectional == "none" else args.bidirectional
        layer = lk.layers.Bidirectional(layer, merge_mode=mode, name="bidirectional")
    return layer, x, mask, _code(args, shape)


def run(args) -> int:
    import lstmkit as lk

    if args.model:
        from ..saving import load_model
        from .predict import gather_inputs

        model = load_model(args.model)
        x = None
        if args.input:
            arrays = gather_inputs(args.input, model)
            x = arrays if len(arrays) > 1 else arrays[0]
        if args.layer:
            expl = lk.explain(model, x, layer=args.layer)
        else:
            expl = lk.explain(model, x)
    else:
        if args.input or args.layer:
            raise ValueError("--input and --layer go with a MODEL file")
        layer, x, mask, code = _build(args)
        print(code + "\n")
        expl = lk.explain(layer, x, mask=mask)
    print(expl)
    return 1 if expl.verified is False else 0
