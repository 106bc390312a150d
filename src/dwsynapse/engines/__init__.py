"""Micromagnetic engines: ``torchfd`` (embedded, batched) and ``mumax3`` (external binary).

Both take the same inputs (config, racetrack geometry, Ku, per-instance seeds) and return the
same per-instance results, so the rules and the device-statistics file do not care which ran.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class InstanceResult:
    """Outcome of one thermal instance (one seed) of the racetrack simulation."""

    seed: int
    ok: bool
    mz: float = float("nan")  # final <mz> over magnetic cells
    dw_x: float = float("nan")  # final DW position [m]
    error: str = ""  # why it failed (ok == False)
    m_final: np.ndarray | None = None  # (3, ny, nx) final magnetization
    t: np.ndarray | None = None  # (n_t,) trace times [s]
    mz_t: np.ndarray | None = None  # (n_t,) <mz> trace
    stop_time: float = float("nan")  # [s] from the start of the pulse to the end of the run (rest or cap, then the readout tail)


def instance_seed(thermal_seed: int, ku_index: int, instance_index: int) -> int:
    """Thermal seed of one instance: a function of the config seed, the Ku index and the
    instance index only, so results do not depend on how instances are chunked."""
    ss = np.random.SeedSequence([int(thermal_seed), int(ku_index), int(instance_index)])
    return int(ss.generate_state(1, dtype=np.uint32)[0])
