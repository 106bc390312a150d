"""Network selection (supplementary Fig. S1): float test accuracy over the hidden-layer count, the
layer-size ratio and the learning rate, which the paper uses to justify 784-392-196-98-10 with eta0 = 0.007.

A grid point (L, r, eta0) is the float baseline network with L hidden layers of sizes
round(784 r^k), k = 1..L (r = 1/2, L = 3: 392-196-98), trained with initial learning rate eta0 for
``selection.epochs`` epochs; every other setting is ``config['train']``'s. Each point is its own run
folder ``<results_dir>/train/selection/<L>layers_ratio<r>_eta<eta0>/`` (cached per point by Snakemake),
with the baseline's outputs (metrics.json, ...). The grid is ``selection.full`` or, with
``selection.grid: reduced``, ``selection.reduced``.
"""

from __future__ import annotations

import copy
from pathlib import Path

from dwsynapse.layout import SELECTION_RUN, results_path
from dwsynapse.nn.network import N_CLASSES, N_INPUT
from dwsynapse.results import ResultsError, load_metrics


def hidden_sizes(layers: int, ratio: float) -> list[int]:
    """Hidden-layer sizes round(784 ratio^k) for k = 1..layers (at least one neuron each)."""
    return [max(1, round(N_INPUT * float(ratio) ** k)) for k in range(1, int(layers) + 1)]


def point_name(layers: int, ratio: float, eta0: float) -> str:
    """Run-folder name of a grid point, e.g. (3, 0.5, 0.007) -> ``3layers_ratio0.50_eta0.007``."""
    return SELECTION_RUN.format(layers=int(layers), ratio=f"{float(ratio):.2f}", eta=f"{float(eta0):g}")


def grid(config: dict) -> list[tuple[int, float, float]]:
    """(layers, ratio, eta0) of every point of the configured grid (``selection.grid``)."""
    sel = config["selection"]
    g = sel[sel["grid"]]
    return [(int(n), float(r), float(e)) for n in g["hidden_layers"] for r in g["size_ratios"] for e in g["eta0s"]]


def point_dirs(config: dict) -> dict[tuple[int, float, float], Path]:
    """Grid point -> its run folder."""
    root = results_path(config, "train", "selection")
    return {p: root / point_name(*p) for p in grid(config)}


def point_config(config: dict, layers: int, ratio: float, eta0: float) -> dict:
    """``config`` with train.hidden / eta0 / epochs of the grid point."""
    cfg = copy.deepcopy(config)
    cfg["train"].update(hidden=hidden_sizes(layers, ratio), eta0=float(eta0), epochs=int(config["selection"]["epochs"]))
    return cfg


def chosen_point(config: dict) -> dict | None:
    """The configured network (train.hidden, train.eta0) as a grid point (layers, ratio, eta0, sizes),
    or None when its hidden sizes are not round(784 r^k) for the ratio r of its first layer."""
    hidden = [int(h) for h in config["train"]["hidden"]]
    ratio = round(hidden[0] / N_INPUT, 4)
    if hidden_sizes(len(hidden), ratio) != hidden:
        return None
    return {"layers": len(hidden), "ratio": ratio, "eta0": float(config["train"]["eta0"]),
            "sizes": "-".join(str(n) for n in (N_INPUT, *hidden, N_CLASSES))}


def load_points(config: dict) -> list[dict]:
    """Final test accuracy of every grid point (its metrics.json), as dicts layers, ratio, eta0,
    test_acc, train_acc, epochs, sizes."""
    out = []
    for (n, r, e), d in point_dirs(config).items():
        m = load_metrics(d / "metrics.json")
        if len(m["epochs"]) != int(config["selection"]["epochs"]):
            raise ResultsError(f"{d / 'metrics.json'}: {len(m['epochs'])} epochs, selection.epochs is "
                               f"{config['selection']['epochs']}")
        out.append({"layers": n, "ratio": r, "eta0": e, "test_acc": float(m["final_test_acc"]),
                    "train_acc": float(m["final_train_acc"]), "epochs": len(m["epochs"]),
                    "sizes": "-".join(str(k) for k in (N_INPUT, *hidden_sizes(n, r), N_CLASSES))})
    return out
