"""The `lstmkit` command: one entry point, one module per subcommand.

Each subcommand lives in `lstmkit/cli/<name>.py` and defines
`add_parser(subparsers) -> argparse.ArgumentParser` and `run(args) -> int`.
Errors a user can fix (ValueError, TypeError, OSError, KeyError) print one line
and exit 2, as do the errors a hostile or broken input can still cause (EOFError,
MemoryError, RecursionError, OverflowError); `--debug` shows the traceback.
Exit codes: 0 success, 1 a check failed (the subcommand says which), 2 bad arguments or input.
"""

from __future__ import annotations

import argparse
import importlib
import sys

SUBCOMMANDS = ("demo", "explain", "inspect", "info", "predict", "train", "bench", "convert",
               "warmup")


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="lstmkit",
        description="The Keras LSTM as a library: explain, inspect, run, train and convert.",
    )
    parser.add_argument("--version", action="version", version=f"lstmkit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as err:
            if err.name != f"{__name__}.{name}":
                raise
            continue  # not built yet
        sub_parser = module.add_parser(sub)
        sub_parser.set_defaults(_run=module.run)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args._run(args) or 0)
    except (ValueError, TypeError, OSError, KeyError, ImportError, EOFError,
            MemoryError, RecursionError, OverflowError) as err:
        if args.debug:
            raise
        message = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"lstmkit {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lstmkit: interrupted", file=sys.stderr)
        return 130
