"""Quantizer (Eq. 6) and device model (level <-> Ku maps, draws, hit probabilities)."""

import numpy as np
import pytest

from dwsynapse.devicestats import DeviceStats, DeviceStatsError, KuStats, write_device_stats
from dwsynapse.nn import kernels as K
from dwsynapse.nn.devicemodel import (DeviceConfig, DeviceVariant, build_device_model, load_device_model,
                                      synthetic_device_stats)
from dwsynapse.nn.quantize import level_index, levels, quantize


def test_levels_and_eq6_values():
    assert levels(5).tolist() == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert levels(3).tolist() == [-1.0, 0.0, 1.0]
    assert levels(2).tolist() == [-1.0, 1.0]
    w = np.array([-3.0, -0.76, -0.74, -0.2, 0.2, 0.3, 0.9, 7.0])
    assert quantize(w, 5).tolist() == [-1.0, -1.0, -0.5, 0.0, 0.0, 0.5, 1.0, 1.0]
    assert quantize(w, 3).tolist() == [-1.0, -1.0, -1.0, 0.0, 0.0, 0.0, 1.0, 1.0]
    assert quantize(w, 2).tolist() == [-1.0, -1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0]


def test_quantize_is_idempotent_clipped_and_nearest():
    rng = np.random.default_rng(0)
    w = rng.normal(0, 1, 5000)
    for n in (2, 3, 5):
        q = quantize(w, n)
        assert np.all(np.abs(q) <= 1)
        np.testing.assert_array_equal(quantize(q, n), q)
        # nearest level of the clipped value
        d = np.abs(np.clip(w, -1, 1)[:, None] - levels(n)[None, :])
        np.testing.assert_allclose(np.abs(np.clip(w, -1, 1) - q), d.min(axis=1), atol=1e-12)


def test_ties_round_up_not_to_even():
    assert quantize(np.array([-0.75, -0.25, 0.25, 0.75]), 5).tolist() == [-0.5, 0.0, 0.5, 1.0]


def test_quantize_rejects_bad_input():
    with pytest.raises(ValueError, match="non-finite"):
        quantize(np.array([np.nan]), 5)
    with pytest.raises(ValueError, match="at least 2 levels"):
        level_index(np.zeros(2), 1)
    with pytest.raises(ValueError, match="one of"):
        DeviceConfig(states=4, alpha=0.1)
    with pytest.raises(ValueError, match="alpha"):
        DeviceConfig(states=5, alpha=1.5)
    with pytest.raises(ValueError, match="sampling"):
        DeviceConfig(states=5, alpha=0.1, sampling="gauss")


def _stats(means, spread=0.05, n=200, seed=0):
    rng = np.random.default_rng(seed)
    groups = [KuStats(ku=ku, mz=np.clip(rng.normal(m, spread, n), -1, 1), dw_x=np.zeros(n), seed=np.arange(n),
                      n_requested=n) for ku, m in means.items()]
    return DeviceStats(groups=groups, engine="synthetic")


PAPER_LEVEL_KU = {5: (8.0e5, 7.75e5, 7.5e5, 7.25e5, 7.0e5), 3: (8.0e5, 7.5e5, 7.0e5), 2: (8.0e5, 7.0e5)}  # paper §III


def test_level_ku_map_and_tables(tmp_path):
    path = tmp_path / "device_stats.h5"
    write_device_stats(path, synthetic_device_stats(1))
    for states in (2, 3, 5):
        dm = load_device_model(path, DeviceConfig(states=states, alpha=0.25))
        assert dm.ku.tolist() == list(PAPER_LEVEL_KU[states])
        # level means follow the Ku order: higher Ku -> lower <mz> -> lower level
        assert np.all(np.diff(dm.level_mean) > 0)
        assert dm.summary()["levels"][0]["ku"] == 8.0e5


def test_hit_probability_and_impossible_level_reported(caplog):
    # level +1 (Ku 7.0e5) sits at <mz> = 0.3: it can never come within 0.15 of +1
    stats = _stats({8.0e5: -1.0, 7.5e5: 0.0, 7.0e5: 0.3}, spread=0.01)
    with caplog.at_level("WARNING"):
        dm = build_device_model(stats, DeviceConfig(states=3, alpha=0.15))
    assert dm.hit_probability[1] == 1.0 and dm.hit_probability[2] == 0.0
    assert any("probability 0" in w and "+1" in w for w in dm.warnings)
    assert "probability 0" in caplog.text


def test_missing_ku_is_a_clear_error():
    stats = _stats({8.0e5: -1.0, 7.0e5: 1.0})
    build_device_model(stats, DeviceConfig(states=2, alpha=0.2))
    with pytest.raises(DeviceStatsError, match="Ku=750000"):
        build_device_model(stats, DeviceConfig(states=3, alpha=0.2))


def test_empirical_draws_resample_the_level_samples():
    dm = build_device_model(synthetic_device_stats(2), DeviceConfig(states=5, alpha=0.15))
    n = 4000
    w = K.draw_device_numpy(7, np.arange(n), np.zeros(n), np.full(n, 3), dm.samples, dm.counts, dm.bandwidth, 0)
    assert set(np.unique(w)) <= set(dm.samples[3, : dm.counts[3]])
    assert abs(w.mean() - dm.level_mean[3]) < 0.01
    # different pulse numbers of the same device give independent draws
    w2 = K.draw_device_numpy(7, np.arange(n), np.ones(n), np.full(n, 3), dm.samples, dm.counts, dm.bandwidth, 0)
    assert np.mean(w == w2) < 0.05


def test_kde_draws_are_smooth_and_bounded():
    dm = build_device_model(synthetic_device_stats(3), DeviceConfig(states=5, alpha=0.15, sampling="kde"))
    n = 20000
    w = K.draw_device_numpy(9, np.arange(n), np.zeros(n), np.full(n, 4), dm.samples, dm.counts, dm.bandwidth, 1)
    assert np.all(np.abs(w) <= 1)
    assert len(np.unique(w)) > 10 * dm.counts[4] / 10  # not just the stored samples
    assert abs(w.mean() - dm.level_mean[4]) < 0.02
    # the KDE's analytic hit probability matches the draws
    hit = np.mean(np.abs(w - 1.0) <= 0.15)
    assert abs(hit - dm.hit_probability[4]) < 0.02


def test_numba_and_numpy_draws_agree():
    dm = build_device_model(synthetic_device_stats(4), DeviceConfig(states=3, alpha=0.15, sampling="kde"))
    for sampling in (0, 1):
        a = [K.draw_device(np.uint64(99), p, p % 5, p % 3, dm.samples, dm.counts, dm.bandwidth, sampling)
             for p in range(50)]
        b = K.draw_device_numpy(99, np.arange(50), np.arange(50) % 5, np.arange(50) % 3, dm.samples, dm.counts,
                                dm.bandwidth, sampling)
        if sampling == 0:
            np.testing.assert_array_equal(a, b)  # same hash, same sample
        else:
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)  # libm log/cos may differ in the last ulp


def test_device_variant_instances_spread_and_level0_shift():
    stats = synthetic_device_stats(3, spread=0.1, n=16)
    base = build_device_model(stats, DeviceConfig(5, 0.15))
    assert base.summary()["variant"] == {"instances": None, "spread_scale": 1.0, "level0_shift": 0.0, "seed": 0}
    # fewer instances: the file's first ones; more: all of them plus seeded KDE draws ("resampled")
    few = build_device_model(stats, DeviceConfig(5, 0.15, variant=DeviceVariant(instances=4)))
    np.testing.assert_array_equal(few.samples[:, :4], base.samples[:, :4])
    assert list(few.counts) == [4] * 5 and few.resampled.sum() == 0
    many = build_device_model(stats, DeviceConfig(5, 0.15, variant=DeviceVariant(instances=250, seed=1)))
    assert list(many.counts) == [250] * 5 and list(many.resampled) == [234] * 5
    np.testing.assert_array_equal(many.samples[:, :16], base.samples[:, :16])
    assert np.all(np.abs(many.samples) <= 1) and many.summary()["levels"][0]["n_resampled"] == 234
    again = build_device_model(stats, DeviceConfig(5, 0.15, variant=DeviceVariant(instances=250, seed=1)))
    np.testing.assert_array_equal(again.samples, many.samples)
    # spread scaled about each level's mean; level 0 (Ku 7.5e5) shifted, the others not
    half = build_device_model(stats, DeviceConfig(5, 0.15, variant=DeviceVariant(spread_scale=0.5, level0_shift=0.2)))
    k0 = list(base.ku).index(7.5e5)
    np.testing.assert_allclose(half.level_std[np.arange(5) != k0], 0.5 * base.level_std[np.arange(5) != k0], rtol=0.05)
    assert half.level_mean[k0] == pytest.approx(base.level_mean[k0] + 0.2, abs=1e-9)
    np.testing.assert_allclose(half.level_mean[3], base.level_mean[3], atol=0.02)
    with pytest.raises(ValueError, match="instances"):
        DeviceVariant(instances=0)
    with pytest.raises(ValueError, match="spread_scale"):
        DeviceVariant(spread_scale=-1)
