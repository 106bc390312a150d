"""Engine dispatch of the device stage: the configured engine (torch | mumax3), its check and its
version string, and one planned chunk through it into its chunk file (:func:`run_chunk`, what the
guarded child process of a chunk job runs). Also :func:`render_all`, the mumax3 inputs of every
planned instance. The engines are imported when called, so importing this module loads neither
torch nor the mumax3 runner.
"""

from __future__ import annotations

import logging
from pathlib import Path

from dwsynapse import __version__
from dwsynapse.device.chunkfile import write_chunk
from dwsynapse.device.chunks import DeviceStageError, chunk_seeds, device_config_sha256, find_chunk, plan_chunks
from dwsynapse.geometry import build_racetrack
from dwsynapse.settings import device_settings

log = logging.getLogger("dwsynapse.device.engine")


def get_engine(name: str):
    """``run_instances`` of the engine called ``name`` (torch | mumax3)."""
    if name == "torch":
        from dwsynapse.engines.torchfd import run_instances
    elif name == "mumax3":
        from dwsynapse.engines.mumax3 import run_instances
    else:
        raise DeviceStageError(f"unknown device.engine {name!r}; use torch or mumax3")
    return run_instances


def check_engine(config: dict) -> dict:
    """Fail early and clearly when the configured engine cannot run here; describe it otherwise."""
    name = device_settings(config).engine
    if name == "mumax3":
        from dwsynapse.engines.mumax3 import find_binary
        from dwsynapse.mx3 import RenderError, check_renderable

        try:
            check_renderable(config)
        except RenderError as exc:
            raise DeviceStageError(f"engine mumax3: {exc}") from None
        return {"engine": name, "binary": str(find_binary(config))}
    get_engine(name)
    import torch

    return {"engine": name, "torch": torch.__version__, "cuda": bool(torch.cuda.is_available())}


def _engine_version(name: str, workdir: Path) -> str:
    """Version string of engine ``name`` for the chunk files (mumax3: from its logs under ``workdir``)."""
    if name == "mumax3":
        from dwsynapse.engines.mumax3 import engine_version

        return engine_version(workdir)
    import torch

    return f"dwsynapse {__version__} torchfd, torch {torch.__version__}"


def run_chunk(config: dict, group: str, chunk_index: int, out_path: str | Path, workdir: str | Path,
              progress: bool = True) -> Path:
    """Simulate one planned chunk with the configured engine and write its chunk file."""
    chunk = find_chunk(config, group, chunk_index)
    dev = device_settings(config)
    engine = dev.engine
    check_engine(config)
    racetrack = build_racetrack(dev.geometry)
    seeds = chunk_seeds(config, chunk)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    log.info("chunk %s/%d: %d instance(s) at Ku=%g J/m^3 with engine %s (grid %d x %d, %d magnetic cells)",
             group, chunk.chunk_index, len(seeds), chunk.ku, engine, racetrack.nx, racetrack.ny, racetrack.n_magnetic)
    results = get_engine(engine)(config, racetrack, chunk.ku, seeds, workdir, progress=progress)
    for r in results:
        if r.ok:
            log.info("  seed %d: <mz> = %.4f, DW at %.2f nm", r.seed, r.mz, r.dw_x * 1e9)
        else:
            log.warning("  seed %d FAILED: %s", r.seed, r.error)
    write_chunk(out_path, chunk, results, racetrack, engine, _engine_version(engine, workdir),
                device_config_sha256(config))
    return Path(out_path)


def render_all(config: dict, outdir: str | Path) -> list[Path]:
    """Render the mumax3 inputs of every planned instance into ``outdir/<group>/instance_<i>/`` (for
    inspection or to run by hand); return the script paths. A config mumax3 cannot run raises
    :class:`dwsynapse.mx3.RenderError` before anything is written."""
    from dwsynapse.mx3 import check_renderable, write_inputs

    racetrack = build_racetrack(device_settings(config).geometry)
    check_renderable(config, racetrack)
    paths = []
    for ch in plan_chunks(config):
        for i, seed in zip(ch.indices, chunk_seeds(config, ch)):
            paths.append(write_inputs(Path(outdir) / ch.group / f"instance_{i:05d}", config, racetrack, ch.ku, seed))
    return paths
