"""Logging set-up for command-line tools and Snakemake scripts (one log file per job), and how a
failure is reported: one line on stderr, the traceback in the log file."""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from typing import Callable


def setup_logging(log_file: str | Path | None = None, level: int = logging.INFO) -> logging.Logger:
    """Log to stderr and, when given, to ``log_file``; return the package logger."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    return logging.getLogger("dwsynapse")


def error_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (its lines joined by '; ').

    Project errors already name the file or config key; a bare OSError becomes ``<file>: <reason>``;
    an exception that is not a ValueError, OSError or RuntimeError is prefixed with its type name."""
    if isinstance(exc, OSError) and exc.strerror:  # not "[Errno 13] ...": the file, then the reason
        text = f"{exc.filename}: {exc.strerror}" if exc.filename is not None else exc.strerror
    else:
        text = str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()] or [type(exc).__name__]
    head, rest = lines[0], lines[1:]
    line = head + (" " if head.endswith(":") and rest else "; " if rest else "") + "; ".join(rest)
    if not isinstance(exc, (ValueError, OSError, RuntimeError)):
        line = f"{type(exc).__name__}: {line}"
    return line


def report_failure(exc: BaseException, debug: bool = False) -> None:
    """Print ``dwsynapse: <one line>`` on stderr (plus the traceback with ``debug``) and log the full
    traceback to the log files set up by :func:`setup_logging`."""
    line = error_line(exc)
    record = logging.getLogger("dwsynapse").makeRecord(
        "dwsynapse", logging.ERROR, __file__, 0, "%s", (line,), (type(exc), exc, exc.__traceback__))
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.FileHandler):
            handler.handle(record)
    print(f"dwsynapse: {line}", file=sys.stderr)
    if debug:
        traceback.print_exception(exc)


def run_script(log_file: str | Path, body: Callable[[], object]) -> None:
    """Run a Snakemake script's ``body`` with logging to ``log_file``; a failure is reported by
    :func:`report_failure` (traceback in the log file) and ends the script with exit code 2."""
    setup_logging(log_file)
    try:
        body()
    except Exception as exc:  # every failure: one line on stderr, the traceback in the job's log
        report_failure(exc)
        raise SystemExit(2) from None
