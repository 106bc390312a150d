"""Snakemake wrapper: rule report_summary (the run and its headline numbers, for the report's first page)."""
from dwsynapse.logutil import run_script
from dwsynapse.reproduction import write_workflow_summary

run_script(snakemake.log[0], lambda: write_workflow_summary(
    snakemake.config, snakemake.input.reproduction, snakemake.input.stats, snakemake.output.summary,
    snakemake.output.facts))
