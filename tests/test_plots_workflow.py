"""report.smk on synthetic results: the DAG follows the config's grid, the rules and the HTML
report run (slow), and the ``figures`` / ``energy`` / ``report`` sub-commands work."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from dwsynapse.cli import main as cli_main
from dwsynapse.layout import FIGURES, wanted_figures
from tests.test_plots import _not_blank, with_paper_grid, write_synthetic_results, write_synthetic_stats

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]
REPORT_RULES = ["energy_tables", "reproduction_table", "report_summary"]


def _workdir(tmp_path: Path, cfg: dict) -> Path:
    """A Snakemake working directory holding a config and synthetic results of its grid."""
    wd = tmp_path / "wd"
    wd.mkdir()
    cfg["results_dir"] = "results"
    cfg["device"]["stats_file"] = str(write_synthetic_stats(tmp_path / "device_stats.h5"))
    cwd = os.getcwd()
    os.chdir(wd)
    try:
        write_synthetic_results(cfg)
    finally:
        os.chdir(cwd)
    (wd / "config.yaml").write_text(yaml.safe_dump(cfg))
    return wd


def _snakemake(wd: Path, cfg: dict, *extra: str, timeout: int = 120) -> subprocess.CompletedProcess:
    rules = [f"plot_{n}" for n in wanted_figures(cfg)] + REPORT_RULES
    cmd = SNAKEMAKE + ["--snakefile", str(REPO / "Snakefile"), "--directory", str(wd), "--configfile",
                       str(wd / "config.yaml"), "--cores", "1", "--allowed-rules", *rules, *extra, "--", *rules]
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)


def test_reduced_grid_dag_has_only_configured_figures(tmp_path, default_config):
    cfg = default_config
    cfg["train"]["insitu"].update(states=[5], alphas=[0.25])
    cfg["train"]["exsitu"].update(methods=["stochastic"], states=[5], alphas=[0.25])
    wd = _workdir(tmp_path, cfg)
    r = _snakemake(wd, cfg, "-n")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout + r.stderr
    for name in ("fig1_device", "fig3_insitu", "fig5_weights", "fig6_exsitu", "fig7_cdf"):
        assert f"plot_{name}" in out
    assert "plot_figS4_alpha" not in out  # one alpha: no sweep
    assert "2state_alpha" not in out and "alpha0.15" not in out  # inputs follow the grid


def test_grid_exclude_is_not_scheduled(tmp_path, default_config):
    cfg = default_config
    cfg["train"]["insitu"].update(states=[2, 5], alphas=[0.15, 0.25], exclude=[{"states": 2, "alpha": 0.15}])
    wd = _workdir(tmp_path, cfg)
    r = _snakemake(wd, cfg, "-n")
    assert r.returncode == 0, r.stdout + r.stderr
    out = r.stdout + r.stderr
    assert "insitu/2state_alpha0.25" in out and "insitu/5state_alpha0.15" in out
    assert "insitu/2state_alpha0.15" not in out


@pytest.mark.slow
def test_report_rules_and_html_report(tmp_path, default_config):
    cfg = default_config
    wd = _workdir(tmp_path, cfg)
    r = _snakemake(wd, cfg, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    names = wanted_figures(cfg)
    assert "figS5_energy" in names and "fig1a_racetrack" not in names  # maps need the device stage itself
    for stem in (FIGURES[n] for n in names):
        for ext in (".png", ".pdf", ".csv"):
            assert (wd / "results/report/figures" / (stem + ext)).stat().st_size > 200
    assert (wd / "results/report/reproduction.md").exists()
    # the report of the report rules' DAG (other stages' outputs are not part of this test)
    html = wd / "results/report/report.html"
    r = _snakemake(wd, cfg, "--report", str(html), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    text = html.read_text()
    for stem in (FIGURES[n] for n in names):
        assert f"{stem}.png" in text
    for f in ("reproduction.csv", "system_energy.csv", "programming_energy.csv", "fig7_level_probability.csv"):
        assert f in text
    assert "What was run" in text and "Headline numbers" in text  # the workflow description (workflow.rst)
    _check_in_browser(html, tmp_path)


WORKFLOW_TITLE = '<h1 class="title">dwsynapse: domain-wall synapses'  # workflow.rst's title as the browser renders it


def _check_in_browser(html: Path, tmp_path: Path) -> None:
    """Open the report in headless Chromium (Debian package ``chromium``): a screenshot that is not
    blank, and the DOM after the report's JavaScript ran holds the rendered workflow description
    (in the HTML file it is only an escaped JSON string, so finding it there proves the rendering)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium)")
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000"]
    shot = tmp_path / "report.png"
    subprocess.run(flags + ["--window-size=1400,1800", f"--screenshot={shot}", html.as_uri()], capture_output=True,
                   timeout=180)
    _not_blank(shot)
    assert WORKFLOW_TITLE not in html.read_text()
    dom = subprocess.run(flags + ["--dump-dom", html.as_uri()], capture_output=True, text=True, timeout=180).stdout
    assert WORKFLOW_TITLE in dom and "<h1>What was run" in dom
    # workflow.rst's style override reaches the page (Snakemake passes raw HTML through): without it a main panel
    # taller than the window (the rule graph) is centred with its top, the title, out of scroll reach
    assert "align-items: safe center" in dom


def test_cli_subcommands(tmp_path, default_config, capsys):
    cfg = with_paper_grid(default_config)  # every reproduction number has a value
    cfg["results_dir"] = str(tmp_path / "results")
    cfg["device"]["stats_file"] = str(write_synthetic_stats(tmp_path / "device_stats.h5"))
    write_synthetic_results(cfg)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    c = str(tmp_path / "c.yaml")
    assert cli_main(["figures", "--config", c, "--only", "fig4_writes"]) == 0
    assert (tmp_path / "results/report/figures/fig4_device_writes.pdf").exists()
    assert cli_main(["energy", "--config", c]) == 0
    assert (tmp_path / "results/report/energy/system_energy.md").exists()
    assert cli_main(["report", "--config", c]) == 0
    assert "31 of 31" in capsys.readouterr().out
