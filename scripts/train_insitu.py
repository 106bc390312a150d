"""Snakemake wrapper: rule train_insitu."""
import os
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", str(snakemake.threads))

from dwsynapse.logutil import run_script  # noqa: E402
from dwsynapse.nn.insitu import run_insitu  # noqa: E402
from dwsynapse.nn.trainer import load_data  # noqa: E402

run_script(snakemake.log[0], lambda: run_insitu(
    snakemake.config, load_data(snakemake.config, Path(snakemake.input.mnist[0]).parent), snakemake.input.stats,
    int(snakemake.wildcards.states), float(snakemake.wildcards.alpha), Path(snakemake.output.metrics).parent))
