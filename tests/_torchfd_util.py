"""Helpers shared by the torchfd tests (meshes built directly with numpy)."""

import numpy as np
import torch

from dwsynapse.engines.torchfd.mesh import Mesh

torch.set_num_threads(1)

F64 = torch.float64
CPU = torch.device("cpu")


def strip(ny: int, nx: int, dx: float, dy: float | None = None, dz: float = 1e-9, dtype=F64) -> Mesh:
    """A full rectangular ny x nx mesh on the CPU."""
    return Mesh(np.ones((ny, nx), bool), dx, dy if dy is not None else dx, dz, CPU, dtype)


def zeros(dtype=F64):
    return torch.zeros((), dtype=dtype)


def scalar(v, dtype=F64):
    return torch.tensor(float(v), dtype=dtype)


def run(system, m, steps: int, dt: float, a_dl: float = 0.0, noise=None):
    """Integrate ``steps`` Heun steps at T = 0 (or with ``noise``) and return m."""
    z = zeros(m.dtype)
    a = scalar(a_dl, m.dtype)
    dt_t = scalar(dt, m.dtype)
    for _ in range(steps):
        m = system.heun_step(m, noise.next() if noise is not None else z, a, z, dt_t)
    return m
