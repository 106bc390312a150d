"""Device-statistics file (``device_stats.h5``): schema, atomic write, validated read.

Layout (docs/design.md "Device statistics file")::

    / attrs: schema_version, engine, engine_version, created_utc, config_sha256,
             material (JSON), geometry (JSON)
    /ku/<name>/ attrs: ku (J/m^3), n_requested, n_ok, n_failed
        mz     float64 (n_ok,)   final <mz> per instance (= device weight)
        dw_x   float64 (n_ok,)   final DW position [m]
        seed   int64   (n_ok,)   thermal seed
        t, mz_t                  optional traces: t (n_t,) [s], mz_t (n_ok, n_t)
        single_wall bool (n_ok,) optional: one wall, or the wall expelled at the far end; False marks
                                 extra domains (their dw_x is not a wall position)
        hit_cap     bool (n_ok,) optional: the relaxation reached its cap before the wall came to rest
    /failed/<name>/ seed int64 (n_failed,), error str (n_failed,)
    /geometry/notch_x float64 (n_notch,)  optional: notch centres [m] of the racetrack the instances
                                 ran on (files without it: :func:`dwsynapse.geometry.notch_centres`
                                 of the geometry attribute gives them)

Everything downstream (training, figures) reads this file only, so it may also come from
elsewhere as long as it follows the schema.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import h5py
import numpy as np

from dwsynapse.io import atomic_path
from dwsynapse.layout import device_stats_path as default_stats_path  # noqa: F401 (bench/calibrate_device.py)

SCHEMA_VERSION = 1
MZ_TOLERANCE = 1e-6  # |<mz>| may exceed 1 by float32 rounding of a saturated strip, no more
KU_RTOL = 1e-6  # relative tolerance at which two anisotropy values [J/m^3] are the same Ku


class DeviceStatsError(ValueError):
    """A device-statistics file is missing, corrupt or does not follow the schema."""


def ku_group_name(ku: float) -> str:
    """Group name for an anisotropy value, e.g. 7.25e5 J/m^3 -> ``'ku_7.250e+05'``."""
    return f"ku_{ku:.3e}"


@dataclass
class KuStats:
    """Final-state statistics of all thermal instances at one anisotropy ``ku`` [J/m^3]."""

    ku: float
    mz: np.ndarray  # (n_ok,) final <mz>
    dw_x: np.ndarray  # (n_ok,) final DW position [m]
    seed: np.ndarray  # (n_ok,) thermal seeds
    n_requested: int
    failed_seed: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    failed_error: list[str] = field(default_factory=list)
    t: np.ndarray | None = None  # (n_t,) [s]
    mz_t: np.ndarray | None = None  # (n_ok, n_t)
    single_wall: np.ndarray | None = None  # (n_ok,) bool: one wall (or expelled at the far end)
    hit_cap: np.ndarray | None = None  # (n_ok,) bool: relaxation reached its cap

    @property
    def name(self) -> str:
        return ku_group_name(self.ku)

    @property
    def n_ok(self) -> int:
        return int(self.mz.shape[0])

    @property
    def n_failed(self) -> int:
        return int(self.failed_seed.shape[0])


@dataclass
class DeviceStats:
    """All anisotropy groups of one device-statistics file plus its provenance attributes."""

    groups: list[KuStats]
    engine: str
    engine_version: str = ""
    config_sha256: str = ""
    material: dict = field(default_factory=dict)
    geometry: dict = field(default_factory=dict)
    created_utc: str = ""
    notch_x: np.ndarray | None = None  # (n_notch,) notch centres [m] of the simulated racetrack, if recorded

    def __post_init__(self) -> None:
        self.groups = sorted(self.groups, key=lambda g: g.ku)

    @property
    def ku_values(self) -> list[float]:
        return [g.ku for g in self.groups]

    def by_ku(self, ku: float, rtol: float = KU_RTOL) -> KuStats:
        """The group whose anisotropy equals ``ku`` [J/m^3] (relative tolerance ``rtol``)."""
        for g in self.groups:
            if abs(g.ku - ku) <= rtol * abs(ku):
                return g
        raise DeviceStatsError(f"no group for Ku={ku:g} J/m^3; the file has {self.ku_values}")


def write_device_stats(path: str | Path, stats: DeviceStats) -> None:
    """Write ``stats`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    with atomic_path(path, suffix=".h5.tmp") as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs["schema_version"] = SCHEMA_VERSION
            f.attrs["engine"] = stats.engine
            f.attrs["engine_version"] = stats.engine_version
            f.attrs["created_utc"] = stats.created_utc or datetime.now(timezone.utc).isoformat()
            f.attrs["config_sha256"] = stats.config_sha256
            f.attrs["material"] = json.dumps(stats.material, sort_keys=True)
            f.attrs["geometry"] = json.dumps(stats.geometry, sort_keys=True)
            ku_root = f.create_group("ku")
            failed_root = f.create_group("failed")
            if stats.notch_x is not None:
                f.create_group("geometry").create_dataset("notch_x", data=_notch_array(stats.notch_x, str(path)))
            for g in stats.groups:
                _check_group_shapes(g, where=str(path))
                grp = ku_root.create_group(g.name)
                grp.attrs["ku"] = float(g.ku)
                grp.attrs["n_requested"] = int(g.n_requested)
                grp.attrs["n_ok"] = g.n_ok
                grp.attrs["n_failed"] = g.n_failed
                grp.create_dataset("mz", data=np.asarray(g.mz, np.float64))
                grp.create_dataset("dw_x", data=np.asarray(g.dw_x, np.float64))
                grp.create_dataset("seed", data=np.asarray(g.seed, np.int64))
                if g.t is not None and g.mz_t is not None:
                    grp.create_dataset("t", data=np.asarray(g.t, np.float64))
                    grp.create_dataset("mz_t", data=np.asarray(g.mz_t, np.float32), compression="gzip")
                for name in ("single_wall", "hit_cap"):
                    if getattr(g, name) is not None:
                        grp.create_dataset(name, data=np.asarray(getattr(g, name), bool))
                fgrp = failed_root.create_group(g.name)
                fgrp.create_dataset("seed", data=np.asarray(g.failed_seed, np.int64))
                fgrp.create_dataset("error", data=np.array(g.failed_error, dtype=h5py.string_dtype()))


def _notch_array(notch_x, where: str) -> np.ndarray:
    """``notch_x`` as a 1-D float64 array of finite positions [m]; raises naming ``where``."""
    x = np.asarray(notch_x, np.float64)
    if x.ndim != 1 or not np.all(np.isfinite(x)):
        raise DeviceStatsError(f"{where}: geometry/notch_x must be a 1-D array of finite positions [m], "
                               f"got shape {x.shape}")
    return x


def _check_group_shapes(g: KuStats, where: str) -> None:
    n = np.asarray(g.mz).shape
    problems = []
    if len(n) != 1:
        problems.append(f"mz has shape {n}, expected (n_ok,)")
    for name in ("dw_x", "seed") + tuple(k for k in ("single_wall", "hit_cap") if getattr(g, k) is not None):
        if np.asarray(getattr(g, name)).shape != n:
            problems.append(f"{name} has shape {np.asarray(getattr(g, name)).shape}, mz has {n}")
    if g.mz_t is not None and (g.t is None or np.asarray(g.mz_t).shape != (n[0], np.asarray(g.t).shape[0])):
        problems.append("mz_t must have shape (n_ok, len(t))")
    if len(g.failed_error) != np.asarray(g.failed_seed).shape[0]:
        problems.append("failed_error and failed_seed differ in length")
    if g.n_ok + g.n_failed > g.n_requested:
        problems.append(f"n_ok + n_failed = {g.n_ok + g.n_failed} exceeds n_requested = {g.n_requested}")
    if problems:
        raise DeviceStatsError(f"{where}: group {g.name}: " + "; ".join(problems))


def read_device_stats(path: str | Path) -> DeviceStats:
    """Read and validate a device-statistics file.

    Raises :class:`DeviceStatsError` naming the file and the problem when it is missing,
    not HDF5, of another schema version, or has inconsistent groups.
    """
    path = Path(path)
    if not path.exists():
        raise DeviceStatsError(f"{path}: device-statistics file not found")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DeviceStatsError(f"{path}: not a readable HDF5 file ({exc})") from exc
    with f:
        try:
            version = int(f.attrs["schema_version"])
        except KeyError:
            raise DeviceStatsError(f"{path}: no 'schema_version' attribute; not a dwsynapse device file") from None
        if version != SCHEMA_VERSION:
            raise DeviceStatsError(f"{path}: schema_version {version}, this dwsynapse reads {SCHEMA_VERSION}")
        if "ku" not in f or len(f["ku"]) == 0:
            raise DeviceStatsError(f"{path}: no /ku groups")
        groups = []
        try:
            for name, grp in f["ku"].items():
                fgrp = f.get(f"failed/{name}")
                g = KuStats(
                    ku=float(grp.attrs["ku"]),
                    mz=grp["mz"][()],
                    dw_x=grp["dw_x"][()],
                    seed=grp["seed"][()],
                    n_requested=int(grp.attrs["n_requested"]),
                    failed_seed=fgrp["seed"][()] if fgrp is not None else np.zeros(0, np.int64),
                    failed_error=[e.decode() if isinstance(e, bytes) else str(e) for e in fgrp["error"][()]]
                    if fgrp is not None
                    else [],
                    t=grp["t"][()] if "t" in grp else None,
                    mz_t=grp["mz_t"][()] if "mz_t" in grp else None,
                    single_wall=grp["single_wall"][()].astype(bool) if "single_wall" in grp else None,
                    hit_cap=grp["hit_cap"][()].astype(bool) if "hit_cap" in grp else None,
                )
                if int(grp.attrs["n_ok"]) != g.n_ok:
                    raise DeviceStatsError(f"{path}: group {name}: n_ok attribute {int(grp.attrs['n_ok'])} but mz has {g.n_ok} values")
                if g.n_ok and not np.all(np.isfinite(g.mz)):
                    raise DeviceStatsError(f"{path}: group {name}: mz has non-finite values")
                if g.n_ok and np.abs(g.mz).max() > 1.0 + MZ_TOLERANCE:
                    bad = g.mz[np.argmax(np.abs(g.mz))]
                    raise DeviceStatsError(f"{path}: group {name}: mz = {bad:g} is outside [-1, 1] "
                                           "(<mz> of a unit magnetization)")
                _check_group_shapes(g, where=str(path))
                twin = next((h for h in groups if abs(h.ku - g.ku) <= KU_RTOL * abs(g.ku)), None)
                if twin is not None:
                    raise DeviceStatsError(f"{path}: groups {twin.name} and {name} have the same Ku = {g.ku:g} J/m^3; "
                                           "one group per Ku")
                groups.append(g)
        except (KeyError, OSError) as exc:
            raise DeviceStatsError(f"{path}: corrupt or incomplete group ({exc})") from exc
        notch_x = _notch_array(f["geometry/notch_x"][()], str(path)) if "geometry/notch_x" in f else None
        return DeviceStats(
            groups=groups,
            engine=str(f.attrs.get("engine", "")),
            engine_version=str(f.attrs.get("engine_version", "")),
            config_sha256=str(f.attrs.get("config_sha256", "")),
            material=json.loads(f.attrs.get("material", "{}")),
            geometry=json.loads(f.attrs.get("geometry", "{}")),
            created_utc=str(f.attrs.get("created_utc", "")),
            notch_x=notch_x,
        )
