"""Snakemake wrapper: rule device_summary (per-Ku summary CSV of the device-statistics file)."""
from dwsynapse.device.merge import write_summary
from dwsynapse.logutil import run_script

run_script(snakemake.log[0], lambda: write_summary(snakemake.input[0], snakemake.output[0]))
