"""`lstmkit inspect MODEL --input X.npy --out report.html`: one self-contained HTML report.

The report (see `lstmkit.inspection.report`) holds the model summary, the explanation
of every LSTM / Bidirectional layer checked on these inputs, pictures (with the
`viz` extra) and an interactive view of every gate and state per sample and unit.
It fetches nothing: open it offline, attach it to a mail.

Example:
    $ lstmkit inspect model.keras --input x.npy --out report.html
"""

from __future__ import annotations

import os

from .._files import check_regular_file
from . import _arrays


def add_parser(sub):
    p = sub.add_parser(
        "inspect", help="write a self-contained HTML report of every gate and state",
        description="Load a Keras model file safely, run it on the inputs, and write one "
                    "HTML file (no network needed) with the model summary, an explanation of "
                    "every recurrent layer, pictures and an interactive gate/state view.")
    p.add_argument("model", help="path to a .keras or .h5 model file")
    p.add_argument("--input", "-i", action="append", required=True, metavar="[NAME=]FILE",
                   help="input array: .npy, .npz or .csv (repeat with NAME= for several inputs)")
    p.add_argument("--out", "-o", default="report.html", help="the HTML file to write")
    p.add_argument("--title", help="page title")
    p.add_argument("--max-samples", type=int, default=16,
                   help="samples embedded in the interactive view (default 16)")
    p.add_argument("--vocab", metavar="FILE",
                   help="for token-id inputs: a text file with one token per line (line k = id k), "
                        "to label the per-token picture")
    p.add_argument("--no-pictures", action="store_true",
                   help="leave out the matplotlib pictures (faster)")
    _arrays.add_budget_argument(p)
    return p


def run(args) -> int:
    from ..inspection import report
    from ..inspection.explain import recurrent_layers
    from ..saving import load_model
    from .predict import gather_inputs

    if not args.out.endswith((".html", ".htm")):
        raise ValueError(f"--out must end in .html, got {args.out!r}")
    if args.max_samples <= 0:
        raise ValueError(f"--max-samples must be positive, got {args.max_samples}")
    model = load_model(args.model)
    arrays = gather_inputs(args.input, model, _arrays.Budget.from_args(args))
    x = arrays if len(arrays) > 1 else arrays[0]
    vocab = None
    if args.vocab:
        with open(check_regular_file(args.vocab, "vocabulary file"), encoding="utf-8") as fh:
            vocab = fh.read().splitlines()
    report(model, x, args.out, title=args.title, max_samples=args.max_samples, vocab=vocab,
           pictures=not args.no_pictures)
    names = ", ".join(layer.name for layer in recurrent_layers(model)) or "none"
    size = os.path.getsize(args.out) / 1024
    print(f"wrote {args.out} ({size:.0f} KB); recurrent layers: {names}")
    return 0
