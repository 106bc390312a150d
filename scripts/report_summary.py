"""Snakemake wrapper: rule report_summary (the run and its headline numbers, for the report's first page)."""
from dwsynapse.logutil import setup_logging
from dwsynapse.reproduction import write_workflow_summary

setup_logging(snakemake.log[0])
write_workflow_summary(snakemake.config, snakemake.input.reproduction, snakemake.input.stats, snakemake.output.summary,
                       snakemake.output.facts)
