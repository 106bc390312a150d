"""Uniaxial anisotropy along z (perpendicular magnetic anisotropy).

    E = -Ku (m . z)^2,      B_anis = (2 Ku / Ms) m_z z

Ku in J/m^3 (first-order constant), Ms in A/m, B in tesla.
"""

from __future__ import annotations

import torch


def anisotropy_field(m: torch.Tensor, ku, ms: float) -> torch.Tensor:
    """Uniaxial (z) anisotropy field [T] for ``m`` shaped (B, 3, ny, nx); ``ku`` [J/m^3] is a float or
    one value per batch row shaped (B, 1, 1)."""
    b = torch.zeros_like(m)
    b[:, 2] = (2.0 * ku / ms) * m[:, 2]
    return b


def anisotropy_energy(m: torch.Tensor, ku, volume: float) -> torch.Tensor:
    """Uniaxial anisotropy energy [J] per instance, shape (B,): E = -Ku V sum_cells m_z^2
    (``volume`` V is the cell volume [m^3]; cells outside the mask have m = 0)."""
    ku_rows = ku.reshape(-1) if isinstance(ku, torch.Tensor) else ku  # a float, or one Ku per batch row
    return -ku_rows * volume * (m[:, 2] ** 2).sum(dim=(1, 2))
