"""Level <-> Ku map derived from device.ku_values, and the paper's per-Ku targets defined once."""

from __future__ import annotations

import pytest

from dwsynapse import calibration, paper
from dwsynapse.levels import PAPER_KU_VALUES, ku_for_states, ku_levels
from dwsynapse.nn.common import device_config
from dwsynapse.nn.devicemodel import build_device_model, synthetic_device_stats


def test_paper_mapping_from_the_paper_ku_values():
    assert PAPER_KU_VALUES == (8.0e5, 7.75e5, 7.5e5, 7.25e5, 7.0e5)
    assert ku_for_states(5) == PAPER_KU_VALUES
    assert ku_for_states(3) == (8.0e5, 7.5e5, 7.0e5)
    assert ku_for_states(2) == (8.0e5, 7.0e5)
    assert ku_for_states(3, [7.0e5, 8.0e5]) == (8.0e5, 7.5e5, 7.0e5)  # any order; the middle one must be simulated
    assert ku_levels([7.0e5, 7.5e5, 8.0e5]) == [(8.0e5, -1.0), (7.5e5, 0.0), (7.0e5, 1.0)]


def test_device_config_takes_the_ku_values_of_the_config(default_config):
    default_config["device"]["ku_values"] = [6.0e5, 6.5e5, 7.0e5]
    dc = device_config(default_config, 3, 0.25)
    assert dc.ku_values == (6.0e5, 6.5e5, 7.0e5)
    stats = synthetic_device_stats(1, means={7.0e5: -0.8, 6.5e5: 0.0, 6.0e5: 0.9}, n=20)
    dm = build_device_model(stats, dc)
    assert dm.ku.tolist() == [7.0e5, 6.5e5, 6.0e5]
    assert dm.level_mean.tolist() == pytest.approx([-0.8, 0.0, 0.9], abs=0.1)


def test_one_definition_of_the_paper_targets():
    assert calibration.PAPER_TARGETS is paper.PAPER_TARGETS
    by_key = {pv.key: pv.value for pv in paper.PAPER}
    assert [by_key[f"mz_{ku / 1e5:.2f}"] for ku in PAPER_KU_VALUES] == [paper.PAPER_TARGETS[k] for k in PAPER_KU_VALUES]


def test_one_programming_target_for_training_exsitu_and_fig7():
    """Level -1 aims at the mean of its Ku (the start-notch weight), every other level at its value; the
    device model the learning rules use and the Fig. 7 table agree on it."""
    from dwsynapse.levels import level_probability_table, level_targets, programming_target
    from dwsynapse.nn.devicemodel import DeviceConfig

    assert programming_target(-1.0, [-0.80, -0.76]) == pytest.approx(-0.78)
    assert programming_target(0.5, [0.1, 0.2]) == 0.5 and programming_target(1.0, [0.6]) == 1.0
    stats = synthetic_device_stats(3, spread=0.05, n=200)
    dm = build_device_model(stats, DeviceConfig(states=5, alpha=0.15))
    table = {t["ku"]: t["target"] for t in level_targets(stats)}
    assert dm.targets.tolist() == [table[k] for k in dm.ku]
    rows = {r["ku"]: r["probability"] for r in level_probability_table(stats, [0.15])}
    assert dm.hit_probability.tolist() == pytest.approx([rows[k] for k in dm.ku])
    assert dm.hit_probability[0] > 0.95  # -0.833 +- 0.05 lies inside its own window, not outside -1's
