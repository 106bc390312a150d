"""The held far demag field (``device.torch.demag_refresh_steps`` > 1, :class:`Stepper`): its split of the
Newell field, its refresh schedule, batch independence, and what holding it does to a relaxation and a
driven wall against the full demag in every stage."""

import pytest
import torch

from dwsynapse.engines.torchfd.demag import NewellDemag
from dwsynapse.engines.torchfd.mesh import MU0, Mesh
from dwsynapse.engines.torchfd.racetrack import initial_wall
from dwsynapse.engines.torchfd.solver import LLGSystem, Material, Stepper
from tests._torchfd_util import CPU, F64, scalar, zeros
from tests.test_torchfd_energy import random_state, rough_mask

MS, AEX, KU, D = 8e5, 1.5e-11, 8e5, 1e-3


def test_far_field_plus_the_self_field_is_the_newell_field():
    mesh = Mesh(rough_mask(), 2e-9, 2.5e-9, 1e-9, CPU, F64)
    demag = NewellDemag(mesh, MS, use_cache=False)
    m = random_state(mesh, batch=2, seed=1)
    self_field = torch.tensor(demag.self_coef, dtype=F64).view(1, 3, 1, 1) * m * mesh.mask
    torch.testing.assert_close(demag.far_field(m) + self_field, demag(m), rtol=0, atol=1e-14)
    # the self tensor of one box is diagonal with trace 1; a thin cell's is mostly N_zz, and of the
    # in-plane factors the one along the shorter side (dx = 2 nm < dy = 2.5 nm) is the larger
    n_self = [-c / (MU0 * MS) for c in demag.self_coef]
    assert sum(n_self) == pytest.approx(1.0, rel=1e-12)
    assert n_self[2] > 0.5 and n_self[0] > n_self[1] > 0


def _wall_system(alpha=0.3):
    mesh = Mesh(rough_mask(ny=12, nx=48, seed=5), 2e-9, 2e-9, 1e-9, CPU, F64)
    mat = Material(MS, AEX, alpha, D, KU)
    return LLGSystem(mesh, mat, demag="newell"), initial_wall(mesh, mat, 30e-9)


def test_refresh_one_is_the_full_step_and_k_refreshes_every_kth_call(monkeypatch):
    system, m0 = _wall_system()
    z, dt = zeros(), scalar(1e-13)
    one = Stepper(system, demag_refresh_steps=1)
    torch.testing.assert_close(one(m0, z, z, z, dt), system.heun_step(m0, z, z, z, dt), rtol=0, atol=0)
    held = Stepper(system, demag_refresh_steps=4)
    calls = []
    far = system.demag.far_field
    monkeypatch.setattr(held, "_far_fn", lambda m: calls.append(1) or far(m))
    m = m0
    for _ in range(9):
        m = held(m, z, z, z, dt)
    assert len(calls) == 3  # steps 0, 4 and 8
    with pytest.raises(ValueError, match="demag_refresh_steps"):
        Stepper(system, demag_refresh_steps=0)
    thin = LLGSystem(system.mesh, system.mat, demag="thin_film")
    assert Stepper(thin, demag_refresh_steps=8).refresh == 1  # a local demag has nothing to hold


def test_far_field_state_does_not_depend_on_the_batch():
    """Rows dropped from the batch (``select``) keep their far-field state: the survivor runs as it runs alone."""
    system, m0 = _wall_system()
    z, dt = zeros(), scalar(1e-13)
    other = system.normalize(m0 + 0.3 * torch.tensor([0.0, 1.0, 0.0], dtype=F64).view(1, 3, 1, 1))
    batch, alone = Stepper(system, demag_refresh_steps=5), Stepper(system, demag_refresh_steps=5)
    mb, ma = torch.cat([other, m0]), m0
    for k in range(13):
        if k == 7:
            mb = mb[[1]].contiguous()
            batch.select([1])
        mb, ma = batch(mb, z, z, z, dt), alone(ma, z, z, z, dt)
    torch.testing.assert_close(mb, ma, rtol=0, atol=1e-13)


def test_a_relaxation_with_the_far_field_every_8_steps_still_lowers_the_energy():
    """The rough notched strip of the full-demag energy test (alpha = 0.3, dt 1e-13 s) with the far field
    refreshed every 8 steps: the energy falls over every refresh interval and ends where the full
    demag's relaxation ends."""
    system, m0 = _wall_system()
    m0 = system.normalize(m0 + 0.2 * torch.tensor([0.0, 1.0, 0.0], dtype=F64).view(1, 3, 1, 1))
    z, dt = zeros(), scalar(1e-13)
    held, full = Stepper(system, demag_refresh_steps=8), Stepper(system, demag_refresh_steps=1)
    mh, mf = m0, m0
    energies = [system.energy(m0)]
    for i in range(1, 1501):
        mh, mf = held(mh, z, z, z, dt), full(mf, z, z, z, dt)
        if i % 8 == 0:
            energies.append(system.energy(mh))
    e = torch.cat(energies)
    assert (torch.diff(e) <= 1e-12 * e.abs().max()).all(), torch.diff(e)
    assert float(system.energy(mh)) == pytest.approx(float(system.energy(mf)), rel=1e-6)
    assert float((mh - mf).abs().max()) < 1e-3  # 1e-4 measured: the extrapolation is second order


def test_a_driven_wall_moves_as_far_with_the_far_field_every_8_steps():
    """SOT-driven wall for 50 ps, float64, at a Heun-stable step (2.5e-14 s for 2 nm cells): the <mz>
    displacement with the far field refreshed every 8 steps agrees with the full demag's to 1e-4
    (5e-5 measured over 0.1 ns; Heun's own change at dt / 2 is smaller still, 4e-7)."""
    system, m0 = _wall_system(alpha=0.1)
    z, a_dl, dt = zeros(), scalar(0.02), scalar(2.5e-14)
    mask = system.mesh.mask
    mz = lambda m: float((m[:, 2] * mask[0]).sum() / mask.sum())  # noqa: E731

    def moved(refresh):
        stepper, m = Stepper(system, demag_refresh_steps=refresh), m0
        for _ in range(2000):
            m = stepper(m, z, a_dl, z, dt)
        return mz(m) - mz(m0)

    full, every8 = moved(1), moved(8)
    assert full > 0.03  # the wall did move
    assert abs(every8 - full) < 1e-4 * full
