"""Validated readers of training results: a run's ``metrics.json`` and an in-situ run's ``trace.csv``.

A missing file or one without the agreed format raises :class:`ResultsError` naming the file and
the problem (the figures, the energy and reproduction tables and the studies read through here).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dwsynapse.nn import TRACE_COLUMNS


class ResultsError(ValueError):
    """A result file is missing or does not have the agreed format; the message names the file."""


REQUIRED = {
    "all": ("method", "epochs", "final_train_acc", "final_test_acc", "n_train", "n_test"),
    "insitu": ("total_pulses", "float_writes_per_epoch", "n_weights"),
    "exsitu": ("software_test_acc", "hardware_test_acc", "hardware_test_acc_mean", "hardware_test_acc_std",
               "program_attempts"),
}


def load_metrics(path: str | Path) -> dict:
    """Read a training ``metrics.json`` and check the keys the figures need for its method."""
    path = Path(path)
    if not path.exists():
        raise ResultsError(f"{path}: metrics file not found")
    try:
        m = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc})") from None
    need = list(REQUIRED["all"])
    method = str(m.get("method", ""))
    if method == "insitu":
        need += REQUIRED["insitu"]
    elif method.startswith("exsitu"):
        need += REQUIRED["exsitu"]
    missing = [k for k in need if k not in m]
    if missing:
        raise ResultsError(f"{path}: metrics lacks {missing}")
    if not m["epochs"]:
        raise ResultsError(f"{path}: 'epochs' is empty")
    for e in m["epochs"]:
        for k in ("epoch", "train_acc", "test_acc") + (("pulses",) if method == "insitu" else ()):
            if k not in e:
                raise ResultsError(f"{path}: an entry of 'epochs' lacks '{k}'")
    return m


def load_trace(path: str | Path) -> dict:
    """Read an in-situ ``trace.csv`` (long format, columns image,row,col,w_fp,w_q,w_dev: one line
    per traced synapse and training image) into flat arrays, one per column (image/row/col int)."""
    path = Path(path)
    if not path.exists():
        raise ResultsError(f"{path}: trace file not found")
    with open(path) as fh:
        header = fh.readline().strip().split(",")
    missing = [h for h in TRACE_COLUMNS if h not in header]
    if missing:
        raise ResultsError(f"{path}: trace header {header} lacks {missing} (need {list(TRACE_COLUMNS)})")
    try:
        data = np.atleast_1d(np.genfromtxt(path, delimiter=",", names=True, dtype=float, invalid_raise=True))
    except ValueError as exc:
        raise ResultsError(f"{path}: unreadable trace ({exc})") from None
    if data.size == 0:
        raise ResultsError(f"{path}: trace has no rows")
    out = {k: np.asarray(data[k], float) for k in TRACE_COLUMNS}
    if not all(np.all(np.isfinite(out[k])) for k in TRACE_COLUMNS):
        raise ResultsError(f"{path}: trace has empty or non-numeric values")
    for k in ("image", "row", "col"):
        if np.any(out[k] != np.round(out[k])) or np.any(out[k] < 0):
            raise ResultsError(f"{path}: trace column '{k}' must hold non-negative integers")
        out[k] = out[k].astype(np.int64)
    return out
