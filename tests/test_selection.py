"""Network selection (Fig. S1): the grid, its run folders and the chosen point; the report picks S1 up
once it exists; the reduced grid runs end to end through `supplementary` (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dwsynapse.nn.selection import chosen_point, grid, hidden_sizes, load_points, point_config, point_name
from dwsynapse.layout import FIGURES
from dwsynapse.plots import render_figure
from dwsynapse.results import ResultsError
from dwsynapse.targets import report_outputs
from tests.test_plots import write_synthetic_selection
from tests.test_workflow import job_counts, run_snakemake, tiny_project


def test_grid_sizes_and_names(default_config):
    assert hidden_sizes(3, 0.5) == [392, 196, 98] and hidden_sizes(2, 0.25) == [196, 49]
    assert point_name(3, 0.5, 0.007) == "3layers_ratio0.50_eta0.007"
    assert len(grid(default_config)) == 4 * 3 * 5
    default_config["selection"]["grid"] = "reduced"
    assert grid(default_config) == [(n, 0.5, e) for n in (1, 3) for e in (0.003, 0.007, 0.03)]
    cfg = point_config(default_config, 2, 0.75, 0.01)
    assert cfg["train"]["hidden"] == [588, 441] and cfg["train"]["eta0"] == 0.01
    assert cfg["train"]["epochs"] == default_config["selection"]["epochs"]
    assert default_config["train"]["hidden"] == [392, 196, 98]  # a copy


def test_chosen_point_is_the_configured_network(default_config):
    assert chosen_point(default_config) == {"layers": 3, "ratio": 0.5, "eta0": 0.007, "sizes": "784-392-196-98-10"}
    default_config["train"]["hidden"] = [300, 100]
    assert chosen_point(default_config) is None  # not round(784 r^k)


def test_report_includes_s1_once_made(tmp_path, default_config):
    cfg = default_config
    cfg["results_dir"] = str(tmp_path / "results")
    cfg["selection"]["grid"] = "reduced"
    png = Path(cfg["results_dir"]) / "report" / "figures" / f"{FIGURES['figS1_selection']}.png"
    assert str(png) not in report_outputs(cfg)
    with pytest.raises(ResultsError, match="metrics file not found"):
        load_points(cfg)
    write_synthetic_selection(cfg)
    render_figure("figS1_selection", cfg, png, png.with_suffix(".pdf"))
    assert {str(png), str(png.with_suffix(".csv"))} <= set(report_outputs(cfg))
    cfg["selection"]["grid"] = "full"  # another grid's points are not there: S1 is not this config's
    assert str(png) not in report_outputs(cfg)


def test_selection_epochs_are_checked(tmp_path, default_config):
    cfg = default_config
    cfg["results_dir"] = str(tmp_path / "results")
    cfg["selection"]["grid"] = "reduced"
    write_synthetic_selection(cfg)
    cfg["selection"]["epochs"] = 3
    with pytest.raises(ResultsError, match="selection.epochs is 3"):
        load_points(cfg)


@pytest.mark.slow
def test_supplementary_runs_the_reduced_grid(tmp_path):
    config = tiny_project(tmp_path, {"selection": {"grid": "reduced"}})
    proc = run_snakemake(tmp_path, config, "--cores", "1", "supplementary", timeout=900)
    assert job_counts(proc.stdout + proc.stderr).get("train_selection") == 6
    stem = tmp_path / "results" / "report" / "figures" / FIGURES["figS1_selection"]
    for ext in (".png", ".pdf", ".csv"):
        assert stem.with_suffix(ext).stat().st_size > 200
    m = json.loads((tmp_path / "results/train/selection/3layers_ratio0.50_eta0.007/metrics.json").read_text())
    assert len(m["epochs"]) == 1 and m["n_train"] == 300
    again = run_snakemake(tmp_path, config, "--cores", "1", "supplementary", timeout=300)
    assert "Nothing to be done" in again.stdout + again.stderr  # cached per point
