"""Snakemake wrapper: rule study_point (one run of the learning or device-sensitivity study)."""
import os
from pathlib import Path

os.environ.setdefault("NUMBA_NUM_THREADS", str(snakemake.threads))

from dwsynapse.logutil import setup_logging  # noqa: E402
from dwsynapse.nn.study import run_point  # noqa: E402

setup_logging(snakemake.log[0])
run_point(snakemake.config, snakemake.wildcards.study, snakemake.wildcards.point, Path(snakemake.input.mnist[0]).parent,
          snakemake.input.stats, Path(snakemake.output.point).parent)
