"""Small I/O helpers shared by every stage: atomic writes and clear filesystem errors."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator


class OutputError(OSError):
    """An output could not be written (disk full, permissions, ...); the message says which."""


@contextlib.contextmanager
def atomic_path(target: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    A crash or exception leaves ``target`` untouched (an older complete file, or nothing),
    so a reader never sees a half-written output.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=suffix or target.suffix or ".tmp", dir=target.parent
        )
        os.close(fd)
        # mkstemp creates 0600 files; give outputs the usual permissions (0666 minus umask).
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
    except OSError as exc:
        raise _explain(exc, target) from exc
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except OSError as exc:
        tmp_path.unlink(missing_ok=True)
        raise _explain(exc, target) from exc
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def make_dirs(directory: str | Path) -> Path:
    """Create ``directory`` (and its parents) if needed; raise :class:`OutputError` naming it if that fails."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _explain(exc, directory) from exc
    return directory


def _explain(exc: OSError, target: Path) -> OutputError:
    if exc.errno == errno.ENOSPC:
        why = "no space left on the device"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = "permission denied (or read-only file system)"
    else:
        why = exc.strerror or str(exc)
    return OutputError(exc.errno, f"cannot write {target}: {why}")


def write_json(obj, target: str | Path) -> None:
    """Write ``obj`` as indented JSON to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_text(text: str, target: str | Path) -> None:
    """Write ``text`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def _json_default(obj):
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")
