"""Spin-orbit torque from a charge current in the heavy metal (spin Hall effect).

Same torque as the mumax3 Slonczewski idiom of docs/design.md "Device physics" (Lambda = 1, Pol = theta_SH,
EpsilonPrime = 0, FixedLayer = sigma, J = (0, 0, Jc)), written as an effective field that enters
the LLG equation like any other field:

    B_sot = a_DL (m x sigma) + a_FL sigma,      a_DL = hbar theta_SH J / (2 e Ms d),

with J the current density [A/m^2] flowing along +x, sigma the spin polarization, d the magnetic
layer thickness [m], Ms [A/m]; a_DL and B in tesla. a_FL (field-like, tesla) is 0 in the mumax3
idiom (EpsilonPrime = 0).

Sign: with the mumax3 DMI convention a positive Dind makes an up|down wall (m_z = +1 on the left)
a Neel wall with m_x < 0 in its core. In the 1D model the damping-like torque acts on it as a z
field (pi/2) a_DL (m x sigma)_z / |m_x|, so the wall moves towards +x (along the current, as
measured for Pt/Co) only for sigma = -y: SIGMA = (0, -1, 0), i.e. mumax3 FixedLayer = (0, -1, 0).
With sigma = +y the same wall moves towards -x. ``tests/test_torchfd_sot.py`` checks the direction.
With sigma = -y:  m x sigma = (m_z, 0, -m_x).
"""

from __future__ import annotations

import torch

from .mesh import HBAR, QE

SIGMA = (0.0, -1.0, 0.0)  # spin polarization for J along +x (see module docstring)


def damping_like_coefficient(current_density: float, theta_sh: float, ms: float, thickness: float) -> float:
    """a_DL = hbar * theta_SH * J / (2 e Ms d) in tesla (J in A/m^2, Ms in A/m, d in m)."""
    if ms <= 0 or thickness <= 0:
        raise ValueError(f"Ms and thickness must be > 0 (got Ms={ms} A/m, d={thickness} m)")
    return HBAR * theta_sh * current_density / (2.0 * QE * ms * thickness)


def sot_field(m: torch.Tensor, mask: torch.Tensor, a_dl: torch.Tensor, a_fl: torch.Tensor) -> torch.Tensor:
    """Effective SOT field [T] for sigma = -y: a_DL (m x sigma) + a_FL sigma = (a_DL m_z, -a_FL, -a_DL m_x)
    on magnetic cells (``mask`` (1, 1, ny, nx); a_DL, a_FL 0-d tensors in tesla)."""
    mx, mz = m[:, 0:1], m[:, 2:3]
    return torch.cat((a_dl * mz, (-a_fl * mask).expand_as(mx), -a_dl * mx), dim=1)
