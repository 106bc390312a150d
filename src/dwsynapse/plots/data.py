"""Where the training and device results of a config live, and validated readers for them.

The report rules derive their inputs from :func:`run_paths`, so a config with a reduced grid
(fewer states, alphas or ex-situ methods) only asks for — and only plots — what it produced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dwsynapse.nn import TRACE_COLUMNS


class ResultsError(ValueError):
    """A result file is missing or does not have the agreed format; the message names the file."""


def alpha_tag(alpha: float) -> str:
    """Directory tag of a noise margin, e.g. 0.15 -> ``'0.15'``."""
    return f"{float(alpha):.2f}"


@dataclass
class RunPaths:
    """Result directories of every training run a config asks for (keys -> directory)."""

    baseline: Path
    insitu: dict = field(default_factory=dict)  # (states, alpha) -> dir
    exsitu: dict = field(default_factory=dict)  # (method, states, alpha) -> dir


def _excluded(section: dict) -> set[tuple[int, float]]:
    """(states, alpha) pairs that ``section['exclude']`` removes from a training grid."""
    return {(int(e["states"]), float(e["alpha"])) for e in section.get("exclude", []) or []}


def run_paths(config: dict) -> RunPaths:
    """The training-run directories of ``config`` (DESIGN.md interfaces, results/train/...).

    The grid is states x alphas (x methods for ex-situ) minus the ``exclude`` entries of
    ``train.insitu`` / ``train.exsitu``; the Snakefile's targets come from here as well.
    """
    root = Path(config["results_dir"]) / "train"
    tr = config["train"]
    ins = tr.get("insitu", {}) or {}
    exs = tr.get("exsitu", {}) or {}
    ins_skip, exs_skip = _excluded(ins), _excluded(exs)
    insitu = {
        (int(s), float(a)): root / "insitu" / f"{s}state_alpha{alpha_tag(a)}"
        for s in ins.get("states", []) for a in ins.get("alphas", []) if (int(s), float(a)) not in ins_skip
    }
    exsitu = {
        (m, int(s), float(a)): root / "exsitu" / m / f"{s}state_alpha{alpha_tag(a)}"
        for m in exs.get("methods", []) for s in exs.get("states", []) for a in exs.get("alphas", [])
        if (int(s), float(a)) not in exs_skip
    }
    return RunPaths(baseline=root / "baseline", insitu=insitu, exsitu=exsitu)


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


def trace_synapse_activity(trace: dict) -> list[dict]:
    """Per traced synapse of a :func:`load_trace` dict: its (row, col), the number of level changes of
    W_q and of changes of W_dev between consecutive recorded images, and its series (sorted by image).
    Ordered most active first: most W_q changes, then most W_dev changes, then lowest (row, col)."""
    keys = np.stack([trace["row"], trace["col"]], axis=1)
    out = []
    for row, col in np.unique(keys, axis=0):
        sel = (trace["row"] == row) & (trace["col"] == col)
        order = np.argsort(trace["image"][sel], kind="stable")
        series = {k: np.asarray(trace[k])[sel][order] for k in ("image", "w_fp", "w_q", "w_dev")}
        out.append({"row": int(row), "col": int(col),
                    "q_changes": int(np.count_nonzero(np.diff(series["w_q"]))),
                    "dev_changes": int(np.count_nonzero(np.diff(series["w_dev"]))), **series})
    out.sort(key=lambda s: (-s["q_changes"], -s["dev_changes"], s["row"], s["col"]))
    return out


def most_active_synapse(trace: dict) -> tuple[dict, int]:
    """The traced synapse shown in Fig. 5 (first of :func:`trace_synapse_activity`) and how many
    synapses the trace holds."""
    activity = trace_synapse_activity(trace)
    return activity[0], len(activity)


def ku_levels(ku_values) -> list[tuple[float, float]]:
    """(Ku, quantized level) pairs: the highest Ku is level -1, the lowest +1 (Eq. 4 / DESIGN §5)."""
    kus = sorted((float(k) for k in ku_values), reverse=True)
    levels = np.linspace(-1.0, 1.0, len(kus))
    return list(zip(kus, levels.tolist()))
