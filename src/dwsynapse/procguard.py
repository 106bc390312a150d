"""Process guard: the one way the package starts, times out and kills external processes.

Two callers supervise processes: the device stage's chunk job runs its simulating child
(``python -m dwsynapse device-chunk``, :func:`dwsynapse.device.guard.run_chunk_guarded`) and the
mumax3 engine runs one solver binary per thermal instance (:mod:`dwsynapse.engines.mumax3`). Both
start them with :func:`spawn` (own process group; on Linux SIGKILLed when the starting process
dies) and kill them with :func:`kill_tree` (the process group and every descendant, also those that
started their own session), so neither a timeout, a crash of the supervisor nor an interrupt leaves
a process behind. :func:`run_child` runs one process to its end under a wall-clock limit and says
why it failed.

Retry counts go through :func:`check_count`: a setting ``retries`` means ``retries + 1`` tries
(docs/design.md "Retries": who retries what). Standard library only, so the engines and the device
stage import it without importing each other.
"""

from __future__ import annotations

import collections
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Sequence


def check_count(value, what: str, minimum: int = 0, error: type[Exception] = ValueError) -> int:
    """``value`` as a count (an integer >= ``minimum``, not a bool): a number of retries, a 1-based
    try. Raises ``error`` naming ``what`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise error(f"{what} must be an integer >= {minimum}, got {value!r}")
    return value


def spawn(argv: Sequence[str], **popen_kwargs) -> subprocess.Popen:
    """Start ``argv`` (``subprocess.Popen`` keyword arguments as given) in a process group of its
    own, which :func:`kill_tree` kills as a whole; on Linux the process also gets SIGKILL when the
    thread that started it dies (``PR_SET_PDEATHSIG``), so it never outlives its supervisor."""
    parent = os.getpid()

    def setup_child():
        os.setpgid(0, 0)
        if sys.platform.startswith("linux"):
            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
            if os.getppid() != parent:  # the supervisor died before prctl took effect
                os._exit(1)

    return subprocess.Popen(list(argv), preexec_fn=setup_child, **popen_kwargs)


def kill_tree(pid: int) -> None:
    """SIGKILL process ``pid``, its process group and (Linux) every descendant, also those that
    started their own session (an engine's solver binary)."""
    victims = [pid] + descendants(pid)
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    for p in victims:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def descendants(pid: int) -> list[int]:
    """Process ids below ``pid`` (from /proc; empty where there is none)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        kids = children.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def run_child(argv: Sequence[str], env: dict, timeout: float) -> str | None:
    """Run ``argv`` (started by :func:`spawn`) with its output echoed into this process's log; None
    when it exits 0, else why not (exit status, signal, or timeout [s]) with its last line of output.
    On a timeout or an interrupt of this process the child's whole tree is killed."""
    tail: collections.deque[str] = collections.deque(maxlen=1)
    proc = spawn(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    reader = threading.Thread(target=_echo, args=(proc.stdout, tail), daemon=True)
    reader.start()
    try:
        rc = proc.wait(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        kill_tree(proc.pid)
        rc, timed_out = proc.wait(), True
    except BaseException:
        kill_tree(proc.pid)
        proc.wait()
        raise
    reader.join(timeout=5)
    if timed_out:
        why = f"timed out after {timeout:g} s"
    elif rc < 0:
        try:
            sig = signal.Signals(-rc).name
        except ValueError:
            sig = str(-rc)
        why = f"killed by signal {sig}" + (" (out of memory?)" if -rc == signal.SIGKILL else "")
    elif rc > 0:
        why = f"exited with status {rc}"
    else:
        return None
    return why + (f"; last output: {tail[0][:300]}" if tail else "")


def _echo(stream, tail) -> None:
    """Copy a child's output lines to this process's log handlers; keep the last non-empty line.
    Reads to the end whatever happens to a handler, so the child never blocks on a full pipe."""
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
    for raw in iter(stream.readline, b""):
        line = raw.decode(errors="replace").rstrip()
        if line.strip():
            tail.append(line.strip())
        for h in list(handlers):
            h.acquire()
            try:
                h.stream.write(line + "\n")
                h.flush()
            except (OSError, ValueError):  # a closed or broken log stream: stop echoing to it
                handlers.remove(h)
            finally:
                h.release()
    stream.close()
