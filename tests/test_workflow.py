"""End-to-end checks of the Snakemake workflow on the tiny config (config/tiny.yaml).

Every run happens in its own temporary working directory (``snakemake -d``) on a synthetic MNIST
set, so tests never touch results/ or .snakemake/ of the checkout. The helpers here are also used
by tests/test_slurm.py.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from dwsynapse.config import deep_update, load_config, validate_config
from dwsynapse.mnist import make_synthetic_mnist
from dwsynapse.layout import SUPPLEMENTARY

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "config" / "tiny.yaml"
SNAKEFILE = REPO / "Snakefile"


def tiny_project(root: Path, overrides: dict | None = None, n_train: int = 300, n_test: int = 100) -> Path:
    """Write a synthetic MNIST set and the tiny config (plus ``overrides``) under ``root``.

    The config points at the synthetic set (with its checksums) and keeps results under
    ``root/results``. Returns the path of the written config file.
    """
    root.mkdir(parents=True, exist_ok=True)
    mnist_dir = root / "mnist-src"
    if not (mnist_dir / "t10k-labels-idx1-ubyte").exists():
        sha = make_synthetic_mnist(mnist_dir, n_train, n_test, seed=5)
    else:
        from dwsynapse.mnist import FILES, sha256_file

        sha = {n: sha256_file(mnist_dir / n) for n in FILES}
    with open(TINY) as fh:
        cfg = yaml.safe_load(fh)
    cfg["results_dir"] = "results"
    cfg["mnist"].update(local_dir=str(mnist_dir), npm_package=None, urls=[], sha256=sha)
    if overrides:
        cfg = deep_update(cfg, overrides)
    validate_config(cfg)
    path = root / "config.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def subprocess_env() -> dict:
    """Environment for workflow subprocesses: one thread per job (2 shared cores)."""
    env = dict(os.environ)
    env.update(NUMBA_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


def snakemake_cmd(workdir: Path, config: Path, *args: str) -> list[str]:
    """The command line of a Snakemake run of this workflow in ``workdir`` with ``config``."""
    return [
        sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "-d", str(workdir),
        "--configfile", str(config), *args,
    ]  # fmt: skip


def run_snakemake(workdir: Path, config: Path, *args: str, timeout: float = 300, check: bool = True):
    """Run Snakemake; on failure (``check``) fail the test with the end of its output."""
    proc = subprocess.run(
        snakemake_cmd(workdir, config, *args),
        cwd=workdir,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        pytest.fail(f"snakemake {' '.join(args)} exited {proc.returncode}:\n{(proc.stdout + proc.stderr)[-6000:]}")
    return proc


def job_counts(output: str) -> dict[str, int]:
    """Parse the 'Job stats' table Snakemake prints into {rule: number of jobs} (without 'total')."""
    counts: dict[str, int] = {}
    lines = output.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Job stats:")
    except StopIteration:
        return counts
    for line in lines[start + 1 :]:
        m = re.fullmatch(r"\s*(\S+)\s+(\d+)\s*", line)
        if m is None:
            if counts:
                break
            continue
        if m.group(1) == "total":
            break
        counts[m.group(1)] = int(m.group(2))
    return counts


def list_rules(workdir: Path, config: Path) -> set[str]:
    """Names of every rule the workflow defines."""
    out = run_snakemake(workdir, config, "--list-rules", timeout=120).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip() and not line.startswith(" ")}


def _key_paths(node, prefix=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{prefix}{key}"
            yield from _key_paths(value, f"{prefix}{key}.")


# ---------------------------------------------------------------------------------------------


def test_tiny_config_is_complete_and_valid():
    with open(TINY) as fh:
        tiny = yaml.safe_load(fh)
    with open(REPO / "config.yaml") as fh:
        default = yaml.safe_load(fh)
    validate_config(tiny)
    missing = sorted(set(_key_paths(default)) - set(_key_paths(tiny)))
    assert not missing, f"config/tiny.yaml lacks keys that config.yaml has: {missing}"
    assert tiny["device"]["instances_per_ku"] > tiny["device"]["chunk_size"], "tiny config must fan out to >1 chunk"


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> tuple[Path, Path, set[str]]:
    """(working directory, config, names of every rule) of one tiny project shared by the cheap tests."""
    root = tmp_path_factory.mktemp("tiny")
    config = tiny_project(root)
    return root, config, list_rules(root, config)


def test_lint_is_clean(tiny):
    root, config, _ = tiny
    proc = run_snakemake(root, config, "--lint", timeout=120)
    text = proc.stdout + proc.stderr
    assert "Lints for" not in text, text[-4000:]


# `make supplementary` (Fig. S1): rules outside the default target
SUPPLEMENTARY_RULES = {"supplementary", "train_selection", *(f"plot_{n}" for n in SUPPLEMENTARY)}
# `make study-learning` / `make device-sensitivity` (dwsynapse.nn.study): also outside the default target
STUDY_RULES = {"study_learning", "device_sensitivity", "study_point", "study_table"}


def test_profiles_plan_every_rule(tiny, tmp_path):
    """Both profiles load and plan the workflow (the slurm one needs no SLURM for a dry run); the
    default target reaches every rule; the rules the slurm profile names exist. The in-situ grid is
    cut to alpha 0.15 so that ex-situ (c) at 0.25 has no in-situ run to reuse and trains itself."""
    _, _, rules = tiny
    root = tmp_path
    config = tiny_project(root, {"train": {"insitu": {"alphas": [0.15]}}})
    for profile in ("default", "slurm"):
        proc = run_snakemake(
            root, config, "-n", "--profile", str(REPO / "workflow" / "profiles" / profile), "--cores", "2",
            timeout=120,
        )  # fmt: skip
        planned = job_counts(proc.stdout)
        missing = rules - SUPPLEMENTARY_RULES - STUDY_RULES - set(planned)
        assert not missing, f"{profile}: rules defined but not reached by the default target: {sorted(missing)}"
        assert not (SUPPLEMENTARY_RULES | STUDY_RULES) & set(planned), "supplementary figures and studies are not part of the default run"
    proc = run_snakemake(root, config, "-n", "--cores", "2", "supplementary", timeout=120)
    assert SUPPLEMENTARY_RULES <= set(job_counts(proc.stdout)), proc.stdout[-3000:]
    proc = run_snakemake(root, config, "-n", "--cores", "2", "study_learning", "device_sensitivity", timeout=120)
    assert STUDY_RULES <= set(job_counts(proc.stdout)), proc.stdout[-3000:]
    with open(REPO / "workflow" / "profiles" / "slurm" / "config.yaml") as fh:
        slurm = yaml.safe_load(fh)
    named = {r.strip() for r in slurm["slurm-array-jobs"].split(",")} | set(slurm.get("set-resources") or {})
    assert named <= rules, named


@pytest.mark.slow
def test_device_stage_runs_before_the_jobs_that_do_not_need_it(tmp_path):
    """On one core the whole tiny workflow runs the chunks and the merge (rule priority) before the trainings
    that do not need the device (float baseline, quantized ex-situ): the device stage starts the run's longest
    path (device -> in-situ training)."""
    config = tiny_project(tmp_path, {"device": {"instances_per_ku": 2}})
    proc = run_snakemake(tmp_path, config, "--cores", "1", timeout=900)
    order = re.findall(r"^(?:local)?rule (\w+):", proc.stdout + proc.stderr, flags=re.M)
    assert order.count("device_chunk") == 2, order
    merged = order.index("device_merge")
    assert merged < min(order.index("train_baseline"), order.index("train_exsitu_quantized")), order


# ---- faults and layouts: the device stage --------------------------------------------------------

STATS = "results/device/device_stats.h5"
CHUNK_GLOB = "results/device/chunks/*/chunk_*.h5"
# Device stage of the tiny config made cheaper still: 2 Ku x 2 instances.
FAST_DEVICE = {"device": {"instances_per_ku": 2}}


def planned_jobs(output: str) -> list[tuple[str, list[str], str]]:
    """(rule, output files, reason) of every job in a dry-run printout."""
    jobs = []
    rule = outputs = None
    for line in output.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):\s*$", line)
        if m:
            rule, outputs = m.group(1), []
            continue
        if rule is None:
            continue
        s = line.strip()
        if s.startswith("output:"):
            outputs = [o.strip() for o in s[len("output:") :].split(",") if o.strip()]
        elif s.startswith("reason:"):
            jobs.append((rule, outputs, s[len("reason:") :].strip()))
            rule = None
    return jobs


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_ino, st.st_mtime_ns


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory):
    """Device stage in chunks of one instance (4 chunk jobs), killed with SIGKILL to the whole
    process group right after the first chunk job finished, then resumed with the workstation
    profile. Returns what happened, for the tests below."""
    import signal
    import time

    root = tmp_path_factory.mktemp("resume")
    config = tiny_project(root, deep_update(FAST_DEVICE, {"device": {"chunk_size": 1}}))
    profile = ["--profile", str(REPO / "workflow" / "profiles" / "default"), "--cores", "1"]
    n_chunks = 4  # 2 Ku x 2 instances, one per chunk

    first_log = root / "first.log"
    with open(first_log, "w") as log:
        proc = subprocess.Popen(snakemake_cmd(root, config, *profile, STATS), cwd=root, env=subprocess_env(),
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    finished = re.compile(r"Finished jobid: \d+ \(Rule: device_chunk\)")
    try:
        deadline = time.monotonic() + 300
        while not finished.search(first_log.read_text()):
            assert proc.poll() is None, "run ended before it could be killed:\n" + first_log.read_text()[-4000:]
            assert time.monotonic() < deadline, "no chunk finished after 300 s:\n" + first_log.read_text()[-4000:]
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    n_finished = len(finished.findall(first_log.read_text()))
    before = {p.relative_to(root).as_posix(): _stat(p) for p in root.glob(CHUNK_GLOB)}
    from dwsynapse.device.chunkfile import read_chunk

    for p in root.glob(CHUNK_GLOB):
        read_chunk(p)  # atomic writes: whatever exists after a kill is a complete chunk file
    # A hard kill leaves Snakemake's directory lock behind; releasing it is the one manual step.
    run_snakemake(root, config, "--unlock", timeout=120)
    resumed = run_snakemake(root, config, *profile, STATS, timeout=600)
    plan = planned_jobs(resumed.stdout + resumed.stderr)  # the jobs the re-run did, with Snakemake's reasons
    after = {p.relative_to(root).as_posix(): _stat(p) for p in root.glob(CHUNK_GLOB)}
    return dict(root=root, config=config, n_chunks=n_chunks, n_finished=n_finished, before=before, plan=plan,
                after=after, resumed=resumed.stdout + resumed.stderr)


def test_kill_and_resume_redoes_only_unfinished_jobs(killed_and_resumed):
    r = killed_and_resumed
    replanned = {o: reason for rule, outs, reason in r["plan"] if rule == "device_chunk" for o in outs}
    # A chunk file may exist although its job was cut short after the atomic rename: Snakemake
    # still has it marked incomplete and redoes it (--rerun-incomplete: "Forced execution").
    # With --cores 1 at most one job was running.
    redone_existing = [p for p in r["before"] if p in replanned]
    assert len(redone_existing) <= 1, redone_existing
    for path in redone_existing:
        assert re.search(r"Forced execution|ncomplete", replanned[path]), (path, replanned[path])
    kept = [p for p in r["before"] if p not in replanned]
    assert len(kept) >= r["n_finished"] >= 1, (kept, r["n_finished"])
    assert len(replanned) == r["n_chunks"] - len(kept), (replanned, kept)
    assert 0 < len(replanned) < r["n_chunks"]
    assert sum(rule == "device_chunk" for rule, _, _ in r["plan"]) == len(replanned)
    assert not any(rule == "device_check" for rule, _, _ in r["plan"]), "a finished job was run again"
    # Kept chunk files were not rewritten (same inode and mtime: a redo would replace the file).
    for path in kept:
        assert r["after"][path] == r["before"][path], f"{path} was recomputed"
    assert len(r["after"]) == r["n_chunks"]
    assert (r["root"] / STATS).exists()
    assert "Nothing to be done" in run_snakemake(r["root"], r["config"], "-n", STATS, timeout=120).stdout


def test_statistics_do_not_depend_on_the_chunk_layout(killed_and_resumed, tmp_path):
    """The workflow's chunks of one instance (killed and resumed) and one chunk of two instances
    per Ku (in-process, the instances batched together) give the same statistics."""
    import torch

    from dwsynapse.device.chunks import plan_chunks
    from dwsynapse.device.engine import run_chunk
    from dwsynapse.device.merge import merge_chunks
    from dwsynapse.devicestats import read_device_stats

    torch.set_num_threads(1)
    cfg = load_config(killed_and_resumed["config"])
    cfg["device"]["chunk_size"] = 2
    paths = []
    for ch in plan_chunks(cfg):
        assert len(ch.indices) == 2
        paths.append(run_chunk(cfg, ch.group, ch.chunk_index, tmp_path / f"{ch.group}_{ch.chunk_index}.h5",
                               tmp_path / "work", progress=False))
    merge_chunks(cfg, paths, tmp_path / "stats.h5")
    a = {g.name: g for g in read_device_stats(killed_and_resumed["root"] / STATS).groups}
    b = {g.name: g for g in read_device_stats(tmp_path / "stats.h5").groups}
    assert a.keys() == b.keys() and len(a) == 2
    for name in a:
        ga, gb = a[name], b[name]
        np.testing.assert_array_equal(ga.seed, gb.seed)
        np.testing.assert_array_equal(ga.failed_seed, gb.failed_seed)
        assert ga.n_requested == gb.n_requested == 2
        np.testing.assert_allclose(ga.mz, gb.mz, rtol=0, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(ga.dw_x, gb.dw_x, rtol=0, atol=1e-12, err_msg=name)


@pytest.mark.slow
def test_killed_training_resumes_from_its_last_epoch(tmp_path):
    """Interrupt the workflow (Ctrl-C: SIGINT to its process group) while the baseline trains, after
    its first epoch checkpoint; re-run: the job continues from the checkpoint and finishes every epoch."""
    import signal
    import time

    config = tiny_project(tmp_path, {"train": {"epochs": 3, "hidden": [392, 196, 98]}, "mnist": {"n_train": 800}},
                          n_train=800, n_test=100)
    target = "results/train/baseline/metrics.json"
    ckpt = tmp_path / "results" / "train" / "baseline" / "checkpoint.npz"
    profile = ["--profile", str(REPO / "workflow" / "profiles" / "default"), "--cores", "1"]
    with open(tmp_path / "first.log", "w") as log:
        proc = subprocess.Popen(snakemake_cmd(tmp_path, config, *profile, target), cwd=tmp_path,
                                env=subprocess_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not ckpt.exists():
            assert proc.poll() is None, "run ended before a checkpoint appeared:\n" + (tmp_path / "first.log").read_text()[-4000:]
            assert time.monotonic() < deadline, "no checkpoint after 240 s"
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (tmp_path / target).exists(), "training finished before the interrupt; make the epochs longer"
    run_snakemake(tmp_path, config, *profile, target, timeout=600)
    train_log = (tmp_path / "results" / "logs" / "train_baseline.log").read_text()
    m = re.search(r"resuming from \S+ after epoch (\d+)", train_log)
    assert m and int(m.group(1)) >= 1, train_log[-3000:]
    import json

    metrics = json.loads((tmp_path / target).read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2, 3]
    assert not ckpt.exists(), "a finished run leaves no checkpoint behind"
