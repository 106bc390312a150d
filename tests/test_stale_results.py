"""No stale results: each rule declares the hash of the config keys it reads, so changing a value re-runs
exactly the jobs that depend on it; a job killed with SIGKILL is redone alone on the next run; the
Snakefile refuses an inconsistent set-up before any job starts.
"""

from __future__ import annotations

import copy
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from dwsynapse.config import RULE_CONFIG, config_digest, load_config
from dwsynapse.device.chunks import device_config_sha256
from dwsynapse.layout import GENERATED_PLOT_RULES

from .test_workflow import (
    FAST_DEVICE,
    REPO,
    TINY,
    _stat,
    planned_jobs,
    run_snakemake,
    snakemake_cmd,
    subprocess_env,
    tiny_project,
)

DEVICE = {"device_chunk", "device_merge", "device_initial_state"}
REPORT = {"energy_tables", "reproduction_table", "report_summary"}
DEVICE_FIGURES = {"plot_fig1_device", "plot_fig7_cdf"}
DEVICE_MAPS = {"plot_fig1a_racetrack", "plot_figS2_final_maps"}  # generated rules reading the device stage's files
ENERGY_FIGURE = {"plot_figS5_energy"}  # reads the energy table
TRAINING_FIGURES = {"plot_fig3_insitu", "plot_fig4_writes", "plot_fig5_weights", "plot_fig6_exsitu",
                    "plot_figS3_offline", "plot_figS4_alpha"}
EXSITU_FIGURES = {"plot_fig6_exsitu", "plot_figS3_offline", "plot_figS4_alpha"}
TRAINING = {"train_baseline", "train_insitu", "train_exsitu_quantized", "program_exsitu"}

# (dotted key, new value, rule families whose declared config changes, every job planned by a dry run of the
# finished tiny run). The second set follows from the first by the workflow's inputs: what reads an
# output that will be remade is remade too.
CHANGES = [
    ("mnist.urls", ["https://example.invalid/mnist"], {"fetch_mnist"},
     {"fetch_mnist"} | TRAINING | TRAINING_FIGURES | REPORT | ENERGY_FIGURE),
    ("mnist.n_test", 90, {"train_baseline", "train_insitu", "train_exsitu", "program_exsitu", "reproduction_table",
                          "train_selection", "report_summary", "study_point"},
     TRAINING | TRAINING_FIGURES | REPORT | ENERGY_FIGURE),
    ("train.eta0", 0.01, {"train_baseline", "train_insitu", "train_exsitu", "program_exsitu", "train_selection",
                          "study_point", "study_table", "plot_figS1_selection"},
     TRAINING | TRAINING_FIGURES | REPORT | ENERGY_FIGURE),
    ("train.exsitu.programming_trials", 3, {"program_exsitu", "study_point"},
     {"program_exsitu"} | EXSITU_FIGURES | REPORT | ENERGY_FIGURE),
    ("train.trace_synapse.images", 40, {"train_insitu"},
     {"train_insitu", "program_exsitu"} | TRAINING_FIGURES | REPORT | ENERGY_FIGURE),
    ("energy.hm_resistivity", 2.0e-7, {"energy_tables", "reproduction_table"}, REPORT | ENERGY_FIGURE),
    ("device.material.alpha", 0.25, {"device", "report_summary"},
     DEVICE | {"device_summary", "train_insitu", "program_exsitu"} | DEVICE_FIGURES | DEVICE_MAPS | TRAINING_FIGURES
     | REPORT | ENERGY_FIGURE),
    ("device.chunk_retries", 3, set(), set()),  # how failures are retried changes no result
]


def _set(cfg: dict, dotted: str, value) -> dict:
    cfg = copy.deepcopy(cfg)
    *parents, last = dotted.split(".")
    node = cfg
    for p in parents:
        node = node[p]
    node[last] = value
    return cfg


def _digests(cfg: dict) -> dict[str, str]:
    return {"device": device_config_sha256(cfg), **{name: config_digest(cfg, keys) for name, keys in RULE_CONFIG.items()}}


@pytest.mark.parametrize("key,value,direct,_", CHANGES, ids=[c[0] for c in CHANGES])
def test_a_value_changes_the_hash_of_exactly_the_rules_reading_it(key, value, direct, _):
    cfg = load_config(TINY)  # as the Snakefile sees it (schema defaults filled in)
    before, after = _digests(cfg), _digests(_set(cfg, key, value))
    assert {name for name in before if before[name] != after[name]} == direct


def test_every_rule_declares_its_config():
    """Each rule that runs a script declares a config hash (device_summary only reads its input; rules
    without a script only gather targets); the generated plot rules declare theirs in the loop."""
    text = "".join((REPO / "workflow" / "rules" / f).read_text() for f in ("data.smk", "train.smk", "report.smk", "study.smk"))
    rules = [name for name, body in re.findall(r"^rule (\w+):((?:(?!^rule ).)*)", text, re.M | re.S)
             if "script:" in body]
    declared = re.findall(r'^rule (\w+):(?:(?!^rule ).)*?config=config_digest\(config, RULE_CONFIG\["(\w+)"\]\)',
                          text, re.M | re.S)
    assert {r for r, _ in declared} == set(rules)
    generated = re.findall(r'^    rule:(?:(?!^rule ).)*?config=config_digest\(config, RULE_CONFIG\[(f?"[\w{}]+")\]\)',
                           text, re.M | re.S)
    assert generated == ['f"plot_{_fig}"']  # one RULE_CONFIG entry per generated figure rule
    assert {k for _, k in declared} | {f"plot_{fig}" for fig in GENERATED_PLOT_RULES} == set(RULE_CONFIG)
    assert not {f"plot_{fig}" for fig in GENERATED_PLOT_RULES} & {r for r, _ in declared}  # none also by hand


def test_snakefile_refuses_an_inconsistent_setup_before_any_job(tmp_path):
    config = tiny_project(tmp_path, {"train": {"insitu": {"states": [3]}}})
    proc = run_snakemake(tmp_path, config, "-n", timeout=120, check=False)
    text = proc.stdout + proc.stderr
    assert proc.returncode == 2 and "Traceback" not in text and 'File "' not in text, text[-3000:]
    assert text.rstrip().splitlines()[-1].startswith("dwsynapse: inconsistent configuration: config key "
                                                     "'device.ku_values': 3-state devices need Ku 750000 J/m^3")
    assert not (tmp_path / "results").exists()


# ---- a finished tiny run, reached through three SIGKILLs --------------------------------------------

KILLS = {  # job kind -> the rules whose first job is killed
    "device_merge": ("device_merge",),
    "train_*": ("train_baseline", "train_insitu", "train_exsitu_quantized", "train_exsitu_stochastic"),
    "program_exsitu": ("program_exsitu",),
}


def _outputs(root: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(root).as_posix(): _stat(p) for p in (root / "results").rglob("*")
            if p.is_file() and "/logs/" not in f"/{p.relative_to(root).as_posix()}"}


def _incomplete(root: Path, paths) -> list[str]:
    """Outputs among ``paths`` that do not parse (atomic writes: a kill leaves none)."""
    import json

    import h5py
    import numpy as np

    bad = []
    for path in paths:
        p = root / path
        try:
            if p.suffix == ".json":
                json.loads(p.read_text())
            elif p.suffix == ".h5":
                h5py.File(p, "r").close()
            elif p.suffix == ".npz":
                np.load(p).close()
        except (ValueError, OSError):
            bad.append(path)
    return bad


def _run_until_killed(root: Path, config: Path, profile: list[str], rules: tuple[str, ...], log: Path) -> str:
    """Run the workflow; SIGKILL its whole process group once a job of ``rules`` has started (its log
    file exists). Returns the rule of the killed job."""
    with open(log, "w") as fh:
        proc = subprocess.Popen(snakemake_cmd(root, config, *profile), cwd=root, env=subprocess_env(), stdout=fh,
                                stderr=subprocess.STDOUT, start_new_session=True)
    block = re.compile(r"^(?:local)?rule (\w+):\n(?:    .*\n)*?    log: (\S+)", re.M)
    try:
        deadline = time.monotonic() + 600
        while True:
            started = [(r, p) for r, p in block.findall(log.read_text()) if r in rules and (root / p).exists()]
            if started:
                break
            assert proc.poll() is None, "run ended before it could be killed:\n" + log.read_text()[-4000:]
            assert time.monotonic() < deadline, "no job of %s started:\n%s" % (rules, log.read_text()[-4000:])
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return started[0][0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The tiny workflow (2 Ku x 2 instances) run to the end through a SIGKILL in device_merge, in the first
    training job and in the first program_exsitu job, each followed by the same command (and --unlock)."""
    root = tmp_path_factory.mktemp("stale")
    config = tiny_project(root, FAST_DEVICE)
    profile = ["--profile", str(REPO / "workflow" / "profiles" / "default"), "--cores", "1"]
    kills = {}
    for kind, rules in KILLS.items():
        killed = _run_until_killed(root, config, profile, rules, root / f"{kind.strip('_*')}.log")
        run_snakemake(root, config, "--unlock", timeout=120)
        before = _outputs(root)
        plan = planned_jobs(run_snakemake(root, config, *profile, "-n", timeout=120).stdout)
        kills[kind] = dict(killed=killed, before=before, plan=plan, incomplete=_incomplete(root, before))
    run_snakemake(root, config, *profile, timeout=900)
    return dict(root=root, config=config, kills=kills, after=_outputs(root))


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(KILLS))
def test_killed_job_is_redone_alone_and_nothing_is_lost(finished, kind):
    k = finished["kills"][kind]
    assert not k["incomplete"], "half-written outputs after the kill"
    replanned = {rule for rule, _, _ in k["plan"]}
    assert k["killed"] in replanned
    killed_jobs = [(outs, reason) for rule, outs, reason in k["plan"] if rule == k["killed"]]
    # every finished job keeps its outputs: nothing planned writes a file that existed after the kill,
    # except the killed job itself (its output may have been renamed into place just before the kill)
    for rule, outs, reason in k["plan"]:
        redone = [o for o in outs if o in k["before"]]
        if redone:
            assert rule == k["killed"] and re.search(r"ncomplete|Forced", reason), (rule, redone, reason)
    for path, stat in k["before"].items():
        if not any(path in outs for outs, _ in killed_jobs):
            assert finished["after"][path] == stat, f"{path} was rewritten"
    assert "Nothing to be done" in run_snakemake(finished["root"], finished["config"], "-n", timeout=120).stdout


@pytest.fixture(scope="module")
def full_plan(finished) -> dict[str, list[str]]:
    """{rule: the first output of each of its jobs} of the whole workflow (a forced dry run of the finished run)."""
    plan: dict[str, list[str]] = {}
    for rule, outputs, _ in _dry_run(finished["root"], finished["config"], "--forceall"):
        plan.setdefault(rule, []).append(outputs[0])
    return plan


def _dry_run(root: Path, config: Path, *args: str) -> list[tuple[str, list[str], str]]:
    """The jobs ``snakemake -n`` plans (without the target rule 'all', which runs with any job)."""
    return [job for job in planned_jobs(run_snakemake(root, config, "-n", *args, timeout=120).stdout)
            if job[0] != "all"]


def _family(rule: str) -> str:
    """The RULE_CONFIG entry (or 'device') whose keys ``rule`` declares."""
    if rule in DEVICE:
        return "device"
    if rule in RULE_CONFIG:  # every plot rule declares its own keys
        return rule
    if rule.startswith("train_exsitu"):
        return "train_exsitu"
    return rule


@pytest.mark.slow
@pytest.mark.parametrize("key,value,direct,planned", CHANGES, ids=[c[0] for c in CHANGES])
def test_a_changed_value_reruns_exactly_what_depends_on_it(finished, full_plan, key, value, direct, planned):
    root = finished["root"]
    cfg = _set(yaml.safe_load(finished["config"].read_text()), key, value)
    changed = root / "changed.yaml"
    changed.write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert {rule for rule, _, _ in _dry_run(root, changed)} == planned & set(full_plan)
    # Each job of a rule that reads the key is planned when only that rule may run and its jobs are the
    # targets: for its params (or, where Snakemake still brings in a job of another rule reading the key,
    # such as energy_tables through `rules.energy_tables.output`, for that job's new output); the jobs of
    # all other rules, run alone the same way, are not planned at all.
    own = sorted(rule for rule in full_plan if _family(rule) in direct)
    for rule in own:
        jobs = _dry_run(root, changed, "--allowed-rules", rule, "--", *full_plan[rule])
        assert sum(r == rule for r, _, _ in jobs) == len(full_plan[rule]) and {r for r, _, _ in jobs} <= set(own), jobs
        assert all(re.match("Params have changed|Input files updated by another job", reason)
                   for _, _, reason in jobs), jobs
        assert any(reason.startswith("Params have changed") for _, _, reason in jobs), jobs
    # rules re-run only because they read an output of one of those (`planned`) are checked by the first assert
    others = sorted(set(full_plan) - set(own) - planned)
    assert _dry_run(root, changed, "--allowed-rules", *others, "--", *(o for r in others for o in full_plan[r])) == []
