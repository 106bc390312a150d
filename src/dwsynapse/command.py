"""What every ``dwsynapse`` sub-command shares: its ``--config`` / ``--log`` / ``--debug`` arguments
and its start (logging, validated config). The stage modules register their sub-commands with these;
:mod:`dwsynapse.cli` collects the sub-commands, so the stages need not import it."""

from __future__ import annotations

import argparse


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """``--config`` and ``--log``, shared by every sub-command."""
    parser.add_argument("--config", default="config.yaml", help="workflow config YAML (default: %(default)s)")
    parser.add_argument("--log", default=None, help="also write the log (and an error's traceback) to this file")
    parser.add_argument("--debug", action="store_true", help="print an error's traceback, not only its one line")


def add_report_command(sub, name: str, help: str, func, outdir: str) -> argparse.ArgumentParser:
    """A sub-command that reads a config's results and writes report files: the common arguments,
    ``--stats`` (the device file; default: the device stage's) and ``--outdir`` (default ``outdir``,
    named in the help). Returns the parser for the command's own arguments."""
    p = sub.add_parser(name, help=help)
    add_common_arguments(p)
    p.add_argument("--stats", default=None, help="device_stats.h5 (default: the device stage's file)")
    p.add_argument("--outdir", default=None, help=f"output folder (default: {outdir})")
    p.set_defaults(func=func)
    return p


def start_command(args) -> dict:
    """Set up logging (stderr and ``--log``) and return the validated config named by ``--config``."""
    from dwsynapse.config import load_config
    from dwsynapse.logutil import setup_logging

    setup_logging(args.log)
    return load_config(args.config)
