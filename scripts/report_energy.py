"""Snakemake wrapper: rule energy_tables."""
from dwsynapse.energy import run_energy
from dwsynapse.layout import ENERGY_OUTPUTS
from dwsynapse.logutil import run_script

run_script(snakemake.log[0], lambda: run_energy(snakemake.config, snakemake.input.stats,
                                                {k: getattr(snakemake.output, k) for k in ENERGY_OUTPUTS}))
