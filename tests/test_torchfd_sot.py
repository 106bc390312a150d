"""Spin-orbit torque: wall direction and steady velocity vs the 1D collective-coordinate model."""

import numpy as np
import pytest

from dwsynapse.engines.torchfd.mesh import GAMMA_LL, MU0
from dwsynapse.engines.torchfd.racetrack import initial_wall
from dwsynapse.engines.torchfd.solver import LLGSystem, Material
from dwsynapse.engines.torchfd.sot import damping_like_coefficient
from tests._torchfd_util import run, strip

MS, AEX, KU, D, ALPHA, THETA = 8e5, 1.5e-11, 8e5, 1e-3, 0.3, 0.07


def _wall_positions(current_density, dind=D, steps=3000, every=100, relax=1000):
    mesh = strip(10, 100, 2e-9)
    mat = Material(MS, AEX, ALPHA, dind, KU)
    system = LLGSystem(mesh, mat, demag="thin_film")
    m = run(system, initial_wall(mesh, mat, 100e-9), relax, 1e-13)
    a = damping_like_coefficient(current_density, THETA, MS, mesh.dz)
    length = mesh.nx * mesh.dx
    pos = [0.5 * length * (1 + m[0, 2].mean().item())]  # x_w = L (1 + <mz>) / 2
    for _ in range(steps // every):
        m = run(system, m, every, 1e-13, a_dl=a)
        pos.append(0.5 * length * (1 + m[0, 2].mean().item()))
    return np.arange(len(pos)) * every * 1e-13, np.array(pos), a


def test_positive_current_moves_the_wall_towards_plus_x():
    t, x, _ = _wall_positions(3.5e11, steps=1000, relax=300)
    assert x[-1] - x[0] > 2e-9
    t, x, _ = _wall_positions(-3.5e11, steps=1000, relax=300)
    assert x[-1] - x[0] < -2e-9


def test_low_current_velocity_matches_1d_model():
    """1D model of a DMI-stabilized Neel wall (Thiaville et al., EPL 100, 57002 (2012)): the
    damping-like torque acts as a z field (pi/2) a_DL, so v = gamma Delta (pi/2) a_DL / alpha.
    The wall accelerates for ~0.3 ns while the canting at the strip's y edges (2A dm/dn = -D (z x n) x m)
    adjusts to the moving wall, so the fit starts after it."""
    t, x, a = _wall_positions(5e10, steps=6000)
    late = t >= 3e-10  # after the transient
    v = np.polyfit(t[late], x[late], 1)[0]
    delta = np.sqrt(AEX / (KU - 0.5 * MU0 * MS**2))
    v1d = GAMMA_LL * delta * np.pi / 2 * a / ALPHA
    assert v == pytest.approx(v1d, rel=0.05)
