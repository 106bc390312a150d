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
