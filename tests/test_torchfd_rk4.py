"""The classical Runge-Kutta step (``device.solver.integrator: rk4``): its order on an analytic
precession, its stability where Heun amplifies the fastest exchange mode, energy that only falls
under damping at the large step it is chosen for, and a driven wall that moves as Heun's does."""

import math

import pytest
import torch

from dwsynapse.engines.torchfd.mesh import GAMMA_LL
from dwsynapse.engines.torchfd.racetrack import exchange_mode_growth
from dwsynapse.engines.torchfd.solver import LLGSystem, Material, Stepper
from tests._torchfd_util import F64, scalar, strip, zeros
from tests.test_torchfd_far_demag import _wall_system


def precession_error(integrator: str, dt: float, t_end: float = 2e-10) -> float:
    """Largest |m - m_exact| of a uniform moment in B = 0.1 T along z (alpha 0.1) after ``t_end`` [s]:
    tan(theta/2) = tan(theta0/2) exp(-alpha g B t), phi = g B t, g = gamma / (1 + alpha^2)."""
    alpha, b = 0.1, 0.1
    system = LLGSystem(strip(2, 2, 4e-9), Material(8e5, 1e-11, alpha), demag="none", b_ext=(0.0, 0.0, b))
    stepper = Stepper(system, integrator=integrator)
    theta0 = 1.0
    m = torch.zeros(1, 3, 2, 2, dtype=F64)
    m[:, 0], m[:, 2] = math.sin(theta0), math.cos(theta0)
    z = zeros()
    for _ in range(round(t_end / dt)):
        m = stepper(m, z, z, z, scalar(dt))
    g = GAMMA_LL / (1 + alpha**2)
    theta = 2 * math.atan(math.tan(theta0 / 2) * math.exp(-alpha * g * b * t_end))
    phi = g * b * t_end
    exact = torch.tensor([math.sin(theta) * math.cos(phi), math.sin(theta) * math.sin(phi), math.cos(theta)], dtype=F64)
    return float((m[0, :, 0, 0] - exact).abs().max())


def test_rk4_is_fourth_order_and_heun_second_on_an_analytic_precession():
    rk4 = precession_error("rk4", 4e-12), precession_error("rk4", 2e-12)
    heun = precession_error("heun", 4e-12), precession_error("heun", 2e-12)
    assert rk4[0] / rk4[1] == pytest.approx(16, rel=0.2)
    assert heun[0] / heun[1] == pytest.approx(4, rel=0.2)
    assert rk4[0] < 1e-2 * heun[0]  # 3.9e-7 vs 2.0e-4 at 4 ps


def test_exchange_mode_growth_of_both_integrators():
    """alpha 0.01, 4 nm: Heun's limit lies near |z| = 0.44, RK4's near 2.85 (its stability region on the
    imaginary axis), so 3 x Heun's limit is unstable for Heun and stable for RK4."""
    mat, mesh = Material(1e6, 3e-11, 0.01), strip(2, 2, 4e-9)
    omega = GAMMA_LL * 2 * mat.aex / mat.ms * 8 / (4e-9) ** 2
    heun_limit, rk4_limit = 0.444 / omega, 2.848 / omega
    assert exchange_mode_growth(mat, mesh, 0.99 * heun_limit) < 1 < exchange_mode_growth(mat, mesh, 1.01 * heun_limit)
    assert exchange_mode_growth(mat, mesh, 0.99 * rk4_limit, "rk4") < 1 < exchange_mode_growth(mat, mesh, 1.01 * rk4_limit, "rk4")
    assert exchange_mode_growth(mat, mesh, 3 * heun_limit, "rk4") < 1 < exchange_mode_growth(mat, mesh, 3 * heun_limit)
    with pytest.raises(ValueError, match="integrator must be one of heun, rk4"):
        exchange_mode_growth(mat, mesh, 1e-13, "euler")
    with pytest.raises(ValueError, match="integrator must be one of heun, rk4"):
        Stepper(LLGSystem(mesh, mat, demag="none"), integrator="rk45")


def test_rk4_at_three_times_heuns_limit_lowers_the_energy_where_heun_blows_up():
    """A noisy up strip (4 nm cells, alpha 0.01, DMI, thin-film demag) relaxed at 2.5e-13 s, three times
    Heun's stable step: RK4's energy falls at every step, Heun's grows without bound."""
    mesh = strip(8, 40, 4e-9)
    system = LLGSystem(mesh, Material(1e6, 3e-11, 0.01, 1.5e-3, 8e5), demag="thin_film")
    gen = torch.Generator().manual_seed(3)
    m0 = torch.zeros(1, 3, 8, 40, dtype=F64)
    m0[:, 2] = 1
    m0 = system.normalize(m0 + 0.1 * torch.randn(m0.shape, generator=gen, dtype=F64))
    z, dt = zeros(), scalar(2.5e-13)
    rk4, heun = Stepper(system, integrator="rk4"), Stepper(system)
    mr, mh = m0, m0
    energies = [float(system.energy(m0))]
    for _ in range(300):
        mr, mh = rk4(mr, z, z, z, dt), heun(mh, z, z, z, dt)
        energies.append(float(system.energy(mr)))
    steps = torch.diff(torch.tensor(energies))
    assert (steps <= 1e-12 * abs(energies[0])).all(), steps.max()
    assert energies[-1] < energies[0]
    heun_e = float(system.energy(mh))
    assert not math.isfinite(heun_e) or heun_e > energies[0]


def test_a_driven_wall_moves_as_far_with_rk4_at_four_times_the_step():
    """The SOT-driven wall of the far-field test (2 nm cells, alpha 0.1, Newell, float64) for 50 ps: RK4 at
    1e-13 s moves <mz> as Heun at 2.5e-14 s does, to 1e-3 of the displacement."""
    system, m0 = _wall_system(alpha=0.1)
    z, a_dl = zeros(), scalar(0.02)
    mask = system.mesh.mask
    mz = lambda m: float((m[:, 2] * mask[0]).sum() / mask.sum())  # noqa: E731

    def moved(integrator, dt, steps):
        stepper, m = Stepper(system, integrator=integrator), m0
        for _ in range(steps):
            m = stepper(m, z, a_dl, z, scalar(dt))
        return mz(m) - mz(m0)

    heun, rk4 = moved("heun", 2.5e-14, 2000), moved("rk4", 1e-13, 500)
    assert heun > 0.03
    assert abs(rk4 - heun) < 1e-3 * heun


def test_extra_damping_of_the_fastest_exchange_mode():
    """The numbers docs/engine.md gives for config.yaml's material (Ms 1.01e6, Aex 3e-11, alpha 0.01) on
    4 nm cells: Heun at 6.25e-14 s damps the fastest mode 38 % of alpha less than the LLG (4 % at half the
    step), RK4 at 1.25e-13 s 7 % more, at 2.5e-13 s 210 % more; at the stability limit nothing is left."""
    from dwsynapse.engines.torchfd.racetrack import exchange_mode_extra_damping as extra

    mat, mesh = Material(1.01e6, 3e-11, 0.01), strip(2, 2, 4e-9)
    assert extra(mat, mesh, 6.25e-14) == pytest.approx(-0.38, abs=0.01)
    assert extra(mat, mesh, 3.125e-14) == pytest.approx(-0.04, abs=0.01)
    assert extra(mat, mesh, 1.25e-13, "rk4") == pytest.approx(0.07, abs=0.01)
    assert extra(mat, mesh, 2.5e-13, "rk4") == pytest.approx(2.1, abs=0.05)
    assert extra(mat, mesh, 1e-16) == pytest.approx(0.0, abs=1e-3)  # exact as dt -> 0
    omega = GAMMA_LL * 2 * mat.aex / mat.ms * 8 / (4e-9) ** 2
    assert extra(mat, mesh, 0.44403 / omega) == pytest.approx(-1.0, abs=0.01)  # Heun's stability limit


def test_a_thermal_run_at_a_step_that_cools_the_exchange_modes_is_warned_about(default_config, tmp_path, caplog,
                                                                               monkeypatch):
    from dwsynapse.engines.torchfd import run_instances
    from dwsynapse.geometry import build_racetrack

    monkeypatch.setenv("DWSYNAPSE_TORCH_COMPILE", "0")
    dev = default_config["device"]
    dev["geometry"].update(length=40e-9, width=16e-9, first_notch=12e-9, notch_pitch=16e-9, notch_depth=4e-9,
                           edge_roughness_rms=0.0)
    dev["material"].update(Ms=1.01e6, Aex=3e-11, alpha=0.01)
    dev["solver"].update(integrator="rk4", dt=2.5e-13, initial_relax_time=0.0, relax_max_time=0.0)
    dev["drive"]["pulse_duration"] = 1e-12
    dev["torch"]["device"] = "cpu"
    track = build_racetrack(dev["geometry"])
    with caplog.at_level("WARNING"):
        run_instances(default_config, track, 8e5, [1], tmp_path / "hot", progress=False)
    assert "damps the fastest exchange modes +210 % of alpha = 0.01 more" in caplog.text
    caplog.clear()
    dev["solver"]["dt"] = 1.25e-13
    with caplog.at_level("WARNING"):
        run_instances(default_config, track, 8e5, [1], tmp_path / "ok", progress=False)
    assert "exchange modes" not in caplog.text
