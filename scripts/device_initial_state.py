"""Snakemake wrapper: rule device_initial_state (the engine's relaxed initial state per Ku, Fig. 1a)."""
from dwsynapse.devicemaps import relax_initial_states
from dwsynapse.logutil import run_script

run_script(snakemake.log[0], lambda: relax_initial_states(snakemake.config, snakemake.output[0],
                                                          snakemake.params.workdir))
