"""Render the mumax3 input of one thermal instance at one Ku from ``mumax_templates/``.

Each instance runs in its own mumax3 process (:mod:`dwsynapse.engines.mumax3`): in mumax3 3.11 a
second ``ThermSeed`` in one process does not restart the noise stream reproducibly (mumax issue
#396), so an instance's noise would depend on the instances run before it in the same process.
The script starts from a wall at the first notch, relaxed at T = 0, sets the instance's
``ThermSeed`` and leaves ``m_final.ovf`` (OVF 2.0 binary) and ``table.txt``. The geometry goes in
as an explicit cell mask (``geometry.ovf``, loaded with ``ext_InitGeomFromOVF``, mumax3 >= 3.11),
so both engines see exactly the same cells; it is read back with :func:`dwsynapse.ovf.read_ovf`
and compared with the mask before any mumax3 process sees it.

Rendering is a pure function of the device physics, the racetrack, Ku and the seed: the same
instance gives byte-identical inputs however the instances are chunked or retried.
"""

from __future__ import annotations

import math
from importlib.resources import files
from pathlib import Path
from string import Template

import numpy as np

from dwsynapse.config import config_sha256, with_defaults
from dwsynapse.geometry import Racetrack, build_racetrack
from dwsynapse.io import write_text
from dwsynapse.settings import device_settings
from dwsynapse.ovf import OvfError, go_float, read_ovf, write_ovf

# Package data (also reached as mumax_templates/ in the checkout, a link), installed as files.
TEMPLATE_DIR = Path(str(files("dwsynapse") / "resources" / "mumax_templates"))
GEOMETRY_FILE = "geometry.ovf"
SCRIPT_FILE = "racetrack.mx3"
FINAL_NAME = "m_final"  # output name (without .ovf) of the final magnetization
MUMAX3_SOLVER = {"heun": 2, "rk4": 4}  # device.solver.integrator -> mumax3's SetSolver (HEUN, RUNGEKUTTA)

# Header keys mumax3's OVF reader accepts (github.com/mumax/3, oommf/oommf.go, 3.11); it panics on any other.
MUMAX3_OVF_HEADER_KEYS = frozenset({
    "oommf", "segment count", "begin", "end", "meshtype", "meshunit", "title", "desc", "valuelabels",
    "valueunits", "valueunit", "valuedim", "valuemultiplier", "valuerangeminmag", "valuerangemaxmag",
    "xbase", "ybase", "zbase", "xmin", "ymin", "zmin", "xmax", "ymax", "zmax", "xnodes", "ynodes", "znodes",
    "xstepsize", "ystepsize", "zstepsize",
})

# Spin polarization of the heavy-metal spin current for a charge current along +x. The torch
# engine derives it (dwsynapse.engines.torchfd.sot.SIGMA: sigma = -y moves an up|down wall with
# positive Dind towards +x); both engines must use the same vector.
SOT_POLARIZATION = (0.0, -1.0, 0.0)


class RenderError(ValueError):
    """The configuration cannot be expressed as a mumax3 script."""


def _num(x: float) -> str:
    return go_float(float(x))


def _load(name: str, template_dir: Path) -> Template:
    path = template_dir / name
    try:
        return Template(path.read_text())
    except OSError as exc:
        raise RenderError(f"cannot read mumax3 template {path}: {exc.strerror or exc}") from exc


def _windows(total: float, window: float) -> int:
    """Number of sampling windows of ``window`` [s] that cover ``total`` [s] (0 when nothing to cover)."""
    return max(1, math.ceil(total / window - 1e-9)) if total > 0 else 0


def check_renderable(config: dict, racetrack: Racetrack | None = None) -> None:
    """Raise :class:`RenderError` with a one-line reason, naming the config key, when the device
    section of ``config`` cannot be expressed as a mumax3 script on ``racetrack`` (default: the
    racetrack of ``device.geometry``)."""
    dev = device_settings(config)
    racetrack = build_racetrack(dev.geometry) if racetrack is None else racetrack
    solver, drive = dev.solver, dev.drive
    if solver.demag != "newell":
        raise RenderError(
            f"device.solver.demag = {solver.demag!r} exists only in the torch engine; mumax3 always computes "
            "the full (Newell) demagnetizing field: set device.solver.demag: newell or device.engine: torch"
        )
    if drive.temperature > 0 and (racetrack.nx * racetrack.ny) % 2:
        raise RenderError(f"mumax3 needs an even cell count at T > 0 (device.drive.temperature), the grid of "
                          f"device.geometry is {racetrack.nx} x {racetrack.ny}")
    busy = drive.pulse_duration > 0 or solver.relax_max_time > 0
    if busy and not solver.rest_window > 0:
        raise RenderError("device.solver.rest_window must be > 0 s to sample the pulse and the relaxation in mumax3")


def _readout_tail(solver) -> str:
    """The mx3 lines of the readout tail (``device.solver.readout_time`` at the fixed step ``readout_dt``,
    temperature kept, no current; the torch engine's ``_readout_tail`` says why), empty when it is 0."""
    if not solver.readout_time > 0:
        return ""
    return (f"// readout tail: {_num(solver.readout_time)} s more at the step {_num(solver.readout_step)} s, then the state is read\n"
            f"FixDt = {_num(solver.readout_step)}\nRun({_num(solver.readout_time)})\nTableSave()\n")


def render_script(config: dict, racetrack: Racetrack, ku: float, seed: int, template_dir: Path = TEMPLATE_DIR) -> str:
    """Return the mx3 script text of one thermal instance (``ThermSeed`` ``seed``) at anisotropy
    ``ku`` [J/m^3]. Needs ``config["device"]`` (geometry, material, drive, solver; the schema's
    defaults fill absent solver keys, as for the torch engine)."""
    check_renderable(config, racetrack)
    seed = int(seed)
    if not 0 <= seed < 2**63:
        raise RenderError(f"ThermSeed must be a non-negative 64-bit integer, got {seed}")
    dev = device_settings(config)
    as_written = with_defaults(config)["device"]  # the script records the hash of the config values as given
    mat, drive, solver = dev.material, dev.drive, dev.solver
    dt = solver.dt
    window = solver.rest_window
    pulse = drive.pulse_duration
    n_pulse = _windows(pulse, window)
    n_relax = _windows(solver.relax_max_time, window)
    length_x = racetrack.nx * racetrack.cell_size
    dind = mat.dind
    wall_mx = -1.0 if dind >= 0 else 1.0  # Neel chirality favoured by interfacial DMI (relaxation settles it)
    instance = _load("instance.mx3", template_dir).substitute(
        seed=seed,
        start_x=_num(racetrack.start_x),
        wall_mx=_num(wall_mx),
        wall_x_centered=_num(racetrack.start_x - 0.5 * length_x),
        temperature=_num(drive.temperature),
        pulse_duration=_num(pulse),
        current_density=_num(drive.current_density),
        n_pulse=n_pulse,
        pulse_step=_num(pulse / n_pulse) if n_pulse else "0",
        rest_velocity=_num(solver.rest_velocity),
        rest_window=_num(window),
        n_relax=n_relax,
        half_length=_num(0.5 * float(dev.geometry["length"])),
        readout_tail=_readout_tail(solver),
        final_name=FINAL_NAME,
    )
    sigma = SOT_POLARIZATION
    return _load("racetrack.mx3", template_dir).substitute(
        ku=_num(ku),
        seed=seed,
        physics_sha256=config_sha256({k: as_written[k] for k in ("geometry", "material", "drive", "solver")}),
        geometry_file=GEOMETRY_FILE,
        nx=racetrack.nx,
        ny=racetrack.ny,
        cell_size=_num(racetrack.cell_size),
        thickness=_num(racetrack.thickness),
        Ms=_num(mat.ms),
        Aex=_num(mat.aex),
        alpha=_num(mat.alpha),
        Dind=_num(dind),
        theta_sh=_num(mat.theta_sh),
        sigma_x=_num(sigma[0]),
        sigma_y=_num(sigma[1]),
        sigma_z=_num(sigma[2]),
        dt=_num(dt),
        integrator=solver.integrator,
        solver=MUMAX3_SOLVER[solver.integrator],
        instance=instance,
    )


def write_geometry_ovf(racetrack: Racetrack, path: str | Path) -> None:
    """Write the racetrack mask as a one-component OVF 2.0 file (1 = magnetic, 0 = empty) and read
    it back with :func:`dwsynapse.ovf.read_ovf`; a file that does not hold exactly the mask (one
    component, ``ny`` x ``nx`` cells of the racetrack's size) is removed and :class:`RenderError`
    raised, so no mumax3 process ever loads it (mumax3's reader panics on a bad header)."""
    path = Path(path)
    data = racetrack.mask.astype(np.float64)[None, None]
    step = (racetrack.cell_size, racetrack.cell_size, racetrack.thickness)
    write_ovf(path, data, step, title="geom", fmt="binary4")
    try:
        back = read_ovf(path)
        unknown = sorted(set(back.header) - MUMAX3_OVF_HEADER_KEYS)
        ok = (back.ncomp == 1 and back.data.shape == data.shape and np.allclose(back.step, step, rtol=1e-6, atol=0)
              and np.array_equal(back.data[0, 0] > 0.5, racetrack.mask))
        why = (f"has header keys mumax3 cannot read: {unknown}" if unknown else "" if ok else
               f"holds {back.ncomp} component(s) of shape {back.data.shape[1:]}, step {back.step}, "
               f"not the racetrack mask ({racetrack.ny} x {racetrack.nx} cells, step {step})")
    except OvfError as exc:
        why = f"unreadable ({exc})"
    if why:
        path.unlink(missing_ok=True)
        raise RenderError(f"geometry file {path} {why}")


def write_inputs(workdir: str | Path, config: dict, racetrack: Racetrack, ku: float, seed: int,
                 script_name: str = SCRIPT_FILE) -> Path:
    """Write the checked ``geometry.ovf`` and the rendered script of one instance into ``workdir``;
    return the script path. Nothing is written when the config cannot be rendered."""
    text = render_script(config, racetrack, ku, seed)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    write_geometry_ovf(racetrack, workdir / GEOMETRY_FILE)
    script = workdir / script_name
    write_text(text, script)
    return script
