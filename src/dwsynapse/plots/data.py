"""Data prepared for the figures from validated results (:mod:`dwsynapse.results`): the traced
synapses of an in-situ run (Fig. 5)."""

from __future__ import annotations

import numpy as np


def trace_synapse_activity(trace: dict) -> list[dict]:
    """Per traced synapse of a :func:`dwsynapse.results.load_trace` dict: its (row, col), the number of level changes of
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
