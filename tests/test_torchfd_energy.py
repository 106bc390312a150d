"""Energies of the torchfd terms: each field is minus the gradient of its term's energy, and a damped
relaxation at T = 0 never raises the total energy (the test that catches a wrong surface sign)."""

import numpy as np
import pytest
import torch

from dwsynapse.engines.torchfd.mesh import Mesh, neighbour_differences
from dwsynapse.engines.torchfd.racetrack import initial_wall
from dwsynapse.engines.torchfd.solver import LLGSystem, Material
from tests._torchfd_util import CPU, F64, scalar, strip, zeros

MS, AEX, KU, D = 8e5, 1.5e-11, 8e5, 1e-3


def rough_mask(ny=9, nx=24, seed=3):
    """A strip with notches and missing edge cells, so every kind of free surface occurs."""
    rng = np.random.default_rng(seed)
    mask = np.ones((ny, nx), bool)
    mask[0, rng.choice(nx, 6, replace=False)] = False
    mask[-1, rng.choice(nx, 6, replace=False)] = False
    mask[:2, 10:12] = False  # a notch
    return mask


def random_state(mesh, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    m = torch.randn(batch, 3, mesh.ny, mesh.nx, generator=g, dtype=F64)
    return m / m.norm(dim=1, keepdim=True) * mesh.mask


@pytest.mark.parametrize("demag", ["none", "thin_film", "newell"])
def test_every_field_is_minus_the_gradient_of_its_energy(demag):
    """B = -(1 / (Ms V)) dE/dm for exchange + DMI (with the ghost-cell surfaces), anisotropy and demag:
    the field operator is symmetric, so E is the energy the dynamics dissipates. A wrong sign of the
    DMI surface term breaks this at every free edge."""
    mesh = Mesh(rough_mask(), 2e-9, 2e-9, 1e-9, CPU, F64)
    system = LLGSystem(mesh, Material(MS, AEX, 0.5, D, KU), demag=demag)
    m = random_state(mesh).requires_grad_(True)
    energy = system.energy(m).sum()
    (grad,) = torch.autograd.grad(energy, m)
    z = zeros()
    b = system.field(m.detach(), z, z, z)
    expect = -grad / (MS * mesh.cell_volume) * mesh.mask
    torch.testing.assert_close(b * mesh.mask, expect, rtol=1e-10, atol=1e-10 * float(b.abs().max()))


def test_dmi_energy_is_the_bond_sum_plus_the_ghost_cell_self_energy():
    mesh = Mesh(rough_mask(), 2e-9, 2e-9, 1e-9, CPU, F64)
    from dwsynapse.engines.torchfd.dmi import dmi_energy

    m = random_state(mesh, batch=1)
    mx, my, mz = m[0, 0], m[0, 1], m[0, 2]
    hx, hy = mesh.have_xp[0, 0], mesh.have_yp[0, 0]
    bond_x = (hx * (mz * torch.roll(mx, -1, -1) - mx * torch.roll(mz, -1, -1))).sum()
    bond_y = (hy * (mz * torch.roll(my, -1, -2) - my * torch.roll(mz, -1, -2))).sum()
    tx = (mesh.free_xp + mesh.free_xm)[0, 0]
    ty = (mesh.free_yp + mesh.free_ym)[0, 0]
    self_energy = -(D * D * mesh.cell_volume / (4 * AEX)) * (tx * (mx**2 + mz**2) + ty * (my**2 + mz**2)).sum()
    expect = D * mesh.dz * (mesh.dy * bond_x + mesh.dx * bond_y) + self_energy
    got = dmi_energy(m, neighbour_differences(m, mesh), mesh, D, AEX, MS)
    assert got.item() == pytest.approx(expect.item(), rel=1e-12)


def energy_trace(system, m, steps, dt, every):
    z = zeros()
    dt_t = scalar(dt)
    out = [system.energy(m)]
    for i in range(1, steps + 1):
        m = system.heun_step(m, z, z, z, dt_t)
        if i % every == 0:
            out.append(system.energy(m))
    return m, torch.stack(out)


def test_relaxing_an_up_strip_lowers_the_energy_and_cants_the_edges_the_dmi_way():
    """The issue's case: 32 x 21 cells of 1 nm, alpha = 1, from the uniform up state. With the sign
    of the surface term right, every recorded energy is below the previous one, the DMI energy ends
    negative, and the left edge cants towards +x, the right edge towards -x."""
    mesh = strip(21, 32, 1e-9)
    system = LLGSystem(mesh, Material(MS, AEX, 1.0, D, KU), demag="thin_film")
    m = torch.zeros(1, 3, mesh.ny, mesh.nx, dtype=F64)
    m[:, 2] = 1
    m, energies = energy_trace(system, m, 2000, 2e-14, 50)
    steps = torch.diff(energies[:, 0])
    assert (steps <= 1e-12 * energies[:, 0].abs().max()).all(), steps
    assert system.energy_terms(m)["dmi"].item() < 0
    row = m[0, :, mesh.ny // 2]
    assert row[0, 0] > 0.1 and row[0, -1] < -0.1


def test_relaxing_a_wall_on_a_rough_notched_strip_with_newell_never_raises_the_energy():
    """A Neel wall on a rough strip with a notch, full demag, alpha = 0.3, dt 1e-13 s: the energy
    falls at every recorded step (it must, for any conservative field and damping)."""
    mesh = Mesh(rough_mask(ny=12, nx=48, seed=5), 2e-9, 2e-9, 1e-9, CPU, F64)
    mat = Material(MS, AEX, 0.3, D, KU)
    system = LLGSystem(mesh, mat, demag="newell")
    m0 = initial_wall(mesh, mat, 30e-9)
    m0 = system.normalize(m0 + 0.2 * torch.tensor([0.0, 1.0, 0.0], dtype=F64).view(1, 3, 1, 1))
    _, energies = energy_trace(system, m0, 1500, 1e-13, 25)
    steps = torch.diff(energies[:, 0])
    assert energies[-1, 0] < energies[0, 0]
    assert (steps <= 1e-12 * energies[:, 0].abs().max()).all(), steps


def test_uniform_state_energies_match_their_formulas():
    mesh = strip(4, 10, 2e-9)
    system = LLGSystem(mesh, Material(MS, AEX, 0.5, 0.0, KU), demag="thin_film")
    m = torch.zeros(1, 3, 4, 10, dtype=F64)
    m[:, 2] = 1
    terms = system.energy_terms(m)
    v = mesh.cell_volume * mesh.n_cells
    assert terms["exchange"].item() == pytest.approx(0.0, abs=1e-30)
    assert terms["anisotropy"].item() == pytest.approx(-KU * v)
    assert terms["demag"].item() == pytest.approx(0.5 * 4e-7 * np.pi * MS**2 * v)


@pytest.mark.parametrize("ku_per_row", [False, True], ids=["one-ku", "ku-per-row"])
@pytest.mark.parametrize("demag", ["none", "thin_film", "newell"])
def test_fused_field_equals_the_sum_of_the_per_term_fields(demag, ku_per_row):
    """The solver's one-expression field (what a compiled step runs) is the sum of the fields of the
    per-term modules (exchange, dmi, anisotropy, demag, zeeman, sot, thermal) on every cell kind of a
    rough, notched mask, float64, to 1e-12 of the largest field; also with one Ku per batch row (the
    calibration's batches), where each row must see its own Ku."""
    mesh = Mesh(rough_mask(), 2e-9, 2.5e-9, 1e-9, CPU, F64)
    ku = torch.tensor([KU, 0.7 * KU, 1.2 * KU], dtype=F64).view(-1, 1, 1) if ku_per_row else KU
    system = LLGSystem(mesh, Material(MS, AEX, 0.5, D, ku), demag=demag, b_ext=(0.01, -0.02, 0.03))
    m = random_state(mesh, batch=3, seed=4)
    g = torch.Generator().manual_seed(5)
    b_th = torch.randn(m.shape, generator=g, dtype=F64) * 0.05 * mesh.mask
    a_dl, a_fl = scalar(0.02), scalar(0.004)
    terms = system.term_fields(m, b_th, a_dl, a_fl)
    assert all(float(b.abs().max()) > 0 for k, b in terms.items() if k != "demag" or demag != "none")
    expect = sum(terms.values()) * mesh.mask
    got = system.field(m, b_th, a_dl, a_fl)
    torch.testing.assert_close(got, expect, rtol=0, atol=1e-12 * float(expect.abs().max()))


def test_energy_with_one_ku_per_row_is_each_rows_own_energy():
    """A batch whose rows carry different Ku has, row by row, the energy of that row alone."""
    mesh = Mesh(rough_mask(), 2e-9, 2.5e-9, 1e-9, CPU, F64)
    kus = [KU, 0.7 * KU, 1.2 * KU]
    m = random_state(mesh, batch=3, seed=6)
    batched = LLGSystem(mesh, Material(MS, AEX, 0.5, D, torch.tensor(kus, dtype=F64).view(-1, 1, 1)),
                        demag="thin_film").energy(m)
    alone = torch.cat([LLGSystem(mesh, Material(MS, AEX, 0.5, D, k), demag="thin_film").energy(m[i:i + 1])
                       for i, k in enumerate(kus)])
    torch.testing.assert_close(batched, alone, rtol=1e-12, atol=0)
