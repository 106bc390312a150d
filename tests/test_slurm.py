"""The cluster path: the tiny workflow through snakemake-executor-plugin-slurm on a localhost SLURM.

Skipped unless a localhost SLURM started by scripts/slurm/start.sh is up and named by
$DWS_SLURM_DIR (``make test-slurm`` installs, starts, runs these tests and stops it).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .test_workflow import REPO, job_counts, run_snakemake, snakemake_cmd, subprocess_env, tiny_project

pytestmark = pytest.mark.slurm

PROFILE = REPO / "workflow" / "profiles" / "slurm"


def _slurm_dir() -> Path | None:
    d = os.environ.get("DWS_SLURM_DIR")
    if not d or not (Path(d) / "slurm.conf").exists():
        return None
    try:
        state = subprocess.run(
            ["sinfo", "-h", "-o", "%T"], env=subprocess_env(), capture_output=True, text=True, timeout=20
        ).stdout.split()
    except (OSError, subprocess.TimeoutExpired):
        return None
    return Path(d) if state and all(s in ("idle", "mixed", "allocated") for s in state) else None


@pytest.fixture(scope="module")
def slurm_dir() -> Path:
    d = _slurm_dir()
    if d is None:
        pytest.skip("no localhost SLURM up ($DWS_SLURM_DIR unset or sinfo silent): run `make test-slurm`")
    return d


def localhost_args() -> list[str]:
    """Command-line additions to the slurm profile for the localhost cluster (no slurmdbd)."""
    return [
        "--slurm-status-command", "squeue",  # no accounting database: sacct cannot answer
        "--slurm-init-seconds-before-status-checks", "5",  # MinJobAge=300 >= 3 x 5
        "--seconds-between-status-checks", "3",
        "--slurm-no-account",
        "--slurm-keep-successful-logs",
        "--latency-wait", "10",
        "--max-threads", str(os.cpu_count() or 1),  # the single node has this many CPUs
        "--jobs", "8",
    ]  # fmt: skip


def test_tiny_workflow_end_to_end_through_slurm(tmp_path, slurm_dir):
    config = tiny_project(tmp_path)
    planned = job_counts(run_snakemake(tmp_path, config, "-n", timeout=120).stdout)
    proc = run_snakemake(
        tmp_path, config, "--profile", str(PROFILE), *localhost_args(), timeout=1200, check=False
    )
    log = proc.stdout + proc.stderr
    (slurm_dir / "last_workflow_run.log").write_text(log)
    assert proc.returncode == 0, log[-8000:]
    single = re.findall(r"submitted with SLURM jobid (\S+)", log)
    arrays = re.findall(r"Submitted array job with Snakemake IDs ([\d,]+) and SLURM job ID (\d+)", log)
    n_submitted = len(single) + sum(len(ids.split(",")) for ids, _ in arrays)
    n_jobs = sum(n for rule, n in planned.items() if rule != "all")
    assert n_submitted >= n_jobs, f"expected {n_jobs} SLURM jobs, found {n_submitted}:\n{log[-4000:]}"
    # The chunk fan-out went out as array job(s) (slurm-array-jobs in the profile).
    assert arrays, "no array job submitted:\n" + log[-4000:]
    assert sum(len(ids.split(",")) for ids, _ in arrays) >= planned["device_chunk"]
    assert re.search(r"\b(\d+) of \1 steps \(100%\) done", log), log[-4000:]
    # A second run finds nothing to do: everything the cluster made is known to Snakemake.
    again = run_snakemake(tmp_path, config, "-n", timeout=120)
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout[-3000:]


def _running_job(comment: str, proc: subprocess.Popen, timeout: float) -> str:
    """SLURM id of the first RUNNING job whose comment is ``comment`` (the plugin's ``rule_<name>``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        out = subprocess.run(
            ["squeue", "-h", "-o", "%i %T %k"], env=subprocess_env(), capture_output=True, text=True, timeout=30
        ).stdout
        for line in out.splitlines():
            fields = line.split()
            if len(fields) == 3 and fields[1] == "RUNNING" and fields[2] == comment:
                return fields[0]
        time.sleep(0.5)
    pytest.fail(f"no running SLURM job with comment {comment} (snakemake exit code {proc.poll()})")


def test_killed_job_is_resubmitted(tmp_path, slurm_dir):
    """A job killed on the cluster (scancel: a crash, a lost node) is retried and the run completes."""
    config = tiny_project(tmp_path)
    target = "results/train/baseline/metrics.json"
    cmd = snakemake_cmd(tmp_path, config, "--profile", str(PROFILE), *localhost_args(), target)
    log_path = tmp_path / "run.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=tmp_path, env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        jobid = _running_job("rule_train_baseline", proc, timeout=300)
        subprocess.run(["scancel", "--full", jobid], env=subprocess_env(), check=True, timeout=30)
        rc = proc.wait(timeout=900)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    text = log_path.read_text()
    (slurm_dir / "last_retry_run.log").write_text(text)
    assert rc == 0, text[-6000:]
    assert f"SLURM-job '{jobid}' failed" in text, text[-6000:]
    assert "Trying to restart job" in text, text[-6000:]
    assert (tmp_path / target).exists()
