"""Magnetization maps of the device stage: the relaxed initial state (Fig. 1a) and the final
states of representative thermal instances (Fig. S2).

Initial-state file (HDF5, written atomically), one per run::

    / attrs: kind="dwsynapse-initial-state", engine, engine_version, device_config_sha256,
             cell_size [m], thickness [m], geometry (JSON), measured_rms [m]
    mask bool (ny, nx)                 magnetic cells of the rough, notched strip
    ku   float64 (n_ku,)  [J/m^3]      mz float64 (n_ku,)  dw_x float64 (n_ku,) [m]
    m    float32 (n_ku, 3, ny, nx)     relaxed magnetization per Ku (before the pulse)

The relaxed state is the configured engine's own: the device stage's instance sequence with the
drive switched off (no current, T = 0, no time after the zero-length pulse), so what the engine
returns is the state its instances start the pulse from (torch: the T = 0 relaxation of
``solver.initial_relax_time``; mumax3: ``Relax()``).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np

from dwsynapse.io import atomic_path

INITIAL_KIND = "dwsynapse-initial-state"


class DeviceMapsError(ValueError):
    """A magnetization-map input is missing or malformed; the message names the file."""


@dataclass
class Maps:
    """m_z maps of one set of instances on one strip. ``mz_maps`` (n, ny, nx), NaN outside ``mask``."""

    ku: np.ndarray  # (n,) J/m^3
    mz: np.ndarray  # (n,) <m_z>
    dw_x: np.ndarray  # (n,) m
    mz_maps: np.ndarray  # (n, ny, nx)
    mask: np.ndarray  # (ny, nx) bool
    cell_size: float  # m
    seed: np.ndarray | None = None  # (n,) thermal seeds (final states)
    engine: str = ""


def drive_off(config: dict) -> dict:
    """A copy of ``config`` whose device stage only relaxes the initial wall: no current, T = 0,
    zero-length pulse, no relaxation and no readout tail after it, no traces."""
    cfg = copy.deepcopy(config)
    cfg["device"]["drive"].update(current_density=0.0, pulse_duration=0.0, temperature=0.0)
    cfg["device"]["solver"].update(relax_max_time=0.0, readout_time=0.0, save_traces=False)
    return cfg


def relax_initial_states(config: dict, out_path: str | Path, workdir: str | Path) -> Path:
    """Run the configured engine once per Ku of ``config`` with :func:`drive_off` and write the
    relaxed initial states to ``out_path`` (format in the module docstring)."""
    from dwsynapse.device.chunks import device_config_sha256
    from dwsynapse.device.engine import _engine_version, check_engine, get_engine
    from dwsynapse.geometry import build_racetrack
    from dwsynapse.settings import device_settings

    dev = device_settings(config)
    engine = dev.engine
    check_engine(config)
    racetrack = build_racetrack(dev.geometry)
    cfg = drive_off(config)
    kus = list(dev.ku_values)
    results = []
    for k, ku in enumerate(kus):
        wd = Path(workdir) / f"ku_{k}"
        wd.mkdir(parents=True, exist_ok=True)
        (r,) = get_engine(engine)(cfg, racetrack, ku, [dev.thermal_seed], wd, progress=False)
        if not r.ok or r.m_final is None:
            raise DeviceMapsError(f"initial relaxation at Ku={ku:g} J/m^3 failed: {r.error}")
        results.append(r)
    write_initial_states(out_path, config, racetrack, kus, results, engine, _engine_version(engine, Path(workdir)),
                         device_config_sha256(config))
    return Path(out_path)


def write_initial_states(path: str | Path, config: dict, racetrack, kus: Sequence[float], results: Sequence,
                         engine: str, engine_version: str, device_sha: str) -> None:
    """Write one relaxed state per Ku (``results``: :class:`dwsynapse.engines.InstanceResult`, in the
    order of ``kus`` [J/m^3]) on ``racetrack`` to ``path`` (module docstring format, atomically)."""
    with atomic_path(path, suffix=".h5.tmp") as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs.update(kind=INITIAL_KIND, engine=engine, engine_version=engine_version,
                           device_config_sha256=device_sha, cell_size=racetrack.cell_size,
                           thickness=racetrack.thickness, geometry=json.dumps(config["device"]["geometry"]),
                           measured_rms=racetrack.measured_rms)
            f["mask"] = racetrack.mask
            f["ku"] = np.asarray(kus, float)
            f["mz"] = np.asarray([r.mz for r in results])
            f["dw_x"] = np.asarray([r.dw_x for r in results])
            f.create_dataset("m", data=np.stack([r.m_final for r in results]).astype(np.float32), compression="gzip")


def _masked_mz(m_z: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.where(mask[None], m_z, np.nan)


def read_initial_states(path: str | Path) -> Maps:
    """The relaxed initial states of :func:`relax_initial_states` (one map per Ku)."""
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except (OSError, FileNotFoundError) as exc:
        raise DeviceMapsError(f"{path}: not a readable initial-state file ({exc})") from None
    with f:
        if f.attrs.get("kind") != INITIAL_KIND:
            raise DeviceMapsError(f"{path}: not a dwsynapse initial-state file")
        mask = f["mask"][()].astype(bool)
        return Maps(ku=f["ku"][()], mz=f["mz"][()], dw_x=f["dw_x"][()],
                    mz_maps=_masked_mz(f["m"][:, 2].astype(float), mask), mask=mask,
                    cell_size=float(f.attrs["cell_size"]), engine=str(f.attrs["engine"]))


def read_final_states(chunk_paths: Sequence[str | Path]) -> Maps:
    """Final m_z maps of every successful instance in the device stage's chunk files (their
    ``m_final``, ``mz``, ``dw_x``), ordered by Ku and instance index."""
    parts = []
    mask = cell = engine = None
    for p in chunk_paths:
        try:
            with h5py.File(p, "r") as f:
                ok = f["ok"][()].astype(bool)
                parts.append((float(f.attrs["ku"]), f["index"][()][ok], f["seed"][()][ok], f["mz"][()][ok],
                              f["dw_x"][()][ok], f["m_final"][:, 2][ok].astype(float)))
                mask, cell, engine = f["mask"][()].astype(bool), float(f.attrs["cell_size"]), str(f.attrs["engine"])
        except (OSError, KeyError) as exc:
            raise DeviceMapsError(f"{p}: not a chunk file with final magnetization ({exc})") from None
    if not parts:
        raise DeviceMapsError("no chunk files given")
    parts.sort(key=lambda t: (t[0], t[1][0] if len(t[1]) else -1))
    cat = lambda j: np.concatenate([t[j] for t in parts])  # noqa: E731
    ku = np.concatenate([np.full(len(t[1]), t[0]) for t in parts])
    return Maps(ku=ku, mz=cat(3), dw_x=cat(4), mz_maps=_masked_mz(cat(5), mask), mask=mask, cell_size=cell,
                seed=cat(2), engine=engine)


def representative(mz: np.ndarray) -> list[tuple[str, int]]:
    """(role, index) of the instances with the lowest, the median and the highest <m_z> (the
    median of an even count is the lower middle one); fewer when there are fewer instances."""
    order = np.argsort(np.asarray(mz, float), kind="stable")
    if order.size == 0:
        return []
    picks = [("lowest <mz>", int(order[0])), ("median <mz>", int(order[(order.size - 1) // 2])),
             ("highest <mz>", int(order[-1]))]
    seen, out = set(), []
    for role, i in picks:
        if i not in seen:
            seen.add(i)
            out.append((role, i))
    return out


def near_notch_fraction(dw_x: np.ndarray, notch_x: np.ndarray, notch_width: float) -> float:
    """Fraction of walls whose position [m] lies within one notch width [m] of a notch centre [m]
    (NaN positions count as not near); NaN for no walls."""
    x = np.asarray(dw_x, float)
    if x.size == 0:
        return float("nan")
    d = np.min(np.abs(x[:, None] - np.asarray(notch_x, float)[None, :]), axis=1) if len(notch_x) else np.full(x.size, np.inf)
    return float(np.mean(np.where(np.isfinite(d), d, np.inf) <= notch_width))
