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
