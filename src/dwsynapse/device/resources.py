"""What a device-stage chunk job asks for: a GPU or not, its retries, its child's timeout, its wall time.

The Snakemake rule ``device_chunk`` (``workflow/rules/device.smk``) declares these, and the chunk
guard (:mod:`dwsynapse.device.guard`) applies the same numbers to the job's child process.

Retries (docs/design.md "Retries"): ``device.chunk_retries`` is the one number of tries of a chunk
job. The rule sets Snakemake's ``retries`` of ``device_chunk`` to it (overriding a profile's
``retries``, which covers the other rules), so every try is a fresh job whose wall-time request
grows with the try, and the guard knows from the try number when the last one has come.
"""

from __future__ import annotations

import math

from dwsynapse.device.chunks import DeviceStageError
from dwsynapse.procguard import check_count
from dwsynapse.settings import device_settings

CHUNK_MARGIN_MIN = 5  # minutes of a chunk job's wall-time request beyond its child's timeout


def chunk_uses_gpu(config: dict) -> bool:
    """Whether a chunk job needs a GPU: engine mumax3, or torch with device.torch.device: cuda."""
    dev = device_settings(config)
    return dev.engine == "mumax3" or dev.torch.device == "cuda"


def chunk_retries(config: dict) -> int:
    """How often a failed chunk job is tried again (``device.chunk_retries``, default 2)."""
    return check_count(device_settings(config).chunk_retries, "device.chunk_retries", error=DeviceStageError)


def _estimated_chunk_seconds(config: dict) -> float:
    """Generous wall-time estimate of one chunk [s].

    mumax3: the per-instance timeout for every try of every wave of ``device.mumax3.processes``
    processes (the first instance runs alone while it warms the kernel cache). torch: instance-steps x
    ~1.3 ms per step at 2250 cells on one CPU core (docs/design.md "Cost of a step"), scaled by the cell count,
    times 10 for shared or slower machines, plus 10 min."""
    dev = device_settings(config)
    n = dev.chunk_size
    if dev.engine == "mumax3":
        m = dev.mumax3
        waves = 1 + math.ceil((n - 1) / m.processes)  # one process per instance, the first may run alone
        return 60.0 * (int(waves * m.timeout_s * (m.retries + 1) / 60) + 5)
    g, s, d = dev.geometry, dev.solver, dev.drive
    cells = (g["length"] / g["cell_size"]) * (g["width"] / g["cell_size"] + 2)
    steps = (d.pulse_duration + s.relax_max_time) / s.dt + s.readout_time / s.readout_step
    return 60.0 * (int(10 * n * steps * 1.3e-3 * cells / 2250 / 60) + 10)


def chunk_timeout_s(config: dict, attempt: int = 1) -> float:
    """Wall-clock limit [s] of the simulating child process of a chunk job on try ``attempt``
    (1-based): ``attempt`` times ``device.chunk_timeout_s``, or times the runtime estimate of one
    chunk when that is null, so a chunk that was merely slow gets more time on its next try."""
    check_count(attempt, "attempt", 1, error=DeviceStageError)
    base = device_settings(config).chunk_timeout_s
    if base is None:
        base = _estimated_chunk_seconds(config)
    elif isinstance(base, bool) or not isinstance(base, (int, float)) or not base > 0:
        raise DeviceStageError(f"device.chunk_timeout_s must be a number > 0 (seconds) or null, got {base!r}")
    return attempt * float(base)


def chunk_runtime_minutes(config: dict, attempt: int = 1) -> int:
    """Wall-time request of one chunk job on try ``attempt`` [min] (SLURM -t): the child's timeout
    (:func:`chunk_timeout_s`) plus ``CHUNK_MARGIN_MIN`` for starting Python and recording a failure,
    so the job itself is never cut off before it can record why its child failed."""
    return math.ceil(chunk_timeout_s(config, attempt) / 60) + CHUNK_MARGIN_MIN
