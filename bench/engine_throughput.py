"""Throughput of the embedded engine (instance-steps per second) on the config.yaml racetrack.

For each cell size (default 4 nm and 2 nm) and batch size B (default 1, 16, 64) it times full
Heun steps with every term of a production run (exchange, DMI, anisotropy, Newell demag, SOT,
Brown thermal field with per-instance generators), float32 by default, eager and/or compiled.
When a magnum.np venv exists (``$MAGNUMNP_PYTHON`` or /tmp/magnumnp-venv/bin/python) its time per
step on the same mesh (B = 1, float64, its own torch.compile) is measured in a subprocess and the
ratio printed. Times are measured side by side on the same machine; compare ratios, not absolutes.

    .venv/bin/python bench/engine_throughput.py [--cells 4e-9 2e-9] [--batches 1 16 64]
        [--steps 20] [--mode eager compiled] [--dtype float32] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def time_torchfd(config, track, ku, batch, steps, dtype, compiled, warmup=3, device="cpu"):
    """(wall seconds, CPU seconds of this process, compiled?, warm-up seconds) per Heun step of a batch of
    ``batch`` instances on torch device ``device`` (cpu | cuda; CUDA is synchronized before each clock
    reading). CPU seconds are less sensitive to other load on a shared machine."""
    import torch

    from dwsynapse.engines.torchfd.mesh import Mesh
    from dwsynapse.engines.torchfd.racetrack import initial_wall, resolve_dtype
    from dwsynapse.engines.torchfd.solver import LLGSystem, Material, Stepper
    from dwsynapse.engines.torchfd.sot import damping_like_coefficient
    from dwsynapse.engines.torchfd.thermal import ThermalNoise, thermal_sigma

    dev = config["device"]
    mat = dev["material"]
    dt_val = float(dev["solver"]["dt"])
    tdtype = resolve_dtype(dtype)
    device = torch.device(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    mesh = Mesh(track.mask, track.cell_size, track.cell_size, track.thickness, device, tdtype)
    material = Material(float(mat["Ms"]), float(mat["Aex"]), float(mat["alpha"]), float(mat["Dind"]), float(ku))
    system = LLGSystem(mesh, material, demag="newell")
    stepper = Stepper(system, compile=compiled)
    m = initial_wall(mesh, material, track.start_x).repeat(batch, 1, 1, 1)
    noise = ThermalNoise(range(batch), mesh, thermal_sigma(material.alpha, 300.0, material.ms, mesh.cell_volume, dt_val))
    a = torch.tensor(damping_like_coefficient(float(dev["drive"]["current_density"]), float(mat["theta_sh"]),
                                              material.ms, mesh.dz), dtype=tdtype, device=device)
    z = torch.zeros((), dtype=tdtype, device=device)
    dt = torch.tensor(dt_val, dtype=tdtype, device=device)
    t_compile = time.perf_counter()
    for _ in range(warmup):
        m = stepper(m, noise.next(), a, z, dt)
    sync()
    t_compile = time.perf_counter() - t_compile
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        m = stepper(m, noise.next(), a, z, dt)
    sync()
    per_step = (time.perf_counter() - t0) / steps
    cpu_per_step = (time.process_time() - c0) / steps
    return per_step, cpu_per_step, stepper.compiled, t_compile


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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cells", type=float, nargs="+", default=[4e-9, 2e-9])
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 16, 64])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--mode", nargs="+", choices=["eager", "compiled"], default=["eager", "compiled"])
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--ku", type=float, default=7.5e5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--no-magnumnp", action="store_true")
    args = ap.parse_args(argv)
    import torch
    import yaml

    from dwsynapse.geometry import build_racetrack

    torch.set_num_threads(args.threads)
    with open(REPO / "config.yaml") as fh:
        config = yaml.safe_load(fh)
    py = None if args.no_magnumnp else magnumnp_python()
    print(f"torch {torch.__version__}, {args.threads} threads, dtype {args.dtype}, steps {args.steps}")
    for cell in args.cells:
        track = build_racetrack(dict(config["device"]["geometry"], cell_size=cell))
        ref = time_magnumnp(py, cell, max(10, args.steps), args.threads) if py else None
        head = f"cell {cell * 1e9:g} nm ({track.nx} x {track.ny} cells)"
        if ref:
            head += f": magnum.np {ref * 1e3:.2f} ms/step = {1 / ref:.0f} instance-steps/s"
        print(head)
        for mode in args.mode:
            for b in args.batches:
                per_step, cpu_step, compiled, t_warm = time_torchfd(config, track, args.ku, b, args.steps,
                                                                    args.dtype, mode == "compiled")
                rate = b / per_step
                line = (f"  {mode:8s} B={b:3d}: {per_step * 1e3:8.2f} ms/step  {per_step / b * 1e3:7.3f} ms/instance-step"
                        f" (CPU {cpu_step / b * 1e3:7.3f})  {rate:8.0f} instance-steps/s")
                if mode == "compiled":
                    line += f"  (compiled={compiled}, warm-up {t_warm:.0f} s)"
                if ref:
                    line += f"  x{rate * ref:.1f} vs magnum.np"
                print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
