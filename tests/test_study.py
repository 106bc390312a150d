"""Studies of the open learning choices and of the device (dwsynapse.nn.study): the grids, the rule that
picks the defaults, the table and figure, the report picks them up once made; the reduced learning grid and
a device-sensitivity grid run end to end through Snakemake on a synthetic near-paper device (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from dwsynapse.devicestats import write_device_stats
from dwsynapse.io import write_json
from dwsynapse.nn import study
from dwsynapse.nn.devicemodel import synthetic_device_stats
from dwsynapse.plots.study import write_study
from dwsynapse.targets import report_outputs
from tests.test_workflow import job_counts, run_snakemake, tiny_project


def test_learning_grid_varies_one_choice_at_a_time(default_config):
    cfg = default_config
    g = cfg["study"]["full"]
    pts = study.grid(cfg, "learning")
    per_seed = len(g["states"]) * len(g["alphas"])
    n_values = sum(len(g[f]) for f in study.FACTORS) + 1  # + the config's instances (all), the reference run
    assert len(pts) == len(g["seeds"]) * (n_values * per_seed + len(g["init"]))  # floats along init only
    floats = [p for f, p in pts if p.method == "float"]
    assert {f for f, p in pts if p.method == "float"} == {"init"} and len(floats) == len(g["init"]) * len(g["seeds"])
    # the centre of every sweep is the config's train values: the reference run is one folder
    ref = [p for f, p in pts if p.method == "insitu" and p.init == study.init_label(cfg["train"])
           and p.initial_programming == "program" and p.device_sampling == "empirical" and p.instances is None]
    assert len({p.name for p in ref}) == per_seed * len(g["seeds"]) and len(ref) > len({p.name for p in ref})
    names = study.points(cfg, "learning")
    assert len(names) < len(pts) and all(names[p.name] == p for _, p in pts)
    p = next(p for f, p in pts if f == "instances" and p.instances == 250)
    c = study.point_config(cfg, "learning", p)
    assert c["train"]["device_variant"]["instances"] == 250 and c["train"]["epochs"] == g["epochs"]
    assert c["train"]["trace_synapse"] is None and cfg["train"]["trace_synapse"] is not None  # a copy
    fan = study.point_config(cfg, "learning", next(p for f, p in pts if p.init == "fan_in" and p.method == "insitu"))
    assert fan["train"]["init"] == "normal_fan_in" and fan["train"]["init_std"] is None
    # a float point sets the float network's init and leaves that of device-trained networks alone
    fl = study.point_config(cfg, "learning", next(p for f, p in pts if p.init == "0.25" and p.method == "float"))
    assert (fl["train"]["float_init"], fl["train"]["float_init_std"]) == ("normal_fixed", 0.25)
    assert (fl["train"]["init"], fl["train"]["init_std"]) == (cfg["train"]["init"], cfg["train"]["init_std"])
    # the float sweep's centre is train.float_init, also when the grid lacks it
    cfg["train"].update(float_init="normal_fixed", float_init_std=0.75)
    assert sum(p.method == "float" and p.init == "0.75" for _, p in study.grid(cfg, "learning")) == len(g["seeds"])


def test_float_points_train_as_long_as_the_baseline_and_depend_only_on_their_settings(default_config):
    cfg = default_config
    g = cfg["study"]["full"]
    pts = study.points(cfg, "learning")
    fl = next(p for p in pts.values() if p.method == "float")
    ins = next(p for p in pts.values() if p.method == "insitu")
    assert g["float_epochs"] is None and cfg["train"]["epochs"] != g["epochs"]
    # the floor is the float baseline's accuracy: a float point is measured at the baseline's length
    assert study.point_config(cfg, "learning", fl)["train"]["epochs"] == cfg["train"]["epochs"]
    assert study.point_config(cfg, "learning", ins)["train"]["epochs"] == g["epochs"]
    g["float_epochs"] = 2
    assert study.point_config(cfg, "learning", fl)["train"]["epochs"] == 2
    # a point's rule parameters (what Snakemake compares to re-run it) ignore the other values of the grid
    before = {n: study.point_settings(cfg, "learning", p) for n, p in pts.items()}
    g["init"] = [*g["init"], 1.0]
    assert all(study.point_settings(cfg, "learning", p) == before[n] for n, p in pts.items())
    assert before[fl.name] == {"epochs": 2, "n_train": None}
    assert before[ins.name] == {"epochs": g["epochs"], "n_train": None,
                                "programming_trials": cfg["study"]["programming_trials"]}


def test_sensitivity_grid(default_config):
    s = default_config["study"]["sensitivity"]
    pts = study.grid(default_config, "sensitivity")
    assert {f for f, _ in pts} == set(study.SENSITIVITY_FACTORS)
    assert all(p.method == "insitu" and (p.states, p.alpha) == (s["states"], s["alpha"]) for _, p in pts)
    assert sorted({p.spread_scale for f, p in pts if f == "spread_scale"}) == sorted(s["spread_scales"])
    with pytest.raises(ValueError, match="study must be one of"):
        study.grid(default_config, "other")


def _fake_points(cfg: dict, acc) -> None:
    """point.json of every run of the learning grid, test accuracy acc(point)."""
    for name, p in study.points(cfg, "learning").items():
        row = {"name": name, "test_acc": acc(p)}
        if p.method == "insitu":
            row.update(exsitu_hardware_acc=acc(p) - 0.01, exsitu_software_acc=acc(p), wq_test_acc=acc(p) - 0.02)
        write_json(row, study.run_dir(cfg, "learning", name) / "point.json")


def test_rule_picks_per_kind_of_network_with_float_over_the_floor(tmp_path, default_config):
    cfg = default_config
    cfg["results_dir"] = str(tmp_path / "results")
    cfg["train"].update(init="normal_fixed", init_std=0.25)  # the device-trained centre in this test
    assert cfg["train"]["float_init"] == "normal_fan_in"  # the float network's centre
    rng = np.random.default_rng(0)
    # device-trained: sigma 0.5 is best; ideal programming helps; kde ties with empirical.
    # float: 0.1 beats fan_in, 0.25 ties with it, 0.5 is under the floor
    best = {"fan_in": 0.2, "0.1": 0.9, "0.25": 0.95, "0.5": 0.96}
    floats = {"fan_in": 0.975, "0.1": 0.98, "0.25": 0.975, "0.5": 0.96}
    _fake_points(cfg, lambda p: floats[p.init] + 1e-4 * (p.init == "0.1") * rng.standard_normal()
                 if p.method == "float" else
                 best[p.init] + 0.01 * (p.initial_programming == "ideal") + 1e-4 * rng.standard_normal())
    chosen = {(c["network"], c["factor"]): c for c in study.choose_defaults(cfg, study.load_rows(cfg, "learning"))}
    assert set(chosen) == {("float", "init")} | {("device-trained", f) for f in study.FACTORS}
    dev, fl = chosen["device-trained", "init"], chosen["float", "init"]
    assert dev["chosen"] == "0.5" and not dev["agrees"] and dev["values"]["0.25"]["gain"] == 0.0
    assert all(v["float_ok"] and v["float_mean"] is None for v in dev["values"].values())
    assert fl["chosen"] == "0.1" and fl["config"] == "fan_in" and not fl["values"]["0.5"]["float_ok"]
    assert fl["values"]["0.25"]["gain"] == 0.0 and fl["values"]["0.1"]["float_mean"] > 0.979
    ip = chosen["device-trained", "initial_programming"]
    assert ip["chosen"] == "ideal" and not ip["agrees"]
    assert chosen["device-trained", "device_sampling"]["chosen"] == "empirical"  # gain within its s.e.: config's stays
    inst = chosen["device-trained", "instances"]
    assert inst["config"] == "all" and set(inst["values"]) == {"all", "16", "64", "250"}
    out = study.study_outputs(cfg, "learning")
    assert out["png"] not in report_outputs(cfg)
    summary = write_study(cfg, "learning", out["table_csv"], out["table_md"], out["summary_md"], out["png"],
                                out["pdf"])
    assert summary["figure"]["panels"] == len(study.FACTORS)
    md = Path(out["summary_md"]).read_text()
    assert "Rule:" in md and "| device-trained | initial_programming | ideal | program | NO |" in md
    assert "| float | init | 0.1 | fan_in | NO |" in md
    assert "W_q alone" in Path(out["table_md"]).read_text() and Path(out["figure_csv"]).stat().st_size > 200
    assert set(out.values()) <= set(report_outputs(cfg))  # the report shows the study once it exists


def test_missing_point_is_a_clear_error(tmp_path, default_config):
    default_config["results_dir"] = str(tmp_path)
    with pytest.raises(ValueError, match="study point not found"):
        study.load_rows(default_config, "sensitivity")


@pytest.mark.slow
def test_reduced_study_and_sensitivity_run_end_to_end(tmp_path):
    stats = tmp_path / "synthetic_device_stats.h5"
    write_device_stats(stats, synthetic_device_stats(0, spread=0.1, n=16))
    grid = {"epochs": 1, "n_train": None, "seeds": [1], "states": [5], "alphas": [0.15], "init": ["fan_in", 0.5],
            "initial_programming": ["program"], "device_sampling": ["empirical"], "instances": [32]}
    config = tiny_project(tmp_path, {"device": {"stats_file": str(stats)}, "train": {"hidden": [24, 12]},
                                     "study": {"grid": "reduced", "reduced": grid,
                                               "sensitivity": {"states": 5, "alpha": 0.15, "spread_scales": [0.5, 1.0],
                                                               "level0_shifts": [0.1]}}})
    proc = run_snakemake(tmp_path, config, "--cores", "1", "study_learning", "device_sensitivity", timeout=900)
    jobs = job_counts(proc.stdout + proc.stderr)
    assert jobs.get("study_point") == 5 + 3 and jobs.get("study_table") == 2  # 2 float, 2 init, 1 instances; 3
    res = tmp_path / "results" / "study"
    row = json.loads(next((res / "learning" / "runs").glob("insitu_*n32*/point.json")).read_text())
    assert row["instances"] == 32 and 0 <= row["exsitu_hardware_acc"] <= 1
    m = json.loads(next((res / "learning" / "runs").glob("insitu_*n32*/metrics.json")).read_text())
    assert m["device"]["variant"]["instances"] == 32 and m["device"]["levels"][0]["n_resampled"] == 16
    assert m["settings"]["init"] == "normal_fixed" and m["settings"]["init_std"] == 0.5
    for st in ("learning", "sensitivity"):
        for f in ("table.csv", "table.md", "summary.md", "accuracy.png", "accuracy.pdf", "accuracy.csv"):
            assert (res / st / f).stat().st_size > 100
    again = run_snakemake(tmp_path, config, "--cores", "1", "study_learning", timeout=300)
    assert "Nothing to be done" in again.stdout + again.stderr  # cached per point
