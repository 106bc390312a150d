"""Snakemake wrapper: rule fetch_mnist."""
from pathlib import Path

from dwsynapse.logutil import run_script
from dwsynapse.mnist import fetch_mnist

run_script(snakemake.log[0], lambda: fetch_mnist(snakemake.config["mnist"], Path(snakemake.output.manifest).parent))
