"""Snakemake wrapper: rule device_chunk (one Ku, one chunk of thermal instances)."""
import os

os.environ.setdefault("OMP_NUM_THREADS", str(snakemake.threads))

from dwsynapse.devicestage import run_chunk  # noqa: E402
from dwsynapse.logutil import setup_logging  # noqa: E402

setup_logging(snakemake.log[0])
try:
    import torch

    torch.set_num_threads(snakemake.threads)
except ImportError:
    pass
run_chunk(snakemake.config, snakemake.wildcards.group, int(snakemake.wildcards.chunk), snakemake.output[0],
          snakemake.params.workdir)
