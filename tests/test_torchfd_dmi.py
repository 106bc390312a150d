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


def test_edge_canting_matches_rohart_thiaville():
    """At a free edge dm/dn = (D/2A)(z x n) x m. With the first integral A theta'^2 = Keff sin^2 theta
    the edge angle obeys sin(theta_e) = D Delta / (2A) and tan(theta/2) = tan(theta_e/2) exp(-s/Delta)
    at distance s from the edge (Rohart & Thiaville, PRB 88, 184422 (2013))."""
    mesh = strip(21, 32, 1e-9)
    mat = Material(MS, AEX, 1.0, D, KU)
    system = LLGSystem(mesh, mat, demag="thin_film")
    m = torch.zeros(1, 3, mesh.ny, mesh.nx, dtype=mesh.dtype)
    m[:, 2] = 1
    m = run(system, m, 3000, 2e-14)
    row = m[0, :, mesh.ny // 2].numpy()
    theta = np.arctan2(row[0], row[2])  # signed canting angle in the x-z plane
    theta_e = np.arcsin(D * DELTA / (2 * AEX))
    s = (np.arange(6) + 0.5) * mesh.dx  # distance of the first cell centres from the left edge
    expect = 2 * np.arctan(np.tan(theta_e / 2) * np.exp(-s / DELTA))
    # D > 0: the left edge cants towards -x, the right edge towards +x
    np.testing.assert_allclose(-theta[:6], expect, rtol=0.04)
    np.testing.assert_allclose(theta[::-1][:6], expect, rtol=0.04)
    np.testing.assert_allclose(theta, -theta[::-1], atol=1e-6)  # the two x edges cant oppositely


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
