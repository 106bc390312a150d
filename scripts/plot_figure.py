"""Snakemake wrapper: rules plot_* (one paper figure, PNG + PDF; Fig. 7 also writes its table)."""
from dwsynapse.logutil import run_script
from dwsynapse.layout import all_alphas
from dwsynapse.plots import render_figure, write_level_table


def main():
    stats = getattr(snakemake.input, "stats", None)
    render_figure(snakemake.params.figure, snakemake.config, snakemake.output.png, snakemake.output.pdf, stats)
    if snakemake.params.figure == "fig7_cdf":
        write_level_table(stats, all_alphas(snakemake.config), snakemake.output.table_csv, snakemake.output.table_md)


run_script(snakemake.log[0], main)
