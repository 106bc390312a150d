"""The training rules of workflow/rules/train.smk on the tiny config (synthetic MNIST and device file)."""

import json

import pytest

from dwsynapse.devicestats import write_device_stats
from dwsynapse.nn.devicemodel import synthetic_device_stats
from tests.test_workflow import job_counts, run_snakemake, tiny_project

pytestmark = pytest.mark.slow


def test_training_grid_runs_and_reuses_alpha_independent_training(tmp_path):
    stats = tmp_path / "device_stats.h5"
    write_device_stats(stats, synthetic_device_stats(0))
    config = tiny_project(tmp_path, {"device": {"stats_file": str(stats)},
                                     "train": {"exsitu": {"alphas": [0.15, 0.25]}}})
    targets = ["results/train/insitu/2state_alpha0.25/metrics.json"] + [
        f"results/train/exsitu/{m}/2state_alpha{a}/metrics.json"
        for m in ("float", "quantized", "stochastic") for a in ("0.15", "0.25")
    ]
    proc = run_snakemake(tmp_path, config, "--cores", "2", *targets, timeout=600)
    jobs = job_counts(proc.stdout + proc.stderr)
    # (a) and (b) train once for both alphas; (c) trains per alpha, except where the in-situ grid
    # (tiny config: 2 states, alphas 0.15 and 0.25) already trains that network: it is programmed
    assert jobs.get("train_baseline") == 1
    assert jobs.get("train_exsitu_quantized") == 1
    assert jobs.get("train_insitu") == 2 and "train_exsitu_stochastic" not in jobs
    assert jobs.get("program_exsitu") == 6
    ins = json.loads((tmp_path / targets[0]).read_text())
    assert ins["method"] == "insitu" and ins["total_pulses"] > 0
    assert (tmp_path / "results/train/insitu/2state_alpha0.25/trace.csv").exists()
    for t in targets[1:]:
        m = json.loads((tmp_path / t).read_text())
        assert len(m["hardware_test_acc"]) == 2 and m["program_attempts"]["cap"] == 20
    again = run_snakemake(tmp_path, config, "-n", *targets, timeout=120)
    assert "Nothing to be done" in again.stdout + again.stderr
