"""Interfacial DMI physics: Rohart-Thiaville edge canting and the Neel wall (width, chirality)."""

import numpy as np
import pytest
import torch

from dwsynapse.engines.torchfd.mesh import MU0
from dwsynapse.engines.torchfd.racetrack import initial_wall
from dwsynapse.engines.torchfd.solver import LLGSystem, Material
from tests._torchfd_util import run, strip

MS, AEX, KU, D = 8e5, 1.5e-11, 8e5, 1e-3
KEFF = KU - 0.5 * MU0 * MS**2  # thin-film effective anisotropy [J/m^3]
DELTA = np.sqrt(AEX / KEFF)  # wall-width parameter [m]


def edge_canting_error(dx: float, steps: int, dt: float) -> float:
    """Relax a uniform up strip (3 x 80 nm) and return the largest relative deviation of the signed
    x-z canting angle of the first 4 nm at both x edges from Rohart-Thiaville's profile."""
    nx = int(round(80e-9 / dx))
    mesh = strip(3, nx, dx)
    system = LLGSystem(mesh, Material(MS, AEX, 1.0, D, KU), demag="thin_film")
    m = torch.zeros(1, 3, mesh.ny, mesh.nx, dtype=mesh.dtype)
    m[:, 2] = 1
    m = run(system, m, steps, dt)
    row = m[0, :, 1].numpy()
    theta = np.arctan2(row[0], row[2])  # signed canting angle in the x-z plane
    theta_e = np.arcsin(D * DELTA / (2 * AEX))
    n = int(round(4e-9 / dx))
    s = (np.arange(n) + 0.5) * dx  # distance of the first cell centres from the edge
    expect = 2 * np.arctan(np.tan(theta_e / 2) * np.exp(-s / DELTA))
    np.testing.assert_allclose(theta, -theta[::-1], atol=1e-9)  # the two x edges cant oppositely
    # D > 0: the left edge (n = -x) cants towards +x, the right edge (n = +x) towards -x
    return float(max(np.abs(theta[:n] / expect - 1).max(), np.abs(-theta[::-1][:n] / expect - 1).max()))


def test_edge_canting_matches_rohart_thiaville_and_converges_with_the_cell_size():
    """At a free edge 2A dm/dn = -D (z x n) x m (the natural boundary condition of
    e = D [m_z div m - (m . grad) m_z]). With the first integral A theta'^2 = Keff sin^2 theta
    the edge angle obeys sin(theta_e) = D Delta / (2A) and tan(theta/2) = tan(theta_e/2) exp(-s/Delta)
    at distance s from the edge (Rohart & Thiaville, PRB 88, 184422 (2013)); the ghost-cell scheme is
    first-order accurate at the edge, so halving the cell must bring it closer."""
    coarse = edge_canting_error(1e-9, 4000, 2e-14)
    fine = edge_canting_error(0.5e-9, 8000, 5e-15)
    assert coarse < 0.05
    assert fine < 0.9 * coarse


def test_neel_wall_width_and_chirality():
    """Relaxed wall profile tan(theta/2) = exp((x - x0)/Delta) with Delta = sqrt(A/Keff); a positive
    Dind selects m_x < 0 in an up|down wall."""
    mesh = strip(10, 60, 2e-9)
    mat = Material(MS, AEX, 1.0, D, KU)
    system = LLGSystem(mesh, mat, demag="thin_film")
    m0 = initial_wall(mesh, mat, 60e-9)
    m0[:, 0] *= -1  # start with the wrong chirality: DMI must flip it
    m = run(system, system.normalize(m0 + 0.05 * torch.tensor([0.0, 1.0, 0.0], dtype=mesh.dtype).view(1, 3, 1, 1)),
            3000, 1e-13)
    row = m[0, :, mesh.ny // 2].numpy()
    centre = np.argmin(np.abs(row[2]))
    assert row[0, centre] < -0.95
    x = (np.arange(mesh.nx) + 0.5) * mesh.dx
    theta = np.arccos(np.clip(row[2], -1, 1))
    sel = np.abs(row[2]) < 0.9
    slope = np.polyfit(x[sel], np.log(np.tan(theta[sel] / 2)), 1)[0]
    assert 1 / slope == pytest.approx(DELTA, rel=0.03)
