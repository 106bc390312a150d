"""muMAG standard problem 4, field 1 (500 x 125 x 3 nm, Ms = 8e5 A/m, A = 1.3e-11 J/m, alpha = 0.02).

Reference: the standard problem's reference trajectory (as distributed with magnum.np,
demos/sp4/ref/m_test.dat, 10 ps samples): <mx> first crosses zero at t = 0.1386 ns; the first
maximum of <my> is 0.753 (near 0.13 ns). The s-state comes from relaxing m = (1, 1, 1) with alpha = 1.
"""

import numpy as np
import pytest
import torch

from dwsynapse.engines.torchfd.solver import LLGSystem, Material
from tests._torchfd_util import run, strip

T_CROSS_REF = 0.1386e-9  # s
MY_MAX_REF = 0.753


def _sp4(nx, ny, dt, relax_steps):
    mesh = strip(ny, nx, 500e-9 / nx, 125e-9 / ny, dz=3e-9)
    relax = LLGSystem(mesh, Material(8e5, 1.3e-11, 1.0), demag="newell")
    m = relax.normalize(torch.ones(1, 3, ny, nx, dtype=mesh.dtype))
    m = run(relax, m, relax_steps, dt)
    s_state = m[0].mean(dim=(1, 2)).numpy()
    system = LLGSystem(mesh, Material(8e5, 1.3e-11, 0.02), demag="newell", b_ext=(-24.6e-3, 4.3e-3, 0.0))
    t, mx, my = [0.0], [s_state[0]], [s_state[1]]
    for i in range(int(round(0.2e-9 / dt))):
        m = run(system, m, 1, dt)
        avg = m[0].mean(dim=(1, 2))
        t.append((i + 1) * dt)
        mx.append(avg[0].item())
        my.append(avg[1].item())
    t, mx, my = map(np.asarray, (t, mx, my))
    j = int(np.flatnonzero(mx < 0)[0])
    t_cross = t[j - 1] + (t[j] - t[j - 1]) * mx[j - 1] / (mx[j - 1] - mx[j])
    return s_state, t_cross, my.max()


def test_sp4_field1_coarse():
    s_state, t_cross, my_max = _sp4(50, 12, 2e-13, 2000)
    assert s_state[0] > 0.95 and 0.08 < s_state[1] < 0.16
    assert t_cross == pytest.approx(T_CROSS_REF, rel=0.04)
    assert my_max == pytest.approx(MY_MAX_REF, rel=0.04)


@pytest.mark.slow
def test_sp4_field1_5nm():
    _, t_cross, my_max = _sp4(100, 25, 1e-13, 10000)
    assert t_cross == pytest.approx(T_CROSS_REF, rel=0.02)
    assert my_max == pytest.approx(MY_MAX_REF, rel=0.02)
