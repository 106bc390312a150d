"""Calibration tools of the racetrack device physics: quick scans, the stage as it runs, per-Ku tables.

Table 1 of the paper (material values) is lost, so the material and notch parameters in the config
are chosen inside cited literature ranges by the calibration study (:mod:`dwsynapse.calibration_study`,
docs/calibration.md), against what the paper says about its device (criteria A1-A7 there). The paper's
level per Ku (Fig. 1d) is the target each instance is compared with:

    Ku [J/m^3]  8.0e5   7.75e5  7.5e5  7.25e5  7.0e5
    <m_z>       -0.833  -0.5    0      0.5     1

Two tools:

* :func:`explore` - a quick scan for choosing parameters: all Ku values (and a few thermal
  instances of each) integrated as *one* batch of the embedded engine's LLG system (Ku is a
  per-row tensor), with a fixed relaxation time instead of the engine's rest detection. Cheap
  enough for a 2-core box at 4 nm cells.
* :func:`calibrate` - the real thing: the configured engine's ``run_instances`` for every Ku with
  the config's instance count and seeds (exactly what the device stage runs), timed, summarised
  by :func:`summarize` into the calibration table (mean, std, 5-95 % range of <m_z> per Ku).

Physics used to choose the parameters (SI units): the effective anisotropy of a thin film
Keff = Ku - mu0 Ms^2 / 2, the wall width Delta = sqrt(Aex / Keff), the wall energy
sigma = 4 sqrt(Aex Keff) - pi Dind, the critical DMI Dc = 4 sqrt(Aex Keff) / pi (above it the
strip breaks into stripes) and the damping-like SOT field a_DL = hbar theta_SH J / (2 e Ms d).
:func:`material_summary` evaluates them per Ku.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from .constants import HBAR, MU0, QE
from .dwpos import mean_mz, wall_position
from .paper import PAPER_TARGETS, target_for  # noqa: F401 (the calibration's targets; calibration_study reads them here)
from .settings import device_settings

log = logging.getLogger(__name__)


def material_summary(material: dict, ku_values: Sequence[float], thickness: float,
                     current_density: float) -> list[dict]:
    """Per Ku [J/m^3]: Keff [J/m^3], wall width Delta [m], wall energy sigma [J/m^2], critical DMI
    Dc [J/m^2], whether the film is a stable PMA strip (Keff > 0 and Dind < Dc), and the
    damping-like SOT field a_DL [T] for ``current_density`` [A/m^2] in a layer ``thickness`` [m] thick.

    ``material`` is ``config["device"]["material"]`` (Ms A/m, Aex J/m, Dind J/m^2, theta_sh)."""
    ms, aex = float(material["Ms"]), float(material["Aex"])
    dind, theta = float(material["Dind"]), float(material["theta_sh"])
    if ms <= 0 or aex <= 0 or thickness <= 0:
        raise ValueError(f"Ms, Aex and thickness must be > 0 (got Ms={ms}, Aex={aex}, d={thickness})")
    a_dl = HBAR * theta * current_density / (2.0 * QE * ms * thickness)
    rows = []
    for ku in ku_values:
        keff = float(ku) - 0.5 * MU0 * ms * ms
        if keff > 0:
            root = math.sqrt(aex * keff)
            delta, sigma, dc = math.sqrt(aex / keff), 4.0 * root - math.pi * abs(dind), 4.0 * root / math.pi
        else:
            delta, sigma, dc = float("inf"), float("nan"), 0.0
        rows.append(dict(ku=float(ku), keff=keff, delta=delta, sigma=sigma, dc=dc,
                         pma_ok=bool(keff > 0 and abs(dind) < dc), a_dl=a_dl))
    return rows


def explore(material: dict, geometry_cfg: dict, ku_values: Sequence[float], *, n_per_ku: int = 1,
            temperature: float = 0.0, current_density: float | Sequence[float] = 3.5e11, pulse_duration: float = 1e-9,
            relax_time: float = 1e-9, dt: float = 1e-13, demag: str = "thin_film", seed: int = 0,
            initial_relax_time: float = 0.0,
            dtype: str = "float32", compile: bool = False, sample_interval: float = 10e-12,
            m_start: np.ndarray | None = None, demag_refresh_steps: int = 1, integrator: str = "heun",
            racetrack=None, readout_time: float = 0.0, readout_dt: float | None = None) -> dict:
    """Integrate every Ku (x ``n_per_ku`` thermal instances) as one batch of the embedded engine.

    Units: Ku J/m^3, temperature K, current_density A/m^2 (one value, or one per batch row: ``ku_values``
    x ``n_per_ku`` in that order), pulse_duration / relax_time / dt /
    sample_interval / initial_relax_time s. The walls first relax at T = 0 for ``initial_relax_time``
    (as in the device stage), the pulse is followed by a fixed relaxation of ``relax_time`` (no rest
    detection). ``m_start`` (rows, 3, ny, nx), one row per entry of ``ku_values`` x ``n_per_ku``, replaces
    the relaxed initial wall (a run that continues from given states, e.g. the final states of a device
    stage; ``initial_relax_time`` is then not used). ``demag_refresh_steps``: as the device stage's
    ``device.torch.demag_refresh_steps`` (:class:`Stepper`), ``integrator`` as ``device.solver.integrator``
    (heun | rk4). ``racetrack`` (a :class:`dwsynapse.geometry.Racetrack`) replaces the one built from
    ``geometry_cfg`` (e.g. :func:`dwsynapse.geometry.subdivided`). ``readout_time`` [s] > 0 ends the run with the
    device stage's readout tail (:func:`dwsynapse.engines.torchfd.racetrack.readout_tail`, at ``readout_dt`` [s],
    default ``dt``), so that a final state is read as the stage reads it. Thermal seeds are ``seed * 1000 + row``. Returns a
    dict with ``ku`` (rows,),
    ``mz`` / ``dw_x`` [m] final values per row, ``t`` [s] and ``mz_t`` (rows, n_t) traces (every
    ``sample_interval``, at the pulse's end and at the last step),
    ``finite`` per row, ``wall_time_s`` and ``instance_steps``.
    """
    import torch

    from .engines.torchfd.mesh import Mesh
    from .engines.torchfd.racetrack import (initial_wall, integrate, readout_tail, relax_initial_state, resolve_dtype,
                                            rows_mean_mz)
    from .engines.torchfd.solver import LLGSystem, Material, Stepper
    from .engines.torchfd.sot import damping_like_coefficient
    from .engines.torchfd.thermal import ThermalNoise, thermal_sigma
    from .geometry import build_racetrack

    if n_per_ku < 1:
        raise ValueError(f"n_per_ku must be >= 1, got {n_per_ku}")
    readout_step = dt if readout_dt is None else float(readout_dt)
    if dt <= 0 or readout_step <= 0 or pulse_duration < 0 or relax_time < 0 or readout_time < 0:
        raise ValueError("dt and readout_dt must be > 0 s and pulse_duration, relax_time, readout_time >= 0 s")
    rt = build_racetrack(geometry_cfg) if racetrack is None else racetrack
    tdtype = resolve_dtype(dtype)
    mesh = Mesh(rt.mask, rt.cell_size, rt.cell_size, rt.thickness, torch.device("cpu"), tdtype)
    ku_each = np.asarray(ku_values, dtype=float)
    kus = np.repeat(ku_each, n_per_ku)
    n = kus.size
    ms, aex = float(material["Ms"]), float(material["Aex"])
    alpha, dind = float(material["alpha"]), float(material["Dind"])

    def material_at(ku):
        return Material(ms=ms, aex=aex, alpha=alpha, dind=dind, ku=ku)

    def per_row(values):  # Ku per batch row, shaped for the anisotropy field
        return torch.as_tensor(values, dtype=tdtype).view(-1, 1, 1)

    if m_start is not None:
        if np.shape(m_start) != (n, 3) + rt.mask.shape:
            raise ValueError(f"m_start has shape {np.shape(m_start)}, expected {(n, 3) + rt.mask.shape} "
                             "(one state per Ku and instance on this racetrack)")
        if not np.isfinite(m_start).all():
            raise ValueError("m_start holds non-finite values (a failed instance)")
        m = torch.as_tensor(np.asarray(m_start), dtype=tdtype) * mesh.mask
    else:
        # all instances of a Ku start from the same relaxed wall: relax one row per Ku, then repeat it
        walls = torch.cat([initial_wall(mesh, material_at(float(k)), rt.start_x) for k in ku_each], dim=0)
        walls = relax_initial_state(LLGSystem(mesh, material_at(per_row(ku_each)), demag=demag), walls, dt,
                                    initial_relax_time, integrator)
        m = walls.repeat_interleave(n_per_ku, dim=0)
    system = LLGSystem(mesh, material_at(per_row(kus)), demag=demag)
    stepper = Stepper(system, compile=compile, demag_refresh_steps=demag_refresh_steps, integrator=integrator)
    theta_sh = float(material["theta_sh"])
    if np.ndim(current_density) == 0:
        a_dl = damping_like_coefficient(float(current_density), theta_sh, ms, mesh.dz)
    elif np.size(current_density) == n:
        a_dl = [damping_like_coefficient(float(j), theta_sh, ms, mesh.dz) for j in np.ravel(current_density)]
    else:
        raise ValueError(f"current_density has {np.size(current_density)} values, expected one or {n} (one per row)")
    sigma = thermal_sigma(alpha, temperature, ms, mesh.cell_volume, dt)
    row_seeds = [seed * 1000 + i for i in range(n)]
    noise = ThermalNoise(row_seeds, mesh, sigma) if sigma > 0 else None
    a_on = per_row(a_dl) if np.ndim(a_dl) else torch.tensor(a_dl, dtype=tdtype)
    n_pulse = int(round(pulse_duration / dt))
    n_total = n_pulse + int(round(relax_time / dt))
    n_sample = max(1, int(round(sample_interval / dt)))
    times, traces = [0.0], [rows_mean_mz(m, mesh)]

    def record(k, m):
        times.append(k * dt)
        traces.append(rows_mean_mz(m, mesh))

    t0 = time.perf_counter()
    m = integrate(stepper, m, noise, dt, n_total, n_sample, record, a_dl=a_on, n_pulse=n_pulse)
    n_readout = int(round(readout_time / readout_step))
    if n_readout > 0:
        m, t_tail, mz_tail = readout_tail(stepper, m, row_seeds, readout_step, n_readout,
                                          thermal_sigma(alpha, temperature, ms, mesh.cell_volume, readout_step))
        times.extend(n_total * dt + t_tail)
        traces.extend(mz_tail.T)
    wall = time.perf_counter() - t0
    mf = m.to(torch.float64).numpy()
    finite = np.isfinite(mf).reshape(n, -1).all(axis=1)
    mz_final = np.where(finite, mean_mz(np.nan_to_num(mf[:, 2]), rt.mask), np.nan)
    dw_x = np.where(finite, wall_position(np.nan_to_num(mf[:, 2]), rt.mask, rt.cell_size), np.nan)
    return dict(ku=kus, mz=np.asarray(mz_final, dtype=float), dw_x=np.asarray(dw_x, dtype=float),
                t=np.asarray(times), mz_t=np.stack(traces, axis=1), finite=finite, m_final=mf,
                wall_time_s=wall, instance_steps=n * (n_total + n_readout), notch_x=rt.notch_x, cell_size=rt.cell_size)


def summarize(ku: float, mz: Sequence[float], dw_x: Sequence[float] | None = None, n_requested: int | None = None,
              wall_time_s: float | None = None) -> dict:
    """One row of the calibration table for ``ku`` [J/m^3]: n, mean, std (ddof=1 when n > 1), 5 and
    95 % percentiles, min and max of the final <m_z> values ``mz`` (finite ones only), the mean
    wall position [m] when ``dw_x`` is given, the paper's target and mean - target."""
    vals = np.asarray([v for v in mz if np.isfinite(v)], dtype=float)
    target = target_for(ku)
    row = dict(ku=float(ku), n_ok=int(vals.size), n_requested=int(n_requested if n_requested is not None else len(mz)),
               target=target, wall_time_s=wall_time_s)
    if vals.size == 0:
        row.update(mean=float("nan"), std=float("nan"), p5=float("nan"), p95=float("nan"), min=float("nan"),
                   max=float("nan"), deviation=float("nan"), dw_x_mean=float("nan"))
        return row
    mean = float(vals.mean())
    row.update(mean=mean, std=float(vals.std(ddof=1)) if vals.size > 1 else 0.0,
               p5=float(np.percentile(vals, 5)), p95=float(np.percentile(vals, 95)),
               min=float(vals.min()), max=float(vals.max()),
               deviation=mean - target if target is not None else float("nan"))
    if dw_x is not None:
        x = np.asarray([v for v in dw_x if np.isfinite(v)], dtype=float)
        row["dw_x_mean"] = float(x.mean()) if x.size else float("nan")
    return row


def calibrate(config: dict, workdir: str | Path, ku_values: Sequence[float] | None = None,
              instances_per_ku: int | None = None, progress: bool = False) -> dict:
    """Run the configured engine exactly as the device stage does (same chunks, same per-instance
    seeds from ``device.thermal_seed``) for every Ku and summarise the final <m_z>.

    ``ku_values`` / ``instances_per_ku`` override the config (for quick checks). Each chunk runs in
    ``workdir/<group>/chunk_<i>``. Returns ``{"rows": [summarize(...) per Ku], "instances":
    {ku: [(seed, ok, mz, dw_x, error), ...]}, "wall_time_s": total, "cell_size": m, ...}``.
    """
    import copy

    from .device.chunks import chunk_seeds, plan_chunks
    from .device.engine import get_engine
    from .geometry import build_racetrack

    cfg = copy.deepcopy(config)
    dev = cfg["device"]
    if ku_values is not None:
        dev["ku_values"] = [float(k) for k in ku_values]
    if instances_per_ku is not None:
        if instances_per_ku < 1:
            raise ValueError(f"instances_per_ku must be >= 1, got {instances_per_ku}")
        dev["instances_per_ku"] = int(instances_per_ku)
    settings = device_settings(cfg)
    run = get_engine(settings.engine)
    racetrack = build_racetrack(settings.geometry)
    per_ku: dict[float, list] = {k: [] for k in settings.ku_values}
    times: dict[float, float] = {k: 0.0 for k in settings.ku_values}
    t_all = time.perf_counter()
    for chunk in plan_chunks(cfg):
        wd = Path(workdir) / chunk.group / f"chunk_{chunk.chunk_index}"
        wd.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        results = run(cfg, racetrack, chunk.ku, chunk_seeds(cfg, chunk), wd, progress=progress)
        times[chunk.ku] += time.perf_counter() - t0
        per_ku[chunk.ku].extend((r.seed, bool(r.ok), float(r.mz), float(r.dw_x), r.error) for r in results)
        log.info("Ku = %.4g J/m^3 chunk %d: <mz> = %s (%.0f s)", chunk.ku, chunk.chunk_index,
                 ", ".join(f"{r.mz:.3f}" if r.ok else "failed" for r in results), time.perf_counter() - t0)
    rows = []
    for ku, inst in per_ku.items():
        ok = [i for i in inst if i[1]]
        rows.append(summarize(ku, [i[2] for i in ok], [i[3] for i in ok], n_requested=len(inst),
                              wall_time_s=times[ku]))
    return dict(rows=rows, instances={str(k): v for k, v in per_ku.items()},
                wall_time_s=time.perf_counter() - t_all, cell_size=float(settings.geometry["cell_size"]),
                instances_per_ku=settings.instances_per_ku, chunk_size=settings.chunk_size,
                engine=settings.engine, demag=settings.solver.demag, dt=settings.solver.dt,
                material=dict(dev["material"]), geometry=dict(dev["geometry"]),
                measured_rms=float(racetrack.measured_rms))


def markdown_table(rows: Sequence[dict]) -> str:
    """The calibration table as Markdown: Ku, target, mean, std, 5-95 % range, min-max of <m_z>,
    mean wall position [nm], instances (ok/requested) and engine wall time [s] per Ku."""
    head = ("| Ku [J/m^3] | paper <mz> | mean <mz> | std | 5-95 % range | min..max | mean DW x [nm] "
            "| instances ok/run | wall time [s] |\n|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        tgt = "" if r["target"] is None else f"{r['target']:+.3f}"
        wt = "" if r.get("wall_time_s") is None else f"{r['wall_time_s']:.0f}"
        x = r.get("dw_x_mean", float("nan"))
        lines.append(f"| {r['ku']:.3e} | {tgt} | {r['mean']:+.3f} | {r['std']:.3f} | {r['p5']:+.3f} .. {r['p95']:+.3f} "
                     f"| {r['min']:+.3f} .. {r['max']:+.3f} | {x * 1e9:.0f} | {r['n_ok']}/{r['n_requested']} | {wt} |")
    return head + "\n".join(lines) + "\n"


def table_from_stats(stats_path: str | Path, work_dir: str | Path | None = None) -> list[dict]:
    """Calibration rows (:func:`summarize`) from a device-statistics file written by the device stage.

    When ``work_dir`` (the stage's ``results/device/work``) is given, each row's ``wall_time_s`` is
    the sum of the engine wall times recorded in ``<work_dir>/<group>/chunk_*/torchfd_run.json``."""
    import json

    from .devicestats import read_device_stats

    stats = read_device_stats(stats_path)
    rows = []
    for g in stats.groups:
        wall = None
        if work_dir is not None:
            runs = sorted(Path(work_dir, g.name).glob("chunk_*/torchfd_run.json"))
            if runs:
                wall = float(sum(json.loads(p.read_text())["wall_time_s"] for p in runs))
        rows.append(summarize(g.ku, g.mz, g.dw_x, n_requested=g.n_requested, wall_time_s=wall))
    return rows
