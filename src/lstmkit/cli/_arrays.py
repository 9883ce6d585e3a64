"""Reading input arrays for the CLI under a memory budget, checked before allocating.

A `.npy` header can declare 60 TB over a few bytes, and a 2 MB `.npz` can expand to
2 GiB: each array's size is computed from its header and refused past the budget
before any memory is taken. The budget (default 1 GiB for all of a command's input
arrays together) is raised with `--max-input-mb`. Paths that are not regular files
(FIFO, device, socket) are refused before they are opened.

Example:
    >>> import numpy as np, os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "x.npy")
    >>> np.save(path, np.zeros((2, 3), "float32"))
    >>> load_npy(path, Budget(1 << 20)).shape
    (2, 3)
"""

from __future__ import annotations

import os
import zipfile
import zlib

import numpy as np

from .._files import check_regular_file

#: Bytes of input arrays a command reads by default (all arrays together): 1 GiB.
DEFAULT_MAX_INPUT_MB = 1024


def add_budget_argument(parser) -> None:
    parser.add_argument("--max-input-mb", type=float, default=DEFAULT_MAX_INPUT_MB,
                        metavar="MB",
                        help="refuse inputs whose arrays would take more than this many MB "
                             f"in memory (default {DEFAULT_MAX_INPUT_MB})")


class Budget:
    """Bytes left for a command's arrays; `take` refuses a size past what is left."""

    def __init__(self, limit: int):
        self.limit, self.left = int(limit), int(limit)

    @classmethod
    def from_args(cls, args) -> Budget:
        mb = getattr(args, "max_input_mb", DEFAULT_MAX_INPUT_MB)
        if not mb > 0:
            raise ValueError(f"--max-input-mb must be positive, got {mb}")
        return cls(int(mb * (1 << 20)))

    def take(self, nbytes: int, what: str) -> None:
        if nbytes > self.left:
            raise ValueError(f"{what} would take {_mb(nbytes)} in memory, more than the "
                             f"input budget of {_mb(self.limit)} (raise it with "
                             "--max-input-mb)")
        self.left -= nbytes


def _mb(n) -> str:
    return f"{n / (1 << 20):,.0f} MB" if n >= 1 << 20 else f"{n:,} bytes"


def _header(f, where: str, size: int):
    """(shape, fortran, dtype) of a .npy stream of `size` bytes, with one-line errors."""
    if size == 0:
        raise ValueError(f"{where} is empty; a NumPy .npy file was expected")
    try:
        version = np.lib.format.read_magic(f)
    except EOFError:
        raise ValueError(f"{where} is empty or truncated; a NumPy .npy file was expected") \
            from None
    except ValueError:
        raise ValueError(f"{where} is not a NumPy .npy file (it does not start with "
                         "\\x93NUMPY)") from None
    try:
        if version == (1, 0):
            header = np.lib.format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            header = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unknown .npy version {version}")
    except (ValueError, EOFError, SyntaxError, OverflowError) as err:
        raise ValueError(f"{where} has a corrupt .npy header: {err}") from None
    shape, _, dtype = header
    if dtype.hasobject:
        raise ValueError(f"{where} holds Python objects (dtype {dtype}), which would need "
                         "unpickling; lstmkit reads numbers only (allow_pickle=False)")
    if dtype.kind not in "biuf":
        raise ValueError(f"{where} holds {dtype}; numbers were expected")
    return header


def _nbytes(shape, dtype) -> int:
    return int(np.prod(shape, dtype=object)) * dtype.itemsize  # exact, no overflow


def _read(f, shape, fortran, dtype, where):
    """The array body of a .npy stream after its header, all of it or an error."""
    count = int(np.prod(shape, dtype=np.int64))
    data = np.empty(count, dtype)  # (count,)
    view = memoryview(data.view(np.uint8))
    got = f.readinto(view) if data.nbytes else 0
    if got != data.nbytes:
        raise ValueError(f"{where} is truncated: {got} of {data.nbytes} bytes")
    return data.reshape(shape[::-1]).T if fortran else data.reshape(shape)


def load_npy(path, budget: Budget) -> np.ndarray:
    """A `.npy` file's array; its header is checked against the budget first."""
    path = check_regular_file(path, "input file")
    with open(path, "rb") as f:
        shape, fortran, dtype = _header(f, path, os.fstat(f.fileno()).st_size)
        nbytes = _nbytes(shape, dtype)
        if nbytes > os.fstat(f.fileno()).st_size:
            raise ValueError(f"{path}: the .npy header declares {shape} {dtype} "
                             f"({_mb(nbytes)}) but the file is smaller; it is truncated "
                             "or corrupt")
        budget.take(nbytes, f"{path} ({shape} {dtype})")
        return _read(f, shape, fortran, dtype, path)


def load_npz(path, name: str, budget: Budget) -> np.ndarray:
    """The member `name` of a `.npz` (or its only member), checked against the budget
    from its header before it is decompressed."""
    path = check_regular_file(path, "input file")
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError, ValueError) as err:
        raise ValueError(f"{path} is not a valid .npz (zip) file: {err}") from None
    with zf:
        members = {i.filename[:-4]: i for i in zf.infolist() if i.filename.endswith(".npy")}
        if name in members:
            info = members[name]
        elif len(members) == 1:
            info = next(iter(members.values()))
        else:
            raise ValueError(f"{path} holds {sorted(members)}; none is named {name!r}")
        where = f"{path}: member {info.filename!r}"
        try:
            with zf.open(info) as f:
                shape, fortran, dtype = _header(f, where, info.file_size)
                budget.take(_nbytes(shape, dtype), f"{where} ({shape} {dtype})")
                return _read(f, shape, fortran, dtype, where)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as err:
            raise ValueError(f"{where} is corrupt: {err}") from None
