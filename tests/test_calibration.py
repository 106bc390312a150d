"""Device calibration: table statistics, thin-film physics checks, the batched explorer,
the calibration run through the real engine, the presets (config.yaml calibrated, config/paper.yaml)."""

import copy
import math

import numpy as np
import pytest
import torch

from dwsynapse.calibration import (PAPER_TARGETS, calibrate, explore, markdown_table, material_summary, summarize,
                                   table_from_stats, target_for)
from dwsynapse.config import load_config

from .conftest import REPO

torch.set_num_threads(1)

MU0 = 4e-7 * math.pi


def test_targets_are_the_papers_levels():
    assert target_for(8.0e5) == -0.833 and target_for(7.0e5) == 1.0 and target_for(7.5e5) == 0.0
    assert target_for(7.6e5) is None
    assert sorted(PAPER_TARGETS) == [7.0e5, 7.25e5, 7.5e5, 7.75e5, 8.0e5]


def test_summarize_statistics_and_failed_values():
    vals = [-0.5, -0.4, float("nan"), -0.6, -0.5]
    row = summarize(7.75e5, vals, dw_x=[150e-9] * 5, n_requested=5, wall_time_s=12.0)
    ok = np.array([-0.5, -0.4, -0.6, -0.5])
    assert row["n_ok"] == 4 and row["n_requested"] == 5
    assert row["mean"] == pytest.approx(ok.mean())
    assert row["std"] == pytest.approx(ok.std(ddof=1))
    assert row["p5"] == pytest.approx(np.percentile(ok, 5)) and row["p95"] == pytest.approx(np.percentile(ok, 95))
    assert row["deviation"] == pytest.approx(ok.mean() + 0.5)
    assert row["dw_x_mean"] == pytest.approx(150e-9)
    empty = summarize(7.0e5, [float("nan")])
    assert empty["n_ok"] == 0 and math.isnan(empty["mean"])
    single = summarize(7.0e5, [0.9])
    assert single["std"] == 0.0 and single["deviation"] == pytest.approx(-0.1)


def test_markdown_table_lists_every_ku():
    rows = [summarize(k, [v, v + 0.1]) for k, v in PAPER_TARGETS.items()]
    text = markdown_table(rows)
    assert text.count("\n") == 2 + len(rows)
    assert "8.000e+05" in text and "-0.833" in text and "2/2" in text


def test_material_summary_thin_film_physics():
    mat = {"Ms": 1.0e6, "Aex": 1.5e-11, "Dind": 1.0e-3, "theta_sh": 0.1}
    rows = material_summary(mat, [8.0e5, 6.0e5], thickness=1e-9, current_density=3.5e11)
    keff = 8.0e5 - 0.5 * MU0 * 1.0e12
    assert rows[0]["keff"] == pytest.approx(keff)
    assert rows[0]["delta"] == pytest.approx(math.sqrt(1.5e-11 / keff))
    assert rows[0]["sigma"] == pytest.approx(4 * math.sqrt(1.5e-11 * keff) - math.pi * 1e-3)
    assert rows[0]["pma_ok"] and not rows[1]["pma_ok"]  # 6e5 < mu0 Ms^2 / 2: in-plane
    # a_DL = hbar theta J / (2 e Ms d)
    assert rows[0]["a_dl"] == pytest.approx(1.054571817e-34 * 0.1 * 3.5e11 / (2 * 1.602176634e-19 * 1e6 * 1e-9))
    strong_dmi = material_summary({**mat, "Dind": 3e-3}, [8.0e5], 1e-9, 3.5e11)[0]
    assert not strong_dmi["pma_ok"]  # D > Dc: stripes
    with pytest.raises(ValueError, match="Ms, Aex and thickness"):
        material_summary({**mat, "Ms": 0.0}, [8e5], 1e-9, 3.5e11)


def test_calibrated_default_stays_in_pma_for_all_five_ku(default_config):
    dev = default_config["device"]
    rows = material_summary(dev["material"], dev["ku_values"], dev["geometry"]["thickness"],
                            dev["drive"]["current_density"])
    assert all(r["pma_ok"] for r in rows)
    assert dev["instances_per_ku"] >= 8
    assert dev["drive"]["current_density"] == pytest.approx(35e10) and dev["drive"]["pulse_duration"] == 1e-9
    assert dev["drive"]["temperature"] == 300.0


def test_paper_preset_validates_and_has_paper_scale():
    cfg = load_config(REPO / "config" / "paper.yaml")
    dev = cfg["device"]
    assert dev["instances_per_ku"] == 250
    assert dev["geometry"]["cell_size"] == pytest.approx(2e-9)
    assert dev["solver"]["demag"] == "newell"
    default = load_config(REPO / "config.yaml")["device"]
    assert dev["material"] == default["material"]  # the calibrated material
    for key in ("notch_depth", "notch_width", "notch_pitch", "first_notch", "edge_roughness_rms"):
        assert dev["geometry"][key] == default["geometry"][key]


def _short_geometry():
    return {"length": 240e-9, "width": 48e-9, "thickness": 1e-9, "cell_size": 6e-9, "first_notch": 60e-9,
            "notch_pitch": 75e-9, "notch_depth": 0.0, "notch_width": 0.0, "edge_roughness_rms": 0.0,
            "notch_clearance": 0.0, "edge_correlation_length": 0.0, "edge_profile_spacing": 4e-9, "seed": 1}


def test_explore_moves_the_wall_towards_plus_x_at_every_ku():
    mat = {"Ms": 1.0e6, "Aex": 1.5e-11, "alpha": 0.1, "Dind": 0.8e-3, "theta_sh": 0.1}
    res = explore(mat, _short_geometry(), [8.0e5, 7.0e5], pulse_duration=0.1e-9, relax_time=0.0, dt=2e-13)
    assert res["finite"].all() and res["mz_t"].shape == (2, res["t"].size)
    start = res["mz_t"][:, 0]
    assert np.all(res["mz"] > start + 0.02)  # SOT pushes the up|down wall along +x: <mz> grows
    assert np.all(res["dw_x"] > 60e-9)


def test_explore_thermal_instances_differ_and_are_seeded():
    mat = {"Ms": 1.0e6, "Aex": 1.5e-11, "alpha": 0.1, "Dind": 0.8e-3, "theta_sh": 0.1}
    kw = dict(n_per_ku=2, temperature=300.0, pulse_duration=0.04e-9, relax_time=0.0, dt=2e-13, seed=3)
    a = explore(mat, _short_geometry(), [7.5e5], **kw)
    b = explore(mat, _short_geometry(), [7.5e5], **kw)
    np.testing.assert_array_equal(a["mz"], b["mz"])
    assert a["mz"][0] != a["mz"][1]


def test_explore_takes_one_current_per_row_as_the_rows_run_alone():
    """A batch with one current density per row moves each wall as a run with that current alone."""
    mat = {"Ms": 1.0e6, "Aex": 1.5e-11, "alpha": 0.1, "Dind": 0.8e-3, "theta_sh": 0.1}
    kw = dict(n_per_ku=2, pulse_duration=0.1e-9, relax_time=0.0, dt=2e-13, dtype="float64")
    both = explore(mat, _short_geometry(), [7.5e5], current_density=[0.0, 3.5e11], **kw)
    kw["n_per_ku"] = 1
    alone = [explore(mat, _short_geometry(), [7.5e5], current_density=j, **kw)["dw_x"][0] for j in (0.0, 3.5e11)]
    np.testing.assert_allclose(both["dw_x"], alone, rtol=0, atol=1e-12)
    assert both["dw_x"][1] > both["dw_x"][0] + 1e-9  # the driven wall moved (2 nm in 0.1 ns)
    with pytest.raises(ValueError, match="expected one or 2"):
        explore(mat, _short_geometry(), [7.5e5], current_density=[1e11, 2e11, 3e11], **dict(kw, n_per_ku=2))


def test_explore_ends_with_the_stages_readout_tail():
    """``readout_time`` ends the scan with the device stage's readout tail: the final state is the plain scan's
    final state run on by :func:`readout_tail` with the rows' own seeds, and the tail's samples extend the trace."""
    from dwsynapse.engines.torchfd.mesh import Mesh
    from dwsynapse.engines.torchfd.racetrack import readout_tail
    from dwsynapse.engines.torchfd.solver import LLGSystem, Material, Stepper
    from dwsynapse.engines.torchfd.thermal import thermal_sigma
    from dwsynapse.geometry import build_racetrack

    mat = {"Ms": 1.0e6, "Aex": 1.5e-11, "alpha": 0.1, "Dind": 0.8e-3, "theta_sh": 0.1}
    kw = dict(n_per_ku=2, temperature=300.0, pulse_duration=0.02e-9, relax_time=0.02e-9, dt=2e-13, seed=3,
              dtype="float64")
    plain = explore(mat, _short_geometry(), [7.5e5], **kw)
    tail = explore(mat, _short_geometry(), [7.5e5], readout_time=0.01e-9, readout_dt=1e-13, **kw)
    assert tail["instance_steps"] == plain["instance_steps"] + 2 * 100
    assert tail["t"][-1] == pytest.approx(0.05e-9) and tail["mz_t"].shape == (2, tail["t"].size)
    np.testing.assert_array_equal(tail["mz_t"][:, :plain["t"].size], plain["mz_t"])
    rt = build_racetrack(_short_geometry())
    mesh = Mesh(rt.mask, rt.cell_size, rt.cell_size, rt.thickness, torch.device("cpu"), torch.float64)
    system = LLGSystem(mesh, Material(ms=1.0e6, aex=1.5e-11, alpha=0.1, dind=0.8e-3, ku=7.5e5), demag="thin_film")
    again, _, _ = readout_tail(Stepper(system), torch.as_tensor(plain["m_final"]), [3000, 3001], 1e-13, 100,
                               thermal_sigma(0.1, 300.0, 1.0e6, mesh.cell_volume, 1e-13))
    np.testing.assert_allclose(tail["m_final"], again.numpy(), atol=1e-12)
    assert np.abs(tail["m_final"] - plain["m_final"]).max() > 1e-3  # the tail's Brown field moved the spins


def test_explore_rejects_bad_inputs():
    mat = {"Ms": 1.0e6, "Aex": 1.5e-11, "alpha": 0.1, "Dind": 0.0, "theta_sh": 0.1}
    with pytest.raises(ValueError, match="n_per_ku"):
        explore(mat, _short_geometry(), [7e5], n_per_ku=0)
    with pytest.raises(ValueError, match="dt and readout_dt must be > 0"):
        explore(mat, _short_geometry(), [7e5], dt=0.0)
    with pytest.raises(ValueError, match="readout_time >= 0"):
        explore(mat, _short_geometry(), [7e5], readout_time=-1e-12)


def _tiny_config(default_config):
    cfg = copy.deepcopy(default_config)
    dev = cfg["device"]
    dev["geometry"].update(_short_geometry())
    dev["drive"].update(pulse_duration=0.02e-9)
    dev["solver"].update(relax_max_time=0.01e-9, rest_window=0.005e-9, dt=2e-13)
    dev["torch"].update(device="cpu", compile=False)
    dev["instances_per_ku"], dev["chunk_size"] = 2, 1
    return cfg


def test_calibrate_runs_the_stage_seeds_and_summarises(default_config, tmp_path):
    from dwsynapse.device.chunks import chunk_seeds, plan_chunks

    cfg = _tiny_config(default_config)
    res = calibrate(cfg, tmp_path, ku_values=[7.0e5, 8.0e5])
    assert [r["ku"] for r in res["rows"]] == [7.0e5, 8.0e5]
    assert all(r["n_ok"] == 2 and r["n_requested"] == 2 for r in res["rows"])
    assert res["cell_size"] == pytest.approx(6e-9) and res["instances_per_ku"] == 2
    cfg["device"]["ku_values"] = [7.0e5, 8.0e5]
    expected = [s for ch in plan_chunks(cfg) if ch.ku == 7.0e5 for s in chunk_seeds(cfg, ch)]
    assert [i[0] for i in res["instances"][str(7.0e5)]] == expected
    assert (tmp_path / "ku_7.000e+05" / "chunk_1" / "torchfd_run.json").exists()
    with pytest.raises(ValueError, match="instances_per_ku"):
        calibrate(cfg, tmp_path, instances_per_ku=0)


def test_table_from_stats_reads_a_device_stats_file(tmp_path):
    from dwsynapse.devicestats import DeviceStats, KuStats, write_device_stats

    groups = [KuStats(ku=k, mz=np.array([v, v]), dw_x=np.array([1e-7, 2e-7]), seed=np.array([1, 2]), n_requested=3)
              for k, v in ((7.0e5, 0.9), (8.0e5, -0.8))]
    path = tmp_path / "device_stats.h5"
    write_device_stats(path, DeviceStats(groups=groups, engine="torch"))
    rows = table_from_stats(path)
    assert [r["ku"] for r in rows] == [7.0e5, 8.0e5]
    assert rows[0]["mean"] == pytest.approx(0.9) and rows[0]["n_requested"] == 3 and rows[0]["n_ok"] == 2
    assert rows[1]["dw_x_mean"] == pytest.approx(1.5e-7) and rows[1]["wall_time_s"] is None


def test_bench_cli_rejects_malformed_overrides():
    from dwsynapse.config import parse_section_overrides

    assert parse_section_overrides(["material.Dind=1e-3", "geometry.notch_depth=12e-9"]) == {
        "material": {"Dind": 1e-3}, "geometry": {"notch_depth": 12e-9}}
    with pytest.raises(SystemExit, match="expected material"):
        parse_section_overrides(["drive.current_density=1"])


@pytest.mark.parametrize("preset", ["config.yaml", "config/paper.yaml"])
def test_preset_time_step_is_stable_for_the_fastest_exchange_mode(preset):
    from dwsynapse.engines.torchfd.mesh import Mesh
    from dwsynapse.engines.torchfd.racetrack import exchange_mode_growth
    from dwsynapse.engines.torchfd.solver import Material
    from dwsynapse.geometry import build_racetrack

    dev = load_config(REPO / preset)["device"]
    rt = build_racetrack(dev["geometry"])
    mesh = Mesh(rt.mask, rt.cell_size, rt.cell_size, rt.thickness, torch.device("cpu"), torch.float32)
    m = dev["material"]
    mat = Material(ms=m["Ms"], aex=m["Aex"], alpha=m["alpha"], dind=m["Dind"], ku=min(dev["ku_values"]))
    assert exchange_mode_growth(mat, mesh, dev["solver"]["dt"], dev["solver"]["integrator"]) < 1.0
    steps = dev["drive"]["pulse_duration"] / dev["solver"]["dt"]
    assert steps == pytest.approx(round(steps), abs=1e-6)  # the pulse is a whole number of steps


def test_explore_continues_from_given_states_as_one_longer_run():
    mat = {"Ms": 1.0e6, "Aex": 1.5e-11, "alpha": 0.1, "Dind": 0.8e-3, "theta_sh": 0.1}
    kw = dict(dt=2e-13, dtype="float64")
    whole = explore(mat, _short_geometry(), [7.5e5], pulse_duration=0.04e-9, relax_time=0.04e-9, **kw)
    first = explore(mat, _short_geometry(), [7.5e5], pulse_duration=0.04e-9, relax_time=0.0, **kw)
    rest = explore(mat, _short_geometry(), [7.5e5], pulse_duration=0.0, current_density=0.0, relax_time=0.04e-9,
                   m_start=first["m_final"], **kw)
    np.testing.assert_allclose(rest["m_final"], whole["m_final"], atol=1e-12)
    with pytest.raises(ValueError, match="m_start has shape"):
        explore(mat, _short_geometry(), [7.5e5, 8e5], m_start=first["m_final"], **kw)
    with pytest.raises(ValueError, match="non-finite"):
        explore(mat, _short_geometry(), [7.5e5], m_start=np.full_like(first["m_final"], np.nan), **kw)
