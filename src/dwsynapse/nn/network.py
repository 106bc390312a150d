"""Fully connected sigmoid network without biases, stored as one flat weight buffer.

Layer k maps ``sizes[k]`` neurons to ``sizes[k+1]``; its weights are the row-major block
``W[off[k] : off[k] + sizes[k] * sizes[k+1]]`` (see :mod:`dwsynapse.nn.kernels`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dwsynapse.io import atomic_path

N_INPUT, N_CLASSES = 784, 10
INIT_CHOICES = ("normal_fan_in", "normal_fixed")


@dataclass(frozen=True)
class Layout:
    """Layer sizes and the flat-buffer offsets of each weight matrix."""

    sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.sizes) < 2 or any(int(s) < 1 for s in self.sizes):
            raise ValueError(f"layer sizes must be >= 2 positive integers, got {self.sizes!r}")

    @classmethod
    def from_hidden(cls, hidden, n_input: int = N_INPUT, n_classes: int = N_CLASSES) -> "Layout":
        return cls((int(n_input), *(int(h) for h in hidden), int(n_classes)))

    @property
    def n_in(self) -> np.ndarray:
        return np.asarray(self.sizes[:-1], np.int64)

    @property
    def n_out(self) -> np.ndarray:
        return np.asarray(self.sizes[1:], np.int64)

    @property
    def off(self) -> np.ndarray:
        return np.concatenate([[0], np.cumsum(self.n_in * self.n_out)]).astype(np.int64)

    @property
    def n_weights(self) -> int:
        return int(self.off[-1])

    @property
    def n_layers(self) -> int:
        return len(self.sizes) - 1

    def layer(self, W: np.ndarray, k: int) -> np.ndarray:
        """View of layer ``k``'s weights in ``W`` as an (n_in, n_out) matrix."""
        return W[self.off[k] : self.off[k + 1]].reshape(self.sizes[k], self.sizes[k + 1])

    def flat_index(self, layer: int, row: int, col: int) -> int:
        """Position of synapse (row -> col) of weight layer ``layer`` in the flat buffer."""
        if not 0 <= layer < self.n_layers:
            raise ValueError(f"trace layer {layer} out of range: the network has weight layers 0..{self.n_layers - 1}")
        if not (0 <= row < self.sizes[layer] and 0 <= col < self.sizes[layer + 1]):
            raise ValueError(f"synapse ({row}, {col}) outside layer {layer} of shape ({self.sizes[layer]}, {self.sizes[layer + 1]})")
        return int(self.off[layer] + row * self.sizes[layer + 1] + col)


def init_keys(*, float_network: bool) -> tuple[str, str]:
    """The ``train`` config keys (scheme, sigma) of the initial weights: ``float_init`` / ``float_init_std``
    for the float network (the baseline, which ex-situ (a) programs, and the selection grid), ``init`` /
    ``init_std`` for a network trained through quantized or device weights (in-situ, ex-situ (b), (c))."""
    return ("float_init", "float_init_std") if float_network else ("init", "init_std")


def init_weights(layout: Layout, init: str, rng: np.random.Generator, init_std: float | None = None) -> np.ndarray:
    """Gaussian initial high-precision weights.

    ``normal_fan_in``: N(0, sigma = 1/sqrt(fan_in)) per layer (the default of TrainSettings; docs/design.md "Learning rules").
    ``normal_fixed``: N(0, sigma = ``init_std``) for every layer.
    """
    if init not in INIT_CHOICES:
        raise ValueError(f"train.init must be one of {INIT_CHOICES}, got {init!r}")
    if init == "normal_fixed" and (init_std is None or not init_std > 0):
        raise ValueError("train.init 'normal_fixed' needs a positive train.init_std")
    parts = []
    for k in range(layout.n_layers):
        sd = 1.0 / np.sqrt(layout.sizes[k]) if init == "normal_fan_in" else float(init_std)
        parts.append(rng.normal(0.0, sd, size=layout.sizes[k] * layout.sizes[k + 1]))
    return np.concatenate(parts)


def save_weights(path: str | Path, layout: Layout, **arrays: np.ndarray) -> None:
    """Write flat weight buffers (e.g. ``w_fp=...``, ``w_dev=...``) and the layer sizes atomically (npz)."""
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, sizes=np.asarray(layout.sizes, np.int64), **arrays)


def load_weights(path: str | Path) -> tuple[Layout, dict[str, np.ndarray]]:
    """Read a file written by :func:`save_weights`; return the layout and the named arrays."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: weights file not found")
    with np.load(path) as z:
        if "sizes" not in z:
            raise ValueError(f"{path}: not a dwsynapse weights file (no 'sizes')")
        layout = Layout(tuple(int(s) for s in z["sizes"]))
        arrays = {k: z[k] for k in z.files if k != "sizes"}
    for k, a in arrays.items():
        if a.shape != (layout.n_weights,):
            raise ValueError(f"{path}: array {k!r} has shape {a.shape}, layout needs ({layout.n_weights},)")
    return layout, arrays
