"""Energy of a device write, programming energy per inference and the system comparison."""

from __future__ import annotations

import copy
import math

import pytest

from dwsynapse.energy import (
    ENERGY_OUTPUTS,
    EnergyError,
    device_read_energy,
    network_counts,
    programming_energy,
    run_energy,
    system_energy,
    write_energy,
)
from tests.test_plots import write_synthetic_results, write_synthetic_stats


def test_write_energy_matches_paper_section_IV_D(default_config):
    we = write_energy(default_config["energy"], default_config["device"]["drive"])
    # paper: C ~ 16 fF, V = 0.18 V, 1/2 C V^2 ~ 0.5 fJ (two electrodes), R = 200 ohm, I^2 R t ~ 2.2 fJ, ~2.7 fJ
    assert we.capacitance == pytest.approx(16e-15, rel=0.01)
    assert we.voltage == pytest.approx(0.18)
    assert we.capacitive == pytest.approx(0.5e-15, rel=0.05)
    assert we.resistance == pytest.approx(200.0)
    assert we.current == pytest.approx(105e-6)
    assert we.joule == pytest.approx(2.2e-15, rel=0.01)
    assert we.total == pytest.approx(2.7e-15, rel=0.02)


def test_write_energy_scales_physically(default_config):
    e, d = default_config["energy"], default_config["device"]["drive"]
    base = write_energy(e, d)
    d2 = dict(d, current_density=2 * d["current_density"], pulse_duration=3 * d["pulse_duration"])
    assert write_energy(e, d2).joule == pytest.approx(12 * base.joule)  # I^2 t
    e2 = dict(e, electric_field=2 * e["electric_field"], n_electrodes=1)
    assert write_energy(e2, d).capacitive == pytest.approx(2 * base.capacitive)  # V^2 / 2 electrodes
    with pytest.raises(EnergyError, match="energy.hm_width"):
        write_energy({k: v for k, v in e.items() if k != "hm_width"}, d)
    with pytest.raises(EnergyError, match="pzt_thickness"):
        write_energy(dict(e, pzt_thickness=0.0), d)


def test_network_counts_and_programming_energy():
    c = network_counts(784, [392, 196, 98], 10)
    assert c["n_weights"] == 784 * 392 + 392 * 196 + 196 * 98 + 98 * 10 == 404348
    assert c["n_neurons"] == 392 + 196 + 98 + 10
    # paper §IV-D1: ~48 M writes x 2.7 fJ / 10 000 test images ~ 13 pJ
    assert programming_energy(48e6, 2.7e-15, 10000) == pytest.approx(12.96e-12)
    with pytest.raises(EnergyError, match="test_images"):
        programming_energy(1, 1e-15, 0)
    with pytest.raises(EnergyError, match="pulse count"):
        programming_energy(-1, 1e-15, 10)
    with pytest.raises(EnergyError, match="positive"):
        network_counts(784, [0], 10)


def test_system_energy_breakdown_adds_up(default_config):
    e = default_config["energy"]
    c = network_counts(784, [392, 196, 98], 10)
    s = system_energy(e, c, programming_per_inference=13e-12)
    assert s["dw_total_J"] == pytest.approx(sum(r["energy_J"] for r in s["dw"]))
    assert s["cmos_total_J"] == pytest.approx(sum(r["energy_J"] for r in s["cmos"]))
    assert s["ratio"] == pytest.approx(s["cmos_total_J"] / s["dw_total_J"])
    # CMOS: per weight half a 64-bit SRAM access + fp32 mult + fp32 add (Horowitz 45 nm)
    per_w = e["per_op"][e["cmos"]["weight_read_op"]] / 2 + e["per_op"]["fp32_mult"] + e["per_op"]["fp32_add"]
    assert s["cmos"][0]["energy_J"] + s["cmos"][1]["energy_J"] + s["cmos"][2]["energy_J"] == pytest.approx(
        c["n_weights"] * per_w)
    assert device_read_energy(e["dw_system"]) == pytest.approx(0.1**2 * 0.5 * (1 / 5e3 + 1 / 1e4) * 1e-9)
    # a cheaper SRAM makes CMOS cheaper: sensitivity ordered by access energy
    sens = {r["weight_read_op"]: r["ratio"] for r in s["sram_sensitivity"]}
    assert sens["sram_8kb_read_64bit"] < sens["sram_32kb_read_64bit"] < sens["sram_1mb_read_64bit"]
    bad = copy.deepcopy(e)
    bad["cmos"]["mult_op"] = "fp64_mult"
    with pytest.raises(EnergyError, match="fp64_mult"):
        system_energy(bad, c, None)


def test_run_energy_from_synthetic_results(tmp_path, default_config):
    cfg = default_config
    cfg["results_dir"] = str(tmp_path / "results")
    write_synthetic_results(cfg)
    stats = write_synthetic_stats(tmp_path / "device_stats.h5")
    out = {k: tmp_path / "energy" / v for k, v in ENERGY_OUTPUTS.items()}
    tables = run_energy(cfg, stats, out)
    for p in out.values():
        assert p.exists() and p.stat().st_size > 100
    scen = {r["scenario"]: r for r in tables["programming"]}
    insitu = [k for k in scen if k.startswith("in-situ 5-state alpha=0.25")]
    assert len(insitu) == 1
    r = scen[insitu[0]]
    assert r["energy_per_inference_J"] == pytest.approx(r["pulses"] * tables["write_energy"]["total"] / 10000)
    worst = [k for k in scen if k.startswith("ex-situ worst case alpha=0.15")]
    assert len(worst) == 1 and scen[worst[0]]["pulses"] % 404348 == 0
    assert any(row["component"].startswith("device programming") for row in tables["system"]["dw"])
    md = out["system_md"].read_text()
    assert "Horowitz" in md and "CMOS / DW" in md
    assert math.isfinite(tables["system"]["ratio"])
