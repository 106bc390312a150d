"""Demagnetization: Newell kernel vs analytic factors (Aharoni prism, cube), thin-film model, cache."""

import numpy as np
import pytest
import torch

from dwsynapse.engines.torchfd import demag
from dwsynapse.engines.torchfd.mesh import MU0
from tests._torchfd_util import strip


def aharoni_nz(lx: float, ly: float, lz: float) -> float:
    """Demagnetizing factor along z of a uniformly magnetized lx*ly*lz prism
    (A. Aharoni, J. Appl. Phys. 83, 3432 (1998), half-sides a, b, c)."""
    a, b, c = lx / 2, ly / 2, lz / 2
    r = np.sqrt(a * a + b * b + c * c)
    rab, rbc, rac = np.sqrt(a * a + b * b), np.sqrt(b * b + c * c), np.sqrt(a * a + c * c)
    s = (b * b - c * c) / (2 * b * c) * np.log((r - a) / (r + a))
    s += (a * a - c * c) / (2 * a * c) * np.log((r - b) / (r + b))
    s += b / (2 * c) * np.log((rab + a) / (rab - a))
    s += a / (2 * c) * np.log((rab + b) / (rab - b))
    s += c / (2 * a) * np.log((rbc - b) / (rbc + b))
    s += c / (2 * b) * np.log((rac - a) / (rac + a))
    s += 2 * np.arctan(a * b / (c * r))
    s += (a**3 + b**3 - 2 * c**3) / (3 * a * b * c)
    s += (a * a + b * b - 2 * c * c) / (3 * a * b * c) * r
    s += c / (a * b) * (rac + rbc)
    s -= (rab**3 + rbc**3 + rac**3) / (3 * a * b * c)
    return s / np.pi


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DWSYNAPSE_CACHE", str(tmp_path / "cache"))


def test_aharoni_reference_is_consistent():
    assert aharoni_nz(1, 1, 1) == pytest.approx(1 / 3, abs=1e-12)
    lx, ly, lz = 100.0, 50.0, 2.0
    total = aharoni_nz(lx, ly, lz) + aharoni_nz(ly, lz, lx) + aharoni_nz(lz, lx, ly)
    assert total == pytest.approx(1.0, abs=1e-12)


def _average_factors(mesh, ms=8e5):
    """Volume-averaged demag factors (Nxx, Nyy, Nzz) of the uniformly magnetized mesh."""
    op = demag.NewellDemag(mesh, ms)
    out = []
    for comp in range(3):
        m = torch.zeros(1, 3, mesh.ny, mesh.nx, dtype=mesh.dtype)
        m[:, comp] = 1.0
        b = op(m)
        out.append(float(-b[0, comp].mean() / (MU0 * ms)))
    return out


def test_thin_film_prism_matches_aharoni():
    # 100 nm x 50 nm x 2 nm film, 2 nm cells, one layer: Nzz close to 1, in-plane small
    mesh = strip(25, 50, 2e-9, dz=2e-9)
    nxx, nyy, nzz = _average_factors(mesh)
    ref_z = aharoni_nz(100e-9, 50e-9, 2e-9)
    ref_x = aharoni_nz(50e-9, 2e-9, 100e-9)
    ref_y = aharoni_nz(2e-9, 100e-9, 50e-9)
    assert nzz == pytest.approx(ref_z, rel=1e-4)
    assert nxx == pytest.approx(ref_x, rel=1e-3)
    assert nyy == pytest.approx(ref_y, rel=1e-3)
    assert nxx + nyy + nzz == pytest.approx(1.0, abs=1e-5)


def test_cube_of_tall_cells_has_one_third():
    # a 16 nm cube: 8 x 8 cells of 2 x 2 x 16 nm (one layer)
    mesh = strip(8, 8, 2e-9, dz=16e-9)
    for n in _average_factors(mesh):
        assert n == pytest.approx(1 / 3, abs=1e-6)


def test_far_field_dipole_switch_is_continuous():
    x = np.array([demag.FAR_CELLS * 1e-9 * 0.999])
    y = np.array([0.3e-9])
    near = demag.newell_tensor(x, y, 1e-9, 1e-9, 1e-9, far_cells=1e9)
    far = demag.newell_tensor(x, y, 1e-9, 1e-9, 1e-9, far_cells=0)
    for a, b in zip(near, far):
        assert a[0] == pytest.approx(b[0], rel=2e-3, abs=1e-10)


def test_kernel_is_cached_on_disk(tmp_path):
    k1 = demag.demag_kernel_fft(12, 5, 3e-9, 3e-9, 1e-9)
    files = list((tmp_path / "cache" / "demag").glob("newell_12x5_*.npz"))
    assert len(files) == 1
    k2 = demag.demag_kernel_fft(12, 5, 3e-9, 3e-9, 1e-9)
    np.testing.assert_array_equal(k1, k2)
    other = demag.demag_kernel_fft(12, 5, 2e-9, 3e-9, 1e-9)
    assert len(list((tmp_path / "cache" / "demag").glob("*.npz"))) == 2
    assert not np.allclose(k1, other)


def test_thin_film_model_and_bad_kind():
    mesh = strip(3, 4, 2e-9)
    m = torch.zeros(2, 3, 3, 4, dtype=mesh.dtype)
    m[:, 2] = 0.6
    m[:, 0] = 0.8
    b = demag.make_demag("thin_film", mesh, 8e5)(m)
    assert torch.allclose(b[:, 2], torch.full_like(b[:, 2], -MU0 * 8e5 * 0.6))
    assert torch.count_nonzero(b[:, :2]) == 0
    with pytest.raises(ValueError, match="unknown demag model 'fft'"):
        demag.make_demag("fft", mesh, 8e5)
    with pytest.raises(ValueError, match="unknown y_pass 'dct'"):
        demag.NewellDemag(mesh, 8e5, y_pass="dct")


def test_no_field_outside_mask():
    mask = np.ones((6, 10), bool)
    mask[2:4, 4:6] = False
    from dwsynapse.engines.torchfd.mesh import Mesh

    mesh = Mesh(mask, 2e-9, 2e-9, 1e-9, torch.device("cpu"), torch.float64)
    m = torch.zeros(1, 3, 6, 10, dtype=torch.float64)
    m[:, 2] = mesh.mask[0]
    b = demag.NewellDemag(mesh, 8e5)(m)
    assert torch.count_nonzero(b[..., 2:4, 4:6]) == 0


@pytest.mark.parametrize("y_pass", ["fft", "matrix"])
def test_fft_convolution_equals_direct_sum(y_pass):
    """Both forms of the y pass (FFT: transposes, padding, truncation; matrix: the Toeplitz blocks) give
    exactly the linear convolution B_i = -mu0 Ms sum_j N(r_i - r_j) m_j, checked cell by cell against a
    direct sum for a random magnetization on an irregular mask, with ny and nx both odd and even."""
    from dwsynapse.engines.torchfd.mesh import Mesh

    rng = np.random.default_rng(3)
    for ny, nx in ((5, 7), (4, 10)):
        mask = rng.random((ny, nx)) > 0.2
        dx, dy, dz, ms = 3e-9, 2e-9, 1e-9, 8e5
        mesh = Mesh(mask, dx, dy, dz, torch.device("cpu"), torch.float64)
        m = torch.as_tensor(rng.normal(size=(2, 3, ny, nx))) * mesh.mask
        op = demag.NewellDemag(mesh, ms, use_cache=False, y_pass=y_pass)
        assert op.y_pass == y_pass
        b = op(m).numpy()
        iy, ix = np.mgrid[0:ny, 0:nx]
        X = (ix.reshape(-1, 1) - ix.reshape(1, -1)) * dx  # (target cell, source cell)
        Y = (iy.reshape(-1, 1) - iy.reshape(1, -1)) * dy
        nxx, nyy, nzz, nxy = demag.newell_tensor(X, Y, dx, dy, dz)
        mm = m.numpy().reshape(2, 3, -1)
        direct = -MU0 * ms * np.stack((nxx @ mm[:, 0].T + nxy @ mm[:, 1].T,
                                       nxy @ mm[:, 0].T + nyy @ mm[:, 1].T,
                                       nzz @ mm[:, 2].T)).transpose(2, 0, 1)
        direct = direct.reshape(2, 3, ny, nx) * mask
        np.testing.assert_allclose(b, direct, atol=1e-12 * np.abs(direct).max())
