"""One CSV reader for lstmkit (stdlib `csv`): the CLI's inputs, training tables, the datasets.

`read_table` gives the cells and where each row was; `numbers` turns chosen columns into a
float64 array, with errors that name the file, the line and the column.

Example:
    >>> import io
    >>> table = read_table(io.StringIO("date,level\\n2001,1.5\\n\\n2002,\\n"), header=True)
    >>> table.header, table.lines
    (['date', 'level'], [2, 4])
    >>> numbers(table, ["level"])
    array([[1.5],
           [nan]])
"""

from __future__ import annotations

import csv
import io
import os
from typing import NamedTuple

import numpy as np

from ._files import check_regular_file


class Table(NamedTuple):
    name: str  # the file, for messages
    header: list[str] | None  # column names, or None when the first row holds data
    rows: list[list[str]]  # the cells, stripped; blank lines left out
    lines: list[int]  # each row's line number in the file (1-based)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def read_table(source, header: bool | None = None) -> Table:
    """The rows of a CSV file (a path, or an open text file).

    Args:
        source: a path, or a file-like object open in text mode.
        header: True: the first row names the columns; False: it is data; None: it names
            them when one of its cells is not a number.

    Raises:
        OSError: no such file. ValueError: not a regular file (a FIFO, a device), or the
            file has no rows (or only a header).
    """
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        if not os.path.exists(name):
            raise OSError(f"no such CSV file: {name}")
        check_regular_file(name, "CSV file")  # a FIFO would block forever
        with open(name, newline="", encoding="utf-8-sig") as handle:
            return _read(handle, name, header)
    return _read(source, getattr(source, "name", "<csv>"), header)


def from_text(text: str, header: bool | None = None, name="<csv>") -> Table:
    """`read_table` on a string (a packaged file read with importlib.resources)."""
    return _read(io.StringIO(text), name, header)


def _read(handle, name, header) -> Table:
    rows, lines = [], []
    reader = csv.reader(handle)
    for row in reader:
        cells = [c.strip() for c in row]
        if any(cells):
            rows.append(cells)
            lines.append(reader.line_num)
    if not rows:
        raise ValueError(f"{name} is empty: expected rows of comma-separated values")
    if header is None:
        header = not all(_is_number(c) for c in rows[0])
    names = None
    if header:
        names, rows, lines = rows[0], rows[1:], lines[1:]
        if not rows:
            raise ValueError(f"{name} has a header row but no data rows")
    return Table(name, names, rows, lines)


def numbers(table: Table, columns=None, allow_empty=True) -> np.ndarray:
    """The named `columns` (default: all, every row as wide) as (rows, columns) float64.

    Empty cells are NaN (or an error, with `allow_empty=False`). Raises ValueError naming the
    file, line and column of a cell that is not a number, a column the header lacks, or rows
    of different widths.
    """
    if columns is None:
        widths = sorted({len(r) for r in table.rows})
        if len(widths) != 1:
            raise ValueError(f"{table.name}: rows have different numbers of values {widths}")
        index = list(range(widths[0]))
        names = table.header or [str(i + 1) for i in index]
    else:
        header = table.header or []
        missing = [c for c in columns if c not in header]
        if missing:
            raise ValueError(f"column(s) {', '.join(missing)} not in {table.name}; it has: "
                             f"{', '.join(header)}")
        index, names = [header.index(c) for c in columns], list(columns)
    out = np.full((len(table.rows), len(index)), np.nan)  # (rows, columns)
    for r, (row, line) in enumerate(zip(table.rows, table.lines)):
        for k, (i, name) in enumerate(zip(index, names)):
            cell = row[i] if i < len(row) else ""
            if cell == "":
                if not allow_empty:
                    raise ValueError(f"{table.name} line {line}: column {name!r} is empty")
                continue
            try:
                out[r, k] = float(cell)
            except ValueError:
                raise ValueError(f"{table.name} line {line}: column {name!r} is not numeric: "
                                 f"{cell[:40]!r}") from None
    return out
