"""``dwsynapse`` command line: one sub-command per workflow stage.

Each stage module exposes ``register(subparsers)`` which adds its sub-command (with the shared
arguments of :mod:`dwsynapse.command`) and sets ``func(args) -> int``. This module loads the stage
modules by name and nothing imports it, so it sits on top of the package. The Snakemake scripts under
``scripts/`` call the same functions.
"""

from __future__ import annotations

import argparse
import importlib

from dwsynapse import __version__

# Modules that contribute sub-commands, in the order they appear in --help.
COMMAND_MODULES = (
    "dwsynapse.config_cli",
    "dwsynapse.mnist",
    "dwsynapse.device.cli",
    "dwsynapse.nn.devicemodel",
    "dwsynapse.nn.baseline",
    "dwsynapse.nn.insitu",
    "dwsynapse.nn.exsitu",
    "dwsynapse.plots",
    "dwsynapse.energy",
    "dwsynapse.reproduction",
)


def build_parser() -> argparse.ArgumentParser:
    """Return the top-level parser with every stage's sub-command registered."""
    parser = argparse.ArgumentParser(
        prog="dwsynapse",
        description=(
            "Domain-wall racetrack synapses from micromagnetics to MNIST accuracy. "
            "The Snakemake workflow calls these sub-commands; each also runs on its own."
        ),
    )
    parser.add_argument("--version", action="version", version=f"dwsynapse {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m dwsynapse`` and the ``dwsynapse`` script.

    A failure is one line on stderr naming the file or config key and the problem, exit code 2; the
    traceback goes to the ``--log`` file, and to stderr with ``--debug``."""
    from dwsynapse.logutil import report_failure

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except Exception as exc:  # every failure of a command: one line, the traceback in the log
        report_failure(exc, debug=args.debug)
        return 2
