"""Domain-wall position (width-averaged m_z zero crossing) and <mz> over magnetic cells."""

import numpy as np
import pytest

from dwsynapse.dwpos import mean_mz, wall_position
from dwsynapse.geometry import build_racetrack


def tanh_wall(nx, ny, cell, x0, width=5e-9):
    x = (np.arange(nx) + 0.5) * cell
    prof = -np.tanh((x - x0) / width)  # +z left of the wall, -z right
    return np.broadcast_to(prof, (ny, nx)).copy()


def test_tanh_wall_position_single_and_batch():
    nx, ny, cell = 150, 15, 4e-9
    mask = np.ones((ny, nx), bool)
    for x0 in (60e-9, 61.3e-9, 300e-9, 511.9e-9):
        assert wall_position(tanh_wall(nx, ny, cell, x0), mask, cell) == pytest.approx(x0, abs=0.05 * cell)
    batch = np.stack([tanh_wall(nx, ny, cell, x0) for x0 in (100e-9, 200e-9)])
    np.testing.assert_allclose(wall_position(batch, mask, cell), [100e-9, 200e-9], atol=0.05 * cell)


def test_linear_interpolation_between_centres():
    cell = 2e-9
    mask = np.ones((1, 4), bool)
    mz = np.array([[1.0, 0.5, -0.5, -1.0]])
    # crossing halfway between centres 3 nm and 5 nm
    assert wall_position(mz, mask, cell) == pytest.approx(4e-9)
    mz = np.array([[1.0, 0.75, -0.25, -1.0]])
    assert wall_position(mz, mask, cell) == pytest.approx(3e-9 + 0.75 * 2e-9)


def test_non_magnetic_cells_are_ignored():
    nx, ny, cell = 40, 6, 4e-9
    mz = tanh_wall(nx, ny, cell, 80e-9)
    mask = np.ones((ny, nx), bool)
    mask[0, :] = False
    mask[:, 10] = False  # an empty column left of the wall
    garbage = mz.copy()
    garbage[~mask] = -1.0  # non-magnetic cells hold junk
    assert wall_position(garbage, mask, cell) == pytest.approx(wall_position(mz, mask, cell))
    assert mean_mz(garbage, mask) == pytest.approx(mz[mask].mean())


def test_no_crossing_means_wall_left_the_strip():
    mask = np.ones((3, 10), bool)
    assert wall_position(np.ones((3, 10)), mask, 1e-9) == pytest.approx(10e-9)
    assert wall_position(-np.ones((3, 10)), mask, 1e-9) == pytest.approx(0.0)


def test_mean_mz_on_racetrack_matches_convention(default_config):
    """Wall at the first notch -> <mz> near -0.8; expelled -> +1."""
    rt = build_racetrack(default_config["device"]["geometry"])
    mz = tanh_wall(rt.nx, rt.ny, rt.cell_size, rt.start_x, width=3e-9)
    m = mean_mz(mz, rt.mask)
    assert -0.85 < m < -0.7
    assert mean_mz(np.ones(rt.mask.shape), rt.mask) == pytest.approx(1.0)
    assert wall_position(mz, rt.mask, rt.cell_size) == pytest.approx(rt.start_x, abs=0.1 * rt.cell_size)
    batch = np.stack([mz, np.ones_like(mz)])
    np.testing.assert_allclose(mean_mz(batch, rt.mask), [m, 1.0])


@pytest.mark.parametrize(
    "mz, mask, cell, words",
    [
        (np.ones((3, 4)), np.ones((3, 5), bool), 1e-9, "must have shape"),
        (np.ones((2, 2, 3, 4)), np.ones((3, 4), bool), 1e-9, "must have shape"),
        (np.ones((3, 4)), np.zeros((3, 4), bool), 1e-9, "no magnetic cells"),
        (np.ones((3, 4)), np.ones((3, 4), bool), 0.0, "cell_size must be > 0"),
    ],
)
def test_bad_inputs(mz, mask, cell, words):
    with pytest.raises(ValueError, match=words):
        wall_position(mz, mask, cell)


def test_wall_counts_count_domains_not_thermal_wiggles():
    from dwsynapse.dwpos import single_wall, wall_counts

    mask = np.ones((4, 30), bool)
    mask[:2, 10:12] = False  # a notch
    one = np.where(np.arange(30) < 12, 1.0, -1.0) * np.ones((4, 1))
    wiggly = one.copy()
    wiggly[:, 11:14] = [0.05, -0.02, 0.01]  # a rough wall core crosses zero three times
    two = one.copy()
    two[:, 25:] = 1.0
    bubble = one.copy()
    bubble[3, 20:23] = 1.0  # an up bubble in one row of the down domain
    expelled = np.ones((4, 30))
    lost = -np.ones((4, 30))
    states = np.stack([one, wiggly, two, bubble, expelled, lost])
    np.testing.assert_array_equal(wall_counts(states, mask), [1, 1, 2, 3, 0, 0])
    np.testing.assert_array_equal(single_wall(states, mask), [True, True, False, False, True, False])
