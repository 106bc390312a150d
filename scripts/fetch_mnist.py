"""Snakemake wrapper: rule fetch_mnist."""
from pathlib import Path

from dwsynapse.logutil import setup_logging
from dwsynapse.mnist import fetch_mnist

setup_logging(snakemake.log[0])
fetch_mnist(snakemake.config["mnist"], Path(snakemake.output.manifest).parent)
