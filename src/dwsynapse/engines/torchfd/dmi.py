"""Interfacial Dzyaloshinskii-Moriya interaction (thin film on a heavy metal, mumax3 sign).

Energy density  e = D [ m_z (div m) - (m . grad) m_z ],   D = Dind in J/m^2.

Bulk field (central differences):

    B_dmi = (2 D / Ms) ( d_x m_z,  d_y m_z,  -d_x m_x - d_y m_y )

Free surfaces: varying A |grad m|^2 + e gives the natural boundary condition at a free edge with
outward normal n (Rohart & Thiaville, PRB 88, 184422, 2013, in this sign convention of D; it is
mumax3's ``+D m_z + 2A d_x m_x = 0``):

    2A dm/dn = -D (z x n) x m,      n = +x:  dm/dx = (D / 2A) (-m_z, 0, m_x)

so with D > 0 an up film cants towards +x at its left edge and towards -x at its right edge.
It is implemented, as in mumax3, with a ghost cell ``m + d * dm/dn`` replacing each missing
neighbour in both the exchange and the DMI stencils. With ``g_x = (m_z, 0, -m_x)`` and
``g_y = (0, m_z, -m_y)`` the ghost cells add, on cells that lack a +x / -x / +y / -y neighbour,

  - (D / (Ms dx)) (f_x+ - f_x-) g_x - (D / (Ms dy)) (f_y+ - f_y-) g_y          (exchange stencil)
  + (D^2 / (2 A Ms)) [ (f_x+ + f_x-) (m_x, 0, m_z) + (f_y+ + f_y-) (0, m_y, m_z) ]   (DMI stencil)

where f_* = 1 on a free surface. The exchange-stencil part cancels the one-sided difference that
the Neumann neighbour differences leave in the bulk stencil, so the total (exchange + DMI) field is
a symmetric linear function of m: it derives from the discrete energy :func:`dmi_energy`, and a
damped relaxation can only lower it. Fields in tesla. This module returns the bulk DMI field plus
both surface terms; :mod:`.exchange` stays the pure Neumann Laplacian.
"""

from __future__ import annotations

import torch

from .mesh import Mesh


def dmi_field(m: torch.Tensor, diffs, mesh: Mesh, dind: float, aex: float, ms: float) -> torch.Tensor:
    """Interfacial DMI field [T] including the ghost-cell surface terms (see module docstring).

    ``diffs`` are the Neumann neighbour differences of ``m``; ``dind`` J/m^2, ``aex`` J/m,
    ``ms`` A/m. Requires ``aex > 0`` when ``dind != 0`` (the surface condition divides by A).
    """
    dxp, dxm, dyp, dym = diffs
    mx, my, mz = m[:, 0:1], m[:, 1:2], m[:, 2:3]
    kx = dind / (ms * mesh.dx)  # 2D/Ms * 1/(2 dx)
    ky = dind / (ms * mesh.dy)
    # central differences (m_+ - m_-) = dxp - dxm
    gx = dxp - dxm
    gy = dyp - dym
    bx = kx * gx[:, 2:3]
    by = ky * gy[:, 2:3]
    bz = -kx * gx[:, 0:1] - ky * gy[:, 1:2]
    # surface terms from the ghost cells
    sx = mesh.free_xp - mesh.free_xm
    sy = mesh.free_yp - mesh.free_ym
    tx = mesh.free_xp + mesh.free_xm
    ty = mesh.free_yp + mesh.free_ym
    q = dind * dind / (2.0 * aex * ms)
    bx = bx - kx * sx * mz + q * tx * mx
    by = by - ky * sy * mz + q * ty * my
    bz = bz + kx * sx * mx + ky * sy * my + q * (tx + ty) * mz
    return torch.cat((bx, by, bz), dim=1)


def dmi_energy(m: torch.Tensor, diffs, mesh: Mesh, dind: float, aex: float, ms: float) -> torch.Tensor:
    """DMI energy [J] per instance, shape (B,), of the discrete model whose field is :func:`dmi_field`:

        E = -(Ms V / 2) sum_cells m . B_dmi(m)

    which equals the bond sum  D dy dz sum_(i, i+x) (m_z,i m_x,i+x - m_x,i m_z,i+x) + (y bonds)
    plus the ghost-cell self-energy -(D^2 V / 4A) sum_surfaces (m_x^2 + m_z^2) (x faces) or
    (m_y^2 + m_z^2) (y faces). V is the cell volume [m^3]."""
    b = dmi_field(m, diffs, mesh, dind, aex, ms)
    return -0.5 * ms * mesh.cell_volume * (m * b).sum(dim=(1, 2, 3))
