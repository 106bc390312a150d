"""Command line of the device stage: the ``device-*`` sub-commands (``dwsynapse device-check``,
``device-render``, ``device-chunk``, ``device-merge``, ``device-summary``), loaded by
:mod:`dwsynapse.cli`. The Snakemake scripts under ``scripts/`` call the same functions.
"""

from __future__ import annotations

import logging

from dwsynapse.command import start_command
from dwsynapse.device.engine import check_engine, render_all, run_chunk
from dwsynapse.device.merge import merge_chunks, write_summary

log = logging.getLogger("dwsynapse.device")


def register(sub) -> None:
    """Add the ``device-*`` sub-commands."""
    from dwsynapse.command import add_common_arguments

    p = sub.add_parser("device-check", help="check that the configured engine can run here (mumax3 binary, torch)")
    add_common_arguments(p)
    p.add_argument("--out", default=None, help="write the engine description (JSON) here")
    p.set_defaults(func=_cli_check)

    p = sub.add_parser("device-render", help="render the mumax3 scripts of every (Ku, instance) into a folder")
    add_common_arguments(p)
    p.add_argument("--outdir", required=True)
    p.set_defaults(func=_cli_render)

    p = sub.add_parser("device-chunk", help="simulate one (Ku, chunk) job and write its chunk file")
    add_common_arguments(p)
    p.add_argument("--group", required=True, help="Ku group name, e.g. ku_7.500e+05")
    p.add_argument("--chunk", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--workdir", required=True)
    p.set_defaults(func=_cli_chunk)

    p = sub.add_parser("device-merge", help="merge chunk files into device_stats.h5")
    add_common_arguments(p)
    p.add_argument("--out", required=True)
    p.add_argument("chunks", nargs="+")
    p.set_defaults(func=_cli_merge)

    p = sub.add_parser("device-summary", help="per-Ku summary CSV of a device-statistics file")
    add_common_arguments(p)
    p.add_argument("--stats", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=_cli_summary)


def _cli_check(args) -> int:
    from dwsynapse.io import write_json

    info = check_engine(start_command(args))
    log.info("engine ok: %s", info)
    if args.out:
        write_json(info, args.out)
    return 0


def _cli_render(args) -> int:
    from dwsynapse.mx3 import RenderError

    cfg = start_command(args)
    try:
        paths = render_all(cfg, args.outdir)
    except RenderError as exc:
        log.error("%s: %s", args.config, exc)
        return 1
    for p in paths:
        log.info("rendered %s", p)
    return 0


def _cli_chunk(args) -> int:
    cfg = start_command(args)
    run_chunk(cfg, args.group, args.chunk, args.out, args.workdir)
    return 0


def _cli_merge(args) -> int:
    merge_chunks(start_command(args), args.chunks, args.out)
    return 0


def _cli_summary(args) -> int:
    start_command(args)
    write_summary(args.stats, args.out)
    return 0
