"""Keras 3 weight layout: variables by path (keras/src/saving/saving_lib.py).

Keras 3 stores each object's own variables as datasets "0", "1", ... of a group
`<path>/vars`, where a model's layers live under `layers/<snake_case class name>`
(`_1`, `_2`, ... for repeats, in `model.layers` order), an LSTM's cell under
`<layer>/cell`, a Bidirectional's halves under `forward_layer` / `backward_layer`
and a TimeDistributed's layer under `layer`. Keras 2.13 `.keras` files keep the
layers under `_layer_checkpoint_dependencies/` (`H5IOStore.get`).

Example:
    >>> from lstmkit.saving._weights import H5Store
    >>> store = H5Store("tests/data/keras_files/keras3_classifier.weights.h5")
    >>> [shape for shape, _ in store.get("layers/lstm/cell")]
    [(3, 20), (5, 20), (20,)]
"""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np

from ..layers import _custom
from ..layers._snapshot import publish
from ..layers.base import to_snake_case
from . import _h5
from ._archive import check_member


# -- which variables a layer owns, by path --------------------------------------------------
def var_groups(layer, prefix: str, visited=None) -> list:
    """[(path, [Variable, ...])] for a layer and its sublayers, Keras's paths and order."""
    if getattr(layer, "_traced", False):
        return traced_var_groups(layer, prefix, set() if visited is None else visited)
    kind = type(layer).__name__
    if kind in ("LSTM", "GRU", "SimpleRNN", "RNN"):
        return [(prefix, [])] + _cell_groups(layer.cell, f"{prefix}/cell")
    if kind == "Bidirectional":
        return ([(prefix, [])] + var_groups(layer.backward_layer, f"{prefix}/backward_layer")
                + var_groups(layer.forward_layer, f"{prefix}/forward_layer"))
    if kind == "TimeDistributed":
        return [(prefix, list(layer._weights))] + var_groups(layer.layer, f"{prefix}/layer")
    return [(prefix, list(layer._weights))]


def _cell_groups(cell, prefix: str) -> list:
    """A cell's variables; a StackedRNNCells' cells under `cells/<snake_case class name>`."""
    if hasattr(cell, "cells"):
        groups = [(prefix, [])]
        for sub, path in layer_paths(cell.cells):
            groups += _cell_groups(sub, f"{prefix}/cells/{path[len('layers/'):]}")
        return groups
    return [(prefix, list(cell._weights))]


def traced_var_groups(layer, prefix: str, visited: set) -> list:
    """A custom layer or subclassed model as keras/src/saving/saving_lib.py walks it: its own
    variables, then each attribute holding a layer (by attribute name, sorted) or a list of
    layers (`<attr>/<snake_case class>`), each object once; a model's `layers` property is
    one of the attributes (so a layer first reached through it is under `layers/...`)."""

    visited.add(id(layer))
    groups = [(prefix, list(layer._weights))] if layer._weights or prefix else []
    children = _custom.tracked_children(layer)
    if isinstance(getattr(type(layer), "layers", None), property):
        children.append(("layers", layer.layers))  # a model's `layers` is walked too, by name
    for attr, child in sorted(children, key=lambda item: item[0]):
        path = f"{prefix}/{attr}" if prefix else attr
        if isinstance(child, list):
            for sub, sub_path in layer_paths([c for c in child if id(c) not in visited]):
                visited.add(id(sub))
                groups += var_groups(sub, f"{path}/{sub_path[len('layers/'):]}", visited)
        elif id(child) not in visited:
            visited.add(id(child))
            groups += _unvisited(var_groups(child, path, visited), child, visited)
    return groups


def _unvisited(groups, child, visited):
    """Drop the groups of a wrapped cell already saved elsewhere (an RNN sharing a cell)."""
    cell = getattr(child, "cell", None) if "cell" in vars(child) else None
    if cell is not None and id(cell) in visited and not getattr(child, "_traced", False):
        return [g for g in groups if not g[0].endswith("/cell")]
    if cell is not None:
        visited.add(id(cell))
    return groups


def layer_paths(layers) -> list:
    """[(layer, "layers/<snake>")] with Keras's counters for repeated class names."""
    used: dict[str, int] = {}
    out = []
    for layer in layers:
        name = to_snake_case(type(layer).__name__)
        if name in used:
            used[name] += 1
            name = f"{name}_{used[name]}"
        else:
            used[name] = 0
        out.append((layer, f"layers/{name}"))
    return out


def model_var_groups(model, layers=None) -> list:
    """[(path, [Variable])] for every layer of a model (its `layers` unless given)."""
    if getattr(model, "_traced", False):  # a subclassed model: attribute paths, as Keras
        return traced_var_groups(model, "", set())
    groups = []
    for layer, prefix in layer_paths(model.layers if layers is None else layers):
        groups += var_groups(layer, prefix)
    return groups


# -- stores ----------------------------------------------------------------------------------
class H5Store:
    """Keras 3's `model.weights.h5` / `.weights.h5`, read through `_h5`'s checks.

    Reading takes two steps, both in `_sandbox.run_isolated` (a corrupt file that makes
    the HDF5 library loop, crash or balloon gives a ValueError): an index of every
    weight's shape and dtype, then only the datasets the model's variables need, with
    their shapes checked before any data is read.

    Args:
        source: a path, the file's bytes, or {"path": archive, "member": name} for the
            weights member of a `.keras` zip (read in place).
        path: the name used in messages.
    """

    def __init__(self, source, path: str | None = None):
        from . import _sandbox

        if isinstance(source, os.PathLike):
            source = os.fspath(source)
        self.source = source
        self.path = path or (source["path"] if isinstance(source, dict) else source)
        self.size = _source_size(source)
        self.index = _sandbox.run_isolated(_h5.index_vars, source, self.path, what=self.path,
                                           memory=self.size)

    def close(self):
        self.index = {}

    def get(self, inner: str):
        """[(shape, key)] of `<inner>/vars`, in order "0", "1", ...; None if absent."""
        key = inner
        if key not in self.index and inner.startswith("layers"):
            key = "_layer_checkpoint_dependencies" + inner[len("layers"):]
        if key not in self.index:
            return None
        return [(tuple(shape), (key, i, dtype))
                for i, (shape, dtype) in enumerate(self.index[key])]

    def dtype(self, entry) -> np.dtype:
        return np.dtype(entry[1][2])

    def total_elements(self) -> int:
        """How many numbers the file's weight groups hold."""
        return sum(int(np.prod(shape, dtype=np.float64)) for entries in self.index.values()
                   for shape, _ in entries)

    def read_many(self, items) -> list:
        """Arrays for [(entry, expected shape)], in one sandboxed read; nothing else is read."""
        from . import _sandbox

        wanted = [[key, i, list(shape)] for (shape, (key, i, _)), shape in items]
        nbytes = sum(int(np.prod(shape, dtype=np.float64)) * np.dtype(dtype).itemsize
                     for (shape, (_, _, dtype)), _ in items)
        return _sandbox.run_isolated(_h5.read_vars, self.source, self.path, wanted,
                                     what=self.path, size=nbytes, memory=self.size + nbytes)

    def read(self, entry, expected_shape, what):
        if expected_shape is not None and entry[0] != tuple(expected_shape):
            raise ValueError(f"{self.path}: {what} has shape {entry[0]}, the layer expects "
                             f"{tuple(expected_shape)}")
        return self.read_many([(entry, entry[0])])[0]


def _source_size(source) -> int:
    """Bytes of a store's source: the file, or the bytes given."""
    if isinstance(source, (bytes, bytearray)):
        return len(source)
    try:
        return os.path.getsize(source["path"] if isinstance(source, dict) else source)
    except (OSError, TypeError):
        return 0


class NpzStore:
    """`model.weights.npz`: numeric arrays named `<path>/vars/<i>`, read without pickle.

    Keras 3.15 itself writes each `vars` group as a pickled dict (an object array),
    which `np.load(allow_pickle=False)` -- Keras's loader too -- refuses; lstmkit
    refuses it with that explanation and never unpickles.
    """

    def __init__(self, data: bytes, path: str):
        self.path = path
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
        except (zipfile.BadZipFile, ValueError, EOFError) as err:
            raise ValueError(f"{path}: model.weights.npz is not a valid npz archive: {err}") \
                from None
        self.headers = {}
        for info in self.zip.infolist():
            if not info.filename.endswith(".npy"):
                continue
            check_member(info, path)
            self.headers[info.filename[:-4]] = (info, self._header(info))

    def _header(self, info):
        try:
            with self.zip.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _fortran, dtype = np.lib.format.read_array_header_1_0(f)
                elif version in ((2, 0), (3, 0)):
                    shape, _fortran, dtype = np.lib.format.read_array_header_2_0(f)
                else:
                    raise ValueError(f"unknown .npy version {version}")
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, SyntaxError) as err:
            raise ValueError(f"{self.path}: npz member {info.filename!r} has a bad header: "
                             f"{err}") from None
        if dtype.hasobject or dtype.kind not in "fiub":
            raise ValueError(
                f"{self.path}: npz member {info.filename!r} holds {dtype} (pickled Python "
                "objects, as Keras 3.15 writes weights_format='npz'); lstmkit never unpickles, "
                "and Keras's own loader (allow_pickle=False) refuses it too: save with the "
                "default h5 weights instead")
        nbytes = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
        if nbytes > info.file_size:
            raise ValueError(f"{self.path}: npz member {info.filename!r} declares {nbytes} "
                             f"bytes but holds {info.file_size}")
        return tuple(int(d) for d in shape), dtype

    def close(self):
        self.zip.close()

    def dtype(self, entry) -> np.dtype:
        return self.headers[entry[1]][1][1]

    def read_many(self, items) -> list:
        return [self.read(entry, shape, "weight") for entry, shape in items]

    def get(self, inner: str):
        out = []
        while f"{inner}/vars/{len(out)}" in self.headers:
            key = f"{inner}/vars/{len(out)}"
            out.append((self.headers[key][1][0], key))
        return out or None

    def total_elements(self) -> int:
        return sum(int(np.prod(shape, dtype=np.float64)) for _, (shape, _) in
                   self.headers.values())

    def read(self, entry, expected_shape, what):
        shape, key = entry
        if expected_shape is not None and shape != tuple(expected_shape):
            raise ValueError(f"{self.path}: {what} {key!r} has shape {shape}, the layer "
                             f"expects {tuple(expected_shape)}")
        info = self.headers[key][0]
        try:
            with self.zip.open(info) as f:
                return np.lib.format.read_array(f, allow_pickle=False)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
            raise ValueError(f"{self.path}: cannot read npz member {key!r}: {err}") from None


# -- loading and writing ---------------------------------------------------------------------
def load_groups(store, groups, path: str) -> None:
    """Set every variable of `groups` from `store`: all shapes and dtypes are checked from
    the file's index first, then only these weights are read, then all are set at once."""
    checked = []
    for inner, variables in groups:
        entries = store.get(inner)
        found = 0 if entries is None else len(entries)
        if not variables:
            continue
        if found != len(variables):
            raise ValueError(
                f"{path}: {inner!r} expected {len(variables)} variables "
                f"({', '.join(f'{v.name} {v.shape}' for v in variables)}), but the file holds "
                f"{found}")
        for var, entry in zip(variables, entries):
            what = f"weight {var.name!r} of {inner!r}"
            if entry[0] != tuple(var.shape):
                raise ValueError(f"{path}: {what} has shape {entry[0]} in the file, the layer "
                                 f"expects {tuple(var.shape)}")
            if store.dtype(entry).kind != "f":
                raise ValueError(f"{path}: {what} has dtype {store.dtype(entry)}; a float was "
                                 "expected")
            checked.append((var, entry))
    values = store.read_many([(entry, tuple(var.shape)) for var, entry in checked])
    publish([var for var, _ in checked], values, copy=False)  # fresh arrays: no copy


def write_groups(h5file, groups, names=None, root_name=None) -> None:
    """Write `[(path, [Variable])]` into an open h5py file in Keras 3's layout."""
    names = names or {}
    for inner, variables in groups:
        group = h5file.require_group(f"{inner}/vars")
        if inner in names:
            group.attrs["name"] = names[inner]
        for i, var in enumerate(variables):
            group.create_dataset(str(i), data=np.asarray(var.value))
    root = h5file.require_group("vars")
    if root_name is not None:
        root.attrs["name"] = root_name


def weights_h5_bytes(model, groups=None) -> bytes:
    """The bytes of a Keras 3 `model.weights.h5` for `model`."""
    import h5py

    groups = model_var_groups(model) if groups is None else groups
    names = {}
    for layer, prefix in layer_paths(model.layers):
        names[prefix] = layer.name
        if type(layer).__name__ == "Bidirectional":
            names[f"{prefix}/forward_layer"] = layer.forward_layer.name
            names[f"{prefix}/backward_layer"] = layer.backward_layer.name
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.require_group("layers")
        write_groups(f, groups, names, root_name=model.name)
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None and hasattr(optimizer, "variables"):
            # Keras's optimizer/vars: iterations, learning_rate, then the slots (when built).
            group = f.require_group("optimizer/vars")
            group.attrs["name"] = str(getattr(optimizer, "name", "optimizer"))
            for i, var in enumerate(list(optimizer.variables)):
                group.create_dataset(str(i), data=np.asarray(var.value))
    return buffer.getvalue()


def restore_optimizer(model, store, path: str) -> bool:
    """Set a compiled model's optimizer state from the file's `optimizer/vars`, if it matches.

    Keras writes iterations, learning_rate and the slots (once the optimizer was built);
    with the same count lstmkit builds its optimizer on the model's trainable weights and
    takes iterations and slots (the learning rate comes from the compile config).
    Returns whether the state was restored.
    """
    optimizer = getattr(model, "optimizer", None)
    entries = store.get("optimizer") if isinstance(store, H5Store) else None
    if optimizer is None or not entries or len(entries) <= 2:
        return False
    if int(np.prod(entries[0][0])) != 1 or store.dtype(entries[0]).kind not in "fiu":
        raise ValueError(f"{path}: optimizer iterations must be one number, got shape "
                         f"{entries[0][0]} of {store.dtype(entries[0])}")
    try:
        names = list(optimizer._active_slots())
    except AttributeError:
        return False
    weights = model.trainable_weights
    if len(entries) != 2 + len(names) * len(weights) or getattr(optimizer, "built", False):
        return False
    optimizer.build(weights)
    order = list(optimizer.variables)[2:]
    for slot, entry in zip(order, entries[2:]):
        if entry[0] != tuple(slot.value.shape) or store.dtype(entry).kind != "f":
            raise ValueError(f"{path}: optimizer variable {slot.name!r} has shape {entry[0]} "
                             f"({store.dtype(entry)}) in the file, the model expects "
                             f"{tuple(slot.value.shape)} (float)")
    values = store.read_many([(entry, entry[0]) for entry in entries[:1] + entries[2:]])
    iterations = np.asarray(values[0], np.float64).reshape(())
    if not np.isfinite(iterations) or iterations < 0 or iterations > 2 ** 53:
        raise ValueError(f"{path}: the optimizer's iterations is {iterations}; a count "
                         "from 0 to 2**53 was expected")
    for slot, value in zip(order, values[1:]):
        slot.value = np.asarray(value, slot.value.dtype).copy()
    optimizer.iterations = int(iterations)
    return True
