"""Snakemake wrapper: rules train_exsitu_quantized and train_exsitu_stochastic."""
import os
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", str(snakemake.threads))

from dwsynapse.logutil import run_script  # noqa: E402
from dwsynapse.nn.exsitu import train_model  # noqa: E402
from dwsynapse.nn.trainer import load_data  # noqa: E402


def main():
    method = snakemake.params.method  # quantized: Hubara training; stochastic: Algorithm 1 on the device
    stochastic = method == "stochastic"
    train_model(snakemake.config, load_data(snakemake.config, Path(snakemake.input.mnist[0]).parent),
                method, int(snakemake.wildcards.states),
                Path(snakemake.output.weights).parent,
                stats_path=snakemake.input.stats if stochastic else None,
                alpha=float(snakemake.wildcards.alpha) if stochastic else None)


run_script(snakemake.log[0], main)
