"""The data behind a rendered figure, as a long-format CSV written next to its PNG/PDF.

:func:`figure_rows` reads back what a matplotlib figure draws: every line, scatter, bar (with its
error bar) and image of every panel, one row per point or cell, with the panel's title and axis
labels (which carry the units). So each figure of the report ships with its numbers without a
second, hand-written export per figure that could drift from what is plotted.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from matplotlib.collections import PathCollection
from matplotlib.container import BarContainer, ErrorbarContainer

from dwsynapse.io import atomic_path

COLUMNS = ("panel", "title", "x_axis", "y_axis", "series", "kind", "x", "y", "y_low", "y_high", "value", "category")


def _label(artist) -> str:
    lab = str(artist.get_label() or "")
    return "" if lab.startswith("_") else lab


def _ticks(ax) -> dict[float, str]:
    """Tick position -> label of the x axis (the category names of bar charts)."""
    return {round(float(t), 9): lab.get_text() for t, lab in zip(ax.get_xticks(), ax.get_xticklabels())}


def _errorbar_rows(ec: ErrorbarContainer, series: str) -> list[dict]:
    rows = []
    for col in ec.lines[2]:
        for seg in col.get_segments():
            (x0, y0), (_, y1) = seg[0], seg[-1]
            rows.append(dict(series=series, kind="errorbar", x=x0, y_low=min(y0, y1), y_high=max(y0, y1)))
    return rows


def _panel_rows(ax) -> list[dict]:
    rows: list[dict] = []
    bar_patches = set()
    ticks = _ticks(ax)
    for c in ax.containers:
        if isinstance(c, BarContainer):
            series = _label(c)
            for p in c.patches:
                bar_patches.add(id(p))
                x = p.get_x() + p.get_width() / 2
                rows.append(dict(series=series, kind="bar", x=x, y=p.get_y() + p.get_height(), y_low=p.get_y(),
                                 category=ticks.get(round(x, 9), "")))
            if c.errorbar is not None:
                rows += _errorbar_rows(c.errorbar, series)
        elif isinstance(c, ErrorbarContainer):
            rows += _errorbar_rows(c, _label(c))
    for line in ax.get_lines():
        series = _label(line)
        for x, y in zip(np.atleast_1d(line.get_xdata()), np.atleast_1d(line.get_ydata())):
            rows.append(dict(series=series, kind="line", x=x, y=y))
    for col in ax.collections:
        if isinstance(col, PathCollection):
            series = _label(col)
            for x, y in np.asarray(col.get_offsets(), float).reshape(-1, 2):
                rows.append(dict(series=series, kind="scatter", x=x, y=y))
    for im in ax.get_images():
        arr = np.ma.filled(np.ma.asarray(im.get_array(), float), np.nan)
        if arr.ndim != 2:
            continue
        left, right, bottom, top = im.get_extent()
        ny, nx = arr.shape
        xc = left + (np.arange(nx) + 0.5) * (right - left) / nx
        yc = bottom + (np.arange(ny) + 0.5) * (top - bottom) / ny
        if im.origin == "upper":
            yc = yc[::-1]
        series = _label(im)
        for j in range(ny):
            for i in range(nx):
                rows.append(dict(series=series, kind="image", x=xc[i], y=yc[j], value=arr[j, i]))
    return rows


def figure_rows(fig) -> list[dict]:
    """Every plotted point of ``fig`` as rows with :data:`COLUMNS` (colour bars left out). For an
    image ``value`` is the cell's value at its centre (x, y); for a bar ``y`` is its top and
    ``y_low`` its bottom; for an error bar ``y_low``/``y_high`` its ends. Units are those of the
    panel's axis labels."""
    out = []
    panel = 0
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>":
            continue
        panel += 1
        head = dict(panel=panel, title=ax.get_title() or ax.get_title(loc="left"), x_axis=ax.get_xlabel(),
                    y_axis=ax.get_ylabel())
        for r in _panel_rows(ax):
            out.append({**dict.fromkeys(COLUMNS, ""), **head, **r})
    return out


def _cell(v) -> str:
    if isinstance(v, (float, np.floating)):
        return repr(float(v))
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    return str(v).replace("\n", " ")


def write_figure_data(fig, path: str | Path) -> int:
    """Write :func:`figure_rows` of ``fig`` to the CSV ``path`` (atomically); return the row count."""
    rows = figure_rows(fig)
    with atomic_path(path, suffix=".csv") as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(COLUMNS)
            for r in rows:
                w.writerow([_cell(r[c]) for c in COLUMNS])
    return len(rows)
