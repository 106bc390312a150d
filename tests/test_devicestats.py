"""device_stats.h5: round trip, atomic writes, clear errors on bad files."""

import h5py
import numpy as np
import pytest

from dwsynapse.devicestats import (
    SCHEMA_VERSION,
    DeviceStats,
    DeviceStatsError,
    KuStats,
    read_device_stats,
    write_device_stats,
)


def _stats(n=5, with_traces=True):
    rng = np.random.default_rng(0)
    groups = []
    for ku, mean in [(8.0e5, -0.83), (7.0e5, 1.0)]:
        mz = np.clip(mean + 0.1 * rng.standard_normal(n), -1, 1)
        groups.append(
            KuStats(
                ku=ku,
                mz=mz,
                dw_x=(1 + mz) / 2 * 600e-9,
                seed=np.arange(n, dtype=np.int64) + int(ku),
                n_requested=n + 1,
                failed_seed=np.array([99], np.int64),
                failed_error=["instance timed out after 10 s"],
                t=np.linspace(0, 1e-9, 4) if with_traces else None,
                mz_t=rng.random((n, 4)) if with_traces else None,
            )
        )
    return DeviceStats(groups=groups, engine="torch", engine_version="test", material={"Ms": 8e5}, geometry={"cell": 4e-9})


def test_round_trip(tmp_path):
    stats = _stats()
    write_device_stats(tmp_path / "d.h5", stats)
    back = read_device_stats(tmp_path / "d.h5")
    assert back.ku_values == [7.0e5, 8.0e5]  # sorted by Ku
    g = back.by_ku(8.0e5)
    src = stats.by_ku(8.0e5)
    np.testing.assert_array_equal(g.mz, src.mz)
    np.testing.assert_array_equal(g.seed, src.seed)
    assert g.failed_error == ["instance timed out after 10 s"]
    assert (g.n_ok, g.n_failed, g.n_requested) == (5, 1, 6)
    assert back.material == {"Ms": 8e5} and back.engine == "torch"
    assert g.mz_t.shape == (5, 4)


def test_unknown_ku_is_named(tmp_path):
    write_device_stats(tmp_path / "d.h5", _stats(with_traces=False))
    with pytest.raises(DeviceStatsError, match="Ku=750000 J"):
        read_device_stats(tmp_path / "d.h5").by_ku(7.5e5)


def test_not_hdf5(tmp_path):
    (tmp_path / "d.h5").write_bytes(b"this is not HDF5")
    with pytest.raises(DeviceStatsError, match="d.h5: not a readable HDF5"):
        read_device_stats(tmp_path / "d.h5")


def test_truncated_file(tmp_path):
    write_device_stats(tmp_path / "d.h5", _stats())
    raw = (tmp_path / "d.h5").read_bytes()
    (tmp_path / "d.h5").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DeviceStatsError, match="d.h5"):
        read_device_stats(tmp_path / "d.h5")


def test_missing_file(tmp_path):
    with pytest.raises(DeviceStatsError, match="not found"):
        read_device_stats(tmp_path / "none.h5")


def test_wrong_schema_version(tmp_path):
    write_device_stats(tmp_path / "d.h5", _stats())
    with h5py.File(tmp_path / "d.h5", "a") as f:
        f.attrs["schema_version"] = SCHEMA_VERSION + 1
    with pytest.raises(DeviceStatsError, match="schema_version"):
        read_device_stats(tmp_path / "d.h5")


def test_inconsistent_shapes_are_refused(tmp_path):
    write_device_stats(tmp_path / "d.h5", _stats())
    with h5py.File(tmp_path / "d.h5", "a") as f:
        grp = f["ku"][list(f["ku"])[0]]
        del grp["dw_x"]
        grp.create_dataset("dw_x", data=np.zeros(2))
    with pytest.raises(DeviceStatsError, match="dw_x has shape"):
        read_device_stats(tmp_path / "d.h5")


def test_failed_write_keeps_previous_file(tmp_path):
    write_device_stats(tmp_path / "d.h5", _stats())
    bad = _stats()
    bad.groups[0].seed = np.zeros(1, np.int64)  # shape mismatch: refused before rename
    with pytest.raises(DeviceStatsError):
        write_device_stats(tmp_path / "d.h5", bad)
    assert read_device_stats(tmp_path / "d.h5").by_ku(8e5).n_ok == 5
    assert [p.name for p in tmp_path.iterdir()] == ["d.h5"]  # no temporary left behind


def test_notch_centres_round_trip_and_older_files_have_none(tmp_path):
    """/geometry/notch_x holds the simulated racetrack's notch centres [m] bit for bit; a file
    without it (written before it existed, or by another tool) reads with notch_x None."""
    from dwsynapse.geometry import build_racetrack

    x = np.array([60e-9, 135.00000000000003e-9, 210e-9])
    stats = _stats()
    stats.notch_x = x
    write_device_stats(tmp_path / "d.h5", stats)
    with h5py.File(tmp_path / "d.h5") as f:
        assert f["geometry/notch_x"].dtype == np.float64
    back = read_device_stats(tmp_path / "d.h5").notch_x
    assert back.dtype == np.float64 and back.tobytes() == x.tobytes()
    write_device_stats(tmp_path / "old.h5", _stats())
    with h5py.File(tmp_path / "old.h5") as f:
        assert "geometry" not in f
    assert read_device_stats(tmp_path / "old.h5").notch_x is None
    with pytest.raises(DeviceStatsError, match="notch_x must be a 1-D array"):
        write_device_stats(tmp_path / "bad.h5", DeviceStats(groups=stats.groups, engine="torch", notch_x=np.zeros((2, 2))))
    rt = build_racetrack({"length": 300e-9, "width": 60e-9, "thickness": 1e-9, "cell_size": 6e-9, "first_notch": 60e-9,
                          "notch_pitch": 75e-9, "notch_depth": 12e-9, "notch_width": 12e-9, "edge_roughness_rms": 0.0,
                          "notch_clearance": 0.0, "edge_correlation_length": 8e-9, "edge_profile_spacing": 4e-9, "seed": 7})
    stats.notch_x = rt.notch_x
    write_device_stats(tmp_path / "rt.h5", stats)
    assert read_device_stats(tmp_path / "rt.h5").notch_x.tobytes() == rt.notch_x.tobytes()
