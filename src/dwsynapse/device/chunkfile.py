"""Chunk file format of the device stage: one HDF5 file per (Ku, chunk) job, written atomically.

Layout (``device/chunks/<group>/chunk_<i>.h5``)::

    / attrs: kind="dwsynapse-device-chunk", chunk_version, ku [J/m^3], ku_index, chunk_index,
             engine, engine_version, device_config_sha256, cell_size [m]
    index int64 (n,)  instance index within the Ku group     seed int64 (n,)
    ok    bool  (n,)  mz float64 (n,)  dw_x float64 (n,) [m]  error str (n,) ('' when ok)
    stop_time float64 (n,) [s] from the pulse start to the end of the run (rest or relaxation cap, plus solver.readout_time)
    single_wall bool (n,)  one wall, or the wall expelled at the far end (dwpos.single_wall)
    trace_t, trace_mz float64 (n, n_t)  NaN-padded traces [s], <mz> (only with traces)
    m_final float32 (n, 3, ny, nx)  final magnetization (NaN for failed instances)
    mask bool (ny, nx)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np

from dwsynapse.device.chunks import Chunk, DeviceStageError
from dwsynapse.dwpos import single_wall
from dwsynapse.engines import InstanceResult
from dwsynapse.geometry import Racetrack
from dwsynapse.io import atomic_path

CHUNK_KIND = "dwsynapse-device-chunk"
CHUNK_VERSION = 1


def write_chunk(path: str | Path, chunk: Chunk, results: Sequence[InstanceResult], racetrack: Racetrack,
                engine: str, engine_version: str, device_sha: str) -> None:
    """Write the results of one chunk to ``path`` (HDF5, atomically)."""
    if len(results) != len(chunk.indices):
        raise DeviceStageError(f"chunk {chunk.group}/{chunk.chunk_index}: {len(results)} results "
                               f"for {len(chunk.indices)} instances")
    n = len(results)
    shape = racetrack.mask.shape
    m_final = np.full((n, 3) + shape, np.nan, np.float32)
    n_t = max([len(r.t) for r in results if r.ok and r.t is not None] + [0])
    trace_t = np.full((n, n_t), np.nan)
    trace_mz = np.full((n, n_t), np.nan)
    for j, r in enumerate(results):
        if r.ok and r.m_final is not None:
            m_final[j] = r.m_final
        if r.ok and r.t is not None and r.mz_t is not None:
            trace_t[j, : len(r.t)] = r.t
            trace_mz[j, : len(r.mz_t)] = r.mz_t
    with atomic_path(path, suffix=".h5.tmp") as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs.update(kind=CHUNK_KIND, chunk_version=CHUNK_VERSION, ku=chunk.ku, ku_index=chunk.ku_index,
                           chunk_index=chunk.chunk_index, engine=engine, engine_version=engine_version,
                           device_config_sha256=device_sha, cell_size=racetrack.cell_size)
            f["index"] = np.asarray(chunk.indices, np.int64)
            f["seed"] = np.asarray([r.seed for r in results], np.int64)
            f["ok"] = np.asarray([r.ok for r in results], bool)
            f["mz"] = np.asarray([r.mz if r.ok else np.nan for r in results], np.float64)
            f["dw_x"] = np.asarray([r.dw_x if r.ok else np.nan for r in results], np.float64)
            f["stop_time"] = np.asarray([r.stop_time if r.ok else np.nan for r in results], np.float64)
            f["single_wall"] = single_wall(np.nan_to_num(m_final[:, 2]), racetrack.mask) & np.asarray(
                [r.ok for r in results], bool)
            f.create_dataset("error", data=np.array([r.error if not r.ok else "" for r in results],
                                                    dtype=h5py.string_dtype()))
            if n_t:
                f["trace_t"] = trace_t
                f["trace_mz"] = trace_mz
            f.create_dataset("m_final", data=m_final, compression="gzip")
            f["mask"] = racetrack.mask


@dataclass
class ChunkData:
    """Contents of one chunk file (see the module docstring)."""

    path: Path
    ku: float
    ku_index: int
    chunk_index: int
    engine: str
    engine_version: str
    device_sha: str
    index: np.ndarray
    seed: np.ndarray
    ok: np.ndarray
    mz: np.ndarray
    dw_x: np.ndarray
    error: list[str]
    trace_t: np.ndarray | None
    trace_mz: np.ndarray | None
    stop_time: np.ndarray | None = None
    single_wall: np.ndarray | None = None


def read_chunk(path: str | Path) -> ChunkData:
    """Read and check a chunk file; raises :class:`DeviceStageError` naming the file."""
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DeviceStageError(f"{path}: not a readable chunk file ({exc})") from exc
    with f:
        if f.attrs.get("kind") != CHUNK_KIND or int(f.attrs.get("chunk_version", -1)) != CHUNK_VERSION:
            raise DeviceStageError(f"{path}: not a dwsynapse device chunk (version {CHUNK_VERSION})")
        try:
            data = ChunkData(
                path=path, ku=float(f.attrs["ku"]), ku_index=int(f.attrs["ku_index"]),
                chunk_index=int(f.attrs["chunk_index"]), engine=str(f.attrs["engine"]),
                engine_version=str(f.attrs["engine_version"]), device_sha=str(f.attrs["device_config_sha256"]),
                index=f["index"][()], seed=f["seed"][()], ok=f["ok"][()].astype(bool), mz=f["mz"][()],
                dw_x=f["dw_x"][()],
                error=[e.decode() if isinstance(e, bytes) else str(e) for e in f["error"][()]],
                trace_t=f["trace_t"][()] if "trace_t" in f else None,
                trace_mz=f["trace_mz"][()] if "trace_mz" in f else None,
                stop_time=f["stop_time"][()] if "stop_time" in f else None,
                single_wall=f["single_wall"][()].astype(bool) if "single_wall" in f else None,
            )
        except KeyError as exc:
            raise DeviceStageError(f"{path}: chunk file lacks {exc}") from None
    n = data.index.shape[0]
    if any(np.shape(a)[0] != n for a in (data.seed, data.ok, data.mz, data.dw_x, data.error)):
        raise DeviceStageError(f"{path}: chunk datasets differ in length")
    if np.any(data.ok & ~np.isfinite(data.mz)):
        raise DeviceStageError(f"{path}: an instance marked ok has a non-finite <mz>")
    return data
