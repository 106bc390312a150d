"""Cross-check of the embedded engine (dwsynapse torchfd) against magnum.np 2.2.0 at T = 0.

Runs a straight strip with the config's material (or, with --racetrack, the racetrack of config.yaml:
same mask, Ms = 0 outside it for magnum.np), all terms
(exchange, interfacial DMI, uniaxial anisotropy, Newell demag, damping-like SOT), float64,
fixed-step Heun (dt from the config) from the same initial Neel wall, and compares the final
<m> and the wall displacement. Run it with the Python of a separate venv holding magnum.np
(never the project's venv):

    python -m venv /tmp/magnumnp-venv && /tmp/magnumnp-venv/bin/pip install magnumnp==2.2.0 pyyaml jsonschema h5py
    /tmp/magnumnp-venv/bin/python bench/crosscheck_magnumnp.py            # the gate: 2 nm, exit 1 above 2 %
    /tmp/magnumnp-venv/bin/python bench/crosscheck_magnumnp.py --cell 4e-9 --dt 6.25e-14   # the default mesh
    /tmp/magnumnp-venv/bin/python bench/crosscheck_magnumnp.py --cell 4e-9 --dt 6.25e-14 --torch-dmi-surface bond
    /tmp/magnumnp-venv/bin/python bench/crosscheck_magnumnp.py --time-only --cell 4e-9 --steps 30

Each code runs its own stencil. They differ in one place: at a free edge the torch engine (as mumax3)
fills a ghost cell from the DMI boundary condition, which adds a self-term D^2/(2 A Ms) per free face to
the field's diagonal; magnum.np sums DMI over the bonds inside the magnet. That self-term's energy is
O(dx) and vanishes with the mesh; ``--torch-dmi-surface bond`` drops it to show that it is the whole
difference (docs/engine.md).

Conventions mapped onto magnum.np: fields there are H [A/m] with gamma = 2.21276e5 m/(A s); its
interface-DMI sign is opposite to mumax3's (Di = -Dind); its SOT field is
-(J hbar / (2 e mu0 Ms d)) eta_damp (m x p), so p = -sigma = (0, 1, 0) and eta_damp = theta_SH.
magnum.np 2.2.0 quirk: ``LLGSolver(solver=Heun).step()`` raises a TypeError, so its ``Heun`` class
is driven directly with the LLG right-hand side, and m is renormalized after every step (as the
torch engine does; magnum.np's Heun does not renormalize the predictor).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))


def _setup(cell: float, ku: float, racetrack: bool = False, length: float = 300e-9):
    """config.yaml and either its racetrack (notches, roughness) or a straight strip of ``length``."""
    import yaml

    from dwsynapse.geometry import build_racetrack

    with open(REPO / "config.yaml") as fh:
        config = yaml.safe_load(fh)
    geo = dict(config["device"]["geometry"], cell_size=cell)
    if not racetrack:
        geo.update(length=length, notch_depth=0.0, edge_roughness_rms=0.0)
    return config, build_racetrack(geo)


def run_magnumnp(config, track, ku, m0, steps, a_on_steps, time_only=False):
    """Integrate with magnum.np; returns (final m as (3, ny, nx), seconds per step)."""
    import torch

    import magnumnp as mnp

    dev = config["device"]
    mat = dev["material"]
    ny, nx = track.mask.shape
    dx = track.cell_size
    mesh = mnp.Mesh((nx, ny, 1), (dx, dx, track.thickness))
    state = mnp.State(mesh)
    mask = torch.tensor(track.mask.T[:, :, None, None].astype(np.float64))
    state.material = {
        "Ms": float(mat["Ms"]) * mask,
        "A": float(mat["Aex"]),
        "Ku": float(ku),
        "Ku_axis": state.Constant([0.0, 0.0, 1.0]),
        "Di": float(mat["Dind"]),
        "alpha": float(mat["alpha"]),
        "je": float(dev["drive"]["current_density"]),
        "p": state.Constant([0.0, 1.0, 0.0]),
        "eta_damp": float(mat["theta_sh"]),
        "eta_field": 0.0,
        "d": track.thickness,
    }
    state.m = torch.tensor(np.transpose(m0, (2, 1, 0))[:, :, None, :].copy())
    terms = [mnp.ExchangeField(), mnp.InterfaceDMIField(), mnp.UniaxialAnisotropyField(), mnp.DemagField()]
    sot = mnp.SpinOrbitTorque()
    llg_on = mnp.LLGSolver(terms + [sot])
    llg_off = mnp.LLGSolver(terms)
    dt = float(dev["solver"]["dt"])
    heun_on = mnp.Heun(lambda s: llg_on.dm(s.t, s.m, s))
    heun_off = mnp.Heun(lambda s: llg_off.dm(s.t, s.m, s))
    warm = 5
    for _ in range(warm):  # compile / first touch
        heun_on.step(state, dt)
        mnp.normalize(state.m)
    if not time_only:
        state.m = torch.tensor(np.transpose(m0, (2, 1, 0))[:, :, None, :].copy())
    t0 = time.perf_counter()
    for k in range(steps):
        (heun_on if k < a_on_steps else heun_off).step(state, dt)
        mnp.normalize(state.m)
    per_step = (time.perf_counter() - t0) / steps
    m = state.m.detach().cpu().numpy()[:, :, 0, :]  # (nx, ny, 3)
    return np.transpose(m, (2, 1, 0)), per_step


def run_torchfd(config, track, ku, steps, a_on_steps, relax_steps=0, dmi_surface="ghost", demag_refresh=1):
    """Same experiment with the embedded engine; returns (initial m, final m, seconds per step).
    The initial m is the analytic Neel wall at ``track.start_x`` relaxed for ``relax_steps`` steps
    without current (so that neither engine starts with the wall-profile transient). ``demag_refresh``:
    the engine's ``device.torch.demag_refresh_steps`` (1: the full demag in every Heun stage).

    ``dmi_surface``: ``ghost`` is the engine as it runs (mumax3's ghost cells at free faces); ``bond``
    drops the ghost cells' self-term D^2/(2 A Ms) per free face from the field's diagonal, which leaves
    exactly the bond-sum DMI of magnum.np (central differences with m = 0 beyond the edge): the
    diagnostic that isolates the one place where the two codes' stencils differ."""
    import torch

    from dwsynapse.engines.torchfd.mesh import Mesh
    from dwsynapse.engines.torchfd.racetrack import initial_wall
    from dwsynapse.engines.torchfd.solver import LLGSystem, Material, Stepper
    from dwsynapse.engines.torchfd.sot import damping_like_coefficient

    dev = config["device"]
    mat = dev["material"]
    mesh = Mesh(track.mask, track.cell_size, track.cell_size, track.thickness, torch.device("cpu"), torch.float64)
    material = Material(float(mat["Ms"]), float(mat["Aex"]), float(mat["alpha"]), float(mat["Dind"]), float(ku))
    system = LLGSystem(mesh, material, demag="newell")
    if dmi_surface == "bond":  # the diagonal of the same system without DMI: Laplacian and Ku, no D^2/(2 A Ms)
        # (Newell demag is not on the diagonal, so the donor system needs no second kernel)
        system._diag = LLGSystem(mesh, replace(material, dind=0.0), demag="none")._diag
    m = initial_wall(mesh, material, track.start_x)
    z = torch.zeros((), dtype=torch.float64)
    a = torch.tensor(damping_like_coefficient(float(dev["drive"]["current_density"]), float(mat["theta_sh"]),
                                              material.ms, mesh.dz), dtype=torch.float64)
    dt = torch.tensor(float(dev["solver"]["dt"]), dtype=torch.float64)
    stepper = Stepper(system, demag_refresh_steps=demag_refresh)
    for _ in range(relax_steps):
        m = stepper(m, z, z, z, dt)
    m0 = m[0].numpy().copy()
    t0 = time.perf_counter()
    for k in range(steps):
        m = stepper(m, z, a if k < a_on_steps else z, z, dt)
    return m0, m[0].numpy(), (time.perf_counter() - t0) / steps


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cell", type=float, default=2e-9,
                    help="cell size [m] (default 2e-9, the mesh of config/paper.yaml, where the gate applies)")
    ap.add_argument("--ku", type=float, default=7.5e5, help="Ku [J/m^3]")
    ap.add_argument("--pulse", type=float, default=0.2e-9, help="SOT pulse [s] (default 0.2 ns)")
    ap.add_argument("--relax", type=float, default=0.0, help="relaxation after the pulse [s]")
    ap.add_argument("--pre-relax", type=float, default=0.05e-9, help="relaxation of the initial wall [s]")
    ap.add_argument("--racetrack", action="store_true",
                    help="use the config racetrack (notches, edge roughness) instead of a straight 300 nm strip")
    ap.add_argument("--tolerance", type=float, default=0.02, help="relative tolerance on the wall displacement")
    ap.add_argument("--dt", type=float, default=1.5625e-14,
                    help="Heun step [s] (default 1.5625e-14, config/paper.yaml's 2 nm step, 0.74 x the Heun limit of its "
                         "material; 4 nm: config.yaml's 6.25e-14)")
    ap.add_argument("--time-only", action="store_true", help="only time magnum.np steps; print one JSON line")
    ap.add_argument("--steps", type=int, default=30, help="steps to time with --time-only")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--torch-dmi-surface", choices=["ghost", "bond"], default="ghost",
                    help="ghost: the engine's own stencil (the gate); bond: without the ghost cells' D^2/(2A Ms) "
                         "self-term, i.e. magnum.np's bond-sum DMI (diagnostic of where the codes differ)")
    ap.add_argument("--demag-refresh", type=int, default=None, metavar="K",
                    help="torch engine: far demag field every K steps (default: config.yaml's "
                         "device.torch.demag_refresh_steps; 1: the full demag in every Heun stage)")
    args = ap.parse_args(argv)
    try:
        import torch

        import magnumnp  # noqa: F401
    except ImportError as exc:
        print(f"magnum.np is not importable here ({exc}); run this with the Python of its own venv", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    config, track = _setup(args.cell, args.ku, args.racetrack)
    config["device"]["solver"]["dt"] = args.dt
    dt = float(config["device"]["solver"]["dt"])
    from dwsynapse.dwpos import mean_mz, wall_position
    from dwsynapse.engines.torchfd.mesh import Mesh  # noqa: F401
    from dwsynapse.engines.torchfd.racetrack import initial_wall  # noqa: F401

    if args.time_only:
        m0, _, _ = run_torchfd(config, track, args.ku, 1, 1)
        _, per_step = run_magnumnp(config, track, args.ku, m0, args.steps, args.steps, time_only=True)
        print(json.dumps({"cell": args.cell, "nx": track.nx, "ny": track.ny, "magnumnp_s_per_step": per_step}))
        return 0
    n_on = int(round(args.pulse / dt))
    steps = n_on + int(round(args.relax / dt))
    refresh = int(config["device"]["torch"]["demag_refresh_steps"]) if args.demag_refresh is None else args.demag_refresh
    m0, m_t, s_t = run_torchfd(config, track, args.ku, steps, n_on, int(round(args.pre_relax / dt)),
                               args.torch_dmi_surface, refresh)
    print(f"torch engine: far demag every {refresh} step(s)")
    m_m, s_m = run_magnumnp(config, track, args.ku, m0, steps, n_on)
    mask = track.mask
    x0 = wall_position(m0[2], mask, track.cell_size)
    rows = []
    for name, m in (("torchfd", m_t), ("magnum.np", m_m)):
        avg = [float(np.where(mask, m[c], 0).sum() / mask.sum()) for c in range(3)]
        rows.append((name, avg, wall_position(m[2], mask, track.cell_size)))
    print(f"{'racetrack' if args.racetrack else 'straight strip'} {track.nx} x {track.ny} cells of {args.cell * 1e9:g} nm, Ku = {args.ku:g} J/m^3, "
          f"pulse {args.pulse * 1e9:g} ns + relax {args.relax * 1e9:g} ns, dt = {dt:g} s, T = 0, float64, "
          f"torchfd DMI surface: {args.torch_dmi_surface}")
    for name, avg, xw in rows:
        print(f"  {name:10s} <m> = ({avg[0]:+.5f}, {avg[1]:+.5f}, {avg[2]:+.5f})  wall {xw * 1e9:7.3f} nm "
              f"(moved {(xw - x0) * 1e9:+.3f} nm)")
    d_t, d_m = rows[0][2] - x0, rows[1][2] - x0
    rel = abs(d_t - d_m) / abs(d_m)
    dmz = abs(rows[0][1][2] - rows[1][1][2])
    print(f"  wall displacement: relative difference {rel * 100:.2f} % (tolerance {args.tolerance * 100:g} %); "
          f"|d<mz>| = {dmz:.4f}; <mz> from mean_mz check {mean_mz(m_t[2], mask):+.5f}")
    print(f"  time per step: torchfd {s_t * 1e3:.2f} ms, magnum.np {s_m * 1e3:.2f} ms (B = 1, float64, eager)")
    return 0 if rel <= args.tolerance else 1


if __name__ == "__main__":
    sys.exit(main())
