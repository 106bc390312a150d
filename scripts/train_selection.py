"""Snakemake wrapper: rule train_selection (one float run of the network-selection grid, Fig. S1)."""
import os
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", str(snakemake.threads))

from dwsynapse.logutil import run_script  # noqa: E402
from dwsynapse.nn.baseline import run_baseline  # noqa: E402
from dwsynapse.nn.selection import point_config  # noqa: E402
from dwsynapse.nn.trainer import load_data  # noqa: E402


def main() -> None:
    wc = snakemake.wildcards
    config = point_config(snakemake.config, int(wc.layers), float(wc.ratio), float(wc.eta))
    run_baseline(config, load_data(config, Path(snakemake.input.mnist[0]).parent),
                 Path(snakemake.output.metrics).parent)


run_script(snakemake.log[0], main)
