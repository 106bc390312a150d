"""Weight quantizer of the paper (Eq. 6) with a straight-through estimator.

    clip(m, a, b) = min(max(m, a), b),   Delta = (b - a) / (n - 1),
    q = round((clip(m, a, b) - a) / Delta) * Delta + a,   [a, b] = [-1, 1].

Rounding is half away from zero on the level index (``floor(x + 0.5)``), so a weight exactly
between two levels goes to the upper level; NumPy's banker's rounding is not used.
The straight-through estimator treats dq/dm as 1: gradients computed with the quantized (or
device) weights are applied unchanged to the high-precision weights (see :mod:`kernels`).
"""

from __future__ import annotations

import numpy as np

LOW, HIGH = -1.0, 1.0
SUPPORTED_STATES = (2, 3, 5)


def check_states(n_levels: int) -> int:
    """Return ``n_levels`` if it is a supported number of device states, else raise ValueError."""
    if int(n_levels) not in SUPPORTED_STATES:
        raise ValueError(f"number of device states must be one of {SUPPORTED_STATES}, got {n_levels!r}")
    return int(n_levels)


def levels(n_levels: int) -> np.ndarray:
    """The ``n_levels`` quantized weight values, ascending, in [-1, 1] (dimensionless)."""
    if int(n_levels) < 2:
        raise ValueError(f"a quantizer needs at least 2 levels, got {n_levels!r}")
    return np.linspace(LOW, HIGH, int(n_levels))


def level_index(w: np.ndarray, n_levels: int) -> np.ndarray:
    """Index (0 .. n_levels-1) of the level Eq. 6 assigns to each weight in ``w``."""
    if int(n_levels) < 2:
        raise ValueError(f"a quantizer needs at least 2 levels, got {n_levels!r}")
    w = np.asarray(w, dtype=np.float64)
    if not np.all(np.isfinite(w)):
        raise ValueError("cannot quantize non-finite weights")
    step = (HIGH - LOW) / (n_levels - 1)
    return np.floor((np.clip(w, LOW, HIGH) - LOW) / step + 0.5).astype(np.int64)


def quantize(w: np.ndarray, n_levels: int) -> np.ndarray:
    """Eq. 6: clip ``w`` to [-1, 1] and round it to the nearest of ``n_levels`` equally spaced levels."""
    step = (HIGH - LOW) / (n_levels - 1)
    return level_index(w, n_levels) * step + LOW
