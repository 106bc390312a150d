"""Quantized device levels <-> programming anisotropies Ku, and the level statistics of a device file.

An n-state device has the levels -1 ... 1 (n evenly spaced values, Eq. 6) and programs level q with
one SOT pulse at one Ku (one control voltage). The Ku values run evenly from the highest of the
simulated ones (level -1: the wall stays in its start notch) to the lowest (+1: the wall moves
furthest). With ``device.ku_values`` = 7.0, 7.25, 7.5, 7.75, 8.0 (x 1e5 J/m^3), the paper's mapping::

    5 states: -1, -0.5, 0, 0.5, 1  <->  Ku = 8.0, 7.75, 7.5, 7.25, 7.0
    3 states: -1, 0, 1             <->  Ku = 8.0, 7.5, 7.0
    2 states: -1, 1                <->  Ku = 8.0, 7.0

:func:`level_probability_table` is the Fig. 7 table (one pulse within +-alpha of the target), which
the energy model's ex-situ worst case and the paper-vs-reproduction table read too.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np

from dwsynapse.paper import PAPER_TARGETS

PAPER_KU_VALUES = tuple(PAPER_TARGETS)  # Ku [J/m^3] of the paper's five levels, level -1 first


def ku_for_states(states: int, ku_values: Iterable[float] = PAPER_KU_VALUES) -> tuple[float, ...]:
    """Ku [J/m^3] programmed for each level of a ``states``-state device, ascending level order
    (-1 ... 1): evenly spaced from the highest of ``ku_values`` [J/m^3] to the lowest. Each must be
    one of the simulated Ku values (:func:`dwsynapse.setupcheck.check_workflow_config` checks it)."""
    kus = [float(k) for k in ku_values]
    return tuple(float(k) for k in np.linspace(max(kus), min(kus), int(states)))


def ku_levels(ku_values: Iterable[float]) -> list[tuple[float, float]]:
    """(Ku, quantized level) pairs of every simulated Ku [J/m^3]: the highest Ku is level -1, the
    lowest +1, evenly spaced levels in between (Eq. 4 with Wmax = 1)."""
    kus = sorted((float(k) for k in ku_values), reverse=True)
    levels = np.linspace(-1.0, 1.0, len(kus))
    return list(zip(kus, levels.tolist()))


def programming_target(level: float, mz) -> float:
    """The weight a programming pulse to ``level`` must land near (within +-alpha) to be accepted.

    Every level aims at its own value, except level -1: its Ku leaves the wall resting in the start
    notch, left of which it cannot move, so -1 itself is out of reach and the target is the mean <mz>
    of that Ku's samples ``mz`` (dimensionless; the paper's device has -0.833 there, Fig. 7). One
    definition for in-situ training (Algorithm 1's |W_dev - target| > alpha), ex-situ read-verify-write
    and the Fig. 7 table."""
    x = np.asarray(mz, np.float64)
    return float(np.mean(x)) if float(level) == -1.0 and x.size else float(level)


def level_targets(stats) -> list[dict]:
    """(Ku [J/m^3], level, :func:`programming_target`) of every Ku of ``stats``
    (:class:`dwsynapse.devicestats.DeviceStats`)."""
    return [{"ku": ku, "level": level, "target": programming_target(level, stats.by_ku(ku).mz)}
            for ku, level in ku_levels(stats.ku_values)]


def level_probability_table(stats, alphas) -> list[dict]:
    """Per Ku and alpha: probability that one programming pulse lands within ±alpha of the
    target (:func:`programming_target`) and the expected pulses 1/p (read-verify-write)."""
    rows = []
    for t in level_targets(stats):
        mz = stats.by_ku(t["ku"]).mz
        for alpha in sorted(float(a) for a in alphas):
            p = float(np.mean(np.abs(mz - t["target"]) <= alpha)) if mz.size else float("nan")
            rows.append({"ku": t["ku"], "level": t["level"], "target": t["target"], "alpha": alpha, "n": int(mz.size),
                         "mean_mz": float(np.mean(mz)) if mz.size else float("nan"),
                         "probability": p, "expected_pulses": (1.0 / p) if p > 0 else float("inf")})
    return rows
