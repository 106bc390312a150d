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

import pytest
import yaml

from dwsynapse.config import deep_update, validate_config
from dwsynapse.mnist import make_synthetic_mnist

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


def test_lint_is_clean(tmp_path):
    config = tiny_project(tmp_path)
    proc = run_snakemake(tmp_path, config, "--lint", timeout=120)
    text = proc.stdout + proc.stderr
    assert "Lints for" not in text, text[-4000:]


def test_dry_run_plans_every_rule(tmp_path):
    config = tiny_project(tmp_path)
    proc = run_snakemake(tmp_path, config, "-n", timeout=120)
    planned = job_counts(proc.stdout)
    assert planned, proc.stdout[-3000:]
    missing = list_rules(tmp_path, config) - set(planned)
    assert not missing, f"rules defined but not reached by the default target: {sorted(missing)}"


def test_profiles_dry_run(tmp_path):
    config = tiny_project(tmp_path)
    for profile in ("default",):
        proc = run_snakemake(
            tmp_path, config, "-n", "--profile", str(REPO / "workflow" / "profiles" / profile), "--cores", "2",
            timeout=120,
        )  # fmt: skip
        assert job_counts(proc.stdout), proc.stdout[-3000:]
