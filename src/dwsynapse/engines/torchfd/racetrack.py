"""The racetrack experiment on the embedded engine: a batch of thermal instances of one
programming voltage (one Ku), each with its own seed.

Sequence per instance: a Neel wall at ``racetrack.start_x`` (up domain left, down domain right,
chirality set by the sign of Dind), relaxed into the notch at T = 0 without current for
``solver.initial_relax_time`` (strong damping, as mumax3's ``Relax()`` in the mumax3 template; the
relaxed state is the same for every instance of a Ku, so it is computed once per batch), the SOT
pulse (``drive.current_density`` for ``drive.pulse_duration``) at ``drive.temperature``, then
relaxation without current until the wall is at rest or ``solver.relax_max_time`` has passed. The
wall velocity of a straight wall follows from <m_z>: x_w = L (1 + <m_z>) / 2, so v = (L/2) d<m_z>/dt
(L = strip length). Every sample interval (10 ps) <m_z> is recorded; the wall is at rest when |v|
fitted by least squares over the last ``solver.rest_window`` of the relaxation stays below
``solver.rest_velocity``. Each instance stops independently; then the instances that stopped run
``solver.readout_time`` longer at the same temperature without current, in steps of
``solver.readout_dt`` (the readout tail, :func:`readout_tail`), and their state is taken after it. A
failing instance (non-finite magnetization) is reported with ok=False and never stops the others.
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from ...settings import device_settings
from ...dwpos import mean_mz, wall_position
from ...io import write_json
from .. import InstanceResult
from .mesh import GAMMA_LL, MU0, Mesh
from .solver import INTEGRATORS, LLGSystem, Material, Stepper, compile_requested
from .sot import damping_like_coefficient
from .thermal import ThermalNoise, thermal_sigma

log = logging.getLogger(__name__)

SAMPLE_INTERVAL = 10e-12  # s between recorded <m_z> samples (rest detection and traces)
LOG_INTERVAL_S = 30.0  # wall-clock seconds between progress lines


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available else CPU; ``cpu``; ``cuda`` (error when absent)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device.torch.device is 'cuda' but torch sees no CUDA device")
    if name not in ("cpu", "cuda"):
        raise ValueError(f"unknown torch device {name!r}: expected auto, cpu or cuda")
    return torch.device(name)


def resolve_dtype(name: str) -> torch.dtype:
    """``float32`` (default) or ``float64``."""
    table = {"float32": torch.float32, "float64": torch.float64}
    if name not in table:
        raise ValueError(f"unknown dtype {name!r}: expected float32 or float64")
    return table[name]


def initial_wall(mesh: Mesh, material: Material, x0: float) -> torch.Tensor:
    """Neel wall centred at ``x0`` [m]: theta(x) = 2 atan(exp((x - x0)/Delta)), m_z = cos(theta),
    m_x = -sign(Dind) sin(theta) (the chirality Dind favours), Delta = sqrt(Aex / Keff) with
    Keff = Ku - mu0 Ms^2 / 2 (two cells when Keff <= 0). Shape (1, 3, ny, nx)."""
    keff = material.ku - 0.5 * MU0 * material.ms**2
    delta = math.sqrt(material.aex / keff) if keff > 0 and material.aex > 0 else 2.0 * mesh.dx
    x = (np.arange(mesh.nx) + 0.5) * mesh.dx
    theta = 2.0 * np.arctan(np.exp((x - x0) / delta))
    chir = -1.0 if material.dind >= 0 else 1.0
    m = np.zeros((1, 3, mesh.ny, mesh.nx))
    m[0, 0] = chir * np.sin(theta)[None, :]
    m[0, 2] = np.cos(theta)[None, :]
    m *= mesh.mask_np[None, None]
    return torch.as_tensor(m, dtype=mesh.dtype, device=mesh.device)


RELAX_ALPHA = 1.0  # Gilbert damping of the T = 0 relaxation before the pulse: overdamped, fast to settle


def relax_initial_state(system: LLGSystem, m: torch.Tensor, dt: float, duration: float,
                        integrator: str = "heun") -> torch.Tensor:
    """Relax ``m`` (B, 3, ny, nx) at T = 0 without current for ``duration`` [s] in steps of ``dt`` [s]
    of ``integrator`` (the run's, whose step ``dt`` is chosen for), with the LLG of ``system`` but Gilbert
    damping ``RELAX_ALPHA``: the analytic wall of
    :func:`initial_wall` settles into the notch and the rough edges before the pulse (the torch
    counterpart of the ``Relax()`` that the mumax3 template runs before each instance). Eager steps:
    this runs once per Ku on one row (or one row per Ku in the calibration scan)."""
    n_steps = round(duration / dt)
    if n_steps <= 0:
        return m
    relax_system = system.with_damping(RELAX_ALPHA)
    step = relax_system.rk4_step if integrator == "rk4" else relax_system.heun_step
    zero = torch.zeros((), dtype=m.dtype, device=m.device)
    dt_t = torch.tensor(dt, dtype=m.dtype, device=m.device)
    with torch.no_grad():
        for _ in range(n_steps):
            m = step(m, zero, zero, zero, dt_t)
    return m


def _exchange_mode_z(material: Material, mesh: Mesh, dt: float, integrator: str) -> complex:
    """z = omega dt (-alpha + i) / (1 + alpha^2) of the grid's fastest exchange mode,
    omega = gamma (2A/Ms)(4/dx^2 + 4/dy^2) [rad/s]."""
    if integrator not in INTEGRATORS:
        raise ValueError(f"integrator must be one of {', '.join(INTEGRATORS)}, got {integrator!r}")
    omega = GAMMA_LL * 2.0 * material.aex / material.ms * (4.0 / mesh.dx**2 + 4.0 / mesh.dy**2)
    return omega * dt * complex(-material.alpha, 1.0) / (1.0 + material.alpha**2)


def exchange_mode_growth(material: Material, mesh: Mesh, dt: float, integrator: str = "heun") -> float:
    """|R(z)| of the integrator for the fastest exchange mode of the grid (:func:`_exchange_mode_z`):
    R = 1 + z + z^2/2 (Heun), 1 + z + z^2/2 + z^3/6 + z^4/24 (RK4). Below 1 the step is stable for
    that mode."""
    z = _exchange_mode_z(material, mesh, dt, integrator)
    order = 2 if integrator == "heun" else 4
    return abs(sum(z**k / math.factorial(k) for k in range(order + 1)))


def exchange_mode_extra_damping(material: Material, mesh: Mesh, dt: float, integrator: str = "heun") -> float:
    """How much more (> 0) or less (< 0) the step damps the fastest exchange mode than the Gilbert damping
    does, in units of alpha: ln|R(z)| / Re(z) - 1 (0: exact; -1: no damping left, the stability limit).

    Why it matters at T > 0: the Brown field feeds every mode with a power set by alpha; a mode that the
    step damps (1 + this) times as strongly settles at a temperature 1 / (1 + this) times T. At alpha
    0.01 on 4 nm cells Heun at config.yaml's step gives -0.38 (-0.04 at half the step), RK4 at twice that
    step +0.07 and at four times +2.1, where the start-notch depinning at 7.75e5 J/m^3 and 300 K changed
    (docs/engine.md, "A larger step: RK4")."""
    z = _exchange_mode_z(material, mesh, dt, integrator)
    return math.log(exchange_mode_growth(material, mesh, dt, integrator)) / z.real - 1.0


EXTRA_DAMPING_WARN = 0.5  # |exchange_mode_extra_damping| above which a thermal run is warned about


def rows_mean_mz(m: torch.Tensor, mesh: Mesh) -> np.ndarray:
    """<m_z> over the magnetic cells of every batch row of ``m`` (B, 3, ny, nx), as a (B,) array."""
    return ((m[:, 2] * mesh.mask[0, 0]).sum(dim=(-2, -1)) / float(mesh.n_cells)).cpu().numpy()


def _rest_speed(t: np.ndarray, mz: np.ndarray, length: float) -> float:
    """|v| [m/s] = (L/2) |slope| of the least-squares line through (t, <m_z>)."""
    tc = t - t.mean()
    slope = float((tc * (mz - mz.mean())).sum() / (tc * tc).sum())
    return 0.5 * length * abs(slope)


def run_instances(config: dict, racetrack, ku: float, seeds: Sequence[int], workdir: Path,
                  progress: bool = True) -> list[InstanceResult]:
    """Simulate one thermal instance per seed for anisotropy ``ku`` [J/m^3] on ``racetrack``
    (a :class:`dwsynapse.geometry.Racetrack`), all instances as one batch.

    Reads ``config["device"]``: material (Ms A/m, Aex J/m, alpha, Dind J/m^2, theta_sh), drive
    (current_density A/m^2, pulse_duration s, temperature K), solver (dt s, demag, initial_relax_time s,
    relax_max_time s, rest_velocity m/s, rest_window s, readout_time s, readout_dt s, save_traces) and torch (device, dtype, compile,
    demag_refresh_steps). Writes a run
    summary ``torchfd_run.json`` into ``workdir``. Returns one :class:`InstanceResult` per seed, in order.
    """
    dev = device_settings(config)
    mat, drive, solver, tcfg = dev.material, dev.drive, dev.solver, dev.torch
    seeds = [int(s) for s in seeds]
    if not seeds:
        return []
    device = resolve_device(tcfg.device)
    dtype = resolve_dtype(tcfg.dtype)
    mesh = Mesh(racetrack.mask, racetrack.cell_size, racetrack.cell_size, racetrack.thickness, device, dtype)
    material = Material(ms=mat.ms, aex=mat.aex, alpha=mat.alpha, dind=mat.dind, ku=float(ku))
    system = LLGSystem(mesh, material, demag=solver.demag)
    integrator = solver.integrator
    stepper = Stepper(system, compile=compile_requested(tcfg.compile),
                      demag_refresh_steps=tcfg.demag_refresh_steps, integrator=integrator)
    dt = solver.dt
    growth = exchange_mode_growth(material, mesh, dt, integrator)
    if growth >= 1.0:
        log.warning("solver.dt = %.3g s is too large for %.3g m cells: %s amplifies the fastest exchange "
                    "mode by %.2f per step (> 1); results will depend on dt", dt, mesh.dx, integrator, growth)
    elif drive.temperature > 0:
        extra = exchange_mode_extra_damping(material, mesh, dt, integrator)
        if abs(extra) > EXTRA_DAMPING_WARN:
            log.warning("solver.dt = %.3g s: %s damps the fastest exchange modes %+.0f %% of alpha = %g %s than "
                        "the LLG does, so at %g K they settle at ~%.2f x that temperature; the outcome statistics "
                        "depend on dt (docs/engine.md)", dt, integrator, 100 * extra, material.alpha,
                        "more" if extra > 0 else "less", drive.temperature, 1.0 / (1.0 + extra))
    a_dl = damping_like_coefficient(drive.current_density, mat.theta_sh, material.ms, mesh.dz)
    sigma = thermal_sigma(material.alpha, drive.temperature, material.ms, mesh.cell_volume, dt)
    readout_dt = solver.readout_step
    params = dict(
        dt=dt,
        n_pulse=int(round(drive.pulse_duration / dt)),
        n_relax=int(round(solver.relax_max_time / dt)),
        n_sample=max(1, int(round(SAMPLE_INTERVAL / dt))),
        rest_velocity=solver.rest_velocity,
        rest_window=solver.rest_window,
        save_traces=solver.save_traces,
        a_dl=a_dl,
        sigma=sigma,
        x0=float(racetrack.start_x),
        initial_relax_time=solver.initial_relax_time,
        length=float(mesh.nx * mesh.dx),
        readout_dt=readout_dt,
        n_readout=int(round(solver.readout_time / readout_dt)),
        readout_sigma=thermal_sigma(material.alpha, drive.temperature, material.ms, mesh.cell_volume, readout_dt),
    )
    t_start = time.perf_counter()
    try:
        results, steps_done = _run_batch(system, stepper, seeds, params, progress)
    except Exception as exc:  # noqa: BLE001 - an instance must not abort the others
        if len(seeds) == 1:
            log.error("instance seed=%d failed: %s: %s", seeds[0], type(exc).__name__, exc)
            return [InstanceResult(seed=seeds[0], ok=False, error=f"{type(exc).__name__}: {exc}")]
        log.warning("batch of %d failed (%s: %s); running its instances one by one", len(seeds),
                    type(exc).__name__, exc)
        return [run_instances(config, racetrack, ku, [s], workdir, progress)[0] for s in seeds]
    wall = time.perf_counter() - t_start
    summary = dict(engine="torch", ku=float(ku), seeds=seeds, device=str(device), dtype=str(dtype).replace("torch.", ""),
                   compiled=stepper.compiled, integrator=integrator, demag=solver.demag, demag_refresh_steps=stepper.refresh, a_dl_T=a_dl,
                   thermal_sigma_T=sigma, instance_steps=steps_done, wall_time_s=wall,
                   instance_steps_per_s=steps_done / wall if wall > 0 else None,
                   n_ok=sum(r.ok for r in results), stop_time_s=[float(r.t[-1]) if r.t is not None and len(r.t) else None
                                                               for r in results])
    write_json(summary, Path(workdir) / "torchfd_run.json")
    return results


def integrate(stepper: Stepper, m: torch.Tensor, noise: ThermalNoise | None, dt: float, n_steps: int,
              n_sample: int, on_sample: Callable[[int, torch.Tensor], list[int] | None], *,
              a_dl: torch.Tensor | None = None, n_pulse: int = 0) -> torch.Tensor:
    """Advance the batch ``m`` (B, 3, ny, nx) by ``n_steps`` steps of ``dt`` [s] with ``stepper``: the damping-like
    SOT coefficient ``a_dl`` [T] (a scalar tensor, or one value per row shaped (B, 1, 1)) during the first
    ``n_pulse`` steps and no current after them, the Brown field of ``noise`` (None: T = 0) in every step, no
    field-like torque. The one time loop of the engine: the device stage, the readout tail and the calibration scan
    (:func:`dwsynapse.calibration.explore`) run it with their own ``on_sample``.

    After every ``n_sample``-th step, the pulse's last step and the last step, ``on_sample(k, m)`` (k steps
    done) returns None to go on with every row, or the batch rows to keep: ``m``, the noise streams, a per-row
    ``a_dl`` and the stepper's far-field state shrink to them, and an empty list ends the run there. Returns the
    state after the last step taken (rows as after the last shrink)."""
    zero = torch.zeros((), dtype=m.dtype, device=m.device)
    a_on = zero if a_dl is None else a_dl
    dt_t = torch.tensor(dt, dtype=m.dtype, device=m.device)
    with torch.no_grad():
        for k in range(1, n_steps + 1):
            b_th = noise.next() if noise is not None else zero
            m = stepper(m, b_th, a_on if k <= n_pulse else zero, zero, dt_t)
            if k % n_sample and k != n_pulse and k != n_steps:
                continue
            keep = on_sample(k, m)
            if keep is None:
                continue
            if not keep:
                break
            m = m[keep].contiguous()
            if noise is not None:
                noise.select(keep)
            if a_on.ndim:
                a_on = a_on[keep].contiguous()
            stepper.select(keep)
    return m


def _run_batch(system: LLGSystem, stepper: Stepper, seeds: list[int], p: dict, progress: bool):
    """Integrate all instances together; returns (results in seed order, instance-steps done)."""
    mesh = system.mesh
    n = len(seeds)
    m = relax_initial_state(system, initial_wall(mesh, system.mat, p["x0"]), p["dt"], p["initial_relax_time"],
                            stepper.integrator)
    m = m.repeat(n, 1, 1, 1)
    noise = ThermalNoise(seeds, mesh, p["sigma"]) if p["sigma"] > 0 else None
    a_on = torch.tensor(p["a_dl"], dtype=mesh.dtype, device=mesh.device)
    dt, n_pulse, n_total, n_sample = p["dt"], p["n_pulse"], p["n_pulse"] + p["n_relax"], p["n_sample"]
    window = max(2, int(round(p["rest_window"] / (n_sample * dt))) + 1)
    slots = list(range(n))  # batch row -> instance index
    active = [True] * n  # per batch row: still integrating
    times: list[list[float]] = [[0.0] for _ in range(n)]
    mz0 = float(rows_mean_mz(m[:1], mesh)[0])
    traces: list[list[float]] = [[mz0] for _ in range(n)]
    finals: list[np.ndarray | None] = [None] * n
    errors = [""] * n
    steps_done = 0
    k_last = 0
    t_log = time.perf_counter()
    t0 = t_log
    level = logging.INFO if progress else logging.DEBUG
    log.log(level, "torchfd: %d instances, %d x %d cells, pulse %d + relax <= %d %s steps of %.3g s, compiled=%s",
            n, mesh.nx, mesh.ny, n_pulse, p["n_relax"], stepper.integrator, dt, stepper.compiled)

    def finish(row: int, state: torch.Tensor, why: str = "") -> None:
        idx = slots[row]
        finals[idx] = state.detach().to("cpu", torch.float64).numpy().copy()
        errors[idx] = why
        active[row] = False

    def rest_test(k: int, m: torch.Tensor) -> list[int] | None:
        """Record every running row's <m_z>, stop the rows at rest (or non-finite); the rows to keep."""
        nonlocal steps_done, k_last, slots, active, t_log
        steps_done += (k - k_last) * sum(active)  # finished rows stay in the batch until it shrinks
        k_last = k
        t = k * dt
        mz_now = rows_mean_mz(m, mesh)
        finite = torch.isfinite(m).flatten(1).all(dim=1).cpu().numpy()
        for row in range(len(slots)):
            if not active[row]:
                continue
            idx = slots[row]
            if not finite[row]:
                finish(row, m[row], f"non-finite magnetization at t = {t:.4g} s")
                continue
            times[idx].append(t)
            traces[idx].append(float(mz_now[row]))
            if k <= n_pulse:
                continue
            tt = np.asarray(times[idx])
            post = tt >= n_pulse * dt
            if post.sum() >= window:
                speed = _rest_speed(tt[post][-window:], np.asarray(traces[idx])[post][-window:], p["length"])
                if speed < p["rest_velocity"]:
                    finish(row, m[row])
        n_active = sum(active)
        keep = None
        # drop finished rows once they are a quarter of the batch; never shrink below two rows, so that
        # a compiled step sees at most one static and one dynamic batch size (no recompile per size)
        if n_active >= 2 and n_active <= 0.75 * len(slots):
            keep = [r for r in range(len(slots)) if active[r]]
            slots = [slots[r] for r in keep]
            active = [True] * len(keep)
        now = time.perf_counter()
        if now - t_log > LOG_INTERVAL_S or k == n_pulse:
            log.log(level, "t = %.3f ns (%s), %d/%d instances running, %.0f instance-steps/s", t * 1e9,
                    "pulse" if k <= n_pulse else "relax", n_active, n, steps_done / (now - t0))
            t_log = now
        return [] if n_active == 0 else keep

    m = integrate(stepper, m, noise, dt, n_total, n_sample, rest_test, a_dl=a_on, n_pulse=n_pulse)
    for row in range(len(slots)):
        if active[row]:
            finish(row, m[row])
    del m
    if p["n_readout"] > 0:
        steps_done += _readout_tail_of_stopped(stepper, seeds, finals, errors, times, traces, p, level)
    mask = mesh.mask_np
    results = []
    for i, seed in enumerate(seeds):
        mf = finals[i]
        if errors[i]:
            results.append(InstanceResult(seed=seed, ok=False, error=errors[i], m_final=mf))
            continue
        res = InstanceResult(seed=seed, ok=True, mz=float(mean_mz(mf[2], mask)),
                             dw_x=float(wall_position(mf[2], mask, mesh.dx)), m_final=mf, stop_time=times[i][-1])
        if p["save_traces"]:
            res.t = np.asarray(times[i])
            res.mz_t = np.asarray(traces[i])
        results.append(res)
    return results, steps_done


READOUT_STREAM = 1  # spawn key of the readout tail's noise stream (SeedSequence([seed, READOUT_STREAM]))


def readout_noise_seed(seed: int) -> int:
    """Seed [0, 2^63) of the Brown field of instance ``seed``'s readout tail: its own stream, derived from the
    instance seed, so that an instance's tail is the same alone or in any batch."""
    return int(np.random.SeedSequence([int(seed), READOUT_STREAM]).generate_state(1, np.uint64)[0] >> np.uint64(1))


def readout_tail(stepper: Stepper, m: torch.Tensor, seeds: Sequence[int], dt: float, n_steps: int, sigma: float,
                 progress_level: int = logging.DEBUG) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Run the batch ``m`` (B, 3, ny, nx) ``n_steps`` steps of ``dt`` [s] longer without current, with the Brown
    field of standard deviation ``sigma`` [T] (0: none) drawn from each row's own readout stream
    (:func:`readout_noise_seed` of ``seeds[row]``). Returns the state after it, the times since the tail began
    [s] of its <m_z> samples (every :data:`SAMPLE_INTERVAL` and the last step) and <m_z> per row at those
    times, (B, n_samples).

    Why: at the main step Heun damps the grid's fastest exchange modes less than the LLG does
    (:func:`exchange_mode_extra_damping`, -38 % of alpha at config.yaml's step), so the Brown field heats them
    above the bath and the resting <m_z> is biased by the step (-0.002 at 8.0e5 J/m^3 for dt against dt/2,
    docs/calibration.md, A6). They relax at ~alpha omega_max (~5e10 /s on 4 nm cells), so a tail of
    0.05 ns at a step where the extra damping is small brings them back to the bath's temperature; the
    wall, whose modes are slow, does not move in that time."""
    mesh = stepper.system.mesh
    n_sample = max(1, int(round(SAMPLE_INTERVAL / dt)))
    noise = ThermalNoise([readout_noise_seed(s) for s in seeds], mesh, sigma) if sigma > 0 else None
    log.log(progress_level, "torchfd: readout tail of %d instances, %d %s steps of %.3g s", m.shape[0], n_steps,
            stepper.integrator, dt)
    stepper.restart()
    times, samples = [], []

    def record(k: int, m: torch.Tensor) -> None:
        times.append(k * dt)
        samples.append(rows_mean_mz(m, mesh))

    m = integrate(stepper, m, noise, dt, n_steps, n_sample, record)
    return m, np.asarray(times), np.stack(samples, axis=1) if samples else np.empty((m.shape[0], 0))


def _readout_tail_of_stopped(stepper: Stepper, seeds: list[int], finals: list, errors: list[str],
                             times: list[list[float]], traces: list[list[float]], p: dict, level: int) -> int:
    """:func:`readout_tail` of every stopped instance without an error (``p["n_readout"]`` steps of
    ``p["readout_dt"]`` [s], Brown field ``p["readout_sigma"]`` [T]) as one batch: its final state becomes the
    state after the tail and the tail's <m_z> samples are appended to its trace. Returns the instance-steps done."""
    mesh = stepper.system.mesh
    rows = [i for i in range(len(seeds)) if not errors[i]]
    if not rows:
        return 0
    n_steps = p["n_readout"]
    m = torch.as_tensor(np.stack([finals[i] for i in rows]), dtype=mesh.dtype, device=mesh.device)
    m, t_tail, mz_tail = readout_tail(stepper, m, [seeds[i] for i in rows], p["readout_dt"], n_steps,
                                      p["readout_sigma"], level)
    finite = torch.isfinite(m).flatten(1).all(dim=1).cpu().numpy()
    for row, i in enumerate(rows):
        t_stop = times[i][-1]
        times[i].extend(float(t_stop + t) for t in t_tail)
        traces[i].extend(float(v) for v in mz_tail[row])
        finals[i] = m[row].detach().to("cpu", torch.float64).numpy().copy()
        if not finite[row]:
            errors[i] = f"non-finite magnetization in the readout tail (t = {t_stop:.4g} s + {n_steps * p['readout_dt']:.3g} s)"
    return n_steps * len(rows)
