"""Snakemake wrapper: rule device_chunk (one Ku, one chunk of thermal instances), simulated in a
guarded child process; a crash or timeout on the last try is recorded as failed instances."""
from dwsynapse.device.guard import run_chunk_guarded
from dwsynapse.logutil import run_script

run_script(snakemake.log[0], lambda: run_chunk_guarded(
    snakemake.config, snakemake.wildcards.group, int(snakemake.wildcards.chunk), snakemake.output[0],
    snakemake.params.workdir, attempt=int(snakemake.resources.attempt), threads=snakemake.threads))
