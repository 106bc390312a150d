"""Brown's thermal field for fixed-step integration, with independent seeded noise per instance.

    B_th = eta * sqrt( 2 alpha kB T / (gamma Ms V dt) ),   eta ~ N(0, 1) i.i.d. per component,
                                                            per cell, per time step

(alpha Gilbert damping, T kelvin, gamma [rad/(s T)], Ms A/m, V cell volume m^3, dt s; B in tesla),
the mumax3 convention. The same eta is used in both Heun stages (Stratonovich).

Every instance draws its noise from its own ``torch.Generator`` seeded with its own seed, in fixed
blocks of ``block`` steps, so an instance produces the same trajectory whether it runs alone or in
any batch (the Python loop over generators runs once per block, not once per step).
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from .mesh import GAMMA_LL, KB, Mesh

NOISE_BLOCK = 32  # time steps of noise drawn per generator call; part of the reproducibility contract


def thermal_sigma(alpha: float, temperature: float, ms: float, volume: float, dt: float) -> float:
    """Standard deviation [T] of each Brown-field component for one cell and one step."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0 K, got {temperature}")
    return math.sqrt(2.0 * alpha * KB * temperature / (GAMMA_LL * ms * volume * dt))


class ThermalNoise:
    """Per-instance Brown-field generator for a batch of instances on ``mesh``."""

    def __init__(self, seeds: Sequence[int], mesh: Mesh, sigma: float, block: int = NOISE_BLOCK):
        self.mesh = mesh
        self.sigma = float(sigma)
        self.block = int(block)
        self.generators = []
        for s in seeds:
            g = torch.Generator(device=mesh.device)
            g.manual_seed(int(s))
            self.generators.append(g)
        self._scale = self.sigma * mesh.mask  # (1, 1, ny, nx) [T]
        # one buffer (B, block, 3, ny, nx) for the whole run, refilled in place: instance i's block is the
        # contiguous slice [i], filled by its generator exactly as torch.randn(block, 3, ny, nx) would be
        self._buf = torch.empty((len(self.generators), self.block, 3, mesh.ny, mesh.nx), dtype=mesh.dtype,
                                device=mesh.device)
        self._pos = self.block

    def select(self, keep: Sequence[int]) -> None:
        """Keep only the instances at positions ``keep`` (finished instances leave the batch)."""
        keep = list(keep)
        self.generators = [self.generators[i] for i in keep]
        self._buf = self._buf[keep]

    def next(self) -> torch.Tensor:
        """Brown field [T] for the next step, shaped (B, 3, ny, nx), zero outside the mask: a view into
        the block buffer, valid until the next call that starts a new block."""
        if self._pos >= self.block:
            for row, g in zip(self._buf, self.generators):
                row.normal_(generator=g)
            self._buf.mul_(self._scale)
            self._pos = 0
        out = self._buf[:, self._pos]
        self._pos += 1
        return out
