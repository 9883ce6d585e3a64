"""Safe HDF5 access for Keras weight files: hard links only, plain numeric datasets.

h5py follows soft and external links and reads external raw storage, any of which
would let a file make lstmkit read other files; a crafted dataset can also declare
a huge shape over a few stored bytes. Everything here refuses those before reading:
`child` follows hard links only, `read_dataset` checks the dtype, the shape the
layer expects, and the declared size against the stored size.
"""

from __future__ import annotations

import io
import os

import numpy as np

#: A dataset declaring more than this many times its stored bytes (past 1 MiB) is refused.
MAX_EXPANSION = 100


def open_h5(source, path: str):
    """An `h5py.File` opened read-only from a path or from bytes; ValueError if not HDF5."""
    import h5py

    try:
        if isinstance(source, (bytes, bytearray)):
            return h5py.File(io.BytesIO(source), "r")
        if hasattr(source, "readinto"):  # a file object (a zip member read in place)
            return h5py.File(source, "r")
        return h5py.File(os.fspath(source), "r")
    except FileNotFoundError:
        raise
    except (OSError, ValueError, RuntimeError) as err:
        if isinstance(source, (str, os.PathLike)) and not os.path.isfile(source):
            raise
        raise ValueError(f"{path}: not a valid HDF5 file: {str(err).splitlines()[0]}") from None


def child(group, name: str, path: str):
    """`group[name]` if it is a hard link, else None; soft/external links are refused."""
    import h5py

    try:
        link = group.get(name, getlink=True)
    except (KeyError, ValueError, OSError, RuntimeError, TypeError):
        return None
    if link is None:
        return None
    if not isinstance(link, h5py.HardLink):
        raise ValueError(f"{path}: {group.name}/{name} is a {type(link).__name__}; lstmkit "
                         "only follows hard links inside the file")
    try:
        return group[name]
    except (KeyError, ValueError, OSError, RuntimeError) as err:
        raise ValueError(f"{path}: cannot open {group.name}/{name}: {err}") from None


def walk(group, parts, path: str):
    """Follow `parts` (a "/"-separated path or list) through hard links; None if absent."""
    import h5py

    node = group
    for part in (parts.split("/") if isinstance(parts, str) else parts):
        if not part:
            continue
        if not isinstance(node, h5py.Group):
            return None
        node = child(node, part, path)
        if node is None:
            return None
    return node


def dataset_info(dset, path: str):
    """(shape, dtype) of a dataset after the safety checks, without reading its data."""
    import h5py

    where = f"{path}: {dset.name}"
    if not isinstance(dset, h5py.Dataset):
        raise ValueError(f"{where} is a group, a weight array (dataset) was expected")
    try:
        dtype, shape = dset.dtype, dset.shape
        external = dset.external
        virtual = dset.is_virtual
    except (OSError, ValueError, RuntimeError, TypeError) as err:
        raise ValueError(f"{where}: unreadable dataset: {err}") from None
    if dtype.kind not in "fiub" or dtype.fields is not None or dtype.subdtype is not None:
        raise ValueError(f"{where} has dtype {dtype}; weights must be plain numbers")
    if shape is None:
        raise ValueError(f"{where} is an empty (null-shaped) dataset")
    if external or virtual:
        raise ValueError(f"{where} stores its data outside the file; refused")
    return tuple(int(d) for d in shape), dtype


def read_dataset(dset, path: str, expected_shape=None, what: str = "weight") -> np.ndarray:
    """Read a numeric dataset after checking its dtype, shape and declared size."""
    shape, dtype = dataset_info(dset, path)
    if expected_shape is not None and shape != tuple(expected_shape):
        raise ValueError(f"{path}: {what} {dset.name!r} has shape {shape}, the layer expects "
                         f"{tuple(expected_shape)}")
    nbytes = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
    try:
        stored = dset.id.get_storage_size()
    except (OSError, ValueError, RuntimeError):
        stored = 0
    if nbytes > (1 << 20) and nbytes > MAX_EXPANSION * max(stored, 1):
        raise ValueError(f"{path}: {dset.name!r} declares {nbytes} bytes over {stored} stored: "
                         "refusing a likely decompression bomb")
    try:
        value = dset[()]
    except (OSError, ValueError, RuntimeError, TypeError) as err:
        raise ValueError(f"{path}: cannot read {dset.name!r}: {err}") from None
    return np.asarray(value)


def attr_strings(obj, name: str, path: str) -> list[str]:
    """A string-list attribute (`layer_names`, `weight_names`), decoded; [] if absent."""
    try:
        if name not in obj.attrs:
            return []
        raw = obj.attrs[name]
    except (OSError, ValueError, RuntimeError, TypeError, KeyError) as err:
        raise ValueError(f"{path}: unreadable attribute {name!r} of {obj.name}: {err}") from None
    raw = np.asarray(raw)
    if raw.size == 0:
        return []
    if raw.dtype.kind not in "SUO":
        raise ValueError(f"{path}: attribute {name!r} of {obj.name} must hold strings, "
                         f"got dtype {raw.dtype}")
    out = []
    for item in raw.reshape(-1):
        if isinstance(item, bytes):
            item = item.decode("utf-8", "replace")
        if not isinstance(item, str):
            raise ValueError(f"{path}: attribute {name!r} of {obj.name} must hold strings")
        out.append(item)
    return out


def attr_string(obj, name: str, path: str):
    """A single string attribute (`model_config`, `keras_version`); None if absent."""
    try:
        if name not in obj.attrs:
            return None
        raw = obj.attrs[name]
    except (OSError, ValueError, RuntimeError, TypeError, KeyError) as err:
        raise ValueError(f"{path}: unreadable attribute {name!r}: {err}") from None
    if isinstance(raw, np.ndarray) and raw.shape == ():
        raw = raw[()]
    if isinstance(raw, bytes):
        return raw.decode("utf-8", "replace")
    if isinstance(raw, str):
        return raw
    raise ValueError(f"{path}: attribute {name!r} must be a string, got {type(raw).__name__}")


# -- reading in two steps (run in `_sandbox.run_isolated`) ----------------------------------
# First an index: every weight's shape and dtype, no data read. The caller builds the model
# from the config and then asks for exactly the datasets its variables need, with their
# shapes: an unreferenced dataset (a gzip bomb beside the weights) is never decompressed,
# and what is read is bounded by what the config implies.
MAX_OBJECTS = 200_000
MAX_DEPTH = 32


class _Window(io.RawIOBase):
    """A read-only, seekable view of bytes [start, start + size) of a file: a stored zip
    member read in place (HDF5 seeks; zipfile's member objects re-read from the start)."""

    def __init__(self, path, start, size):
        super().__init__()
        self._fd, self._start, self._size, self._pos = os.open(path, os.O_RDONLY), start, size, 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._pos

    def seek(self, offset, whence=0):
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer):
        view = memoryview(buffer).cast("B")
        n = max(0, min(len(view), self._size - self._pos))
        data = os.pread(self._fd, n, self._start + self._pos) if n else b""
        view[:len(data)] = data
        self._pos += len(data)
        return len(data)

    def close(self):
        if not self.closed:
            os.close(self._fd)
        super().close()


def _member_source(path: str, member: str):
    """A `.keras` archive's weights member: in place when stored, else read in memory."""
    import struct
    import zipfile

    from . import _archive

    with zipfile.ZipFile(path) as zf:
        infos = [i for i in zf.infolist() if i.filename == member]
        if len(infos) != 1:
            raise ValueError(f"{path}: the archive must hold one member {member!r}")
        info = infos[0]
        _archive.check_member(info, path)
        if info.compress_type != zipfile.ZIP_STORED:
            return io.BytesIO(_archive.read_member(zf, info, path, _archive.MAX_MEMBER_BYTES))
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        header = f.read(30)
        f.seek(0, 2)
        end = f.tell()
    if len(header) != 30 or header[:4] != b"PK\x03\x04":
        raise ValueError(f"{path}: member {member!r} has a corrupt local header")
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    start = info.header_offset + 30 + name_len + extra_len
    if start + info.file_size > end:
        raise ValueError(f"{path}: member {member!r} is truncated")
    return _Window(path, start, info.file_size)


def _open(source, path):
    """An open `h5py.File` for a source: a path, bytes, or {"path", "member"} of a zip."""
    if isinstance(source, dict):
        return open_h5(_member_source(source["path"], source["member"]), path)
    return open_h5(source, path)


def _info(dset, path):
    shape, dtype = dataset_info(dset, path)
    return [list(shape), dtype.str]


def _vars_group(group, path):
    import h5py

    if not isinstance(group, h5py.Group):
        raise ValueError(f"{path}: {group.name} must be a group of datasets 0..n-1")
    keys = list(group.keys())
    if sorted(keys) != sorted(str(i) for i in range(len(keys))):
        raise ValueError(f"{path}: {group.name} must hold datasets named 0..n-1, got "
                         f"{keys[:10]}")
    return [child(group, str(i), path) for i in range(len(keys))]


def index_vars(source, path: str) -> dict:
    """{inner path: [[shape, dtype], ...] of <inner>/vars/0, 1, ...} of a Keras 3 weights
    file; no data is read."""
    import h5py

    count = 0
    with _open(source, path) as f:
        out, stack = {}, [("", f, 0)]
        while stack:
            prefix, group, depth = stack.pop()
            if depth > MAX_DEPTH:
                raise ValueError(f"{path}: groups nested deeper than {MAX_DEPTH}")
            try:
                names = list(group.keys())
            except (OSError, RuntimeError, ValueError, KeyError) as err:
                raise ValueError(f"{path}: corrupt group {group.name}: {err}") from None
            for name in names:
                count += 1
                if count > MAX_OBJECTS:
                    raise ValueError(f"{path}: more than {MAX_OBJECTS} objects")
                obj = child(group, name, path)
                if not isinstance(obj, h5py.Group):
                    continue
                if name == "vars":
                    out[prefix] = [_info(d, path) for d in _vars_group(obj, path)]
                else:
                    stack.append((f"{prefix}/{name}" if prefix else name, obj, depth + 1))
    return out


def read_vars(source, path: str, wanted) -> list:
    """The arrays of `wanted` = [[inner, index, expected shape], ...], read one at a time,
    each checked against its expected shape before its data is read."""
    with _open(source, path) as f:
        out = []
        for inner, i, shape in wanted:
            group = walk(f, f"{inner}/vars" if inner else "vars", path)
            if group is None:
                raise ValueError(f"{path}: {inner!r} has no vars")
            dset = _vars_group(group, path)[int(i)]
            out.append(read_dataset(dset, path, shape, f"weight {i} of {inner!r}"))
        return out


def index_legacy(source, path: str) -> dict:
    """What a legacy `.h5` holds: config, versions, and per layer [[name, shape, dtype]]
    of its listed weights; no weight data is read."""
    with _open(source, path) as f:
        weights = child(f, "model_weights", path)
        group = weights if weights is not None else f
        out = {"model_config": attr_string(f, "model_config", path),
               "keras_version": (attr_string(f, "keras_version", path)
                                 or attr_string(group, "keras_version", path)),
               "backend": (attr_string(f, "backend", path)
                           or attr_string(group, "backend", path)),
               "training_config": attr_string(f, "training_config", path),
               "has_layer_names": "layer_names" in group.attrs, "layers": []}
        if not out["has_layer_names"]:
            return out
        for name in attr_strings(group, "layer_names", path):
            sub = child(group, name, path)
            if sub is None:
                raise ValueError(f"{path}: layer {name!r} is listed but has no group")
            entries = []
            for wname in attr_strings(sub, "weight_names", path):
                dset = walk(sub, wname, path)
                if dset is None:
                    raise ValueError(f"{path}: weight {wname!r} of layer {name!r} is listed "
                                     "but missing")
                entries.append([wname] + _info(dset, path))
            out["layers"].append([name, entries])
    return out


def read_legacy(source, path: str, wanted) -> list:
    """The arrays of `wanted` = [[layer name, weight name, expected shape], ...]."""
    with _open(source, path) as f:
        weights = child(f, "model_weights", path)
        group = weights if weights is not None else f
        out = []
        for name, wname, shape in wanted:
            sub = child(group, name, path)
            dset = None if sub is None else walk(sub, wname, path)
            if dset is None:
                raise ValueError(f"{path}: weight {wname!r} of layer {name!r} is missing")
            out.append(read_dataset(dset, path, shape, f"weight {wname!r}"))
        return out
