"""Safe reading of the `.keras` zip archive (keras/src/saving/saving_lib.py layout).

A model file is untrusted data. The archive is opened read-only and never
extracted: `config.json`, `metadata.json` and the weights member are read into
memory by their exact names, after their declared sizes have been checked, so a
decompression bomb is refused before anything is decompressed. Other members
(`assets/`, odd names such as `../../x`) are never read.

Example:
    >>> from lstmkit.saving._archive import read_archive
    >>> archive = read_archive("tests/data/keras_files/keras3_classifier.keras")
    >>> archive.config["class_name"], sorted(archive.metadata)
    ('Functional', ['date_saved', 'keras_version'])
"""

from __future__ import annotations

import json
import os
import zipfile
import zlib
from typing import NamedTuple

CONFIG_FILENAME = "config.json"
METADATA_FILENAME = "metadata.json"
WEIGHTS_H5 = "model.weights.h5"
WEIGHTS_NPZ = "model.weights.npz"

#: Largest member read into memory (bytes); raise it for very large models.
MAX_MEMBER_BYTES = 4 << 30
#: Largest config.json / metadata.json (bytes).
MAX_JSON_BYTES = 64 << 20
#: A member that expands more than this many times (and past 1 MiB) is a decompression bomb.
#: Keras stores members uncompressed; float weights compress by less than 2x.
MAX_EXPANSION = 100


class Archive(NamedTuple):
    """What a `.keras` file holds: config and metadata read in memory; the weights member
    checked, and read in memory only for npz (an h5 member is read in place by the
    sandboxed reader, dataset by dataset: `_weights.H5Store`)."""

    config: dict
    metadata: dict
    weights: bytes | None  # None for "h5"
    weights_format: str  # "h5" or "npz"


def _info(zf: zipfile.ZipFile, name: str, path: str):
    infos = [i for i in zf.infolist() if i.filename == name]
    if len(infos) > 1:
        raise ValueError(f"{path}: the archive holds {len(infos)} members named {name!r}; "
                         "a valid .keras file has one")
    return infos[0] if infos else None


def check_member(info: zipfile.ZipInfo, path: str, limit: int | None = None) -> None:
    """Refuse a member whose declared size is too large or whose expansion is a bomb."""
    limit = MAX_MEMBER_BYTES if limit is None else limit
    size, packed = info.file_size, max(info.compress_size, 1)
    if size > limit:
        raise ValueError(f"{path}: member {info.filename!r} declares {size} bytes, more than "
                         f"the limit of {limit} (lstmkit.saving._archive.MAX_MEMBER_BYTES)")
    if size > (1 << 20) and size > MAX_EXPANSION * packed:
        raise ValueError(f"{path}: member {info.filename!r} would expand {size / packed:.0f}x "
                         f"({packed} -> {size} bytes): refusing a likely decompression bomb")
    if info.flag_bits & 0x1:
        raise ValueError(f"{path}: member {info.filename!r} is encrypted")


def read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: str, limit: int) -> bytes:
    """The member's bytes, at most its (checked) declared size."""
    check_member(info, path, limit)
    try:
        with zf.open(info) as f:
            data = f.read(info.file_size + 1)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError,
            ValueError) as err:
        raise ValueError(f"{path}: member {info.filename!r} is corrupt: {err}") from None
    if len(data) != info.file_size:
        raise ValueError(f"{path}: member {info.filename!r} is truncated or corrupt "
                         f"({len(data)} bytes read, {info.file_size} declared)")
    return data


def parse_json(data: bytes, what: str, path: str):
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise ValueError(f"{path}: {what} is not valid JSON: {err}") from None
    return value


def read_archive(path) -> Archive:
    """Read a `.keras` file: config, metadata and the weights member, all in memory.

    Raises:
        OSError: the file cannot be read.
        ValueError: it is not a `.keras` zip, a member is missing, corrupt or too large.
    """
    path = os.fspath(path)
    try:
        zf = zipfile.ZipFile(path, "r")
    except zipfile.BadZipFile as err:
        raise ValueError(f"{path}: not a .keras file (a zip archive expected): {err}") from None
    except (EOFError, ValueError, zlib.error, NotImplementedError) as err:
        raise ValueError(f"{path}: not a valid .keras zip archive: {err}") from None
    with zf:
        infos = {name: _info(zf, name, path)
                 for name in (CONFIG_FILENAME, METADATA_FILENAME, WEIGHTS_H5, WEIGHTS_NPZ)}
        if infos[CONFIG_FILENAME] is None:
            raise ValueError(f"{path}: the archive has no {CONFIG_FILENAME!r}; "
                             f"members: {zf.namelist()[:10]}")
        config = parse_json(read_member(zf, infos[CONFIG_FILENAME], path, MAX_JSON_BYTES),
                            CONFIG_FILENAME, path)
        if not isinstance(config, dict):
            raise ValueError(f"{path}: {CONFIG_FILENAME} must hold a JSON object, "
                             f"got {type(config).__name__}")
        metadata = {}
        if infos[METADATA_FILENAME] is not None:
            metadata = parse_json(
                read_member(zf, infos[METADATA_FILENAME], path, MAX_JSON_BYTES),
                METADATA_FILENAME, path)
            if not isinstance(metadata, dict):
                metadata = {}
        if infos[WEIGHTS_H5] is not None:
            check_member(infos[WEIGHTS_H5], path)
            return Archive(config, metadata, None, "h5")
        if infos[WEIGHTS_NPZ] is None:
            raise ValueError(f"{path}: the archive has no {WEIGHTS_H5} or {WEIGHTS_NPZ}")
        weights = read_member(zf, infos[WEIGHTS_NPZ], path, MAX_MEMBER_BYTES)
    return Archive(config, metadata, weights, "npz")
