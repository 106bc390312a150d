"""Magnetization maps of the device stage (Fig. 1a, S2): the engine's relaxed initial state, the final
maps from the chunk files, the representative instances and the near-notch count."""

from __future__ import annotations

import numpy as np
import pytest

from dwsynapse.config import load_config
from dwsynapse.devicemaps import (
    DeviceMapsError,
    drive_off,
    near_notch_fraction,
    read_final_states,
    read_initial_states,
    relax_initial_states,
    representative,
)
from dwsynapse.device.chunks import chunk_files, plan_chunks
from dwsynapse.layout import initial_state_path
from dwsynapse.engines.torchfd.racetrack import run_instances
from dwsynapse.geometry import build_racetrack
from tests.test_plots import write_synthetic_maps
from tests.test_workflow import TINY


@pytest.fixture
def tiny_config(tmp_path) -> dict:
    cfg = load_config(TINY)
    cfg["results_dir"] = str(tmp_path / "results")
    cfg["device"]["ku_values"] = [8.0e5]
    return cfg


def test_representative_picks_lowest_median_highest():
    mz = np.array([0.3, -0.9, 0.1, 0.8, 0.2])
    assert representative(mz) == [("lowest <mz>", 1), ("median <mz>", 4), ("highest <mz>", 3)]
    assert representative(np.array([0.5, 0.1])) == [("lowest <mz>", 1), ("highest <mz>", 0)]  # median = lowest
    assert representative(np.array([0.5])) == [("lowest <mz>", 0)]
    assert representative(np.zeros(0)) == []


def test_near_notch_fraction_counts_within_one_notch_width():
    notches = np.array([60e-9, 135e-9])
    x = np.array([60e-9, 63.9e-9, 64.1e-9, 100e-9, 131.5e-9, np.nan])
    assert near_notch_fraction(x, notches, 4e-9) == pytest.approx(3 / 6)
    assert np.isnan(near_notch_fraction(np.zeros(0), notches, 4e-9))


def test_initial_state_is_the_engine_state_before_the_pulse(tiny_config, tmp_path):
    """The drive-off run returns the relaxed wall in the start notch, and it is the state the engine's
    thermal instances start from: their recorded <mz> at t = 0 is its <mz>."""
    off = drive_off(tiny_config)
    assert off["device"]["drive"]["temperature"] == 0.0 and off["device"]["drive"]["pulse_duration"] == 0.0
    assert tiny_config["device"]["drive"]["temperature"] == 300.0  # the run's config is untouched
    out = relax_initial_states(tiny_config, initial_state_path(tiny_config), tmp_path / "work")
    init = read_initial_states(out)
    rt = build_racetrack(tiny_config["device"]["geometry"])
    assert init.mz_maps.shape == (1, rt.ny, rt.nx) and np.all(np.isnan(init.mz_maps[0][~rt.mask]))
    assert abs(init.dw_x[0] - rt.start_x) <= rt.cell_size
    (inst,) = run_instances(tiny_config, rt, 8.0e5, [123], tmp_path / "inst", progress=False)
    assert inst.mz_t[0] == pytest.approx(init.mz[0], abs=1e-5)


def test_final_states_from_chunk_files(tiny_config):
    tiny_config["device"]["ku_values"] = [7.0e5, 8.0e5]
    write_synthetic_maps(tiny_config)
    files = chunk_files(tiny_config, initial_state_path(tiny_config).parent / "chunks")
    assert len(files) == len(plan_chunks(tiny_config))
    final = read_final_states(files[::-1])  # any order: sorted by Ku, then instance
    n = tiny_config["device"]["instances_per_ku"]
    assert list(final.ku) == [7.0e5] * n + [8.0e5] * n
    assert final.mz_maps.shape[0] == 2 * n and np.isfinite(final.mz_maps[:, final.mask]).all()
    mean = np.nanmean(final.mz_maps, axis=(1, 2))
    assert mean == pytest.approx(final.mz, abs=1e-6)
    with pytest.raises(DeviceMapsError, match="no chunk files"):
        read_final_states([])
    with pytest.raises(DeviceMapsError, match="initial-state"):
        read_initial_states(files[0])
