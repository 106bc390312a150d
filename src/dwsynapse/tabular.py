"""Tables of row dicts written as CSV and GitHub-flavoured Markdown (energy, Fig. 7, reproduction and
study tables), and SI-prefixed values for them. (:mod:`dwsynapse.table` is the reader of mumax3's
``table.txt``, a different thing.)"""

from __future__ import annotations

import csv
from pathlib import Path

from dwsynapse.io import atomic_path


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def si_value(value: float, unit: str) -> str:
    """``value`` [unit] with an SI prefix from f to m and 4 significant digits, e.g. 2.7e-15 J -> '2.7 fJ'."""
    for factor, prefix in ((1e-15, "f"), (1e-12, "p"), (1e-9, "n"), (1e-6, "µ"), (1e-3, "m")):
        if abs(value) < factor * 1000:
            return f"{value / factor:.4g} {prefix}{unit}"
    return f"{value:.4g} {unit}"


def markdown_table(rows: list[dict], columns: list[str]) -> str:
    """A GitHub-flavoured Markdown table of ``rows`` restricted to ``columns`` (floats with 4
    significant digits, None as an empty cell)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for r in rows:
        lines.append("| " + " | ".join(_fmt(r.get(c)) for c in columns) + " |")
    return "\n".join(lines) + "\n"


def write_csv(rows: list[dict], path: str | Path) -> None:
    """Write ``rows`` (dicts with the same keys) as CSV, atomically; no rows is an error."""
    if not rows:
        raise ValueError(f"{path}: no rows to write")
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
