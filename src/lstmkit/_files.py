"""Files written atomically, and paths checked to be regular files before opening.

A save that fails part-way (disk full, a kill, a quota) must not destroy the file it
replaces: every file lstmkit writes goes to a temporary file in the same directory,
is flushed to disk (`fsync`), then renamed over the target (`os.replace`, atomic on
POSIX and Windows). On an error the temporary file is removed and the old file is
untouched. A reader never opens a FIFO, a device or a socket: `open` on a FIFO
blocks until a writer appears, and a device can stream forever.

Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "notes.txt")
    >>> atomic_write(path, b"first")
    >>> with atomic_path(path) as tmp:
    ...     with open(tmp, "wb") as f:
    ...         _ = f.write(b"second")
    >>> with open(path, "rb") as f:
    ...     f.read()
    b'second'
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile


def check_regular_file(path, what: str = "file") -> str:
    """`path` as a str if it names a regular file (or a link to one), else an error.

    Raises:
        FileNotFoundError: nothing is there.
        ValueError: a directory, FIFO, socket or device: refused before it is opened.
    """
    path = os.fspath(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, f"No such file ({what})", path) from None
    if stat.S_ISREG(mode):
        return path
    kind = ("a directory" if stat.S_ISDIR(mode) else "a FIFO (named pipe)" if stat.S_ISFIFO(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "a device" if
            stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
    raise ValueError(f"{path} is {kind}; a regular {what} was expected")


def _new_file_mode(target: str) -> int:
    """The mode `open(target, "w")` would give: the old file's, else 0o666 less the umask."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        pass
    umask = 0o022
    try:  # read, not set: os.umask() would change it for every thread for a moment
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    umask = int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path, overwrite: bool = True):
    """Yield a temporary path beside `path`; on success it replaces `path` atomically.

    For writers that take a path (onnx.save, savefig, torch.export.save). On any error
    (or KeyboardInterrupt) the temporary file is removed and `path` is untouched.

    Raises:
        FileExistsError: `path` exists and `overwrite` is False.
    """
    path = os.fspath(path)
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} exists and overwrite=False")
    directory = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    # Same directory (os.replace cannot cross filesystems); the suffix keeps the extension
    # some writers check ("x.keras.tmp1234.keras").
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=os.path.splitext(name)[1] or ".tmp",
                               dir=directory)
    os.close(fd)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _new_file_mode(path))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)


def atomic_write(path, data: bytes | None = None, write=None, overwrite: bool = True) -> None:
    """Write `data` (or call `write(file)`) to `path` atomically.

    Args:
        path: the file to create or replace.
        data: the bytes to write, or None when `write` is given.
        write: a function given the open binary temporary file, e.g.
            `lambda f: np.save(f, array)`.
        overwrite: if False and `path` exists, FileExistsError.
    """
    with atomic_path(path, overwrite) as tmp, open(tmp, "wb") as f:
        if data is not None:
            f.write(data)
        if write is not None:
            write(f)


def _fsync_directory(directory: str) -> None:
    """Make the rename itself durable (POSIX); best effort, not possible everywhere."""
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
