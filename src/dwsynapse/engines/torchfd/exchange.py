"""Heisenberg exchange field.

    B_ex = (2 Aex / Ms) * laplacian(m)
         ~ (2 Aex / Ms) * [ (m_{x+} + m_{x-} - 2 m) / dx^2 + (m_{y+} + m_{y-} - 2 m) / dy^2 ]

Aex in J/m, Ms in A/m, B in tesla. A neighbour outside the mask contributes nothing (dm/dn = 0,
the free-surface condition without DMI); with DMI the modified surface condition is added by
:mod:`dwsynapse.engines.torchfd.dmi`.
"""

from __future__ import annotations

import torch

from .mesh import Mesh


def exchange_field(diffs, mesh: Mesh, aex: float, ms: float) -> torch.Tensor:
    """Exchange field [T] from the neighbour differences of
    :func:`~dwsynapse.engines.torchfd.mesh.neighbour_differences` (``Aex`` J/m, ``Ms`` A/m)."""
    dxp, dxm, dyp, dym = diffs
    cx = 2.0 * aex / (ms * mesh.dx**2)
    cy = 2.0 * aex / (ms * mesh.dy**2)
    return cx * (dxp + dxm) + cy * (dyp + dym)


def exchange_energy(m: torch.Tensor, diffs, mesh: Mesh, aex: float, ms: float) -> torch.Tensor:
    """Exchange energy [J] per instance, shape (B,): E = -(Ms V / 2) sum m . B_ex, which for unit
    vectors is the bond sum  Aex V sum_bonds |m_j - m_i|^2 / h^2  (h = dx or dy, V cell volume)."""
    b = exchange_field(diffs, mesh, aex, ms)
    return -0.5 * ms * mesh.cell_volume * (m * b).sum(dim=(1, 2, 3))
