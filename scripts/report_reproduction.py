"""Snakemake wrapper: rule reproduction_table."""
from dwsynapse.logutil import run_script
from dwsynapse.reproduction import write_reproduction

control = getattr(snakemake.input, "control", None) or None  # the control run's CSV, or [] without one
run_script(snakemake.log[0], lambda: write_reproduction(snakemake.config, snakemake.input.stats, snakemake.input.energy,
                                                        snakemake.output.md, snakemake.output.csv, control))
