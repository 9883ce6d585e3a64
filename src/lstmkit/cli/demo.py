"""`lstmkit demo`: train, save, reload and explain an LSTM on real data (see lstmkit.demo)."""

from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser(
        "demo", help="the whole of lstmkit on the shipped CO2 data",
        description="Explain the seed example, train an LSTM forecaster on the Mauna Loa CO2 "
                    "record, save and reload it, and write an HTML report.")
    p.add_argument("--out", default="lstmkit-demo",
                   help="directory for the model, report and pictures (default: ./lstmkit-demo)")
    p.add_argument("--epochs", type=int, default=150, help="maximum epochs (early stopping)")
    p.add_argument("--quick", action="store_true", help="a few epochs of a small model (tests)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def run(args):
    from .. import demo

    if args.epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {args.epochs}")
    demo.run(args.out, epochs=args.epochs, quick=args.quick, verbose=0 if args.quiet else "auto")
    return 0
