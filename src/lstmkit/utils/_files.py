"""`get_file`: a file from the Keras cache, a local `file://` origin, or a download.

Follows keras/src/utils/file_utils.py `get_file` for the cache layout
(`~/.keras/datasets/<fname>`, `$KERAS_HOME` honoured), hashes and extraction.
Downloads time out instead of hanging, and fail with an error that says where to put
the file by hand; the download goes to a temporary file renamed into place, so a
failed one leaves nothing behind.

Example:
    >>> import pathlib, tempfile
    >>> import lstmkit as lk
    >>> src = pathlib.Path(tempfile.mkdtemp()) / "data.csv"
    >>> _ = src.write_text("a,b\\n1,2\\n")
    >>> path = lk.utils.get_file(origin=src.as_uri(), cache_dir=tempfile.mkdtemp())
    >>> pathlib.Path(path).read_text()
    'a,b\\n1,2\\n'
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile

#: Seconds a download may wait for the network before it fails (no hang offline).
TIMEOUT = 30.0


def _hasher(algorithm, file_hash):
    if algorithm == "sha256" or (algorithm == "auto" and file_hash and len(file_hash) == 64):
        return hashlib.sha256()
    return hashlib.md5()


def validate_file(fpath, file_hash, algorithm="auto", chunk_size=65535) -> bool:
    """Whether the file's sha256 (64 hex digits) or md5 equals `file_hash`."""
    hasher = _hasher(algorithm, file_hash)
    with open(fpath, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            hasher.update(chunk)
    return hasher.hexdigest() == str(file_hash)


def _download(origin, target):
    folder = os.path.dirname(target)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".download-")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(origin, timeout=TIMEOUT) as src:
            shutil.copyfileobj(src, out)
        os.replace(tmp, target)
    except (urllib.error.URLError, OSError, ValueError) as err:
        if os.path.exists(tmp):
            os.remove(tmp)
        reason = getattr(err, "reason", None) or err
        raise OSError(
            f"URL fetch failure on {origin}: {reason}. lstmkit could not download the file "
            f"(offline?); put it at {target} and call get_file again"
        ) from err


def _inside(root, name) -> bool:
    path = os.path.realpath(os.path.join(root, name))
    return path == os.path.realpath(root) or path.startswith(os.path.realpath(root) + os.sep)


def extract_archive(file_path, path=".", archive_format="auto") -> bool:
    """Extract a tar or zip archive into `path`; False if it is neither.

    Members that would land outside `path` (absolute paths, `..`, links out) are refused.
    """
    formats = {"auto": ("tar", "zip"), None: ()}.get(archive_format, archive_format)
    formats = [formats] if isinstance(formats, str) else list(formats)
    if "tar" in formats and tarfile.is_tarfile(file_path):
        with tarfile.open(file_path) as archive:
            if hasattr(tarfile, "data_filter"):
                archive.extractall(path, filter="data")
            else:
                for member in archive.getmembers():
                    if not _inside(path, member.name) or member.issym() or member.islnk():
                        raise ValueError(f"Refusing archive member {member.name!r}")
                archive.extractall(path)
        return True
    if "zip" in formats and zipfile.is_zipfile(file_path):
        with zipfile.ZipFile(file_path) as archive:
            for name in archive.namelist():
                if not _inside(path, name):
                    raise ValueError(f"Refusing archive member {name!r} (outside {path})")
            archive.extractall(path)
        return True
    return False


def get_file(fname=None, origin=None, untar=False, md5_hash=None, file_hash=None,
             cache_subdir="datasets", hash_algorithm="auto", extract=False,
             archive_format="auto", cache_dir=None, force_download=False):
    """The local path of `origin`, downloaded into the cache if it is not there yet.

    Args:
        fname: the file's name in the cache (default: the last part of `origin`).
        origin: the URL (`https://...`, or `file:///...` for a local file).
        file_hash / md5_hash: expected sha256 (64 hex digits) or md5 of the file.
        cache_subdir: folder under `cache_dir` ("datasets").
        extract / untar: extract a tar or zip archive; returns the extraction folder.
        cache_dir: the cache root (default `$KERAS_HOME` or `~/.keras`).
        force_download: download even if the file is cached.

    Returns:
        The path of the file (or of the extracted folder).

    Raises:
        OSError: the download failed (e.g. offline); the message names where to put the
            file by hand. ValueError: a bad argument or a hash mismatch.
    """
    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    if cache_dir is None:
        cache_dir = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"),
                                                                  ".keras")
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    base = os.path.expanduser(cache_dir)
    if os.path.isdir(base) and not os.access(base, os.W_OK):
        base = os.path.join(tempfile.gettempdir(), ".keras")  # Keras's fallback
    datadir = os.path.join(base, cache_subdir)
    os.makedirs(datadir, exist_ok=True)
    provided = fname
    fname = os.fspath(fname) if fname is not None else ""
    if not fname:
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname:
            raise ValueError(f"Can't parse the file name from the origin provided: '{origin}'."
                             "Please specify the `fname` argument.")
    elif os.sep in fname:
        raise ValueError("Paths are no longer accepted as the `fname` argument. To specify "
                         "the file's parent directory, use the `cache_dir` argument. "
                         f"Received: fname={fname}")
    extraction_dir = None
    if extract or untar:
        if provided and "." in fname:
            target = os.path.join(datadir, fname)
            extraction_dir = os.path.join(datadir, f"{fname[:fname.find('.')]}_extracted")
        else:
            target = os.path.join(datadir, f"{fname}_archive")
            extraction_dir = os.path.join(datadir, fname)
    else:
        target = os.path.join(datadir, fname)
    download = force_download or not os.path.exists(target)
    if not download and file_hash is not None and not validate_file(target, file_hash,
                                                                     hash_algorithm):
        download = True  # a stale or partial file in the cache
    if download:
        _download(origin, target)
        if file_hash is not None and not validate_file(target, file_hash, hash_algorithm):
            raise ValueError(f"Incomplete or corrupted file detected. The {hash_algorithm} "
                             f"file hash does not match the provided value of {file_hash}.")
    if extraction_dir is not None:
        if not extract_archive(target, extraction_dir, "tar" if untar else archive_format):
            warnings.warn("Could not extract archive.", stacklevel=2)  # as Keras does
        return extraction_dir
    return target
