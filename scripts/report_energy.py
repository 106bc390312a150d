"""Snakemake wrapper: rule energy_tables."""
from dwsynapse.energy import ENERGY_OUTPUTS, run_energy
from dwsynapse.logutil import setup_logging

setup_logging(snakemake.log[0])
run_energy(snakemake.config, snakemake.input.stats, {k: getattr(snakemake.output, k) for k in ENERGY_OUTPUTS})
