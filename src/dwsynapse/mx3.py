"""Render mumax3 input scripts for one (Ku, chunk of thermal instances) from ``mumax_templates/``.

One script runs its instances one after the other in a single mumax3 process; each instance
gets its own ``ThermSeed``, starts from the same wall at the first notch, relaxed at T = 0,
and leaves ``m_final_iNNNNN.ovf`` (OVF 2.0 binary) plus rows of ``table.txt`` tagged with
its index. The geometry goes in as an explicit cell mask (``geometry.ovf``, loaded with
``ext_InitGeomFromOVF``, mumax3 >= 3.11), so both engines see exactly the same cells.

Rendering is a pure function of the config, the racetrack, Ku and the seeds: the same inputs
give byte-identical scripts.
"""

from __future__ import annotations

import math
from pathlib import Path
from string import Template
from typing import Sequence

import numpy as np

from dwsynapse.config import config_sha256
from dwsynapse.geometry import Racetrack
from dwsynapse.io import write_text
from dwsynapse.ovf import go_float, write_ovf

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "mumax_templates"
GEOMETRY_FILE = "geometry.ovf"
SCRIPT_FILE = "racetrack.mx3"

# Spin polarization of the heavy-metal spin current for a charge current along +x. The torch
# engine derives it (dwsynapse.engines.torchfd.sot.SIGMA: sigma = -y moves an up|down wall with
# positive Dind towards +x); both engines must use the same vector.
SOT_POLARIZATION = (0.0, -1.0, 0.0)


class RenderError(ValueError):
    """The configuration cannot be expressed as a mumax3 script."""


def final_name(index: int) -> str:
    """Output name (without ``.ovf``) of the final magnetization of instance ``index``."""
    return f"m_final_i{int(index):05d}"


def _num(x: float) -> str:
    return go_float(float(x))


def _load(name: str, template_dir: Path) -> Template:
    path = template_dir / name
    try:
        return Template(path.read_text())
    except OSError as exc:
        raise RenderError(f"cannot read mumax3 template {path}: {exc.strerror or exc}") from exc


def _steps(total: float, window: float, what: str) -> int:
    if total <= 0:
        return 0
    if window <= 0:
        raise RenderError(f"device.solver.rest_window must be > 0 s to sample the {what}")
    return max(1, math.ceil(total / window - 1e-9))


def render_script(
    config: dict,
    racetrack: Racetrack,
    ku: float,
    seeds: Sequence[int],
    indices: Sequence[int],
    template_dir: Path = TEMPLATE_DIR,
) -> str:
    """Return the mx3 script text for the instances ``indices`` (with thermal ``seeds``) at
    anisotropy ``ku`` [J/m^3]. Needs ``config["device"]`` (material, drive, solver)."""
    if len(seeds) != len(indices) or len(seeds) == 0:
        raise RenderError(f"need one seed per instance index, got {len(seeds)} seeds for {len(indices)} indices")
    dev = config["device"]
    mat, drive, solver = dev["material"], dev["drive"], dev["solver"]
    if solver.get("demag", "newell") != "newell":
        raise RenderError(
            f"device.solver.demag = {solver['demag']!r} exists only in the torch engine; mumax3 always computes "
            "the full (Newell) demagnetizing field: set demag: newell or engine: torch"
        )
    if drive["temperature"] > 0 and (racetrack.nx * racetrack.ny) % 2:
        raise RenderError(f"mumax3 needs an even cell count at T > 0, the grid is {racetrack.nx} x {racetrack.ny}")
    dt = float(solver["dt"])
    window = float(solver.get("rest_window", 0.0))
    pulse = float(drive["pulse_duration"])
    n_pulse = _steps(pulse, window, "pulse")
    n_relax = _steps(float(solver.get("relax_max_time", 0.0)), window, "relaxation")
    length_x = racetrack.nx * racetrack.cell_size
    dind = float(mat["Dind"])
    wall_mx = -1.0 if dind >= 0 else 1.0  # Neel chirality favoured by interfacial DMI (relaxation settles it)

    blocks = []
    inst = _load("instance.mx3", template_dir)
    for idx, seed in zip(indices, seeds):
        seed = int(seed)
        if not 0 <= seed < 2**63:
            raise RenderError(f"ThermSeed must be a non-negative 64-bit integer, got {seed}")
        blocks.append(
            inst.substitute(
                index=int(idx),
                seed=seed,
                start_x=_num(racetrack.start_x),
                wall_mx=_num(wall_mx),
                wall_x_centered=_num(racetrack.start_x - 0.5 * length_x),
                temperature=_num(drive["temperature"]),
                pulse_duration=_num(pulse),
                current_density=_num(drive["current_density"]),
                n_pulse=n_pulse,
                pulse_step=_num(pulse / n_pulse) if n_pulse else "0",
                rest_velocity=_num(solver.get("rest_velocity", 0.0)),
                rest_window=_num(window),
                n_relax=n_relax,
                half_length=_num(0.5 * float(dev["geometry"]["length"])),
                final_name=final_name(idx),
            )
        )
    sigma = SOT_POLARIZATION
    return _load("racetrack.mx3", template_dir).substitute(
        ku=_num(ku),
        first_index=int(min(indices)),
        last_index=int(max(indices)),
        config_sha256=config_sha256(config),
        geometry_file=GEOMETRY_FILE,
        nx=racetrack.nx,
        ny=racetrack.ny,
        cell_size=_num(racetrack.cell_size),
        thickness=_num(racetrack.thickness),
        Ms=_num(mat["Ms"]),
        Aex=_num(mat["Aex"]),
        alpha=_num(mat["alpha"]),
        Dind=_num(dind),
        theta_sh=_num(mat["theta_sh"]),
        sigma_x=_num(sigma[0]),
        sigma_y=_num(sigma[1]),
        sigma_z=_num(sigma[2]),
        dt=_num(dt),
        instances="".join(blocks),
    )


def write_geometry_ovf(racetrack: Racetrack, path: str | Path) -> None:
    """Write the racetrack mask as a one-component OVF 2.0 file (1 = magnetic, 0 = empty)."""
    data = racetrack.mask.astype(np.float64)[None, None]
    step = (racetrack.cell_size, racetrack.cell_size, racetrack.thickness)
    write_ovf(path, data, step, title="geom", fmt="binary4")


def write_inputs(
    workdir: str | Path,
    config: dict,
    racetrack: Racetrack,
    ku: float,
    seeds: Sequence[int],
    indices: Sequence[int],
    script_name: str = SCRIPT_FILE,
) -> Path:
    """Write ``geometry.ovf`` and the rendered script into ``workdir``; return the script path."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    write_geometry_ovf(racetrack, workdir / GEOMETRY_FILE)
    script = workdir / script_name
    write_text(render_script(config, racetrack, ku, seeds, indices), script)
    return script
