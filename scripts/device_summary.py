"""Snakemake wrapper: rule device_summary (per-Ku summary CSV of the device-statistics file)."""
from dwsynapse.devicestage import write_summary
from dwsynapse.logutil import setup_logging

setup_logging(snakemake.log[0])
write_summary(snakemake.input[0], snakemake.output[0])
