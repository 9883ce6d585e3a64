"""`lstmkit warmup`: compile the kernels ahead, so that no call waits for the compiler.

numba compiles lstmkit's kernels once per install (about a minute on two cores) and keeps
them in its cache. Without a warmup, the first use compiles them in a background process
while the NumPy reference answers (see `lstmkit.kernels._warm`).

Example:
    $ lstmkit warmup
"""

from __future__ import annotations


def add_parser(sub):
    p = sub.add_parser(
        "warmup", help="compile lstmkit's kernels ahead (once per install)",
        description="Compile every lstmkit kernel into numba's cache (or check that it is "
                    "there), printing one line per step.")
    p.add_argument("--quiet", action="store_true", help="print nothing")
    return p


def run(args) -> int:
    from .. import kernels

    if not args.quiet:
        state = "already compiled: loading them" if kernels.cache_is_warm() else \
            "compiling them once for this machine (about a minute)"
        print(f"lstmkit kernels for {kernels.isa().name}: {state}", flush=True)
    kernels.warmup(None if args.quiet else (lambda line: print(line, flush=True)))
    return 0
