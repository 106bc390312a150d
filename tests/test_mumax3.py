"""mumax3 engine: binary discovery and the runner, driven by a stand-in executable.

The stand-in (a small Python script written here) speaks mumax3's command line and writes
outputs in mumax3's formats, or fails in chosen ways. It only exercises the runner: no result
of the pipeline ever comes from it.
"""

import os
import stat
import sys
import time

import numpy as np
import pytest

from dwsynapse.engines import mumax3
from dwsynapse.engines.mumax3 import Mumax3NotFound, find_binary, run_instances
from dwsynapse.geometry import build_racetrack

STAND_IN = r'''#!{python}
"""Stand-in for mumax3 used by tests/test_mumax3.py (behaviour from $FAKE_MUMAX_MODE)."""
import os, re, sys, time
from pathlib import Path
import numpy as np
from dwsynapse.ovf import read_ovf, write_ovf

args = sys.argv[1:]
assert args[args.index("-http") + 1] == "" and "-gpu" in args and "-cache" in args and "-f" in args
out = Path(args[args.index("-o") + 1])
script = Path(args[-1]).read_text()
mode = os.environ.get("FAKE_MUMAX_MODE", "ok")
state = Path(os.environ["FAKE_MUMAX_STATE"])
calls = int(state.read_text()) if state.exists() else 0
state.write_text(str(calls + 1))
with open(state.parent / "argv.txt", "a") as fh:
    fh.write(" ".join(repr(a) for a in args) + "\n")
print("//mumax 3.11 stand-in (test)", flush=True)
if mode == "exit" or (mode == "flaky" and calls == 0):
    print("panic: CUDA error (stand-in)", file=sys.stderr)
    sys.exit(3)
if mode == "hang":
    time.sleep(60)
out.mkdir(parents=True, exist_ok=True)
geom = read_ovf("geometry.ovf")
mask = geom.data[0, 0] > 0.5
cell = geom.step[0]
blocks = re.findall(r"instance = (\d+)\n.*?ThermSeed\((\d+)\).*?SaveAs\(m, \"(\w+)\"\)", script, re.S)
table = open(out / "table.txt", "w")
table.write("# t (s)\tmx ()\tmy ()\tmz ()\tinstance ()\tt_inst (s)\n")
t = 0.0
for k, (idx, seed, name) in enumerate(blocks):
    if k == 1 and mode == "crash_after_first":
        table.write("1e-9\t0.1")  # half a row
        table.close()
        sys.exit(1)
    if k == 1 and mode == "hang_after_first":
        time.sleep(60)
    if mode == "hang_on_bad_seed" and seed == os.environ["FAKE_MUMAX_BAD_SEED"]:
        table.flush()
        time.sleep(60)
    ix_wall = 20 + int(seed) % 40  # wall between columns ix_wall-1 and ix_wall
    mz = np.where(np.arange(mask.shape[1]) < ix_wall, 1.0, -1.0)[None, :] * mask
    m = np.stack([np.zeros_like(mz), np.zeros_like(mz), mz])[:, None]
    for j in range(3):
        table.write(f"{{t!r}}\t0\t0\t{{-0.8 + 0.1 * j!r}}\t{{idx}}\t{{j * 1e-10!r}}\n")
        t += 1e-10
    if mode == "missing":
        continue
    write_ovf(out / (name + ".ovf"), m, geom.step, title="m", time=t)
    if mode == "truncate":
        p = out / (name + ".ovf")
        p.write_bytes(p.read_bytes()[:-100])
table.close()
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
    cfg["device"]["mumax3"].update(binary=str(make_stand_in(tmp_path)), timeout_s=2, retries=1)
    return cfg


def make_stand_in(tmp_path):
    path = tmp_path / "bin" / "mumax3"
    path.parent.mkdir(exist_ok=True)
    path.write_text(STAND_IN.format(python=sys.executable))
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("FAKE_MUMAX_STATE", str(tmp_path / "calls"))
    monkeypatch.setenv("DWSYNAPSE_CACHE", str(tmp_path / "cache"))

    def set_mode(mode):
        monkeypatch.setenv("FAKE_MUMAX_MODE", mode)

    return set_mode


def calls(tmp_path):
    return int((tmp_path / "calls").read_text())


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
    assert calls(tmp_path) == 1
    argv = (tmp_path / "argv.txt").read_text()
    assert "'-gpu' '0'" in argv and "'-http' ''" in argv and "'-cache'" in argv and "'-f'" in argv
    assert mumax3.engine_version(tmp_path / "work").startswith("mumax 3.11")
    assert (tmp_path / "work" / "attempt0" / "mumax3.log").exists()


def test_nonzero_exit_is_retried_then_reported(config, env, tmp_path):
    env("exit")
    rt = build_racetrack(config["device"]["geometry"])
    res = run_instances(config, rt, 7.5e5, [1, 2], tmp_path / "work", progress=False)
    assert not any(r.ok for r in res)
    assert calls(tmp_path) == 2  # 1 + retries
    assert "exited with code 3" in res[0].error and "attempt 0" in res[0].error and "attempt 1" in res[0].error
    assert "CUDA error" in res[0].error  # the log tail is in the message


def test_flaky_binary_succeeds_on_retry(config, env, tmp_path):
    env("flaky")
    rt = build_racetrack(config["device"]["geometry"])
    res = run_instances(config, rt, 7.5e5, [5, 6], tmp_path / "work", progress=False)
    assert all(r.ok for r in res) and calls(tmp_path) == 2


def test_crash_keeps_finished_instances_and_reruns_only_the_rest(config, env, tmp_path):
    env("crash_after_first")
    config["device"]["mumax3"]["retries"] = 2
    rt = build_racetrack(config["device"]["geometry"])
    res = run_instances(config, rt, 7.5e5, [21, 22, 23], tmp_path / "work", progress=False)
    # each attempt finishes exactly one instance before crashing
    assert [r.ok for r in res] == [True, True, True] and calls(tmp_path) == 3
    second = (tmp_path / "work" / "attempt1" / "racetrack.mx3").read_text()
    assert "ThermSeed(21)" not in second and "ThermSeed(22)" in second
    assert res[2].dw_x == pytest.approx(expected_x(23, rt.cell_size))


def test_timeout_kills_and_fails_clearly(config, env, tmp_path):
    env("hang")
    config["device"]["mumax3"].update(timeout_s=0.5, retries=0)
    rt = build_racetrack(config["device"]["geometry"])
    t0 = time.monotonic()
    res = run_instances(config, rt, 7.5e5, [1], tmp_path / "work", progress=False)
    assert time.monotonic() - t0 < 20
    assert not res[0].ok and "timed out" in res[0].error


def test_timeout_is_per_instance(config, env, tmp_path):
    env("hang_after_first")
    config["device"]["mumax3"].update(timeout_s=1.0, retries=0)
    rt = build_racetrack(config["device"]["geometry"])
    res = run_instances(config, rt, 7.5e5, [1, 2], tmp_path / "work", progress=False)
    assert res[0].ok and not res[1].ok and "timed out" in res[1].error


def test_one_hanging_instance_does_not_block_the_others(config, env, tmp_path, monkeypatch):
    env("hang_on_bad_seed")
    monkeypatch.setenv("FAKE_MUMAX_BAD_SEED", "2")
    config["device"]["mumax3"].update(timeout_s=1.0, retries=1)
    rt = build_racetrack(config["device"]["geometry"])
    res = run_instances(config, rt, 7.5e5, [1, 2, 3], tmp_path / "work", progress=False)
    assert [r.ok for r in res] == [True, False, True]
    assert res[1].error.count("timed out") == 2
    second = (tmp_path / "work" / "attempt1" / "racetrack.mx3").read_text()
    assert second.index("ThermSeed(3)") < second.index("ThermSeed(2)")


@pytest.mark.parametrize("mode, words", [("missing", "cannot read OVF"), ("truncate", "truncated data block")])
def test_missing_or_truncated_outputs_fail_clearly(config, env, tmp_path, mode, words):
    env(mode)
    rt = build_racetrack(config["device"]["geometry"])
    res = run_instances(config, rt, 7.5e5, [1, 2], tmp_path / "work", progress=False)
    assert not any(r.ok for r in res) and calls(tmp_path) == 2
    assert words in res[0].error and "m_final_i00000.ovf" in res[0].error


def test_binary_discovery_order(config, tmp_path, monkeypatch):
    stand_in = config["device"]["mumax3"]["binary"]
    assert find_binary(config) == os.path.realpath(stand_in) or str(find_binary(config)) == stand_in
    config["device"]["mumax3"]["binary"] = None
    monkeypatch.setenv("MUMAX3", stand_in)
    assert str(find_binary(config)) == stand_in
    monkeypatch.delenv("MUMAX3")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
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
