"""Snakemake wrapper: rule device_merge (chunk files -> device_stats.h5)."""
from dwsynapse.device.merge import merge_chunks
from dwsynapse.logutil import run_script

run_script(snakemake.log[0], lambda: merge_chunks(snakemake.config, list(snakemake.input), snakemake.output[0]))
