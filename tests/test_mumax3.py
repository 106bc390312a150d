"""mumax3 engine: binary discovery and the runner, driven by a stand-in executable.

The stand-in (a small Python script written here) speaks mumax3's command line, resolves relative
paths against its working directory as mumax3 does, reads ``geometry.ovf`` from there, keeps a
demag-kernel cache the way mumax3 does (load, else compute and write), writes outputs in mumax3's
formats, or fails in chosen ways. It only exercises the runner: no result of the pipeline ever
comes from it. Every call leaves a JSON line in ``$FAKE_MUMAX_STATE/calls.jsonl``.
"""

import json
import os
import stat
import sys
from pathlib import Path

import numpy as np
import pytest

from dwsynapse.engines import mumax3
from dwsynapse.engines.mumax3 import Mumax3NotFound, find_binary, run_instances
from dwsynapse.geometry import build_racetrack
from dwsynapse.mx3 import RenderError

STAND_IN = r'''#!{python}
"""Stand-in for mumax3 used by tests/test_mumax3.py (behaviour from $FAKE_MUMAX_MODE)."""
import hashlib, json, os, re, sys, time
from pathlib import Path
import numpy as np
from dwsynapse.ovf import read_ovf, write_ovf

args = sys.argv[1:]
assert args[args.index("-http") + 1] == "" and "-gpu" in args and "-cache" in args and "-f" in args
out = Path(args[args.index("-o") + 1])  # relative paths are relative to the working directory, as in mumax3
cache = Path(args[args.index("-cache") + 1])
script_text = Path(args[-1]).read_text()
mode = os.environ.get("FAKE_MUMAX_MODE", "ok")
state = Path(os.environ["FAKE_MUMAX_STATE"])
running = state / "running"
running.mkdir(parents=True, exist_ok=True)
(running / str(os.getpid())).touch()
geom_bytes = Path("geometry.ovf").read_bytes()
seed = re.search(r"ThermSeed\((\d+)\)", script_text).group(1)
print("//mumax 3.11.1 [stand-in (test)]", flush=True)
geom = read_ovf("geometry.ovf")
mask = geom.data[0, 0] > 0.5
ny, nx = mask.shape
kernels = [cache / f"mumax3kernel_[{{nx}} {{ny}} 1]_[0 0 0]_{{ij}}.ovf" for ij in ("00", "01", "11", "22")]
wrote_kernel = not all(k.exists() for k in kernels)
if wrote_kernel:  # as mumax3: compute the kernel and store it in the cache directory
    cache.mkdir(parents=True, exist_ok=True)
    for k in kernels:
        write_ovf(k, np.ones((1, 1, 2, 2)), geom.step, title="N")
time.sleep(float(os.environ.get("FAKE_MUMAX_SLEEP", "0")))
record = dict(seed=seed, pid=os.getpid(), script_sha=hashlib.sha256(script_text.encode()).hexdigest(),
              geometry_sha=hashlib.sha256(geom_bytes).hexdigest(), cwd=os.getcwd(), args=args,
              at_once=len(list(running.iterdir())), wrote_kernel=wrote_kernel)
with open(state / "calls.jsonl", "a") as fh:
    fh.write(json.dumps(record) + "\n")
(running / str(os.getpid())).unlink()
bad = seed == os.environ.get("FAKE_MUMAX_BAD_SEED")
first_call = len(open(state / "calls.jsonl").readlines()) == 1
if mode == "exit" or (mode == "flaky" and first_call) or (mode == "fail_seed" and bad):
    print("panic: CUDA error (stand-in)", file=sys.stderr)
    sys.exit(3)
if mode == "hang" or (mode == "hang_seed" and bad):
    time.sleep(60)
out.mkdir(parents=True, exist_ok=True)
ix_wall = 20 + int(seed) % 40  # wall between columns ix_wall-1 and ix_wall
mz = np.where(np.arange(nx) < ix_wall, 1.0, -1.0)[None, :] * mask
m = np.stack([np.zeros_like(mz), np.zeros_like(mz), mz])[:, None]
with open(out / "table.txt", "w") as table:
    table.write("# t (s)\tmx ()\tmy ()\tmz ()\tt_inst (s)\n")
    for j in range(3):
        table.write(f"{{1e-9 + j * 1e-10!r}}\t0\t0\t{{-0.8 + 0.1 * j!r}}\t{{j * 1e-10!r}}\n")
if mode != "missing":
    name = re.search(r'SaveAs\(m, "(\w+)"\)', script_text).group(1)
    write_ovf(out / (name + ".ovf"), m, geom.step, title="m", time=3e-10)
    if mode == "truncate":
        p = out / (name + ".ovf")
        p.write_bytes(p.read_bytes()[:-100])
'''


@pytest.fixture
def default_config(default_config):
    """mumax3 always computes the full demagnetizing field, so its path is tested with demag: newell
    whatever the default config picks for the torch engine."""
    default_config["device"]["solver"]["demag"] = "newell"
    return default_config


@pytest.fixture
def config(default_config, tmp_path):
    cfg = default_config
    g = cfg["device"]["geometry"]
    g.update(cell_size=6e-9, notch_width=12e-9, notch_depth=12e-9)  # 100 x 12 cells: fast
    cfg["device"]["engine"] = "mumax3"
    cfg["device"]["mumax3"].update(binary=str(make_stand_in(tmp_path)), timeout_s=30, retries=1, processes=2)
    return cfg


def make_stand_in(tmp_path):
    path = tmp_path / "bin" / "mumax3"
    path.parent.mkdir(exist_ok=True)
    path.write_text(STAND_IN.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_MUMAX_STATE", str(tmp_path / "state"))
    monkeypatch.setenv("DWSYNAPSE_CACHE", str(tmp_path / "cache"))

    def set_mode(mode, **extra):
        monkeypatch.setenv("FAKE_MUMAX_MODE", mode)
        for k, v in extra.items():
            monkeypatch.setenv(f"FAKE_MUMAX_{k.upper()}", str(v))

    return set_mode


def calls(tmp_path):
    path = tmp_path / "state" / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def expected_x(seed, cell):
    return (20 + seed % 40) * cell


def test_successful_run_extracts_positions_and_traces(config, env, tmp_path):
    env("ok")
    rt = build_racetrack(config["device"]["geometry"])
    seeds = [11, 12, 13]
    res = run_instances(config, rt, 7.5e5, seeds, tmp_path / "work", progress=False)
    assert [r.ok for r in res] == [True] * 3 and [r.seed for r in res] == seeds
    for r in res:
        assert r.dw_x == pytest.approx(expected_x(r.seed, rt.cell_size))
        assert r.m_final.shape == (3, rt.ny, rt.nx)
        assert r.mz == pytest.approx(r.m_final[2][rt.mask].mean(), rel=1e-6)
        np.testing.assert_allclose(r.t, [0, 1e-10, 2e-10])
        np.testing.assert_allclose(r.mz_t, [-0.8, -0.7, -0.6])
    got = calls(tmp_path)
    assert sorted(int(c["seed"]) for c in got) == seeds  # one process per instance
    for c in got:
        a = c["args"]
        assert a[a.index("-gpu") + 1] == "0" and a[a.index("-http") + 1] == ""
        assert all(Path(a[a.index(flag) + 1]).is_absolute() for flag in ("-o", "-cache", "-f"))
    assert mumax3.engine_version(tmp_path / "work").startswith("mumax 3.11.1")
    assert (tmp_path / "work" / "attempt0" / "i00000" / "mumax3.log").exists()


def test_relative_workdir_keeps_every_result(config, env, tmp_path, monkeypatch):
    """The Snakemake rule passes a relative work folder (results_dir: results): mumax3 runs in
    the instance folder and resolves relative -o / -cache there, so the runner must hand it
    absolute paths."""
    env("ok")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DWSYNAPSE_CACHE")
    config["device"]["mumax3"]["binary"] = os.path.relpath(config["device"]["mumax3"]["binary"], tmp_path)
    rt = build_racetrack(config["device"]["geometry"])
    res = run_instances(config, rt, 7.5e5, [1, 2], Path("results/device/work/ku_7.500e+05/chunk_0"),
                        progress=False)
    assert [r.ok for r in res] == [True, True], [r.error for r in res]
    assert len(calls(tmp_path)) == 2
    assert list((tmp_path / "results/device/work/ku_7.500e+05/chunk_0/mumax3_kernels").glob("*.ovf"))


def _inputs_by_seed(tmp_path):
    return {c["seed"]: (c["script_sha"], c["geometry_sha"], [a for a in c["args"] if not a.startswith("/")])
            for c in calls(tmp_path)}


def test_instance_inputs_do_not_depend_on_chunking_or_retry_order(config, env, tmp_path, monkeypatch):
    """An instance gets byte-identical inputs (script, geometry, flags) in its own process whatever
    chunk it is in, where it comes in that chunk, and whether it is a retry."""
    env("ok")
    rt = build_racetrack(config["device"]["geometry"])
    seeds = [101, 102, 103, 104]
    run_instances(config, rt, 7.5e5, seeds, tmp_path / "one_chunk", progress=False)
    reference = _inputs_by_seed(tmp_path)
    (tmp_path / "state" / "calls.jsonl").unlink()
    env("fail_seed", bad_seed=103)  # 103 fails once in its chunk, then runs again as a retry
    config["device"]["mumax3"]["retries"] = 1
    res = run_instances(config, rt, 7.5e5, [104, 103], tmp_path / "chunk_a", progress=False)
    assert not res[1].ok and "exited with code 3" in res[1].error
    env("ok")
    run_instances(config, rt, 7.5e5, [103], tmp_path / "retry", progress=False)
    run_instances(config, rt, 7.5e5, [102, 101], tmp_path / "chunk_b", progress=False)
    got = calls(tmp_path)
    assert len([c for c in got if c["seed"] == "103"]) == 3
    for c in got:
        assert (c["script_sha"], c["geometry_sha"], [a for a in c["args"] if not a.startswith("/")]) \
            == reference[c["seed"]]
    assert len({v[0] for v in reference.values()}) == 4  # each seed has its own script


def test_processes_run_side_by_side_and_the_kernel_cache_is_warmed_once(config, env, tmp_path):
    env("ok", sleep=1.0)
    config["device"]["mumax3"]["processes"] = 3
    rt = build_racetrack(config["device"]["geometry"])
    res = run_instances(config, rt, 7.5e5, [1, 2, 3, 4, 5, 6, 7], tmp_path / "work", progress=False)
    assert all(r.ok for r in res)
    got = calls(tmp_path)
    first = got[0]
    assert first["seed"] == "1" and first["at_once"] == 1 and first["wrote_kernel"]  # warm-up, alone
    assert not any(c["wrote_kernel"] for c in got[1:])  # the others read the warmed kernel
    assert 1 < max(c["at_once"] for c in got) <= 3
    cache_args = {c["args"][c["args"].index("-cache") + 1] for c in got}
    assert len(cache_args) == len(got) and str(tmp_path / "cache" / "mumax3_kernels") not in cache_args
    assert len(list((tmp_path / "cache" / "mumax3_kernels").glob("mumax3kernel_*.ovf"))) == 4
    # a second chunk on the same mesh starts with a warm cache: nobody computes the kernel again
    (tmp_path / "state" / "calls.jsonl").unlink()
    run_instances(config, rt, 7.0e5, [8, 9], tmp_path / "work2", progress=False)
    assert not any(c["wrote_kernel"] for c in calls(tmp_path))


def test_nonzero_exit_is_retried_then_reported(config, env, tmp_path):
    env("exit")
    rt = build_racetrack(config["device"]["geometry"])
    res = run_instances(config, rt, 7.5e5, [1, 2], tmp_path / "work", progress=False)
    assert not any(r.ok for r in res)
    assert len(calls(tmp_path)) == 4  # 2 instances x (1 + retries)
    assert "exited with code 3" in res[0].error and "attempt 0" in res[0].error and "attempt 1" in res[0].error
    assert "CUDA error" in res[0].error  # the log tail is in the message


def test_flaky_binary_succeeds_on_retry(config, env, tmp_path):
    env("flaky")
    config["device"]["mumax3"]["processes"] = 1
    rt = build_racetrack(config["device"]["geometry"])
    res = run_instances(config, rt, 7.5e5, [5, 6], tmp_path / "work", progress=False)
    assert all(r.ok for r in res) and len(calls(tmp_path)) == 3
    assert (tmp_path / "work" / "attempt1" / "i00000" / "racetrack.mx3").exists()
    assert not (tmp_path / "work" / "attempt1" / "i00001").exists()  # only the failed instance runs again


def test_timeout_kills_and_fails_clearly(config, env, tmp_path):
    env("hang")
    config["device"]["mumax3"].update(timeout_s=3, retries=0)
    rt = build_racetrack(config["device"]["geometry"])
    res = run_instances(config, rt, 7.5e5, [1], tmp_path / "work", progress=False)
    assert not res[0].ok and "timed out" in res[0].error


def test_one_hanging_instance_does_not_block_the_others(config, env, tmp_path):
    env("hang_seed", bad_seed=2)
    config["device"]["mumax3"].update(timeout_s=3, retries=1)
    rt = build_racetrack(config["device"]["geometry"])
    res = run_instances(config, rt, 7.5e5, [1, 2, 3], tmp_path / "work", progress=False)
    assert [r.ok for r in res] == [True, False, True]
    assert res[1].error.count("timed out") == 2


@pytest.mark.parametrize("mode, words", [("missing", "cannot read OVF"), ("truncate", "truncated data block")])
def test_missing_or_truncated_outputs_fail_clearly(config, env, tmp_path, mode, words):
    env(mode)
    rt = build_racetrack(config["device"]["geometry"])
    res = run_instances(config, rt, 7.5e5, [1, 2], tmp_path / "work", progress=False)
    assert not any(r.ok for r in res) and len(calls(tmp_path)) == 4
    assert words in res[0].error and "m_final.ovf" in res[0].error


def test_unrenderable_config_fails_before_any_folder_or_process(config, env, tmp_path):
    env("ok")
    config["device"]["solver"]["demag"] = "thin_film"
    rt = build_racetrack(config["device"]["geometry"])
    with pytest.raises(RenderError, match="device.solver.demag"):
        run_instances(config, rt, 7.5e5, [1], tmp_path / "work", progress=False)
    assert not (tmp_path / "work").exists() and not calls(tmp_path)


def test_binary_discovery_order(config, tmp_path, monkeypatch):
    stand_in = config["device"]["mumax3"]["binary"]
    assert str(find_binary(config)) == stand_in
    config["device"]["mumax3"]["binary"] = None
    monkeypatch.setenv("MUMAX3", stand_in)
    assert str(find_binary(config)) == stand_in
    monkeypatch.delenv("MUMAX3")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    assert str(find_binary(config)) == stand_in
    monkeypatch.chdir(tmp_path)  # a relative path comes back absolute
    config["device"]["mumax3"]["binary"] = "bin/mumax3"
    assert str(find_binary(config)) == stand_in


def test_missing_binary_says_how_to_fix(config, tmp_path, monkeypatch):
    config["device"]["mumax3"]["binary"] = str(tmp_path / "no-such-mumax3")
    monkeypatch.delenv("MUMAX3", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(Mumax3NotFound) as exc:
        find_binary(config)
    msg = str(exc.value)
    assert "no-such-mumax3" in msg and "MUMAX3" in msg and "device.mumax3.binary" in msg
    assert "engine: torch" in msg and "GPU" in msg
    config["device"]["mumax3"]["binary"] = None  # nothing configured, nothing on PATH
    with pytest.raises(Mumax3NotFound, match="no mumax3 binary.*engine: torch"):
        find_binary(config)
    config["device"]["mumax3"]["binary"] = str(tmp_path / "no-such-mumax3")
    rt = build_racetrack(config["device"]["geometry"])
    with pytest.raises(Mumax3NotFound):
        run_instances(config, rt, 7.5e5, [1], tmp_path / "work", progress=False)
    assert not (tmp_path / "work").exists()


def test_binary_that_cannot_start_fails_the_instances(config, env, tmp_path):
    bad = tmp_path / "bin" / "not-a-program"
    bad.write_bytes(b"\x7fELF garbage")
    bad.chmod(0o755)
    config["device"]["mumax3"].update(binary=str(bad), retries=0)
    rt = build_racetrack(config["device"]["geometry"])
    res = run_instances(config, rt, 7.5e5, [1, 2], tmp_path / "work", progress=False)
    assert not any(r.ok for r in res) and "cannot start" in res[0].error
