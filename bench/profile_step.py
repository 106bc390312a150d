"""Per-op profile (torch.profiler, CPU) of the compiled Heun step with every production term on the
config.yaml racetrack (Newell demag, 300 K noise, SOT on), for the current engine or the pinned
baseline (bench/baseline_engine.py). Prints the operator table sorted by self CPU time, with each
kernel that inductor generated as its own row (``cpp_fused_*``).

    .venv/bin/python bench/profile_step.py --cell 4e-9 --batch 64 [--engine current|baseline] [--steps 20]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "bench"))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cell", type=float, default=4e-9)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--engine", choices=["current", "baseline"], default="current")
    ap.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rows", type=int, default=25)
    args = ap.parse_args(argv)
    import torch
    import yaml
    from torch.profiler import ProfilerActivity, profile

    from dwsynapse.geometry import build_racetrack
    from engine_throughput import make_case

    torch._inductor.config.cpp.enable_kernel_profile = True  # each generated C++ kernel is a row of the table
    torch.set_num_threads(args.threads)
    with open(REPO / "config.yaml") as fh:
        config = yaml.safe_load(fh)
    track = build_racetrack(dict(config["device"]["geometry"], cell_size=args.cell))
    step, state = make_case(args.engine, config, track, 7.5e5, args.batch, args.dtype, compiled=True)
    for _ in range(3):
        step(state)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            step(state)
    print(f"{args.engine}: cell {args.cell * 1e9:g} nm, B = {args.batch}, {args.steps} steps, {args.threads} threads")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=args.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
