"""Brown thermal field: Langevin statistics and per-instance reproducibility of batches."""

import numpy as np
import pytest
import torch

from dwsynapse.engines.torchfd.mesh import KB, Mesh
from dwsynapse.engines.torchfd.solver import LLGSystem, Material
from dwsynapse.engines.torchfd.thermal import ThermalNoise, thermal_sigma
from tests._torchfd_util import run, strip

MS = 8e5


def langevin(x):
    return 1 / np.tanh(x) - 1 / x


@pytest.mark.parametrize("x_target", [1.0, 3.0])
def test_macrospins_follow_the_langevin_function(x_target):
    """Non-interacting macrospins (no exchange, no demag) in B along z at T: <m_z> = L(Ms V B / kB T)."""
    mesh = strip(16, 16, 4e-9)
    temperature, dt = 300.0, 1e-13
    b0 = x_target * KB * temperature / (MS * mesh.cell_volume)
    system = LLGSystem(mesh, Material(MS, 0.0, 1.0), demag="none", b_ext=(0.0, 0.0, b0))
    n_inst = 4
    noise = ThermalNoise([101 + i for i in range(n_inst)], mesh, thermal_sigma(1.0, temperature, MS, mesh.cell_volume, dt))
    m = torch.zeros(n_inst, 3, mesh.ny, mesh.nx, dtype=mesh.dtype)
    m[:, 2] = 1
    m = run(system, m, 600, dt, noise=noise)
    samples = []
    for _ in range(60):
        m = run(system, m, 40, dt, noise=noise)
        samples.append(m[:, 2].mean().item())
    mean = float(np.mean(samples))
    err = np.std(samples) / np.sqrt(len(samples))
    assert abs(mean - langevin(x_target)) < max(4 * err, 0.01), (mean, langevin(x_target), err)


def test_sigma_formula_and_zero_temperature():
    s = thermal_sigma(0.3, 300.0, MS, 16e-27, 1e-13)
    assert s == pytest.approx(np.sqrt(2 * 0.3 * KB * 300 / (1.7595e11 * MS * 16e-27 * 1e-13)))
    assert thermal_sigma(0.3, 0.0, MS, 16e-27, 1e-13) == 0.0
    with pytest.raises(ValueError, match="temperature must be >= 0"):
        thermal_sigma(0.3, -1.0, MS, 16e-27, 1e-13)


def _notched_mesh():
    mask = np.ones((8, 30), bool)
    mask[:2, 12:14] = False
    mask[-2:, 12:14] = False
    return Mesh(mask, 4e-9, 4e-9, 1e-9, torch.device("cpu"), torch.float64)


def test_batch_equals_instances_run_one_by_one():
    """float64, fixed seeds: each instance's trajectory does not depend on the batch it is in."""
    mesh = _notched_mesh()
    system = LLGSystem(mesh, Material(MS, 1.5e-11, 0.3, 1e-3, 7.5e5), demag="newell")
    sigma = thermal_sigma(0.3, 300.0, MS, mesh.cell_volume, 1e-13)
    seeds = [11, 22, 33]

    def simulate(which):
        m = torch.zeros(len(which), 3, mesh.ny, mesh.nx, dtype=mesh.dtype)
        m[:, 2] = torch.where(torch.arange(mesh.nx) < 10, 1.0, -1.0).to(mesh.dtype)
        m = system.normalize(m + 0.1 * torch.tensor([1.0, 0, 0], dtype=mesh.dtype).view(1, 3, 1, 1)) * mesh.mask
        return run(system, m, 70, 1e-13, a_dl=0.01, noise=ThermalNoise(which, mesh, sigma))

    batch = simulate(seeds)
    for i, s in enumerate(seeds):
        single = simulate([s])
        torch.testing.assert_close(batch[i], single[0], rtol=0, atol=1e-12)
    assert (batch[0] - batch[1]).abs().max() > 1e-3  # different seeds, different noise


def test_noise_select_keeps_each_stream():
    mesh = strip(2, 3, 4e-9)
    a = ThermalNoise([5, 6, 7], mesh, 1.0, block=4)
    b = ThermalNoise([7], mesh, 1.0, block=4)
    for _ in range(3):
        a.next(), b.next()
    a.select([2])
    for _ in range(6):
        torch.testing.assert_close(a.next()[0], b.next()[0], rtol=0, atol=0)


def test_noise_stream_of_an_instance_is_its_generators_randn_blocks():
    """The reproducibility contract: instance i's field for steps k*block ... (k+1)*block - 1 is
    sigma * mask * torch.randn(block, 3, ny, nx) from a generator seeded with its seed, whatever the
    batch; the block buffer is refilled in place, so a step's field stays the same tensor across blocks."""
    mask = np.ones((3, 5), bool)
    mask[0, 1] = False
    mesh = Mesh(mask, 4e-9, 4e-9, 1e-9, torch.device("cpu"), torch.float64)
    noise = ThermalNoise([8, 9], mesh, 0.5, block=4)
    first = noise.next()
    ptr = first.data_ptr()
    got = torch.stack([first.clone()] + [noise.next().clone() for _ in range(7)], dim=1)  # (B, 8, 3, ny, nx)
    assert noise.next().data_ptr() == ptr  # the third block reuses the storage: no allocation per block
    for i, seed in enumerate([8, 9]):
        g = torch.Generator().manual_seed(seed)
        expect = torch.cat([torch.randn(4, 3, 3, 5, generator=g, dtype=torch.float64) for _ in range(2)])
        torch.testing.assert_close(got[i], expect * 0.5 * mesh.mask, rtol=0, atol=0)
