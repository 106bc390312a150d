"""Chunk plan of the device stage: which thermal instances each (Ku, chunk) job runs, and their seeds.

For Ku number ``k`` (position in ``device.ku_values``) the ``instances_per_ku`` instances are cut
into chunks of ``chunk_size``; instance ``i`` always has the thermal seed
``instance_seed(thermal_seed, k, i)``, however it is chunked, so the merged statistics do not depend
on the chunk layout. Also the hash of the device configuration that chunk files and the merge check
(:func:`device_config_sha256`) and the device stage's error type.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from dwsynapse.config import config_sha256
from dwsynapse.devicestats import ku_group_name
from dwsynapse.engines import instance_seed
from dwsynapse.layout import CHUNK_FILE
from dwsynapse.settings import device_settings


class DeviceStageError(RuntimeError):
    """The device stage cannot produce a trustworthy device-statistics file; the message says why."""


@dataclass(frozen=True)
class Chunk:
    """One job of the device stage: instances ``indices`` of Ku number ``ku_index``."""

    ku_index: int
    ku: float
    chunk_index: int
    indices: tuple[int, ...]

    @property
    def group(self) -> str:
        return ku_group_name(self.ku)


def plan_chunks(config: dict) -> list[Chunk]:
    """All (Ku, chunk) jobs of the device stage, in Ku order then chunk order."""
    dev = device_settings(config)
    n, size = dev.instances_per_ku, dev.chunk_size
    if n < 1 or size < 1:
        raise DeviceStageError(f"device.instances_per_ku ({n}) and device.chunk_size ({size}) must be >= 1")
    out = []
    for k, ku in enumerate(dev.ku_values):
        for c in range(math.ceil(n / size)):
            out.append(Chunk(k, ku, c, tuple(range(c * size, min(n, (c + 1) * size)))))
    return out


def find_chunk(config: dict, group: str, chunk_index: int) -> Chunk:
    """The planned chunk called ``group``/``chunk_index`` (as in the chunk file path)."""
    for ch in plan_chunks(config):
        if ch.group == group and ch.chunk_index == int(chunk_index):
            return ch
    raise DeviceStageError(f"no chunk {group}/chunk_{chunk_index} in the plan of this config")


def chunk_files(config: dict, chunk_dir: str | Path) -> list[str]:
    """Paths ``chunk_dir/<group>/chunk_<i>.h5`` of every planned chunk (what the merge reads)."""
    return [str(Path(chunk_dir) / ch.group / CHUNK_FILE.format(chunk=ch.chunk_index)) for ch in plan_chunks(config)]


def chunk_seeds(config: dict, chunk: Chunk) -> list[int]:
    """Thermal seeds of the chunk's instances (independent of the chunking)."""
    ts = device_settings(config).thermal_seed
    return [instance_seed(ts, chunk.ku_index, i) for i in chunk.indices]


def device_config_sha256(config: dict) -> str:
    """Hash of the device section that determines the physics (not where its outputs go, nor how
    failed jobs are handled)."""
    dev = {k: v for k, v in config["device"].items() if k not in ("stats_file", "min_success_fraction",
                                                             "chunk_retries", "chunk_timeout_s")}
    # the values that give the engine as it was before their key existed are left out, so that the chunks
    # of earlier runs keep their hash (and are not recomputed): demag_refresh_steps 1 (the full demag in
    # every stage) and integrator heun
    if dev["torch"]["demag_refresh_steps"] == 1:
        dev["torch"] = {k: v for k, v in dev["torch"].items() if k != "demag_refresh_steps"}
    if dev["solver"]["integrator"] == "heun":
        dev["solver"] = {k: v for k, v in dev["solver"].items() if k != "integrator"}
    return config_sha256(dev)
