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


def level_targets(stats) -> list[dict]:
    """Target weight per Ku of ``stats`` (:class:`dwsynapse.devicestats.DeviceStats`): its quantized
    level; for level -1 the mean <mz> of its Ku group, because the wall cannot move left of its
    starting notch (the paper uses -0.833 there)."""
    rows = []
    for ku, level in ku_levels(stats.ku_values):
        g = stats.by_ku(ku)
        target = float(np.mean(g.mz)) if level == -1.0 and g.n_ok else level
        rows.append({"ku": ku, "level": level, "target": target})
    return rows


def level_probability_table(stats, alphas) -> list[dict]:
    """Per Ku and alpha: probability that one programming pulse lands within ±alpha of the
    target (:func:`level_targets`), the expected pulses 1/p (read-verify-write), and the
    probability with the level value itself as target (differs only for level −1)."""
    rows = []
    for t in level_targets(stats):
        mz = stats.by_ku(t["ku"]).mz
        for alpha in sorted(float(a) for a in alphas):
            p = float(np.mean(np.abs(mz - t["target"]) <= alpha)) if mz.size else float("nan")
            rows.append({"ku": t["ku"], "level": t["level"], "target": t["target"], "alpha": alpha, "n": int(mz.size),
                         "mean_mz": float(np.mean(mz)) if mz.size else float("nan"),
                         "probability": p, "expected_pulses": (1.0 / p) if p > 0 else float("inf"),
                         # what read-verify-write towards the level value itself achieves (training's rule)
                         "probability_at_level": float(np.mean(np.abs(mz - t["level"]) <= alpha)) if mz.size
                         else float("nan")})
    return rows
