"""Reader for mumax3's ``table.txt``: a ``# t (s)\\tmx ()\\tmy ()\\tmz ()`` header line, then
one tab-separated row per saved time."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class TableError(ValueError):
    """A table file is missing, truncated or malformed; the message names the file and line."""


@dataclass
class Table:
    """Columns of a mumax3 table: ``names`` (e.g. ``'t'``, ``'mz'``), ``units``, ``data`` (rows, cols)."""

    names: list[str]
    units: list[str]
    data: np.ndarray

    def column(self, name: str) -> np.ndarray:
        """The column called ``name`` (e.g. ``'t'`` [s] or ``'mz'``)."""
        try:
            return self.data[:, self.names.index(name)]
        except ValueError:
            raise TableError(f"table has no column {name!r}; it has {self.names}") from None


_COLUMN = re.compile(r"^\s*(.*?)\s*\((.*)\)\s*$")


def parse_table(text: str, name: str = "<text>", drop_incomplete_last: bool = False) -> Table:
    """Parse table text; ``name`` is used in error messages.

    A last line without its newline is an error (a truncated file), unless
    ``drop_incomplete_last`` (the writer was killed mid-row): then that line is ignored."""
    if drop_incomplete_last and not text.endswith("\n") and "\n" in text:
        text = text[: text.rindex("\n") + 1]
    lines = text.split("\n")
    if not lines or not lines[0].startswith("#"):
        raise TableError(f"{name}: no '# t (s) ...' header line")
    names, units = [], []
    for field in lines[0].lstrip("#").split("\t"):
        m = _COLUMN.match(field)
        if not m:
            raise TableError(f"{name}: malformed column header {field!r}")
        names.append(m.group(1))
        units.append(m.group(2))
    if not names or names[0] != "t":
        raise TableError(f"{name}: first column must be 't (s)', header is {lines[0]!r}")
    complete = text.endswith("\n")
    body = lines[1:-1] if complete else lines[1:]
    rows = []
    for i, line in enumerate(body, start=2):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != len(names):
            last = i == len(lines) - (1 if complete else 0)
            why = "truncated last line" if last and not complete else "wrong number of columns"
            raise TableError(f"{name}: line {i}: {why} ({len(parts)} values, header has {len(names)})")
        try:
            rows.append([float(p) for p in parts])
        except ValueError:
            raise TableError(f"{name}: line {i}: non-numeric value in {line[:80]!r}") from None
    if not complete and body and body[-1].strip():
        raise TableError(f"{name}: truncated (last line has no newline)")
    data = np.array(rows, dtype=np.float64).reshape(len(rows), len(names))
    return Table(names=names, units=units, data=data)


def read_table(path: str | Path, drop_incomplete_last: bool = False) -> Table:
    """Read a mumax3 ``table.txt``; raises :class:`TableError` naming the file and line.
    ``drop_incomplete_last``: see :func:`parse_table`."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise TableError(f"{path}: cannot read table ({exc.strerror or exc})") from exc
    except UnicodeDecodeError:
        raise TableError(f"{path}: not a text table (binary content)") from None
    return parse_table(text, str(path), drop_incomplete_last)
