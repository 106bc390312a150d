"""Device stage: chunk files, merge into device_stats.h5, success threshold, summary CSV.

Engine results here come from a stand-in engine function (monkeypatched) so that merging is
tested on known numbers; the real engines have their own tests."""

import csv
import io

import h5py
import numpy as np
import pytest

from dwsynapse.device import chunkfile as dfile
from dwsynapse.device import chunks as dplan
from dwsynapse.device import engine as dengine
from dwsynapse.device import merge as dmerge
from dwsynapse.device import resources as dres
from dwsynapse.devicestats import read_device_stats
from dwsynapse.engines import InstanceResult, instance_seed


def stand_in_engine(fail_every=0):
    """run_instances look-alike: <mz> a known function of the seed; every n-th instance fails."""

    def run(config, racetrack, ku, seeds, workdir, progress=True):
        out = []
        for s in seeds:
            if fail_every and s % fail_every == 0:
                out.append(InstanceResult(seed=s, ok=False, error=f"diverged (seed {s})"))
                continue
            mz = (s % 1000) / 1000.0
            m = np.zeros((3,) + racetrack.mask.shape, np.float32)
            m[2] = mz
            n_t = 3 + s % 3  # instances stop relaxing at different times
            t = np.arange(n_t) * 1e-10
            out.append(InstanceResult(seed=s, ok=True, mz=mz, dw_x=1e-7 + ku * 1e-13, m_final=m, t=t,
                                      mz_t=np.linspace(-0.8, mz, n_t)))
        return out

    return run


@pytest.fixture
def cfg(default_config):
    c = default_config
    c["device"].update(engine="torch", instances_per_ku=5, chunk_size=2, ku_values=[7.0e5, 8.0e5])
    c["device"]["geometry"].update(cell_size=6e-9, notch_width=12e-9, notch_depth=12e-9)
    return c


def run_all(cfg, tmp_path, monkeypatch, fail_every=0):
    monkeypatch.setattr(dengine, "get_engine", lambda name: stand_in_engine(fail_every))
    monkeypatch.setattr(dengine, "check_engine", lambda config: {"engine": "stand-in"})
    monkeypatch.setattr(dengine, "_engine_version", lambda name, workdir: "stand-in 0")
    paths = []
    for ch in dplan.plan_chunks(cfg):
        p = tmp_path / "chunks" / ch.group / f"chunk_{ch.chunk_index}.h5"
        dengine.run_chunk(cfg, ch.group, ch.chunk_index, p, tmp_path / "work" / ch.group / str(ch.chunk_index),
                     progress=False)
        paths.append(p)
    return paths


def test_plan_covers_every_instance_once(cfg):
    plan = dplan.plan_chunks(cfg)
    assert len(plan) == 2 * 3
    for k in range(2):
        idx = [i for ch in plan if ch.ku_index == k for i in ch.indices]
        assert idx == list(range(5))
    assert dplan.find_chunk(cfg, "ku_8.000e+05", 2).indices == (4,)
    with pytest.raises(dplan.DeviceStageError, match="no chunk"):
        dplan.find_chunk(cfg, "ku_8.000e+05", 3)


def test_chunk_file_contents(cfg, tmp_path, monkeypatch):
    paths = run_all(cfg, tmp_path, monkeypatch)
    c = dfile.read_chunk(paths[0])
    assert c.ku == 7e5 and list(c.index) == [0, 1] and c.ok.all()
    assert list(c.seed) == dplan.chunk_seeds(cfg, dplan.plan_chunks(cfg)[0])
    with h5py.File(paths[0]) as f:
        assert f["m_final"].shape[:2] == (2, 3) and f["mask"].dtype == bool
        assert f["trace_t"].shape[0] == 2


def test_merge_is_complete_and_ordered(cfg, tmp_path, monkeypatch):
    paths = run_all(cfg, tmp_path, monkeypatch)
    out = tmp_path / "device_stats.h5"
    dmerge.merge_chunks(cfg, paths[::-1], out)  # order of chunk files does not matter
    stats = read_device_stats(out)
    assert stats.engine == "torch" and stats.engine_version == "stand-in 0"
    assert stats.geometry["measured_rms"] > 0 and stats.material["Ms"] == cfg["device"]["material"]["Ms"]
    for k, g in enumerate(stats.groups):
        assert g.n_ok == 5 and g.n_failed == 0 and g.n_requested == 5
        seeds = [instance_seed(cfg["device"]["thermal_seed"], k, i) for i in range(5)]
        assert list(g.seed) == seeds
        np.testing.assert_allclose(g.mz, [(s % 1000) / 1000 for s in seeds])
        # traces on the longest time grid; shorter ones NaN after their end
        assert g.mz_t.shape == (5, len(g.t)) and len(g.t) == max(3 + s % 3 for s in seeds)
        for row, s in zip(g.mz_t, seeds):
            assert np.isfinite(row).sum() == 3 + s % 3
            assert row[np.isfinite(row)][-1] == pytest.approx((s % 1000) / 1000, abs=1e-6)
    # the merge is a pure function of the chunk files
    dmerge.merge_chunks(cfg, paths, tmp_path / "again.h5")
    again = read_device_stats(tmp_path / "again.h5")
    for g, h in zip(stats.groups, again.groups):
        np.testing.assert_array_equal(g.mz, h.mz)


def test_merge_records_the_notch_centres_of_the_simulated_racetrack(cfg, tmp_path, monkeypatch):
    """device_stats.h5 stores the notch centres of the racetrack the chunks ran on (/geometry/notch_x),
    the positions build_racetrack cut the notches at."""
    from dwsynapse.geometry import build_racetrack

    dmerge.merge_chunks(cfg, run_all(cfg, tmp_path, monkeypatch), tmp_path / "d.h5")
    got = read_device_stats(tmp_path / "d.h5").notch_x
    want = build_racetrack(cfg["device"]["geometry"]).notch_x
    assert got.dtype == np.float64 and len(got) > 1 and got.tobytes() == want.tobytes()


def test_failures_are_recorded_not_dropped(cfg, tmp_path, monkeypatch):
    cfg["device"]["min_success_fraction"] = 0.0
    paths = run_all(cfg, tmp_path, monkeypatch, fail_every=2)
    stats = dmerge.merge_chunks(cfg, paths, tmp_path / "d.h5")
    back = read_device_stats(tmp_path / "d.h5")
    for g in back.groups:
        assert g.n_ok + g.n_failed == 5 and g.n_failed > 0
        assert all(s % 2 == 0 for s in g.failed_seed)
        assert all(e.startswith("diverged") for e in g.failed_error)
    assert stats.groups[0].n_failed == back.groups[0].n_failed


def test_success_fraction_below_threshold_fails_clearly(cfg, tmp_path, monkeypatch):
    cfg["device"]["min_success_fraction"] = 0.99
    paths = run_all(cfg, tmp_path, monkeypatch, fail_every=2)
    with pytest.raises(dplan.DeviceStageError, match="min_success_fraction") as exc:
        dmerge.merge_chunks(cfg, paths, tmp_path / "d.h5")
    assert "diverged" in str(exc.value)
    assert not (tmp_path / "d.h5").exists()


def test_missing_duplicate_or_foreign_chunks_fail(cfg, tmp_path, monkeypatch):
    paths = run_all(cfg, tmp_path, monkeypatch)
    with pytest.raises(dplan.DeviceStageError, match="expected 0..4 once each"):
        dmerge.merge_chunks(cfg, paths[1:], tmp_path / "d.h5")
    with pytest.raises(dplan.DeviceStageError, match="expected 0..4 once each"):
        dmerge.merge_chunks(cfg, paths + paths[:1], tmp_path / "d.h5")
    other = dict(cfg, device=dict(cfg["device"], thermal_seed=cfg["device"]["thermal_seed"] + 1))
    with pytest.raises(dplan.DeviceStageError, match="another device configuration"):
        dmerge.merge_chunks(other, paths, tmp_path / "d.h5")
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"not hdf5")
    with pytest.raises(dplan.DeviceStageError, match="not a readable chunk"):
        dmerge.merge_chunks(cfg, paths + [bad], tmp_path / "d.h5")


def test_summary_csv(cfg, tmp_path, monkeypatch):
    cfg["device"]["min_success_fraction"] = 0.0
    paths = run_all(cfg, tmp_path, monkeypatch, fail_every=2)
    dmerge.merge_chunks(cfg, paths, tmp_path / "d.h5")
    dmerge.write_summary(tmp_path / "d.h5", tmp_path / "summary.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "summary.csv").read_text())))
    stats = read_device_stats(tmp_path / "d.h5")
    assert [float(r["ku"]) for r in rows] == [7e5, 8e5]
    for r, g in zip(rows, stats.groups):
        assert int(r["n_ok"]) == g.n_ok and int(r["n_failed"]) == g.n_failed
        assert float(r["mz_mean"]) == pytest.approx(np.mean(g.mz))
        assert float(r["mz_std"]) == pytest.approx(np.std(g.mz, ddof=1))


def test_mumax3_engine_without_binary_fails_at_the_start(cfg, tmp_path, monkeypatch):
    cfg["device"]["engine"] = "mumax3"
    cfg["device"]["solver"]["demag"] = "newell"  # what mumax3 computes; config.yaml's thin_film stops earlier
    cfg["device"]["mumax3"]["binary"] = None
    monkeypatch.delenv("MUMAX3", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="engine: torch"):
        dengine.check_engine(cfg)
    with pytest.raises(RuntimeError, match="device.mumax3.binary"):
        dengine.run_chunk(cfg, "ku_7.000e+05", 0, tmp_path / "c.h5", tmp_path / "w")
    assert not (tmp_path / "c.h5").exists()


def test_cli_check_reports_missing_binary(cfg, tmp_path, monkeypatch, capsys):
    import yaml

    from dwsynapse.cli import main

    cfg["device"]["engine"] = "mumax3"
    cfg["device"]["solver"]["demag"] = "newell"
    cfg["device"]["mumax3"]["binary"] = None
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    monkeypatch.delenv("MUMAX3", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["device-check", "--config", str(tmp_path / "c.yaml")]) == 2
    err = capsys.readouterr().err
    assert "no mumax3 binary" in err and "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("dwsynapse: ")] == [err.rstrip().splitlines()[-1]]


@pytest.mark.slow
def test_torch_engine_chunk_end_to_end(default_config, tmp_path, monkeypatch):
    """One real (tiny) chunk through the torch engine and the merge."""
    monkeypatch.setenv("DWSYNAPSE_TORCH_COMPILE", "0")
    c = default_config
    c["device"].update(engine="torch", instances_per_ku=2, chunk_size=2, ku_values=[7.0e5, 8.0e5])
    c["device"]["geometry"].update(cell_size=6e-9, notch_width=12e-9, notch_depth=12e-9)
    c["device"]["drive"]["pulse_duration"] = 2e-11
    c["device"]["solver"].update(relax_max_time=1e-11, rest_window=1e-11)
    c["device"]["torch"]["device"] = "cpu"
    paths = []
    for ch in dplan.plan_chunks(c):
        p = tmp_path / f"{ch.group}_{ch.chunk_index}.h5"
        dengine.run_chunk(c, ch.group, ch.chunk_index, p, tmp_path / "w" / ch.group, progress=False)
        paths.append(p)
    stats = dmerge.merge_chunks(c, paths, tmp_path / "d.h5")
    for g in stats.groups:
        assert g.n_ok == 2 and np.all(np.abs(g.mz) <= 1)


def test_job_resources(cfg, tmp_path):
    files = dplan.chunk_files(cfg, tmp_path / "chunks")
    assert len(files) == 6 and files[0].endswith("ku_7.000e+05/chunk_0.h5")
    assert not dres.chunk_uses_gpu(cfg)
    cfg["device"]["torch"]["device"] = "cuda"
    assert dres.chunk_uses_gpu(cfg)
    t_torch = dres.chunk_runtime_minutes(cfg)
    cfg["device"]["drive"]["pulse_duration"] *= 10
    assert dres.chunk_runtime_minutes(cfg) > t_torch  # longer runs ask for more time
    cfg["device"].update(engine="mumax3")
    cfg["device"]["mumax3"].update(timeout_s=600, retries=2, processes=1)
    # every try of every instance + 5 min (the child's timeout), + the margin of the job around its child
    assert dres.chunk_uses_gpu(cfg) and dres.chunk_runtime_minutes(cfg) == 2 * 600 * 3 // 60 + 5 + dres.CHUNK_MARGIN_MIN
    cfg["device"].update(chunk_size=9)
    cfg["device"]["mumax3"].update(processes=4)  # one alone (cache warm-up), then 2 waves of 4 processes
    assert dres.chunk_runtime_minutes(cfg) == 3 * 600 * 3 // 60 + 5 + dres.CHUNK_MARGIN_MIN


def test_extra_domains_and_capped_relaxations_are_flagged(cfg, tmp_path, monkeypatch):
    """An instance whose final state has two walls is flagged (single_wall False) and left out of the
    DW statistics of the summary; an instance that ran to the relaxation cap is flagged hit_cap."""
    cap = cfg["device"]["drive"]["pulse_duration"] + cfg["device"]["solver"]["relax_max_time"]
    base = stand_in_engine()

    def engine(config, racetrack, ku, seeds, workdir, progress=True):
        out = base(config, racetrack, ku, seeds, workdir, progress)
        nx = racetrack.mask.shape[1]
        for r in out:
            r.m_final[2] = -1.0
            r.m_final[2][:, : nx // 3] = 1.0  # one up|down wall at a third of the strip
            if r.seed % 2:
                r.m_final[2][:, 2 * nx // 3 :] = 1.0  # a second up domain: two more walls
            r.stop_time = cap if r.seed % 3 == 0 else 0.5 * cap
        return out

    run_all(cfg, tmp_path, monkeypatch)  # installs the stand-in version and check
    monkeypatch.setattr(dengine, "get_engine", lambda name: engine)
    paths = []
    for ch in dplan.plan_chunks(cfg):
        p = tmp_path / "flags" / ch.group / f"chunk_{ch.chunk_index}.h5"
        dengine.run_chunk(cfg, ch.group, ch.chunk_index, p, tmp_path / "w2" / ch.group / str(ch.chunk_index), progress=False)
        paths.append(p)
    dmerge.merge_chunks(cfg, paths, tmp_path / "d.h5")
    stats = read_device_stats(tmp_path / "d.h5")
    for g in stats.groups:
        np.testing.assert_array_equal(g.single_wall, g.seed % 2 == 0)
        np.testing.assert_array_equal(g.hit_cap, g.seed % 3 == 0)
    dmerge.write_summary(tmp_path / "d.h5", tmp_path / "summary.csv")
    rows = list(csv.DictReader(io.StringIO((tmp_path / "summary.csv").read_text())))
    for r, g in zip(rows, stats.groups):
        assert int(r["n_extra_domains"]) == int((g.seed % 2 == 1).sum())
        assert float(r["hit_cap_fraction"]) == pytest.approx(np.mean(g.seed % 3 == 0))
        assert float(r["dw_x_mean_m"]) == pytest.approx(np.mean(g.dw_x[g.single_wall]))


def test_demag_refresh_and_integrator_enter_the_chunk_hash_only_when_they_change_the_physics(cfg):
    import copy

    from dwsynapse.config import config_sha256

    one = copy.deepcopy(cfg)
    one["device"]["torch"]["demag_refresh_steps"] = 1
    one["device"]["solver"]["integrator"] = "heun"
    # the hash as it was computed before the two keys existed: earlier runs stay valid
    before = {k: v for k, v in one["device"].items() if k not in ("stats_file", "min_success_fraction",
                                                                 "chunk_retries", "chunk_timeout_s")}
    before["torch"] = {k: v for k, v in before["torch"].items() if k != "demag_refresh_steps"}
    before["solver"] = {k: v for k, v in before["solver"].items() if k != "integrator"}
    assert dplan.device_config_sha256(one) == config_sha256(before)
    four, rk4 = copy.deepcopy(one), copy.deepcopy(one)
    four["device"]["torch"]["demag_refresh_steps"] = 4
    rk4["device"]["solver"]["integrator"] = "rk4"
    hashes = {dplan.device_config_sha256(c) for c in (one, four, rk4)}
    assert len(hashes) == 3
