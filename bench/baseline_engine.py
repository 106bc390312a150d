"""Pinned baseline of the embedded engine's Heun step, as it was before the faster CPU step of
docs/engine.md (commit c8d346a): the reference that ``bench/engine_throughput.py`` times side by side
with the current engine. This is the project's only copy of the engine's step code and it must not change: it is a
measuring stick, not a second implementation (the physics lives in ``dwsynapse.engines.torchfd``).

It reuses the current mesh, material and Newell kernel (data computed once, not per step) and keeps
everything that runs per step: neighbour differences, the exchange / DMI / anisotropy / SOT fields,
the two-pass Newell FFT convolution, the LLG right-hand side, Heun with renormalization, and the
per-instance noise blocks. Fields in tesla, times in seconds, as in the engine.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from dwsynapse.engines.torchfd.demag import demag_kernel_fft, fft_size
from dwsynapse.engines.torchfd.mesh import GAMMA_LL, MU0, Mesh
from dwsynapse.engines.torchfd.solver import Material


def _neighbour_differences(m, mesh):
    dxp = mesh.have_xp * (torch.roll(m, -1, dims=-1) - m)
    dxm = mesh.have_xm * (torch.roll(m, 1, dims=-1) - m)
    dyp = mesh.have_yp * (torch.roll(m, -1, dims=-2) - m)
    dym = mesh.have_ym * (torch.roll(m, 1, dims=-2) - m)
    return dxp, dxm, dyp, dym


def _exchange_field(diffs, mesh, aex, ms):
    dxp, dxm, dyp, dym = diffs
    cx = 2.0 * aex / (ms * mesh.dx**2)
    cy = 2.0 * aex / (ms * mesh.dy**2)
    return cx * (dxp + dxm) + cy * (dyp + dym)


def _dmi_field(m, diffs, mesh, dind, aex, ms):
    dxp, dxm, dyp, dym = diffs
    mx, my, mz = m[:, 0:1], m[:, 1:2], m[:, 2:3]
    kx = dind / (ms * mesh.dx)
    ky = dind / (ms * mesh.dy)
    gx = dxp - dxm
    gy = dyp - dym
    bx = kx * gx[:, 2:3]
    by = ky * gy[:, 2:3]
    bz = -kx * gx[:, 0:1] - ky * gy[:, 1:2]
    sx = mesh.free_xp - mesh.free_xm
    sy = mesh.free_yp - mesh.free_ym
    tx = mesh.free_xp + mesh.free_xm
    ty = mesh.free_yp + mesh.free_ym
    q = dind * dind / (2.0 * aex * ms)
    bx = bx - kx * sx * mz + q * tx * mx
    by = by - ky * sy * mz + q * ty * my
    bz = bz + kx * sx * mx + ky * sy * my + q * (tx + ty) * mz
    return torch.cat((bx, by, bz), dim=1)


def _anisotropy_field(m, ku, ms):
    b = torch.zeros_like(m)
    b[:, 2] = (2.0 * ku / ms) * m[:, 2]
    return b


def _sot_field(m, mask, a_dl, a_fl):
    mx, mz = m[:, 0:1], m[:, 2:3]
    return torch.cat((a_dl * mz, (-a_fl * mask).expand_as(mx), -a_dl * mx), dim=1)


class BaselineNewellDemag:
    """The two-pass Newell FFT convolution of c8d346a."""

    def __init__(self, mesh: Mesh, ms: float):
        self.mesh = mesh
        self.ny, self.nx = mesh.ny, mesh.nx
        self.shape = (fft_size(mesh.ny), fft_size(mesh.nx))
        k = demag_kernel_fft(mesh.nx, mesh.ny, mesh.dx, mesh.dy, mesh.dz)
        k = np.ascontiguousarray(np.swapaxes(-MU0 * ms * k, -1, -2))
        self.kernel = torch.as_tensor(k, dtype=mesh.dtype, device=mesh.device)[..., None]

    def __call__(self, m):
        ny, nx = self.ny, self.nx
        py, px = self.shape
        mx = torch.view_as_real(torch.fft.rfft(F.pad(m, (0, px - nx)), dim=-1))
        mx = F.pad(mx.transpose(-2, -3), (0, 0, 0, py - ny)).contiguous()
        mf = torch.view_as_real(torch.fft.fft(torch.view_as_complex(mx), dim=-1))
        k = self.kernel
        fx = k[0] * mf[:, 0] + k[3] * mf[:, 1]
        fy = k[3] * mf[:, 0] + k[1] * mf[:, 1]
        fz = k[2] * mf[:, 2]
        fb = torch.view_as_complex(torch.stack((fx, fy, fz), dim=1).contiguous())
        by = torch.view_as_real(torch.fft.ifft(fb, dim=-1))[..., :ny, :]
        by = torch.view_as_complex(by.transpose(-2, -3).contiguous())
        return torch.fft.irfft(by, n=px, dim=-1)[..., :nx] * self.mesh.mask


class BaselineSystem:
    """LLG with exchange, DMI, anisotropy, Newell demag and SOT: ``heun_step(m, b_th, a_dl, a_fl, dt)``."""

    def __init__(self, mesh: Mesh, material: Material):
        self.mesh = mesh
        self.mat = material
        self.demag = BaselineNewellDemag(mesh, material.ms)
        self.pref = -GAMMA_LL / (1.0 + material.alpha**2)

    def field(self, m, b_th, a_dl, a_fl):
        mat, mesh = self.mat, self.mesh
        b = _anisotropy_field(m, mat.ku, mat.ms) + b_th + _sot_field(m, mesh.mask, a_dl, a_fl)
        diffs = _neighbour_differences(m, mesh)
        b = b + _exchange_field(diffs, mesh, mat.aex, mat.ms)
        if mat.dind != 0:
            b = b + _dmi_field(m, diffs, mesh, mat.dind, mat.aex, mat.ms)
        return b + self.demag(m)

    def rhs(self, m, b_th, a_dl, a_fl):
        b = self.field(m, b_th, a_dl, a_fl)
        mxb = torch.linalg.cross(m, b, dim=1)
        return self.pref * (mxb + self.mat.alpha * torch.linalg.cross(m, mxb, dim=1))

    def normalize(self, m):
        n2 = (m * m).sum(dim=1, keepdim=True)
        return m * torch.rsqrt(n2.clamp_min(1e-30)) * self.mesh.mask

    def heun_step(self, m, b_th, a_dl, a_fl, dt):
        k1 = self.rhs(m, b_th, a_dl, a_fl)
        m1 = self.normalize(m + dt * k1)
        k2 = self.rhs(m1, b_th, a_dl, a_fl)
        return self.normalize(m + (0.5 * dt) * (k1 + k2))


class BaselineNoise:
    """Per-instance noise in blocks of 32 steps, drawn and stacked as in c8d346a."""

    def __init__(self, seeds, mesh: Mesh, sigma: float, block: int = 32):
        self.mesh = mesh
        self.sigma = float(sigma)
        self.block = block
        self.generators = [torch.Generator(device=mesh.device).manual_seed(int(s)) for s in seeds]
        self._buf = None
        self._pos = block

    def next(self):
        if self._pos >= self.block:
            mesh = self.mesh
            shape = (self.block, 3, mesh.ny, mesh.nx)
            draws = [torch.randn(shape, generator=g, dtype=mesh.dtype, device=mesh.device) for g in self.generators]
            self._buf = torch.stack(draws, dim=1).mul_(self.sigma * mesh.mask)
            self._pos = 0
        out = self._buf[self._pos]
        self._pos += 1
        return out
