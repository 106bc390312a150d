"""Throughput of the embedded engine (instance-steps per second) on the config.yaml racetrack, side by
side with the pinned baseline of the step (bench/baseline_engine.py) and, where installed, magnum.np.

For each cell size (default 4 nm and 2 nm) and batch size B (default 1, 16, 64) it builds the baseline
and the current engine with every term of a production run (exchange, DMI, anisotropy, Newell demag,
SOT, Brown thermal field with per-instance generators), float32 by default, compiles both (or runs
both eager), then times them interleaved (baseline, current, baseline, current, ... ``--rounds``
blocks of ``--steps`` steps each) and prints the median ratio current / baseline and its range over
the rounds. When a magnum.np venv exists (``$MAGNUMNP_PYTHON`` or /tmp/magnumnp-venv/bin/python) its
time per step on the same mesh (B = 1, float64, its own torch.compile) is measured in a subprocess
before and after the torch rounds of each cell size, and the engines' ratios to it are printed.
Only ratios measured in one run mean anything on a shared machine.

    .venv/bin/python bench/engine_throughput.py [--cells 4e-9 2e-9] [--batches 1 16 64]
        [--steps 20] [--rounds 5] [--mode compiled] [--dtype float32] [--threads 2] [--agreement STEPS]

``--cases 4e-9:64 2e-9:16`` times only those (cell size, B) pairs instead of every cell x batch: the
two cases of the engine's acceptance (docs/engine.md) in one run.

``--agreement STEPS`` first runs both engines in float64 for STEPS steps from the same state with
the same seeds (eager) and prints the largest per-instance difference of <m_z>.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))


def make_case(engine, config, track, ku, batch, dtype, compiled, device="cpu", demag_refresh=1, integrator="heun",
              dt=None):
    """(step, state): ``step(state)`` advances ``state["m"]`` (batch, 3, ny, nx) by one step of the
    ``engine`` (``current`` | ``baseline``) on ``track`` (a :class:`dwsynapse.geometry.Racetrack`) with
    the material of ``config``, Ku [J/m^3], 300 K noise and the configured SOT current on, on torch
    device ``device``; the baseline takes Heun steps, the current engine steps of ``integrator`` and
    computes the far demag field every ``demag_refresh`` steps (``device.torch.demag_refresh_steps``).
    ``dt`` [s]: the step (default: :func:`case_dt` of the config). ``state["compiled"]`` says what runs."""
    import torch

    from baseline_engine import BaselineNoise, BaselineSystem
    from dwsynapse.engines.torchfd.mesh import Mesh
    from dwsynapse.engines.torchfd.racetrack import initial_wall, resolve_dtype
    from dwsynapse.engines.torchfd.solver import LLGSystem, Material, Stepper
    from dwsynapse.engines.torchfd.sot import damping_like_coefficient
    from dwsynapse.engines.torchfd.thermal import ThermalNoise, thermal_sigma

    dev = config["device"]
    mat = dev["material"]
    dt_val = case_dt(config, track) if dt is None else float(dt)
    tdtype = resolve_dtype(dtype)
    device = torch.device(device)
    mesh = Mesh(track.mask, track.cell_size, track.cell_size, track.thickness, device, tdtype)
    material = Material(float(mat["Ms"]), float(mat["Aex"]), float(mat["alpha"]), float(mat["Dind"]), float(ku))
    sigma = thermal_sigma(material.alpha, 300.0, material.ms, mesh.cell_volume, dt_val)
    a = torch.tensor(damping_like_coefficient(float(dev["drive"]["current_density"]), float(mat["theta_sh"]),
                                              material.ms, mesh.dz), dtype=tdtype, device=device)
    z = torch.zeros((), dtype=tdtype, device=device)
    dt = torch.tensor(dt_val, dtype=tdtype, device=device)
    state = {"m": initial_wall(mesh, material, track.start_x).repeat(batch, 1, 1, 1), "mask": mesh.mask[0, 0]}
    if engine == "baseline":
        system = BaselineSystem(mesh, material)
        fn = torch.compile(system.heun_step) if compiled else system.heun_step
        noise = BaselineNoise(range(batch), mesh, sigma)
        state["compiled"] = compiled
    else:
        stepper = Stepper(LLGSystem(mesh, material, demag="newell"), compile=compiled, demag_refresh_steps=demag_refresh,
                          integrator=integrator)
        fn = stepper
        noise = ThermalNoise(range(batch), mesh, sigma)
        state["compiled"] = stepper.compiled

    def step(st):
        st["m"] = fn(st["m"], noise.next(), a, z, dt)

    return step, state


def case_dt(config, track, dt=None) -> float:
    """The step [s] ``dt`` at config.yaml's cell size (default: the config's) scaled with the cell area of
    ``track``, so that the step stays as stable for the exchange modes of a finer mesh (as config/paper.yaml's:
    a quarter at 2 nm)."""
    base = float(config["device"]["solver"]["dt"]) if dt is None else float(dt)
    return base * (track.cell_size / float(config["device"]["geometry"]["cell_size"])) ** 2


def heun_dt(config, track) -> float:
    """The baseline's Heun step [s] on ``track``: the config's step when the config runs Heun, else
    HEUN_MARGIN of the largest step for which Heun does not amplify the fastest exchange mode (the
    fraction config.yaml's Heun step had)."""
    if config["device"]["solver"]["integrator"] == "heun":
        return case_dt(config, track)
    from dwsynapse.calibration_study import stable_dt

    return stable_dt(config["device"]["material"], track.cell_size, dt_max=1.0, margin=HEUN_MARGIN)


HEUN_MARGIN = 0.74  # config.yaml's Heun step (6.25e-14 s at 4 nm, alpha 0.01) / Heun's stability limit


def time_steps(step, state, steps, sync):
    """(wall seconds, CPU seconds of this process) per step over ``steps`` steps. CPU seconds are less
    sensitive to other load on a shared machine."""
    sync()
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step(state)
    sync()
    return (time.perf_counter() - t0) / steps, (time.process_time() - c0) / steps


def time_torchfd(config, track, ku, batch, steps, dtype, compiled, warmup=3, device="cpu", demag_refresh=1):
    """(wall seconds, CPU seconds, compiled?, warm-up seconds) per step (the config's integrator) of the current engine for a
    batch of ``batch`` instances on ``track`` (CUDA is synchronized before each clock reading)."""
    import torch

    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    step, state = make_case("current", config, track, ku, batch, dtype, compiled, device, demag_refresh,
                            config["device"]["solver"]["integrator"])
    t0 = time.perf_counter()
    for _ in range(warmup):
        step(state)
    sync()
    t_warm = time.perf_counter() - t0
    per_step, cpu_per_step = time_steps(step, state, steps, sync)
    return per_step, cpu_per_step, state["compiled"], t_warm


def compare(config, track, ku, batch, steps, rounds, dtype, compiled, device="cpu", demag_refresh=1, integrator="heun",
            dts=(None, None)):
    """Interleaved timing of the baseline (Heun, step ``dts[0]``) and the current engine (``integrator``,
    step ``dts[1]``): dict with the per-round seconds per step of each (``baseline``, ``current``; ``*_cpu``:
    CPU seconds), the warm-up seconds and whether each ran compiled."""
    import torch

    torch._dynamo.reset()  # each case compiles with static shapes, as a production chunk does
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    cases, warm = {}, {}
    for engine, dt in zip(("baseline", "current"), dts):
        step, state = make_case(engine, config, track, ku, batch, dtype, compiled, device, demag_refresh,
                                integrator if engine == "current" else "heun", dt)
        t0 = time.perf_counter()
        for _ in range(3):
            step(state)
        sync()
        warm[engine] = time.perf_counter() - t0
        cases[engine] = (step, state)
    out = {"baseline": [], "current": [], "baseline_cpu": [], "current_cpu": [], "warm": warm, "compiled": {k: v[1]["compiled"] for k, v in cases.items()}}
    for _ in range(rounds):
        for engine in ("baseline", "current"):
            wall, cpu = time_steps(*cases[engine], steps, sync)
            out[engine].append(wall)
            out[engine + "_cpu"].append(cpu)
    return out


def agreement(config, track, ku, batch, steps, compiled):
    """Per-instance |<m_z>_current - <m_z>_baseline| after ``steps`` float64 Heun steps of both engines
    from the same initial wall with the same seeds (0 ... batch-1), 300 K and the SOT current on."""
    import torch

    mz = {}
    for engine in ("baseline", "current"):
        step, state = make_case(engine, config, track, ku, batch, "float64", compiled)
        for _ in range(steps):
            step(state)
        mask = state["mask"]
        mz[engine] = (state["m"][:, 2] * mask).sum(dim=(-2, -1)) / mask.sum()
    return (mz["current"] - mz["baseline"]).abs(), mz["baseline"]


def magnumnp_python() -> str | None:
    cand = os.environ.get("MAGNUMNP_PYTHON") or "/tmp/magnumnp-venv/bin/python"
    return cand if Path(cand).exists() else None


def time_magnumnp(python: str, cell: float, steps: int, threads: int) -> float | None:
    """magnum.np seconds per step (B = 1, float64) measured by bench/crosscheck_magnumnp.py --time-only."""
    cmd = [python, str(REPO / "bench" / "crosscheck_magnumnp.py"), "--time-only", "--cell", repr(cell),
           "--steps", str(steps), "--threads", str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    for line in out.stdout.splitlines()[::-1]:
        if line.startswith("{"):
            return json.loads(line)["magnumnp_s_per_step"]
    print(f"  magnum.np timing failed (rc {out.returncode}): {out.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
    return None


def _case(text: str) -> tuple[float, int]:
    """``CELL:B`` (e.g. ``2e-9:16``) as (cell size [m], batch size)."""
    try:
        cell, batch = text.split(":")
        return float(cell), int(batch)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected CELL:B such as 2e-9:16, got {text!r}") from None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=float, nargs="+", default=[4e-9, 2e-9])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64])
    ap.add_argument("--cases", type=_case, nargs="+", default=None, metavar="CELL:B",
                    help="only these (cell size [m], batch size) pairs, e.g. 4e-9:64 2e-9:16 (replaces --cells x --batches)")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--mode", nargs="+", choices=["eager", "compiled"], default=["compiled"])
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--ku", type=float, default=7.5e5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-magnumnp", action="store_true")
    ap.add_argument("--demag-refresh", type=int, default=None, metavar="K",
                    help="current engine: far demag field every K steps (default: config.yaml's device.torch.demag_refresh_steps)")
    ap.add_argument("--integrator", choices=["heun", "rk4"], default=None,
                    help="current engine's integrator (default: config.yaml's device.solver.integrator); the baseline runs Heun")
    ap.add_argument("--dt", type=float, default=None,
                    help="current engine's step [s] at config.yaml's cell size, scaled with the cell area (default: the config's)")
    ap.add_argument("--agreement", type=int, default=0, metavar="STEPS",
                    help="first compare float64 <m_z> of the two engines after STEPS steps (B = 8, same seeds)")
    args = ap.parse_args(argv)
    import torch

    from dwsynapse.config import load_config
    from dwsynapse.geometry import build_racetrack

    batches_of = {cell: list(args.batches) for cell in args.cells}
    if args.cases:
        batches_of = {}
        for cell, b in args.cases:
            batches_of.setdefault(cell, []).append(b)
        args.cells = list(batches_of)
    torch.set_num_threads(args.threads)
    config = load_config(REPO / "config.yaml")
    refresh = int(config["device"]["torch"]["demag_refresh_steps"]) if args.demag_refresh is None else args.demag_refresh
    integrator = args.integrator or config["device"]["solver"]["integrator"]
    py = None if args.no_magnumnp else magnumnp_python()
    print(f"torch {torch.__version__}, {args.threads} threads, dtype {args.dtype}, {args.rounds} interleaved rounds "
          f"of {args.steps} steps; current engine: {integrator}, far demag every {refresh} step(s); "
          f"magnum.np: {py or 'not installed'}")
    tracks = {cell: build_racetrack(dict(config["device"]["geometry"], cell_size=cell)) for cell in args.cells}
    if args.agreement:
        for cell in args.cells:
            diff, mz = agreement(config, tracks[cell], args.ku, 8, args.agreement, compiled=False)
            print(f"agreement, cell {cell * 1e9:g} nm, float64 eager, B = 8, {args.agreement} steps at 300 K with SOT: "
                  f"max |<mz> - <mz>_baseline| = {float(diff.max()):.2e} (<mz>_baseline "
                  f"{', '.join(f'{v:+.6f}' for v in mz.tolist())})", flush=True)
    for cell in args.cells:
        track = tracks[cell]
        dts = (heun_dt(config, track), case_dt(config, track, args.dt))
        gain = dts[1] / dts[0]  # simulated time per step, current / baseline
        print(f"cell {cell * 1e9:g} nm ({track.nx} x {track.ny} cells); steps: baseline Heun {dts[0]:.4g} s, "
              f"current {integrator} {dts[1]:.4g} s", flush=True)
        refs = [time_magnumnp(py, cell, max(10, args.steps), args.threads)] if py else []
        rows = []
        for mode in args.mode:
            for b in batches_of[cell]:
                r = compare(config, track, args.ku, b, args.steps, args.rounds, args.dtype, mode == "compiled",
                            demag_refresh=refresh, integrator=integrator, dts=dts)
                rows.append((mode, b, r))
                base, cur = statistics.median(r["baseline"]), statistics.median(r["current"])
                ratios = [bs / cs for bs, cs in zip(r["baseline"], r["current"])]
                cpu_ratios = [bs / cs for bs, cs in zip(r["baseline_cpu"], r["current_cpu"])]
                print(f"  {mode:8s} B={b:3d}: baseline {base / b * 1e3:7.3f}, current {cur / b * 1e3:7.3f} "
                      f"ms/instance-step = {b / cur:7.0f} instance-steps/s; current/baseline x{statistics.median(ratios):.2f} "
                      f"(rounds {min(ratios):.2f}-{max(ratios):.2f}, best round of each x{min(r['baseline']) / min(r['current']):.2f}; CPU time x{statistics.median(cpu_ratios):.2f}, "
                      f"{min(cpu_ratios):.2f}-{max(cpu_ratios):.2f}; compiled {r['compiled']['current']}, "
                      f"warm-up {r['warm']['baseline']:.0f} / {r['warm']['current']:.0f} s)", flush=True)
                if gain != 1.0:
                    print(f"  {mode:8s} B={b:3d}: simulated time per second, current/baseline x{statistics.median(ratios) * gain:.2f} "
                          f"(rounds {min(ratios) * gain:.2f}-{max(ratios) * gain:.2f}; {gain:.2f} x the baseline's step)", flush=True)
        if py:
            refs.append(time_magnumnp(py, cell, max(10, args.steps), args.threads))
        refs = [x for x in refs if x]
        head = f"cell {cell * 1e9:g} nm"
        if refs:
            ref = statistics.mean(refs)
            print(f"{head}: magnum.np {', '.join(f'{x * 1e3:.2f}' for x in refs)} ms/step (before, after the torch rounds)")
            for mode, b, r in rows:
                base, cur = statistics.median(r["baseline"]), statistics.median(r["current"])
                print(f"  {mode:8s} B={b:3d}: x{b / cur * ref:.1f} (current) and x{b / base * ref:.1f} (baseline) "
                      f"magnum.np's steps/s (range over its two timings x{b / cur * min(refs):.1f}-x{b / cur * max(refs):.1f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
