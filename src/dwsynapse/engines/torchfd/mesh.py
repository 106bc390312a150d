"""Finite-difference mesh of one magnetic layer: cell sizes, the cell mask and the
mask-derived neighbour masks, computed once and shared by every field term.

Conventions used by the whole ``torchfd`` package:

* magnetization tensors are shaped ``(B, 3, ny, nx)``: ``B`` independent instances, the
  components (mx, my, mz), then the cell index ``[iy, ix]`` with x the long (fastest) axis;
* ``m`` is the unit vector on magnetic cells and exactly 0 outside the mask;
* every field is a flux density in tesla, ``B = mu0 * H``, shaped like ``m``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ...constants import GAMMA_LL, HBAR, KB, MU0, QE  # noqa: F401 (the torchfd terms and calibration_study import them here)


@dataclass
class Mesh:
    """One layer of ``ny x nx`` cells of size ``dx x dy x dz`` [m] on a boolean ``mask``.

    ``have_xp[iy, ix]`` is 1 where the cell and its +x neighbour are both magnetic (same for
    ``xm``, ``yp``, ``ym``); a missing neighbour is a free surface for exchange and DMI.
    All mask tensors are shaped ``(1, 1, ny, nx)`` so they broadcast over instances and components.
    """

    mask_np: np.ndarray
    dx: float
    dy: float
    dz: float
    device: torch.device
    dtype: torch.dtype

    def __post_init__(self) -> None:
        mask = np.asarray(self.mask_np)
        if mask.ndim != 2:
            raise ValueError(f"mask must be 2-D (ny, nx), got shape {mask.shape}")
        if not mask.any():
            raise ValueError("mask has no magnetic cell")
        for name in ("dx", "dy", "dz"):
            if not float(getattr(self, name)) > 0:
                raise ValueError(f"cell size {name} must be > 0 m, got {getattr(self, name)}")
        self.mask_np = mask.astype(bool)
        self.ny, self.nx = mask.shape
        m = self.mask_np
        xp = np.zeros_like(m)
        xp[:, :-1] = m[:, :-1] & m[:, 1:]
        xm = np.zeros_like(m)
        xm[:, 1:] = m[:, 1:] & m[:, :-1]
        yp = np.zeros_like(m)
        yp[:-1, :] = m[:-1, :] & m[1:, :]
        ym = np.zeros_like(m)
        ym[1:, :] = m[1:, :] & m[:-1, :]

        def t(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(a, dtype=self.dtype, device=self.device)[None, None]

        self.mask = t(m)
        self.have_xp, self.have_xm, self.have_yp, self.have_ym = t(xp), t(xm), t(yp), t(ym)
        # free-surface indicators of magnetic cells (1 where a magnetic cell lacks that neighbour)
        self.free_xp, self.free_xm = t(m & ~xp), t(m & ~xm)
        self.free_yp, self.free_ym = t(m & ~yp), t(m & ~ym)
        self.n_cells = int(m.sum())

    @property
    def cell_volume(self) -> float:
        """Volume of one cell [m^3]."""
        return self.dx * self.dy * self.dz


def neighbour_differences(m: torch.Tensor, mesh: Mesh):
    """Differences ``m_neighbour - m`` towards +x, -x, +y, -y, zero where the neighbour is
    missing (outside the mask or the array): the Neumann (free) boundary used by exchange and
    by the bulk part of the DMI field. Returns four tensors shaped like ``m``."""
    dxp = mesh.have_xp * (torch.roll(m, -1, dims=-1) - m)
    dxm = mesh.have_xm * (torch.roll(m, 1, dims=-1) - m)
    dyp = mesh.have_yp * (torch.roll(m, -1, dims=-2) - m)
    dym = mesh.have_ym * (torch.roll(m, 1, dims=-2) - m)
    return dxp, dxm, dyp, dym
