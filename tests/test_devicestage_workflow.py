"""Device-stage rules in the Snakemake workflow: job fan-out, skipping with device.stats_file,
and the early, clear failure of engine mumax3 without a binary."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dwsynapse.devicestats import read_device_stats
from tests.test_plots import write_synthetic_stats

REPO = Path(__file__).resolve().parents[1]


def write_config(tmp_path: Path, relative_results: bool = False, **device) -> Path:
    """config/tiny.yaml with ``device`` keys replaced; results under ``tmp_path/results``, or with
    ``relative_results`` the repository's relative results_dir (resolved in Snakemake's -d folder)."""
    cfg = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
    if not relative_results:
        cfg["results_dir"] = str(tmp_path / "results")
    cfg["device"].update(device)
    p = tmp_path / "config.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def snakemake(tmp_path: Path, config: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env["PATH"]
    env.pop("MUMAX3", None)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path / "wd"),
           "--configfile", str(config), "--cores", "1", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300, cwd=REPO)


def test_dry_run_fans_out_chunks_and_skips_with_stats_file(tmp_path):
    cfg = write_config(tmp_path)
    summary = str(tmp_path / "results" / "device" / "summary.csv")
    r = snakemake(tmp_path, cfg, summary, "-n", "--quiet", "rules")
    assert r.returncode == 0, r.stderr
    counts = {line.split()[0]: int(line.split()[1]) for line in r.stdout.splitlines()
              if len(line.split()) == 2 and line.split()[1].isdigit()}
    assert counts["device_chunk"] == 2 * 2 and counts["device_merge"] == 1 and counts["device_check"] == 1
    # an existing device-statistics file replaces the whole simulation
    stats = write_synthetic_stats(tmp_path / "given.h5")  # checked before any job: it must be a device file
    cfg = write_config(tmp_path, stats_file=str(stats))
    r = snakemake(tmp_path, cfg, summary, "-n", "--quiet", "rules")
    assert r.returncode == 0, r.stderr
    assert "device_chunk" not in r.stdout and "device_merge" not in r.stdout and "device_summary" in r.stdout


@pytest.mark.parametrize("problem", ["no binary", "thin_film demag"])
def test_mumax3_that_cannot_run_fails_first_and_clearly(tmp_path, problem):
    missing = str(tmp_path / "no-mumax3-here")
    cfg = write_config(tmp_path, engine="mumax3", mumax3={"binary": missing, "gpu": 0, "timeout_s": 60, "retries": 0})
    if problem == "thin_film demag":
        from tests.test_mumax3 import make_stand_in

        tiny = yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())
        cfg = write_config(tmp_path, engine="mumax3", solver=dict(tiny["device"]["solver"], demag="thin_film"),
                           mumax3={"binary": str(make_stand_in(tmp_path)), "gpu": 0, "timeout_s": 60, "retries": 0})
    summary = str(tmp_path / "results" / "device" / "summary.csv")
    r = snakemake(tmp_path, cfg, summary)
    assert r.returncode != 0
    log = (tmp_path / "results" / "logs" / "device" / "check.log").read_text()
    if problem == "no binary":
        assert missing in log and "not an executable" in log and "engine: torch" in log and "MUMAX3" in log
    else:
        assert "device.solver.demag = 'thin_film'" in log and "engine: torch" in log
    assert not (tmp_path / "results" / "device" / "chunks").exists()  # nothing simulated
    assert not (tmp_path / "results" / "device" / "work").exists()  # nothing rendered


@pytest.mark.slow
def test_mumax3_rules_end_to_end_with_stand_in(tmp_path):
    """The mumax3 path through the rules (check -> chunks -> merge -> summary) with the repository's
    relative results_dir of config/tiny.yaml, driven by the stand-in executable of
    tests/test_mumax3.py (it resolves relative paths as mumax3 does); checks the wiring, not physics."""
    from tests.test_mumax3 import make_stand_in

    binary = make_stand_in(tmp_path)
    cfg = write_config(tmp_path, relative_results=True, engine="mumax3",
                       mumax3={"binary": str(binary), "gpu": 0, "processes": 2, "timeout_s": 60, "retries": 0})
    results = tmp_path / "wd" / yaml.safe_load((REPO / "config" / "tiny.yaml").read_text())["results_dir"]
    assert not Path(yaml.safe_load(cfg.read_text())["results_dir"]).is_absolute()
    os.environ["FAKE_MUMAX_STATE"] = str(tmp_path / "state")
    try:
        r = snakemake(tmp_path, cfg, "--resources", "gpu=1", "--", str(Path(yaml.safe_load(cfg.read_text())[
            "results_dir"]) / "device" / "summary.csv"))
    finally:
        del os.environ["FAKE_MUMAX_STATE"]
    assert r.returncode == 0, r.stderr[-3000:]
    stats = read_device_stats(results / "device" / "device_stats.h5")
    assert stats.engine == "mumax3" and stats.engine_version.startswith("mumax 3.11.1 [stand-in")
    assert [g.n_ok for g in stats.groups] == [4, 4]
    assert len((tmp_path / "state" / "calls.jsonl").read_text().splitlines()) == 8  # one process per instance
    assert (results / "device" / "work" / "ku_7.000e+05" / "chunk_0" / "attempt0" / "i00000" / "mumax3.log").exists()
