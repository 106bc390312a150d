"""Which part of a mesh change moves a wall: the solver's discretization or the rounding of the edges?

At T = 0 and the paper's pulse, every Ku of ``--mesh``'s config runs once with that config's own numerics
(cell, Heun step, demag and its refresh, initial relaxation), on its own racetrack or, with ``--edges``, on the
racetrack of another config whose cells are a whole multiple of the mesh's, each coarse cell split into
finer ones (:func:`dwsynapse.geometry.subdivided`: the coarse mesh's edges and notches exactly). Three runs
separate the two effects (docs/calibration.md, "Transfer to 2 nm"):

    python bench/mesh_edges_transfer.py --mesh config.yaml --json own4.json
    python bench/mesh_edges_transfer.py --mesh config/paper.yaml --json own2.json
    python bench/mesh_edges_transfer.py --mesh config/paper.yaml --edges config.yaml --json edges4_on_2.json

Prints the final wall positions [nm] and <m_z>; ``--json`` also keeps the <m_z>(t) traces (10 ps apart).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from dwsynapse.calibration_study import _explore_at_zero_temperature
from dwsynapse.config import load_config
from dwsynapse.geometry import build_racetrack, subdivided


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mesh", required=True, help="config whose device section (mesh and numerics) runs")
    ap.add_argument("--edges", help="config whose racetrack is used, its cells split to the mesh's cell size")
    ap.add_argument("--relax-time", type=float, default=2e-9, help="s after the 1 ns pulse (default 2e-9)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="write positions and <m_z>(t) traces here")
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    device = load_config(args.mesh)["device"]
    racetrack = None
    if args.edges:
        coarse = build_racetrack(load_config(args.edges)["device"]["geometry"])
        factor = coarse.cell_size / float(device["geometry"]["cell_size"])
        if abs(factor - round(factor)) > 1e-9:
            ap.error(f"--edges' cell {coarse.cell_size:g} m is not a whole multiple of --mesh's "
                     f"{device['geometry']['cell_size']:g} m")
        racetrack = subdivided(coarse, round(factor))
        own = build_racetrack(device["geometry"])
        if own.mask.shape != racetrack.mask.shape:
            ap.error(f"the two racetracks differ in size: {own.mask.shape} and {racetrack.mask.shape} cells")
        print(f"{args.edges}'s racetrack on {args.mesh}'s mesh: {int((own.mask != racetrack.mask).sum())} cells "
              f"differ from {args.mesh}'s own racetrack")
    kus = [float(k) for k in sorted(device["ku_values"], reverse=True)]
    drive = device["drive"]
    r = _explore_at_zero_temperature(device, kus, compile=True, current_density=float(drive["current_density"]),
                                     pulse_duration=float(drive["pulse_duration"]), relax_time=args.relax_time,
                                     n_per_ku=1, racetrack=racetrack)
    print("| Ku [J/m^3] | wall [nm] | <m_z> |\n|---|---|---|")
    for ku, x, mz in zip(r["ku"], r["dw_x"], r["mz"]):
        print(f"| {ku:.4g} | {x * 1e9:.1f} | {mz:+.3f} |")
    print(f"{r['instance_steps']} instance-steps in {r['wall_time_s']:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({
            "mesh": args.mesh, "edges": args.edges or args.mesh, "ku": r["ku"].tolist(),
            "dw_x_nm": np.round(r["dw_x"] * 1e9, 2).tolist(), "mz": np.round(r["mz"], 4).tolist(),
            "t_ns": np.round(r["t"] * 1e9, 4).tolist(), "mz_t": np.round(r["mz_t"], 4).tolist()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
