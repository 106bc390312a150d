"""Snakemake wrapper: rule program_exsitu."""
import os
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", str(snakemake.threads))

from dwsynapse.logutil import run_script  # noqa: E402
from dwsynapse.nn.exsitu import run_program  # noqa: E402
from dwsynapse.nn.trainer import load_data  # noqa: E402


def main():
    w = snakemake.wildcards
    run_program(snakemake.config, load_data(snakemake.config, Path(snakemake.input.mnist[0]).parent), w.method,
                int(w.states), float(w.alpha), snakemake.input.weights, snakemake.input.training,
                snakemake.input.stats, Path(snakemake.output.metrics).parent)


run_script(snakemake.log[0], main)
