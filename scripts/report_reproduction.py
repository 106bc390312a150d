"""Snakemake wrapper: rule reproduction_table."""
from dwsynapse.logutil import setup_logging
from dwsynapse.reproduction import write_reproduction

setup_logging(snakemake.log[0])
write_reproduction(snakemake.config, snakemake.input.stats, snakemake.input.energy, snakemake.output.md,
                   snakemake.output.csv)
