"""Demagnetizing field of one layer of cells.

Full model (``solver.demag: newell``): the magnetostatic field is the discrete convolution

    B_demag(r_i) = -mu0 sum_j N(r_i - r_j) M(r_j),   M = Ms m,

with the cell-averaged demagnetization tensor N of two uniformly magnetized boxes
(Newell, Williams & Dunlop, JGR 98, 9551, 1993). For one layer (nz = 1) N_xz = N_yz = 0, so four
kernels remain (xx, yy, zz, xy). The convolution is done by FFT along x on a zero-padded grid and,
along y, by FFT or, for few rows, as a dense Toeplitz matrix product (:class:`NewellDemag`);
all kernels are even or odd in both x and y, so their 2D Fourier transforms are real and stored as such.
The padded lengths are the smallest 2^a 3^b 5^c >= 2n - 1 (fast FFT sizes).
Near cells use Newell's analytic f/g functions (float64); beyond ``FAR_CELLS`` cells the point-dipole
tensor is used (Newell's 27-term sums lose accuracy by cancellation there). The kernel is computed
once per mesh and cached on disk (``$DWSYNAPSE_CACHE`` or ``~/.cache/dwsynapse``).

Lower-fidelity option (``solver.demag: thin_film``): the local infinite-film field
B_demag = -mu0 Ms m_z z.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ...io import atomic_path
from .mesh import MU0, Mesh

KERNEL_VERSION = 2
FAR_CELLS = 24  # offsets beyond this many cells (Euclidean, in units of max(dx, dy, dz)) use the dipole


def cache_dir() -> Path:
    """Directory of the on-disk kernel cache: ``$DWSYNAPSE_CACHE`` or ``~/.cache/dwsynapse``."""
    env = os.environ.get("DWSYNAPSE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "dwsynapse"


def _asinh_ratio(num, a, b):
    """asinh(num / sqrt(a^2 + b^2)), 0 where the denominator vanishes."""
    den = np.sqrt(a * a + b * b)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.arcsinh(np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0))
    return out


def _atan_ratio(num, den):
    """atan(num / den), 0 where den vanishes (the limit used by Newell's formulas)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den != 0, np.arctan(num / np.where(den != 0, den, 1.0)), 0.0)


def newell_f(x, y, z):
    """Newell's f(x, y, z) [m^3] (its 2nd mixed difference gives N_xx)."""
    x, y, z = np.abs(x), np.abs(y), np.abs(z)
    x2, y2, z2 = x * x, y * y, z * z
    r = np.sqrt(x2 + y2 + z2)
    out = (2.0 * x2 - y2 - z2) * r / 6.0
    out = out + 0.5 * y * (z2 - x2) * _asinh_ratio(y, x, z)
    out = out + 0.5 * z * (y2 - x2) * _asinh_ratio(z, x, y)
    out = out - x * y * z * _atan_ratio(y * z, x * r)
    return out


def newell_g(x, y, z):
    """Newell's g(x, y, z) [m^3] (its 2nd mixed difference gives N_xy)."""
    sign = np.sign(x) * np.sign(y)
    x, y, z = np.abs(x), np.abs(y), np.abs(z)
    x2, y2, z2 = x * x, y * y, z * z
    r = np.sqrt(x2 + y2 + z2)
    out = -x * y * r / 3.0
    out = out + x * y * z * _asinh_ratio(z, x, y)
    out = out + y / 6.0 * (3.0 * z2 - y2) * _asinh_ratio(x, y, z)
    out = out + x / 6.0 * (3.0 * z2 - x2) * _asinh_ratio(y, x, z)
    out = out - z2 * z / 6.0 * _atan_ratio(x * y, z * r)
    out = out - z * y2 / 2.0 * _atan_ratio(x * z, y * r)
    out = out - z * x2 / 2.0 * _atan_ratio(y * z, x * r)
    return sign * out


def _second_difference(fun, X, Y, Z, dx, dy, dz):
    """sum over (i,j,k) in {-1,0,1}^3 of -(-1)^(|i|+|j|+|k|) c_i c_j c_k fun(X+i dx, ...) with
    c_0 = 2, c_+-1 = 1 (i.e. 8 f(0) - 4 sum faces + 2 sum edges - sum corners)."""
    total = np.zeros_like(X)
    for i in (-1, 0, 1):
        for j in (-1, 0, 1):
            for k in (-1, 0, 1):
                w = (2 if i == 0 else -1) * (2 if j == 0 else -1) * (2 if k == 0 else -1)
                total += w * fun(X + i * dx, Y + j * dy, Z + k * dz)
    return total


def newell_tensor(X, Y, dx: float, dy: float, dz: float, far_cells: float = FAR_CELLS):
    """Cell-averaged demag tensor components (Nxx, Nyy, Nzz, Nxy) between two dx*dy*dz boxes
    whose centres are offset by (X, Y, 0) [m] (arrays). Dimensionless; N_self sums to 1."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    Z = np.zeros_like(X)
    vol = dx * dy * dz
    pre = 1.0 / (4.0 * np.pi * vol)
    h = max(dx, dy, dz)
    r = np.sqrt(X * X + Y * Y)
    near = r <= far_cells * h
    nxx = np.empty_like(X)
    nyy = np.empty_like(X)
    nzz = np.empty_like(X)
    nxy = np.empty_like(X)
    Xn, Yn, Zn = X[near], Y[near], Z[near]
    nxx[near] = pre * _second_difference(newell_f, Xn, Yn, Zn, dx, dy, dz)
    nyy[near] = pre * _second_difference(lambda a, b, c: newell_f(b, a, c), Xn, Yn, Zn, dx, dy, dz)
    nzz[near] = pre * _second_difference(lambda a, b, c: newell_f(c, b, a), Xn, Yn, Zn, dx, dy, dz)
    nxy[near] = pre * _second_difference(newell_g, Xn, Yn, Zn, dx, dy, dz)
    far = ~near
    if far.any():
        xf, yf = X[far], Y[far]
        rf = r[far]
        c = vol / (4.0 * np.pi * rf**3)
        nxx[far] = c * (1.0 - 3.0 * xf * xf / rf**2)
        nyy[far] = c * (1.0 - 3.0 * yf * yf / rf**2)
        nzz[far] = c
        nxy[far] = -c * 3.0 * xf * yf / rf**2
    return nxx, nyy, nzz, nxy


def fft_size(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= 2n - 1: the zero-padded length of a linear (non-circular)
    convolution over n cells that keeps the FFT fast (e.g. 17 cells -> 36, not 34 = 2 * 17)."""
    target = max(1, 2 * n - 1)
    best = None
    p2 = 1
    while p2 < 2 * target:
        p3 = p2
        while p3 < 2 * target:
            p5 = p3
            while p5 < 2 * target:
                if p5 >= target and (best is None or p5 < best):
                    best = p5
                p5 *= 5
            p3 *= 3
        p2 *= 2
    return best


def _kernel_path(nx: int, ny: int, dx: float, dy: float, dz: float) -> Path:
    key = f"newell-v{KERNEL_VERSION}-far{FAR_CELLS}-{nx}x{ny}-{dx:.6e}-{dy:.6e}-{dz:.6e}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir() / "demag" / f"newell_{nx}x{ny}_{digest}.npz"


def demag_kernel_fft(nx: int, ny: int, dx: float, dy: float, dz: float, use_cache: bool = True) -> np.ndarray:
    """Real Fourier transforms (rfft2 on the zero-padded py x px grid, px = fft_size(nx),
    py = fft_size(ny)) of the four kernels, shaped (4, py, px // 2 + 1) in the order xx, yy, zz, xy,
    float64. Cached on disk keyed by the mesh."""
    px, py = fft_size(nx), fft_size(ny)
    path = _kernel_path(nx, ny, dx, dy, dz)
    if use_cache and path.exists():
        try:
            with np.load(path) as data:
                k = data["kernel"]
            if k.shape == (4, py, px // 2 + 1):
                return k
        except (OSError, ValueError, KeyError):
            pass  # unreadable cache entry: recompute and overwrite it
    ix = np.arange(px)
    iy = np.arange(py)
    # offsets 0..n-1 at the start, -(n-1)..-1 at the end; the unused middle stays zero
    ox = np.where(ix < nx, ix, ix - px) * dx
    oy = np.where(iy < ny, iy, iy - py) * dy
    used = (np.abs(np.where(ix < nx, ix, ix - px)) < nx)[None, :] & (np.abs(np.where(iy < ny, iy, iy - py)) < ny)[:, None]
    X, Y = np.meshgrid(ox, oy)  # (py, px)
    comps = newell_tensor(X, Y, dx, dy, dz)
    kernel = np.stack([np.fft.rfft2(np.where(used, c, 0.0)).real for c in comps])
    if use_cache:
        try:
            with atomic_path(path, suffix=".npz") as tmp:
                with open(tmp, "wb") as fh:
                    np.savez(fh, kernel=kernel)
        except OSError:
            pass  # a read-only cache only costs recomputation
    return kernel


MATRIX_MAX_ROWS = 24  # up to this many rows the y pass is a dense matrix product, beyond it an FFT (docs/engine.md)


class NewellDemag:
    """Convolution with the Newell kernel for a fixed mesh (the kernel is built once): a real FFT along
    x of the ny physical rows, a convolution along y for each x wavenumber kx, the inverse real FFT.

    The y pass is one of two exact forms, chosen by ``y_pass`` (``auto``: ``matrix`` for ny <=
    ``MATRIX_MAX_ROWS``, else ``fft``; on 2 CPU threads the matrix form is ~15 % faster per step at 17
    rows, the FFT ~15 % faster at 36, docs/engine.md):

    ``fft``: a transpose that puts y last and zero-pads it to py = fft_size(ny), a complex FFT along y,
    the multiply by the real 2D kernel spectra, the inverse FFT keeping the ny physical rows.

    ``matrix``: after the x transform the kernels are real (xx, yy, zz: even in x) or imaginary
    (xy = i S: odd in x) functions of (y - y', kx). Writing X = a + i b for the transformed mx, my, mz,

        Bx = Txx X_x + i S X_y,   By = i S X_x + Tyy X_y,   Bz = Tzz X_z,

    which splits into three real products per kx of a (2 ny x 2 ny) matrix with a vector of 2 ny:
    (a_x, b_y) -> (Re Bx, Im By) by [[Txx, -S], [S, Tyy]], (b_x, a_y) -> (Im Bx, Re By) by
    [[Txx, S], [-S, Tyy]], and (a_z, b_z) -> (Re Bz, Im Bz) by diag(Tzz, Tzz), all of them one batched
    matrix product over (3, kx) with the instances as rows. It replaces the y FFT pair, the spectral
    multiply and half of the transposes of the ``fft`` form.
    """

    def __init__(self, mesh: Mesh, ms: float, use_cache: bool = True, y_pass: str = "auto"):
        self.mesh = mesh
        self.ms = ms
        self.ny, self.nx = ny, nx = mesh.ny, mesh.nx
        self.shape = (fft_size(ny), fft_size(nx))
        py = self.shape[0]
        if y_pass == "auto":
            y_pass = "matrix" if ny <= MATRIX_MAX_ROWS else "fft"
        if y_pass not in ("matrix", "fft"):
            raise ValueError(f"unknown y_pass {y_pass!r}: expected auto, matrix or fft")
        self.y_pass = y_pass
        # B = -mu0 Ms N m: fold -mu0 Ms into the kernel
        k = -MU0 * ms * demag_kernel_fft(nx, ny, mesh.dx, mesh.dy, mesh.dz, use_cache=use_cache)  # (4, py, kx)
        if y_pass == "fft":
            # stored (4, kx, py, 2) with each real value repeated for the (re, im) pair, so that the
            # multiply runs over one contiguous index (a broadcast over the last dimension of 2 makes the
            # compiled loop scalar and slow, ~20 % of a step at B = 64)
            k = np.repeat(np.swapaxes(k, -1, -2)[..., None], 2, axis=-1)
        else:
            kx_y = np.fft.ifft(k, axis=1)  # the x transform only, at each y offset: (4, py, kx), xx yy zz xy
            lag = (np.arange(ny)[:, None] - np.arange(ny)[None, :]) % py  # Toeplitz index of (y, y')
            t = np.moveaxis(kx_y[:, lag], -1, 1)  # (4, kx, ny, ny): T[c, kx, y, y'] = K_c(y - y', kx)
            txx, tyy, tzz, s = t[0].real, t[1].real, t[2].real, t[3].imag
            zero = np.zeros_like(txx)
            mats = np.stack([np.block([[txx, -s], [s, tyy]]), np.block([[txx, s], [-s, tyy]]),
                             np.block([[tzz, zero], [zero, tzz]])])  # (3, kx, 2 ny, 2 ny)
            # transposed and flattened to (3 kx, 2 ny, 2 ny) for the row-vector product of _y_matrix
            k = np.swapaxes(mats, -1, -2).reshape(-1, 2 * ny, 2 * ny)
        self.kernel = torch.as_tensor(np.ascontiguousarray(k), dtype=mesh.dtype, device=mesh.device)
        nxx, nyy, nzz, _ = newell_tensor(np.zeros(1), np.zeros(1), mesh.dx, mesh.dy, mesh.dz)
        # the field of a cell on itself, B_self = -mu0 Ms N(0) m (N(0) diagonal): [T] per component
        self.self_coef = tuple(float(-MU0 * ms * n[0]) for n in (nxx, nyy, nzz))

    def __call__(self, m: torch.Tensor) -> torch.Tensor:
        """Demag field [T] of ``m`` (B, 3, ny, nx) (m is 0 outside the mask)."""
        nx, px = self.nx, self.shape[1]
        # padding, transposes and (re, im) views are fused by torch.compile around the library calls
        x = torch.view_as_real(torch.fft.rfft(F.pad(m, (0, px - nx)), dim=-1))  # (B, 3, ny, kx, 2)
        b = self._y_matrix(x) if self.y_pass == "matrix" else self._y_fft(x)
        return torch.fft.irfft(b, n=px, dim=-1)[..., :nx] * self.mesh.mask

    def _y_fft(self, x: torch.Tensor) -> torch.Tensor:
        """The y convolution by FFT of the x spectra ``x`` (B, 3, ny, kx, 2); complex (B, 3, ny, kx)."""
        ny, py = self.ny, self.shape[0]
        x = F.pad(x.transpose(-2, -3), (0, 0, 0, py - ny)).contiguous()  # (B, 3, kx, py, 2)
        mf = torch.view_as_real(torch.fft.fft(torch.view_as_complex(x), dim=-1)).flatten(2)  # (B, 3, kx py 2)
        k = self.kernel.flatten(1)
        fx = k[0] * mf[:, 0] + k[3] * mf[:, 1]
        fy = k[3] * mf[:, 0] + k[1] * mf[:, 1]
        fz = k[2] * mf[:, 2]
        fb = torch.view_as_complex(torch.stack((fx, fy, fz), dim=1).view(x.shape))
        by = torch.view_as_real(torch.fft.ifft(fb, dim=-1))[..., :ny, :]  # (B, 3, kx, ny, 2)
        return torch.view_as_complex(by.transpose(-2, -3).contiguous())

    def _y_matrix(self, x: torch.Tensor) -> torch.Tensor:
        """The y convolution as the batched matrix product of the class docstring; complex (B, 3, ny, kx)."""
        ny, nb = self.ny, x.shape[0]
        re, im = x[..., 0].transpose(-1, -2), x[..., 1].transpose(-1, -2)  # (B, 3, kx, ny)
        v = torch.stack((torch.cat((re[:, 0], im[:, 1]), dim=-1), torch.cat((im[:, 0], re[:, 1]), dim=-1),
                         torch.cat((re[:, 2], im[:, 2]), dim=-1)), dim=1).contiguous()  # (B, 3, kx, 2 ny)
        # row vectors: (3 kx, B, 2 ny) matrices, a strided view of v (no copy), times the transposed blocks
        o = torch.bmm(v.permute(1, 2, 0, 3).reshape(-1, nb, 2 * ny), self.kernel)  # (3 kx, B, 2 ny)
        o = o.view(3, -1, nb, 2 * ny).permute(2, 0, 3, 1)  # (B, 3, 2 ny, kx)
        b = torch.stack((torch.stack((o[:, 0, :ny], o[:, 1, :ny]), dim=-1),
                         torch.stack((o[:, 1, ny:], o[:, 0, ny:]), dim=-1),
                         torch.stack((o[:, 2, :ny], o[:, 2, ny:]), dim=-1)), dim=1)  # (B, 3, ny, kx, 2)
        return torch.view_as_complex(b.contiguous())

    def far_field(self, m: torch.Tensor) -> torch.Tensor:
        """The demag field [T] of ``m`` without each cell's field on itself: B - B_self, with
        B_self = -mu0 Ms diag(N_xx(0), N_yy(0), N_zz(0)) m (:attr:`self_coef`). Shape (B, 3, ny, nx)."""
        coef = torch.tensor(self.self_coef, dtype=m.dtype, device=m.device).view(1, 3, 1, 1)
        return self(m) - coef * m * self.mesh.mask

    def energy(self, m: torch.Tensor) -> torch.Tensor:
        """Magnetostatic energy [J] per instance, shape (B,): E = -(Ms V / 2) sum_cells m . B_demag."""
        return demag_energy(m, self(m), self.ms, self.mesh.cell_volume)


class ThinFilmDemag:
    """Local infinite-thin-film approximation B = -mu0 Ms m_z z (lower fidelity than Newell)."""

    def __init__(self, mesh: Mesh, ms: float):
        self.ms = ms
        self.volume = mesh.cell_volume
        self.coef = -MU0 * ms

    def __call__(self, m: torch.Tensor) -> torch.Tensor:
        """Thin-film demag field [T] of ``m`` (B, 3, ny, nx)."""
        b = torch.zeros_like(m)
        b[:, 2] = self.coef * m[:, 2]
        return b

    def energy(self, m: torch.Tensor) -> torch.Tensor:
        """Thin-film magnetostatic energy [J] per instance: E = (mu0 Ms^2 V / 2) sum_cells m_z^2."""
        return demag_energy(m, self(m), self.ms, self.volume)


def demag_energy(m: torch.Tensor, b: torch.Tensor, ms: float, volume: float) -> torch.Tensor:
    """E = -(Ms V / 2) sum_cells m . B [J] per instance for a demag field ``b`` [T] of ``m``."""
    return -0.5 * ms * volume * (m * b).sum(dim=(1, 2, 3))


def make_demag(kind: str, mesh: Mesh, ms: float):
    """Demag operator for ``solver.demag`` = ``newell`` | ``thin_film`` | ``none`` (tests only)."""
    if kind == "newell":
        return NewellDemag(mesh, ms)
    if kind == "thin_film":
        return ThinFilmDemag(mesh, ms)
    if kind == "none":
        return None
    raise ValueError(f"unknown demag model {kind!r}: expected 'newell' or 'thin_film'")
