"""Snakemake wrapper: rule study_table (table, figure and summary of a study)."""
from dwsynapse.logutil import setup_logging
from dwsynapse.plots.study import write_study

setup_logging(snakemake.log[0])
o = snakemake.output
write_study(snakemake.config, snakemake.wildcards.study, o.table_csv, o.table_md, o.summary_md, o.png, o.pdf)
