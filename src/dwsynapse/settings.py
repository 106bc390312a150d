"""Typed, frozen views of the validated config's device section, one small dataclass per subsection.

The config stays a plain dict where it is data: the Snakefile validates it, rules hash parts of it
(:data:`dwsynapse.config.RULE_CONFIG`) and the chunk files record it. Code that *computes* with it builds
:class:`DeviceSettings` once, at its entry point (:func:`device_settings`), and reads attributes:
every value has its type and unit here, and its default in exactly one place, the schema
(``config.schema.yaml``, filled in by :func:`dwsynapse.config.with_defaults`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

from dwsynapse.config import with_defaults


def _key(name: str, convert: Callable[[Any], Any] = float, unit: str = "") -> Any:
    """A field read from config key ``name``, converted by ``convert``, in SI ``unit`` (documentation)."""
    return field(metadata={"key": name, "convert": convert, "unit": unit})


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


def _from_section(cls, section: Mapping[str, Any], where: str):
    """An instance of the settings dataclass ``cls`` from the config mapping ``section`` (path ``where``)."""
    values = {}
    for f in dataclasses.fields(cls):
        key = f.metadata["key"]
        if key not in section:
            raise KeyError(f"config key {where}.{key} is missing (the schema requires it or gives its default)")
        values[f.name] = f.metadata["convert"](section[key])
    return cls(**values)


@dataclass(frozen=True)
class MaterialSettings:
    """Free-layer material (``device.material``)."""

    ms: float = _key("Ms", unit="A/m")             # saturation magnetization
    aex: float = _key("Aex", unit="J/m")           # exchange stiffness
    alpha: float = _key("alpha")                   # Gilbert damping
    dind: float = _key("Dind", unit="J/m^2")       # interfacial DMI
    theta_sh: float = _key("theta_sh")             # spin Hall angle of the heavy metal


@dataclass(frozen=True)
class DriveSettings:
    """The programming pulse and the bath (``device.drive``)."""

    current_density: float = _key("current_density", unit="A/m^2")  # in the heavy metal
    pulse_duration: float = _key("pulse_duration", unit="s")
    temperature: float = _key("temperature", unit="K")


@dataclass(frozen=True)
class SolverSettings:
    """Time integration and relaxation (``device.solver``)."""

    dt: float = _key("dt", unit="s")                                   # fixed step
    integrator: str = _key("integrator", str)                          # heun | rk4
    demag: str = _key("demag", str)                                    # newell | thin_film
    initial_relax_time: float = _key("initial_relax_time", unit="s")   # T = 0, alpha = 1 settling of the wall
    relax_max_time: float = _key("relax_max_time", unit="s")           # cap of the relaxation after the pulse
    rest_velocity: float = _key("rest_velocity", unit="m/s")           # at rest below this speed ...
    rest_window: float = _key("rest_window", unit="s")                 # ... for this long
    readout_time: float = _key("readout_time", unit="s")               # tail after rest, before the state is read
    readout_dt: float | None = _key("readout_dt", _optional(float))    # s, the tail's fixed step; None: dt
    save_traces: bool = _key("save_traces", bool)

    @property
    def readout_step(self) -> float:
        """Fixed step of the readout tail [s]: ``readout_dt``, or ``dt`` when that is null."""
        return self.dt if self.readout_dt is None else self.readout_dt


@dataclass(frozen=True)
class TorchSettings:
    """The embedded engine (``device.torch``)."""

    device: str = _key("device", str)                   # auto | cpu | cuda
    dtype: str = _key("dtype", str)                     # float32 | float64
    compile: bool = _key("compile", bool)               # torch.compile the step
    demag_refresh_steps: int = _key("demag_refresh_steps", int)  # far demag field every K steps


@dataclass(frozen=True)
class Mumax3Settings:
    """The external mumax3 engine (``device.mumax3``)."""

    binary: str | None = _key("binary", _optional(str))  # else $MUMAX3, else mumax3 on PATH
    gpu: int = _key("gpu", int)
    processes: int = _key("processes", int)              # mumax3 processes at once, one instance each
    timeout_s: float = _key("timeout_s", unit="s")       # per instance and attempt
    retries: int = _key("retries", int)                  # attempts of a failed instance beyond the first


@dataclass(frozen=True)
class DeviceSettings:
    """The device section (``device``): what is simulated, how, and how the stage is cut into jobs.

    ``geometry`` stays a read-only mapping: :func:`dwsynapse.geometry.build_racetrack` checks and
    interprets it (lengths in m, ``seed`` an int)."""

    engine: str = _key("engine", str)
    stats_file: str | None = _key("stats_file", _optional(str))
    ku_values: tuple[float, ...] = _key("ku_values", lambda v: tuple(float(k) for k in v), "J/m^3")
    instances_per_ku: int = _key("instances_per_ku", int)
    chunk_size: int = _key("chunk_size", int)
    thermal_seed: int = _key("thermal_seed", int)
    min_success_fraction: float = _key("min_success_fraction")
    chunk_retries: Any = _key("chunk_retries", lambda v: v)        # checked by device.resources.chunk_retries
    chunk_timeout_s: Any = _key("chunk_timeout_s", lambda v: v, "s")  # null = the runtime estimate; checked there
    geometry: Mapping[str, Any] = _key("geometry", lambda g: MappingProxyType(dict(g)))
    material: MaterialSettings = _key("material", lambda s: _from_section(MaterialSettings, s, "device.material"))
    drive: DriveSettings = _key("drive", lambda s: _from_section(DriveSettings, s, "device.drive"))
    solver: SolverSettings = _key("solver", lambda s: _from_section(SolverSettings, s, "device.solver"))
    torch: TorchSettings = _key("torch", lambda s: _from_section(TorchSettings, s, "device.torch"))
    mumax3: Mumax3Settings = _key("mumax3", lambda s: _from_section(Mumax3Settings, s, "device.mumax3"))


def device_settings(config: Mapping[str, Any]) -> DeviceSettings:
    """:class:`DeviceSettings` of ``config`` (a validated config; the schema's defaults fill absent keys)."""
    return _from_section(DeviceSettings, with_defaults(dict(config))["device"], "device")
