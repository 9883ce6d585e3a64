"""`lstmkit info MODEL`: what a Keras model file holds, without running it.

Prints the file's format and the Keras version that wrote it, the model's inputs
and outputs, and one line per layer (class, output shape, parameters).

`lstmkit info --system` prints the machine instead: CPU, the instruction set lstmkit's
kernels are compiled for, BLAS libraries and threads, library versions.

Example:
    $ lstmkit info tests/data/keras_files/tfkeras2_classifier.h5
    $ lstmkit info --system
"""

from __future__ import annotations

import os


def add_parser(sub):
    p = sub.add_parser(
        "info", help="summarize a Keras model file (.keras, .h5): layers, shapes, parameters",
        description="Read a Keras model file (Keras 3 or tf.keras 2; .keras or legacy .h5) "
                    "safely and print its layers, shapes, parameter counts and the Keras "
                    "version that wrote it.")
    p.add_argument("model", nargs="?", help="path to a .keras or .h5 model file")
    p.add_argument("--system", action="store_true",
                   help="print the machine instead: CPU, kernel ISA, BLAS, threads, versions")
    return p


def describe_system() -> str:
    """The text `lstmkit info --system` prints (what `lstmkit bench` records)."""
    from .._bench_extras import machine

    info = machine()
    isa = info["isa"]
    lines = [f"cpu:      {info['cpu']} ({info['cores']} cores)",
             f"kernels:  {isa['name']} (LLVM cpu {isa['cpu']}, {isa['vector_bits']}-bit vectors, "
             f"{isa['vector_registers']} registers, fma {'yes' if isa['fma'] else 'no'})",
             f"numba:    threading layer {info['numba_threading_layer']}",
             f"python:   {info['python']} on {info['platform']}"]
    for lib in info["blas"] if isinstance(info["blas"], list) else []:
        lines.append(f"threads:  {lib['user_api']} {lib['internal_api']} {lib['version']} "
                     f"({lib['architecture'] or '-'}): {lib['num_threads']} "
                     f"[{os.path.basename(lib['filepath'])}]")
    lines.append("versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items() if v))
    for key, value in info["environment"].items():
        lines.append(f"env:      {key}={value}")
    return "\n".join(lines)


def _shape(shape) -> str:
    if isinstance(shape, list):
        return ", ".join(_shape(s) for s in shape)
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _output_shape(layer):
    nodes = getattr(layer, "_inbound_nodes", None) or []
    if not nodes:
        return None
    shapes = [t.shape for t in nodes[0].output_tensors]
    return shapes[0] if len(shapes) == 1 else shapes


def describe(path) -> str:
    """The text `lstmkit info` prints for a model file."""
    from ..saving import _saving

    loaded = _saving.read_model_file(path)
    try:
        model = _saving._build(loaded)
        _saving._assign(model, loaded)
    finally:
        loaded.close()
    kind = {"keras": ".keras (zip)", "h5": "legacy .h5 (HDF5)"}[loaded.kind]
    writer = (f"tf.keras {loaded.keras_version}" if loaded.keras2
              else f"Keras {loaded.keras_version or 'unknown version'}")
    if loaded.saved_by:
        writer = f"{loaded.saved_by} (Keras {loaded.keras_version} format)"
    if loaded.backend:
        writer += f", backend {loaded.backend}"
    lines = [f"file:    {os.path.abspath(path)}",
             f"format:  {kind}, written by {writer}",
             f"model:   {type(model).__name__} {model.name!r}"]
    for label, tensors in (("inputs", model.inputs), ("outputs", model.outputs)):
        parts = [f"{t._keras_history[0].name} {_shape(t.shape)} {t.dtype}" for t in tensors]
        lines.append(f"{label + ':':8} " + "; ".join(parts))
    rows = [("layer", "class", "output shape", "params")]
    for layer in model.layers:
        shape = _output_shape(layer)
        rows.append((layer.name, type(layer).__name__, "" if shape is None else _shape(shape),
                     str(sum(int(w.value.size) for w in layer.weights))))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines.append("")
    for row in rows:
        lines.append("  ".join(c.ljust(w) if i < 3 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))).rstrip())
    trainable = sum(int(w.value.size) for w in model.trainable_weights)
    total = sum(int(w.value.size) for w in model.weights)
    lines.append("")
    lines.append(f"parameters: {total} ({trainable} trainable, {total - trainable} "
                 "non-trainable)")
    return "\n".join(lines)


def run(args) -> int:
    if args.system:
        print(describe_system())
        return 0
    if args.model is None:
        raise ValueError("lstmkit info needs a model file (or --system)")
    print(describe(args.model))
    return 0
