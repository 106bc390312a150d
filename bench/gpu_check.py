"""GPU check of both engines in one command (<= 5 min on one NVIDIA GPU): ``make gpu-check``.

Prints, on the config.yaml racetrack with the full (Newell) demag:

1. the torch engine on CUDA (float64 and float32) against CPU float64 for the same seeds, per
   instance: final <mz> and DW position, at T = 0 (must agree to rounding) and at the configured
   temperature (torch draws the noise of a seed from a per-device generator, so CUDA and CPU runs of
   one seed see different noise: compare the spread there, not the instances);
2. the throughput of the compiled Heun step at 2 nm for B = 16, 64, 250 (instance-steps/s) and the
   projected wall time of the device stage of config/paper.yaml on this GPU;
3. where a mumax3 binary is found (device.mumax3.binary, $MUMAX3 or PATH), one instance per Ku with
   both engines on the same geometry, seed and protocol, side by side (final DW position and <mz>).

``--dry`` runs every section on the CPU with tiny sizes (what the test suite does); its numbers
check the wiring only.

    python bench/gpu_check.py [--dry] [--config config.yaml] [--paper config/paper.yaml]
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from engine_throughput import time_torchfd  # noqa: E402  (bench/, beside this file)

# sizes of a real check and of the CPU dry mode
FULL = dict(cell=4e-9, seeds=4, pulse=0.2e-9, relax=0.1e-9, batches=(16, 64, 250), throughput_cell=2e-9, steps=50)
DRY = dict(cell=12e-9, seeds=2, pulse=2e-12, relax=1e-12, batches=(2, 4), throughput_cell=12e-9, steps=3)


def section(title: str) -> float:
    print(f"\n== {title}", flush=True)
    return time.perf_counter()


def small_config(config: dict, dry: bool) -> dict:
    """``config`` with the full demag (both engines have it); in the dry mode a 12 nm mesh, picosecond
    pulse and relaxation, the first two Ku values."""
    cfg = copy.deepcopy(config)
    dev = cfg["device"]
    dev["solver"]["demag"] = "newell"
    if dry:
        dev["geometry"].update(cell_size=DRY["cell"], notch_width=DRY["cell"])
        dev["drive"]["pulse_duration"] = DRY["pulse"]
        dev["solver"].update(relax_max_time=DRY["relax"], rest_window=DRY["relax"], initial_relax_time=DRY["relax"])
        dev["ku_values"] = dev["ku_values"][:2]
    return cfg


def torch_run(config: dict, ku: float, seeds: list[int], device: str, dtype: str, compile_: bool = False):
    """Final results of the torch engine for ``seeds`` on ``device`` with ``dtype``."""
    from dwsynapse.engines.torchfd import run_instances
    from dwsynapse.geometry import build_racetrack

    cfg = copy.deepcopy(config)
    cfg["device"]["torch"] = dict(device=device, dtype=dtype, compile=compile_)
    with tempfile.TemporaryDirectory() as work:
        return run_instances(cfg, build_racetrack(cfg["device"]["geometry"]), ku, seeds, Path(work), progress=False)


def cuda_vs_cpu(config: dict, sizes: dict, accel: str) -> None:
    """Section 1: per-instance <mz> and DW position, accelerator against CPU float64."""
    from dwsynapse.engines import instance_seed

    dev = config["device"]
    ku = dev["ku_values"][len(dev["ku_values"]) // 2]
    seeds = [instance_seed(int(dev["thermal_seed"]), 0, i) for i in range(sizes["seeds"])]
    cfg = copy.deepcopy(config)
    cfg["device"]["drive"]["pulse_duration"] = sizes["pulse"]
    cfg["device"]["solver"]["relax_max_time"] = sizes["relax"]
    for temperature in (0.0, float(dev["drive"]["temperature"])):
        cfg["device"]["drive"]["temperature"] = temperature
        ref = torch_run(cfg, ku, seeds, "cpu", "float64")
        runs = {dtype: torch_run(cfg, ku, seeds, accel, dtype) for dtype in ("float64", "float32")}
        print(f"T = {temperature:g} K, Ku = {ku:g} J/m^3, pulse {sizes['pulse']:g} s + relax <= {sizes['relax']:g} s")
        print(f"  {'seed':>20s} {'cpu f64 <mz>':>13s} {'dw_x nm':>8s}" + "".join(
            f" {accel + ' ' + d + ' <mz>':>18s} {'|d<mz>|':>9s} {'dw_x nm':>8s}" for d in runs))
        worst = {d: 0.0 for d in runs}
        for j, seed in enumerate(seeds):
            line = f"  {seed:20d} {ref[j].mz:13.6f} {ref[j].dw_x * 1e9:8.2f}"
            for d, res in runs.items():
                diff = abs(res[j].mz - ref[j].mz)
                worst[d] = max(worst[d], diff)
                line += f" {res[j].mz:18.6f} {diff:9.2e} {res[j].dw_x * 1e9:8.2f}"
            print(line)
        print("  max |d<mz>| " + ", ".join(f"{accel} {d}: {w:.2e}" for d, w in worst.items())
              + ("  (T = 0: rounding only)" if temperature == 0 else "  (T > 0: noise streams differ by device)"))


def throughput(config: dict, paper: dict, sizes: dict, accel: str) -> None:
    """Section 2: compiled Heun steps at the throughput cell size, projected paper wall time."""
    from dwsynapse.config import with_defaults
    from dwsynapse.geometry import build_racetrack

    pdev = with_defaults(paper)["device"]
    cell = sizes["throughput_cell"]
    geometry = pdev["geometry"]
    track = build_racetrack(dict(geometry, cell_size=cell, notch_width=max(cell, geometry["notch_width"])))
    compiled = bool(pdev["torch"]["compile"]) and not accel == "cpu"
    steps_per_instance = (float(pdev["drive"]["pulse_duration"]) + float(pdev["solver"]["relax_max_time"])) \
        / float(pdev["solver"]["dt"])
    pulse_steps = float(pdev["drive"]["pulse_duration"]) / float(pdev["solver"]["dt"])
    n_instances = len(pdev["ku_values"]) * int(pdev["instances_per_ku"])
    print(f"cell {cell * 1e9:g} nm ({track.nx} x {track.ny} cells), {accel}, float32, compiled={compiled}; "
          f"paper: {n_instances} instances x <= {steps_per_instance:.0f} steps (pulse {pulse_steps:.0f}), "
          f"chunk_size {pdev['chunk_size']}")
    for b in sizes["batches"]:
        per_step, _, did_compile, t_warm = time_torchfd(paper, track, 7.5e5, b, sizes["steps"], "float32", compiled,
                                                        device=accel)
        rate = b / per_step
        hours = n_instances * steps_per_instance / rate / 3600
        print(f"  B = {b:3d}: {per_step * 1e3:8.3f} ms/step, {rate:9.0f} instance-steps/s (compiled={did_compile}, "
              f"warm-up {t_warm:.0f} s); paper device stage at this rate: <= {hours:.2f} h "
              f"(pulse only {hours * pulse_steps / steps_per_instance:.2f} h)", flush=True)


def side_by_side(config: dict, accel: str) -> None:
    """Section 3: one instance per Ku with mumax3 and with the torch engine."""
    from dwsynapse.engines import instance_seed
    from dwsynapse.engines.mumax3 import Mumax3NotFound, engine_version, find_binary
    from dwsynapse.engines.mumax3 import run_instances as mumax3_run
    from dwsynapse.geometry import build_racetrack

    try:
        binary = find_binary(config)
    except Mumax3NotFound as exc:
        print(f"skipped: {str(exc).split('. ')[0]}")
        return
    dev = config["device"]
    rt = build_racetrack(dev["geometry"])
    print(f"mumax3 {binary}; {rt.nx} x {rt.ny} cells of {rt.cell_size * 1e9:g} nm, "
          f"T = {dev['drive']['temperature']:g} K, "
          f"pulse {dev['drive']['pulse_duration']:g} s + relax <= {dev['solver']['relax_max_time']:g} s")
    print(f"  {'Ku J/m^3':>9s} {'seed':>20s} {'mumax3 <mz>':>12s} {'dw_x nm':>8s} {'torch <mz>':>11s} {'dw_x nm':>8s}")
    with tempfile.TemporaryDirectory() as work:
        version = ""
        for k, ku in enumerate(dev["ku_values"]):
            seed = instance_seed(int(dev["thermal_seed"]), k, 0)
            m = mumax3_run(config, rt, ku, [seed], Path(work) / f"ku{k}", progress=False)[0]
            version = version or engine_version(Path(work) / f"ku{k}")
            t = torch_run(config, ku, [seed], accel, "float32")[0]
            mz = f"{m.mz:12.4f} {m.dw_x * 1e9:8.2f}" if m.ok else f"{'FAILED':>12s} {'':8s}"
            why = "" if m.ok else f"  {m.error[:200]}"
            print(f"  {ku:9.4g} {seed:20d} {mz} {t.mz:11.4f} {t.dw_x * 1e9:8.2f}{why}", flush=True)
    print(f"  mumax3 version: {version or 'unknown'}; the noise of one seed differs between the engines: "
          "compare levels, not digits")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dry", action="store_true", help="CPU only, tiny sizes (the test suite's run)")
    ap.add_argument("--config", default=str(REPO / "config.yaml"), help="racetrack, material and protocol")
    ap.add_argument("--paper", default=str(REPO / "config" / "paper.yaml"), help="config whose wall time is projected")
    args = ap.parse_args(argv)
    import torch

    from dwsynapse.config import load_config

    if not args.dry and not torch.cuda.is_available():
        print(f"gpu_check: torch {torch.__version__} sees no CUDA device (a CPU build of torch? install a CUDA one, "
              "e.g. "
              "`.venv/bin/pip install --force-reinstall torch --index-url https://download.pytorch.org/whl/cu124`); "
              "--dry runs the CPU wiring check", file=sys.stderr)
        return 2
    accel = "cpu" if args.dry else "cuda"
    sizes = DRY if args.dry else FULL
    config = small_config(load_config(args.config), args.dry)
    paper = load_config(args.paper)
    name = torch.cuda.get_device_name(0) if accel == "cuda" else "CPU (dry mode)"
    print(f"gpu_check: torch {torch.__version__} on {name}; config {args.config}, demag newell")
    t0 = time.perf_counter()
    t = section(f"1. torch engine: {accel} against CPU float64, same seeds")
    cuda_vs_cpu(config, sizes, accel)
    print(f"  ({time.perf_counter() - t:.0f} s)")
    t = section(f"2. throughput at {sizes['throughput_cell'] * 1e9:g} nm, projected wall time of {args.paper}")
    throughput(config, paper, sizes, accel)
    print(f"  ({time.perf_counter() - t:.0f} s)")
    t = section("3. one instance per Ku: mumax3 and the torch engine side by side")
    side_by_side(config, accel)
    print(f"  ({time.perf_counter() - t:.0f} s)")
    if accel == "cuda":
        print(f"\npeak CUDA memory {torch.cuda.max_memory_allocated() / 2**30:.2f} GiB")
    print(f"gpu_check: done in {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
