"""The Makefile's snakemake command lines as Snakemake itself parses them: every target lands among
Snakemake's targets and the config file alone in --configfile (both --configfile and --config take
every following word, so a target after them would be read as a config file or a config value)."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
from snakemake.cli import get_argument_parser

ROOT = Path(__file__).resolve().parents[1]


def _snakemake_commands(goal: str, variables: list[str]) -> list:
    """Parsed arguments of every snakemake command ``make -n goal`` prints (recursive makes included)."""
    out = subprocess.run(["make", "-n", "--no-print-directory", goal, *variables], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout.replace("\\\n", " ")
    parser = get_argument_parser()
    return [parser.parse_args(shlex.split(line)[1:]) for line in out.splitlines()
            if line.split(maxsplit=1)[:1] and line.split(maxsplit=1)[0].endswith("/snakemake")]


@pytest.mark.parametrize("goal, variables, targets", [
    ("run", [], set()),
    ("control", [], set()),
    ("study-learning", [], {"study_learning"}),
    ("study-learning", ["STUDY_GRID=reduced"], {"study_learning"}),
    ("device-sensitivity", [], {"device_sensitivity"}),
    ("supplementary", [], {"supplementary"}),
    ("supplementary", ["SELECTION_GRID=reduced"], {"supplementary"}),
    ("study-learning", ["SNAKEMAKE_ARGS=--dry-run"], {"study_learning"}),
])
def test_make_goals_pass_their_target_and_config_to_snakemake(goal, variables, targets):
    commands = _snakemake_commands(goal, variables)
    assert commands, f"make -n {goal} runs no snakemake command"
    main, *rest = commands
    assert set(main.targets) == targets
    assert all(list(c.configfile) == [Path("config.yaml")] for c in commands)
    if any(v.endswith("_GRID=reduced") for v in variables):
        assert any("{grid: reduced}" in c for c in main.config)
    # the goals that produce results end with the report, which sees the same grids
    if goal != "control":
        assert rest and rest[-1].report and not rest[-1].targets
