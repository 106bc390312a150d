"""run_instances of the embedded engine on a small racetrack: results, rest detection, seeds,
batch-independence and failure isolation."""

import json

import numpy as np
import pytest
import torch

from dwsynapse.dwpos import wall_position
from dwsynapse.engines import InstanceResult, instance_seed
from dwsynapse.engines.torchfd import racetrack as rt
from dwsynapse.engines.torchfd import run_instances
from dwsynapse.engines.torchfd.mesh import Mesh
from dwsynapse.engines.torchfd.solver import LLGSystem, Material, Stepper
from dwsynapse.engines.torchfd.thermal import ThermalNoise, thermal_sigma
from dwsynapse.geometry import build_racetrack


@pytest.fixture
def small(default_config, monkeypatch):
    monkeypatch.setenv("DWSYNAPSE_TORCH_COMPILE", "0")
    dev = default_config["device"]
    dev["geometry"].update(length=120e-9, width=16e-9, cell_size=4e-9, first_notch=40e-9, notch_pitch=60e-9,
                           notch_depth=0.0, notch_width=8e-9, edge_roughness_rms=0.0)
    # pinned here so that the test does not follow the calibration of config.yaml
    dev["material"].update(Ms=8e5, Aex=1.5e-11, alpha=0.3, Dind=1e-3, theta_sh=0.07)
    dev["solver"]["dt"] = 2e-13
    dev["drive"].update(pulse_duration=0.08e-9, current_density=7e11)
    dev["solver"].update(relax_max_time=0.1e-9, rest_window=0.05e-9, rest_velocity=2.0, demag="newell",
                         initial_relax_time=0.05e-9, readout_time=0.0)
    dev["torch"].update(device="cpu", dtype="float64")
    return default_config, build_racetrack(dev["geometry"])


def test_results_per_seed(small, tmp_path):
    config, track = small
    seeds = [instance_seed(1, 0, i) for i in range(3)]
    res = run_instances(config, track, 7.5e5, seeds, tmp_path, progress=False)
    assert [r.seed for r in res] == seeds
    for r in res:
        assert isinstance(r, InstanceResult) and r.ok, r.error
        assert r.m_final.shape == (3, track.ny, track.nx)
        assert -1 <= r.mz <= 1
        assert r.t[0] == 0 and np.all(np.diff(r.t) > 0) and len(r.t) == len(r.mz_t)
        assert r.mz_t[-1] == pytest.approx(r.mz, abs=1e-12)
    assert len({r.mz for r in res}) == 3  # independent thermal noise
    summary = json.loads((tmp_path / "torchfd_run.json").read_text())
    assert summary["n_ok"] == 3 and summary["instance_steps"] > 0 and summary["compiled"] is False


def _short(config):
    config["device"]["drive"]["pulse_duration"] = 0.03e-9
    config["device"]["solver"]["relax_max_time"] = 0.03e-9


def test_batch_and_single_runs_agree(small, tmp_path):
    config, track = small
    _short(config)
    config["device"]["solver"].update(readout_time=0.01e-9, readout_dt=1e-13)
    seeds = [17, 29]
    batch = run_instances(config, track, 7.5e5, seeds, tmp_path / "b", progress=False)
    single = run_instances(config, track, 7.5e5, [29], tmp_path / "s", progress=False)[0]
    assert batch[1].mz == pytest.approx(single.mz, abs=1e-10)
    assert batch[1].dw_x == pytest.approx(single.dw_x, abs=1e-15)
    np.testing.assert_allclose(batch[1].mz_t, single.mz_t, atol=1e-10)


def test_readout_tail_continues_the_stopped_run_at_its_own_step(small, tmp_path):
    """The readout tail runs ``readout_time`` after the main run stopped, in steps of ``readout_dt``, with a noise
    stream of its own: the trace up to the stop is the run without a tail, the tail's samples follow it (10 ps apart
    and at the end), the result is the state after the tail, and the run summary's stop time includes the tail."""
    config, track = small
    _short(config)
    (plain,) = run_instances(config, track, 7.5e5, [5], tmp_path / "plain", progress=False)
    config["device"]["solver"].update(readout_time=0.025e-9, readout_dt=1e-13)
    (tail,) = run_instances(config, track, 7.5e5, [5], tmp_path / "tail", progress=False)
    assert plain.ok and tail.ok
    n = len(plain.t)
    np.testing.assert_allclose(tail.mz_t[:n], plain.mz_t, atol=1e-12)
    np.testing.assert_allclose(tail.t[n:] - plain.t[-1], [1e-11, 2e-11, 2.5e-11], rtol=1e-9)
    assert tail.stop_time == pytest.approx(plain.stop_time + 0.025e-9)
    assert tail.mz_t[-1] == pytest.approx(tail.mz, abs=1e-12)
    assert tail.mz != plain.mz  # the tail ran at 300 K
    assert json.loads((tmp_path / "tail" / "torchfd_run.json").read_text())["stop_time_s"] == [tail.stop_time]


def test_readout_tail_at_zero_temperature_leaves_a_resting_wall_in_place(small, tmp_path):
    config, track = small
    config["device"]["drive"]["temperature"] = 0.0
    config["device"]["solver"]["relax_max_time"] = 2e-9
    (plain,) = run_instances(config, track, 7.5e5, [1], tmp_path / "plain", progress=False)
    config["device"]["solver"].update(readout_time=0.05e-9, readout_dt=1e-13)
    (tail,) = run_instances(config, track, 7.5e5, [1], tmp_path / "tail", progress=False)
    assert tail.ok and tail.dw_x == pytest.approx(plain.dw_x, abs=0.2e-9)


def test_readout_tail_cools_the_exchange_modes_that_a_large_step_heats():
    """Physics of the tail: near its stability limit Heun damps the fastest exchange modes far less than the LLG
    (``exchange_mode_extra_damping`` -0.8), so at 300 K a uniform up film settles with a larger exchange energy than
    at a quarter of that step. 0.03 ns of readout tail at the small step (a few times 1 / (alpha omega_max)) brings it
    back to the small step's level."""
    mesh = Mesh(np.ones((8, 16), bool), 4e-9, 4e-9, 1e-9, torch.device("cpu"), torch.float64)
    material = Material(ms=1e6, aex=3e-11, alpha=0.05, dind=0.0, ku=8e5)
    system = LLGSystem(mesh, material, demag="thin_film")
    limit = 1.5e-13  # s, Heun's |R| = 1 for this grid's fastest exchange mode
    assert rt.exchange_mode_growth(material, mesh, limit) < 1 < rt.exchange_mode_growth(material, mesh, 1.53e-13)
    big, small = 0.95 * limit, 0.25 * limit
    assert rt.exchange_mode_extra_damping(material, mesh, big) < -0.75
    assert abs(rt.exchange_mode_extra_damping(material, mesh, small)) < 1e-3
    n = 32
    up = torch.zeros((n, 3, 8, 16), dtype=torch.float64)
    up[:, 2] = 1.0

    def run(dt, duration, seeds):
        noise = ThermalNoise(seeds, mesh, thermal_sigma(material.alpha, 300.0, material.ms, mesh.cell_volume, dt))
        stepper, zero, m = Stepper(system), torch.zeros((), dtype=torch.float64), up
        for _ in range(round(duration / dt)):
            m = stepper(m, noise.next(), zero, zero, torch.tensor(dt, dtype=torch.float64))
        return m

    def exchange(m):
        return float(system.energy_terms(m)["exchange"].mean())

    hot, reference = run(big, 0.1e-9, list(range(n))), run(small, 0.1e-9, list(range(100, 100 + n)))
    n_tail = round(0.03e-9 / small)
    cooled, t_tail, mz_tail = rt.readout_tail(Stepper(system), hot, list(range(n)), small, n_tail,
                                              thermal_sigma(material.alpha, 300.0, material.ms, mesh.cell_volume, small))
    assert mz_tail.shape == (n, t_tail.size) and t_tail[-1] == pytest.approx(n_tail * small)
    assert exchange(hot) > 1.15 * exchange(reference)
    assert exchange(cooled) == pytest.approx(exchange(reference), rel=0.05)


def test_integrate_samples_on_its_grid_and_a_shrunk_row_runs_as_it_would_alone():
    """The engine's one time loop: ``on_sample`` sees every ``n_sample``-th step, the pulse's last step and the last
    step; a row kept after a shrink (with its own current and noise stream) ends where it ends run alone, the current
    stops after ``n_pulse`` steps, and an empty list ends the run at that sample."""
    mesh = Mesh(np.ones((4, 12), bool), 4e-9, 4e-9, 1e-9, torch.device("cpu"), torch.float64)
    system = LLGSystem(mesh, Material(ms=8e5, aex=1.5e-11, alpha=0.1, dind=1e-3, ku=8e5), demag="newell")
    m0 = rt.initial_wall(mesh, system.mat, 24e-9).repeat(2, 1, 1, 1)
    sigma = thermal_sigma(0.1, 300.0, 8e5, mesh.cell_volume, 1e-13)
    a_dl = torch.tensor([0.0, 0.05], dtype=torch.float64).view(-1, 1, 1)
    seen = []

    def keep_second_at_4(k, m):
        seen.append(k)
        return [1] if k == 4 else None

    both = rt.integrate(Stepper(system, demag_refresh_steps=2), m0, ThermalNoise([3, 9], mesh, sigma), 1e-13, 10, 4,
                        keep_second_at_4, a_dl=a_dl, n_pulse=6)
    assert seen == [4, 6, 8, 10] and both.shape[0] == 1

    def by_hand(n_steps):  # row 1 alone, stepped one call at a time: current in the first 6 steps only
        stepper, noise, zero, m = Stepper(system, demag_refresh_steps=2), ThermalNoise([9], mesh, sigma), \
            torch.zeros((), dtype=torch.float64), m0[1:]
        for k in range(1, n_steps + 1):
            m = stepper(m, noise.next(), a_dl[1:] if k <= 6 else zero, zero, torch.tensor(1e-13, dtype=torch.float64))
        return m

    torch.testing.assert_close(both, by_hand(10), rtol=0, atol=1e-12)
    stopped = []
    at_6 = rt.integrate(Stepper(system, demag_refresh_steps=2), m0[1:], ThermalNoise([9], mesh, sigma), 1e-13, 10, 4,
                        lambda k, m: stopped.append(k) or ([] if k == 6 else None), a_dl=a_dl[1:], n_pulse=6)
    assert stopped == [4, 6]
    torch.testing.assert_close(at_6, by_hand(6), rtol=0, atol=0)
    assert not torch.allclose(by_hand(6), by_hand(10))


def test_readout_noise_seeds_are_distinct_streams():
    seeds = [instance_seed(1, k, i) for k in range(5) for i in range(64)]
    tails = [rt.readout_noise_seed(s) for s in seeds]
    assert len(set(tails)) == len(seeds) and not set(tails) & set(seeds)
    assert all(0 <= s < 2**63 for s in tails) and rt.readout_noise_seed(seeds[0]) == tails[0]


def test_wall_moves_towards_plus_x_then_rest_stops_the_run(small, tmp_path):
    config, track = small
    config["device"]["drive"]["temperature"] = 0.0
    config["device"]["solver"]["relax_max_time"] = 2e-9
    (r,) = run_instances(config, track, 7.5e5, [1], tmp_path, progress=False)
    assert r.ok
    assert r.dw_x > track.start_x + 4e-9  # the pulse pushed the wall towards +x
    assert r.t[-1] < 1.0e-9  # at rest long before pulse + relax_max_time = 2.08 ns
    tail = r.t >= r.t[-1] - 0.05e-9
    speed = 0.5 * track.nx * track.cell_size * abs(np.polyfit(r.t[tail], r.mz_t[tail], 1)[0])
    assert speed < config["device"]["solver"]["rest_velocity"]


def test_rk4_at_twice_the_step_ends_where_heun_ends(small, tmp_path):
    """T = 0, the pulse and the rest detection of the stage: RK4 at 4e-13 s (``solver.integrator: rk4``)
    leaves the wall where Heun at 2e-13 s does, to 0.5 nm, and says so in the run summary."""
    config, track = small
    config["device"]["drive"]["temperature"] = 0.0
    (heun,) = run_instances(config, track, 7.5e5, [1], tmp_path / "heun", progress=False)
    config["device"]["solver"].update(integrator="rk4", dt=4e-13)
    (rk4,) = run_instances(config, track, 7.5e5, [1], tmp_path / "rk4", progress=False)
    assert heun.ok and rk4.ok
    assert rk4.dw_x > track.start_x + 4e-9
    assert rk4.dw_x == pytest.approx(heun.dw_x, abs=0.5e-9)
    assert json.loads((tmp_path / "rk4" / "torchfd_run.json").read_text())["integrator"] == "rk4"


def _system(config, track, ku):
    mat = config["device"]["material"]
    mesh = Mesh(track.mask, track.cell_size, track.cell_size, track.thickness, torch.device("cpu"), torch.float64)
    material = Material(ms=mat["Ms"], aex=mat["Aex"], alpha=mat["alpha"], dind=mat["Dind"], ku=ku)
    return LLGSystem(mesh, material, demag="newell")


def _max_torque(system, m):
    zero = torch.zeros((), dtype=m.dtype)
    return float(torch.linalg.cross(m, system.field(m, zero, zero, zero), dim=1).norm(dim=1).max())


def test_initial_relaxation_settles_the_wall_in_its_notch(small):
    """The T = 0 relaxation before the pulse lowers the torque of the analytic wall by orders of magnitude
    and leaves the wall in the notch it starts in; the system's own damping is untouched."""
    config, track = small
    config["device"]["geometry"].update(notch_depth=4e-9)
    track = build_racetrack(config["device"]["geometry"])
    system = _system(config, track, 7.5e5)
    m0 = rt.initial_wall(system.mesh, system.mat, track.start_x)
    m = rt.relax_initial_state(system, m0, 2e-13, 0.3e-9)
    assert _max_torque(system, m) < 1e-2 * _max_torque(system, m0)
    x = wall_position(m[0, 2].numpy(), track.mask, track.cell_size)
    assert abs(x - track.start_x) < track.cell_size
    assert system.mat.alpha == config["device"]["material"]["alpha"]
    assert rt.relax_initial_state(system, m0, 2e-13, 0.0) is m0


def test_a_failing_instance_does_not_abort_the_others(small, tmp_path, monkeypatch):
    config, track = small
    _short(config)
    real = rt._run_batch

    def flaky(system, stepper, seeds, p, progress):
        if len(seeds) > 1 or seeds[0] == 2:
            raise RuntimeError("simulated device error")
        return real(system, stepper, seeds, p, progress)

    monkeypatch.setattr(rt, "_run_batch", flaky)
    res = run_instances(config, track, 7.5e5, [1, 2, 3], tmp_path, progress=False)
    assert [r.ok for r in res] == [True, False, True]
    assert "simulated device error" in res[1].error and res[1].seed == 2


def test_bad_config_is_refused(small, tmp_path):
    config, track = small
    config["device"]["torch"]["dtype"] = "float16"
    with pytest.raises(ValueError, match="unknown dtype"):
        run_instances(config, track, 7.5e5, [1], tmp_path, progress=False)
    assert run_instances(config, track, 7.5e5, [], tmp_path) == []


@pytest.mark.slow
def test_compiled_run_matches_eager(small, tmp_path, monkeypatch):
    config, track = small
    config["device"]["drive"]["temperature"] = 0.0
    config["device"]["torch"]["dtype"] = "float32"
    eager = run_instances(config, track, 7.5e5, [1, 2, 3], tmp_path / "e", progress=False)
    monkeypatch.setenv("DWSYNAPSE_TORCH_COMPILE", "1")
    compiled = run_instances(config, track, 7.5e5, [1, 2, 3], tmp_path / "c", progress=False)
    assert json.loads((tmp_path / "c" / "torchfd_run.json").read_text())["compiled"] is True
    for a, b in zip(eager, compiled):
        assert a.ok and b.ok
        assert b.dw_x == pytest.approx(a.dw_x, abs=0.5e-9)
        assert b.mz == pytest.approx(a.mz, abs=5e-3)
