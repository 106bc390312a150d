"""Snakemake wrapper: rule device_check (fails early when the configured engine cannot run)."""
from dwsynapse.device.engine import check_engine
from dwsynapse.io import write_json
from dwsynapse.logutil import run_script

run_script(snakemake.log[0], lambda: write_json(check_engine(snakemake.config), snakemake.output[0]))
