"""Faults of whole chunk jobs: a child that exits non-zero, is killed by a signal or hangs past its
timeout fails the try (Snakemake retries it); on the last try the chunk file records every
instance of the chunk as failed with the reason, the merge lists them under /failed, and a too-low
success fraction fails the merge naming the Ku and the fraction.

The child is a stand-in script passed through ``command`` (the real engine is not touched)."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from dwsynapse.device import chunkfile as dfile
from dwsynapse.device import chunks as dplan
from dwsynapse.device import guard as dguard
from dwsynapse.device import merge as dmerge
from dwsynapse.device import resources as dres
from dwsynapse.devicestats import read_device_stats

STAND_IN = r'''
import argparse, os, signal, subprocess, sys, time

mode = sys.argv[1]
p = argparse.ArgumentParser()
for a in ("--config", "--group", "--chunk", "--out", "--workdir"):
    p.add_argument(a)
args = p.parse_args(sys.argv[2:])
if mode == "exit3":
    print("RuntimeError: out of cheese", file=sys.stderr)
    sys.exit(3)
if mode == "segv":
    print("about to crash", flush=True)
    os.kill(os.getpid(), signal.SIGSEGV)
if mode == "hang":
    time.sleep(120)
if mode == "hang-with-solver":  # a solver binary in its own session, outside the child's process group
    solver = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
    open(os.path.join(args.workdir, "solver.pid"), "w").write(str(solver.pid))
    time.sleep(120)
import numpy as np
from dwsynapse.device import chunkfile as dfile, chunks as dplan
from dwsynapse.config import load_config
from dwsynapse.engines import InstanceResult
from dwsynapse.geometry import build_racetrack
if mode == "chatty":  # more output than a pipe buffer holds
    for i in range(3000):
        print(f"progress line {i} " + "x" * 100)
    mode = "ok"
cfg = load_config(args.config)
chunk = dplan.find_chunk(cfg, args.group, int(args.chunk))
rt = build_racetrack(cfg["device"]["geometry"])
results = [InstanceResult(seed=s, ok=True, mz=0.25, dw_x=1e-7, m_final=np.zeros((3,) + rt.mask.shape, np.float32))
           for s in dplan.chunk_seeds(cfg, chunk)]
if mode == "wrong-chunk":
    chunk = dplan.Chunk(chunk.ku_index, chunk.ku, chunk.chunk_index + 1, chunk.indices)
dfile.write_chunk(args.out, chunk, results, rt, cfg["device"]["engine"], "stand-in 1", dplan.device_config_sha256(cfg))
'''


@pytest.fixture
def cfg(default_config):
    c = default_config
    c["device"].update(engine="torch", instances_per_ku=4, chunk_size=2, ku_values=[7.0e5, 8.0e5],
                       chunk_retries=2, chunk_timeout_s=None, min_success_fraction=0.5)
    c["device"]["geometry"].update(length=300e-9, cell_size=6e-9, notch_width=12e-9, notch_depth=12e-9)
    return c


@pytest.fixture
def stand_in(tmp_path):
    p = tmp_path / "stand_in.py"
    p.write_text(STAND_IN)
    return lambda mode: (sys.executable, str(p), mode)


def guarded(cfg, tmp_path, command, attempt, chunk=0, group="ku_7.000e+05", **kw):
    out = tmp_path / "chunks" / group / f"chunk_{chunk}.h5"
    return dguard.run_chunk_guarded(cfg, group, chunk, out, tmp_path / "work" / group / str(chunk), attempt=attempt,
                                command=command, **kw), out


@pytest.mark.parametrize("mode", ["ok", "chatty"])
def test_child_that_succeeds_passes_its_chunk_file_through(cfg, tmp_path, stand_in, mode, caplog):
    path, out = guarded(cfg, tmp_path, stand_in(mode), attempt=1, timeout_s=30)
    assert mode != "chatty" or "progress line 2999 " in caplog.text  # the child's output reaches the log
    c = dfile.read_chunk(out)
    assert path == out and c.ok.all() and list(c.index) == [0, 1] and c.engine_version == "stand-in 1"


FAULTS = [
    ("exit3", 30, r"exited with status 3; last output: RuntimeError: out of cheese"),
    ("segv", 30, r"killed by signal SIGSEGV"),
    ("hang", 0.8, r"timed out after 0\.8 s"),
    ("wrong-chunk", 30, r"exited with status 0 but left no usable chunk file \(.*holds another chunk\)"),
]


@pytest.mark.parametrize("mode,timeout,reason", FAULTS, ids=[f[0] for f in FAULTS])
def test_failed_child_raises_before_the_last_try_and_is_recorded_on_it(cfg, tmp_path, stand_in, mode, timeout,
                                                                      reason):
    for attempt in (1, 2):
        with pytest.raises(dguard.ChunkJobFailed, match=rf"ku_7\.000e\+05/chunk_0 failed on try {attempt} of 3: "
                                                    + reason):
            guarded(cfg, tmp_path, stand_in(mode), attempt=attempt, timeout_s=timeout)
    _, out = guarded(cfg, tmp_path, stand_in(mode), attempt=1 + 2, timeout_s=timeout)
    c = dfile.read_chunk(out)  # written on the last try, complete (atomic)
    assert not c.ok.any() and list(c.index) == [0, 1] and list(c.seed) == dplan.chunk_seeds(cfg, dplan.plan_chunks(cfg)[0])
    for e in c.error:
        assert "failed on all 3 tries" in e
        for attempt in (1, 2, 3):
            assert f"try {attempt}/3: " in e
        assert e.count(reason.split(";")[0].replace("\\", "")[:20]) == 3


def test_a_new_run_forgets_the_tries_of_an_earlier_one(cfg, tmp_path, stand_in):
    with pytest.raises(dguard.ChunkJobFailed):
        guarded(cfg, tmp_path, stand_in("segv"), attempt=1, retries=1)
    _, out = guarded(cfg, tmp_path, stand_in("exit3"), attempt=1, retries=0)  # a new run, no retries
    (err,) = set(dfile.read_chunk(out).error)
    assert "failed on all 1 tries: try 1/1: exited with status 3" in err and "SIGSEGV" not in err


def test_timeout_kills_the_solver_the_child_started(cfg, tmp_path, stand_in):
    t0 = time.monotonic()
    _, out = guarded(cfg, tmp_path, stand_in("hang-with-solver"), attempt=1, retries=0, timeout_s=1.0)
    assert time.monotonic() - t0 < 15
    assert "timed out after 1 s" in dfile.read_chunk(out).error[0]
    pid = int((tmp_path / "work" / "ku_7.000e+05" / "0" / "solver.pid").read_text())
    for _ in range(50):  # killed; a zombie until init reaps it
        if _gone(pid):
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        pytest.fail("the solver process outlived the chunk job's timeout")


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (ProcessLookupError, FileNotFoundError):
        return True


def test_merge_lists_failed_chunk_and_applies_the_success_fraction(cfg, tmp_path, stand_in):
    paths = []
    for ch in dplan.plan_chunks(cfg):
        mode = "segv" if (ch.ku_index, ch.chunk_index) == (1, 1) else "ok"
        paths.append(guarded(cfg, tmp_path, stand_in(mode), attempt=1, retries=0, chunk=ch.chunk_index,
                             group=ch.group)[0])
    stats = dmerge.merge_chunks(cfg, paths, tmp_path / "stats.h5")
    back = {g.name: g for g in read_device_stats(tmp_path / "stats.h5").groups}
    g = back["ku_8.000e+05"]
    assert (g.n_ok, len(g.failed_seed)) == (2, 2) and back["ku_7.000e+05"].n_ok == 4
    assert list(g.failed_seed) == dplan.chunk_seeds(cfg, dplan.plan_chunks(cfg)[3])
    assert all("killed by signal SIGSEGV" in e and "chunk_1" in e for e in g.failed_error)
    assert stats.engine_version == "stand-in 1"  # the failure record adds no engine version
    cfg["device"]["min_success_fraction"] = 0.75
    with pytest.raises(dplan.DeviceStageError, match=r"Ku=800000 J/m\^3: 2/4 instances succeeded \(50% < "
                                                  r"device.min_success_fraction 75%\).*SIGSEGV") as exc:
        dmerge.merge_chunks(cfg, paths, tmp_path / "stats2.h5")
    assert "Ku=700000" not in str(exc.value) and not (tmp_path / "stats2.h5").exists()


def test_timeout_and_runtime_grow_with_the_try(cfg):
    est = dres.chunk_timeout_s(cfg, 1)
    assert dres.chunk_timeout_s(cfg, 3) == 3 * est
    for a in (1, 2, 3):
        assert dres.chunk_runtime_minutes(cfg, a) * 60 >= dres.chunk_timeout_s(cfg, a) + 60 * dres.CHUNK_MARGIN_MIN
    assert dres.chunk_runtime_minutes(cfg, 2) > dres.chunk_runtime_minutes(cfg, 1)
    cfg["device"]["chunk_timeout_s"] = 90
    assert dres.chunk_timeout_s(cfg, 2) == 180 and dres.chunk_runtime_minutes(cfg, 2) == 3 + dres.CHUNK_MARGIN_MIN
    assert dres.chunk_retries(cfg) == 2
    # retry and timeout settings do not change the physics: chunk files stay valid
    sha = dplan.device_config_sha256(cfg)
    cfg["device"].update(chunk_retries=5, chunk_timeout_s=7)
    assert dplan.device_config_sha256(cfg) == sha


@pytest.mark.parametrize("key,value,match", [
    ("chunk_retries", -1, r"device.chunk_retries must be an integer >= 0, got -1"),
    ("chunk_retries", 1.5, r"device.chunk_retries must be an integer >= 0, got 1.5"),
    ("chunk_timeout_s", 0, r"device.chunk_timeout_s must be a number > 0 \(seconds\) or null, got 0"),
])
def test_bad_settings_are_named(cfg, key, value, match):
    cfg["device"][key] = value
    with pytest.raises(dplan.DeviceStageError, match=match):
        dres.chunk_retries(cfg) if key == "chunk_retries" else dres.chunk_timeout_s(cfg)


def test_bad_arguments_are_named(cfg, tmp_path, stand_in):
    with pytest.raises(dplan.DeviceStageError, match=r"attempt must be an integer >= 1, got 0"):
        guarded(cfg, tmp_path, stand_in("ok"), attempt=0)
    with pytest.raises(dplan.DeviceStageError, match=r"attempt must be an integer >= 1, got 0"):
        guarded(cfg, tmp_path, stand_in("ok"), attempt=0, timeout_s=5)
    with pytest.raises(dplan.DeviceStageError, match=r"retries must be an integer >= 0, got -2"):
        guarded(cfg, tmp_path, stand_in("ok"), attempt=1, retries=-2)
    with pytest.raises(dplan.DeviceStageError, match=r"chunk timeout must be > 0 s, got -1"):
        guarded(cfg, tmp_path, stand_in("ok"), attempt=1, timeout_s=-1)
    with pytest.raises(dplan.DeviceStageError, match=r"no chunk ku_7.000e\+05/chunk_9"):
        guarded(cfg, tmp_path, stand_in("ok"), attempt=1, chunk=9)


def test_schema_accepts_and_rejects_the_keys(default_config):
    from dwsynapse.config import ConfigError, validate_config

    validate_config(default_config)
    bad = dict(default_config, device=dict(default_config["device"], chunk_retries=-1))
    with pytest.raises(ConfigError, match="chunk_retries"):
        validate_config(bad)


@pytest.mark.slow
def test_workflow_retries_a_timed_out_chunk_then_records_it_and_the_merge_says_why(tmp_path):
    """Through the rules with the real engine: a timeout too short for any chunk makes every chunk job
    fail, Snakemake runs it device.chunk_retries + 1 times (the try number reaches the script), the last
    try writes the failure record, and the merge stops naming each Ku and its success fraction."""
    from tests.test_devicestage_workflow import snakemake, write_config

    cfg = write_config(tmp_path, chunk_retries=1, chunk_timeout_s=0.5)
    r = snakemake(tmp_path, cfg, str(tmp_path / "results" / "device" / "device_stats.h5"))
    assert r.returncode != 0
    res = tmp_path / "results"
    chunks = sorted((res / "device" / "chunks").glob("*/chunk_*.h5"))
    assert len(chunks) == 4
    for p in chunks:
        c = dfile.read_chunk(p)
        assert not c.ok.any()
        assert all("try 1/2: timed out after 0.5 s; try 2/2: timed out after 1 s" in e for e in c.error)
    merge_log = (res / "logs" / "device" / "merge.log").read_text()
    for ku in ("700000", "800000"):
        assert f"Ku={ku} J/m^3: 0/4 instances succeeded (0% < device.min_success_fraction 50%)" in merge_log
    assert not (res / "device" / "device_stats.h5").exists()
