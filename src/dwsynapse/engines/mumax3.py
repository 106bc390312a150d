"""mumax3 engine: run thermal instances through the external ``mumax3`` binary (GPU).

The binary is taken from ``device.mumax3.binary``, else the ``MUMAX3`` environment variable,
else ``mumax3`` on ``PATH``. One call renders one script for all requested instances
(:mod:`dwsynapse.mx3`) and runs ``mumax3 -gpu N -o OUT -cache DIR -http "" -f script``. An
instance counts as done when its final OVF parses; instances missing after a crash, a
non-zero exit or a timeout (``timeout_s`` without a newly finished instance) are re-run in a
fresh attempt directory, at most ``retries`` more times; the instance that was running when the
process died goes last in the next attempt. Instances that still fail come back
with ``ok=False`` and the reasons of every attempt. Every attempt keeps its script, outputs
and the mumax3 log (``mumax3.log``) under ``workdir``.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from dwsynapse.dwpos import mean_mz, wall_position
from dwsynapse.engines import InstanceResult
from dwsynapse.geometry import Racetrack
from dwsynapse.mx3 import final_name, write_inputs
from dwsynapse.ovf import OvfError, read_ovf
from dwsynapse.table import TableError, read_table

log = logging.getLogger("dwsynapse.engines.mumax3")

INSTALL_HINT = (
    "Install mumax3 (>= 3.11, needs an NVIDIA GPU and driver; binaries at https://mumax.github.io/download.html) "
    "and point to it with the config key device.mumax3.binary or the MUMAX3 environment variable, or put "
    "`mumax3` on PATH. Without a GPU, set device.engine: torch (the embedded engine runs on CPU), or give an "
    "existing device-statistics file in device.stats_file."
)


class Mumax3NotFound(RuntimeError):
    """No usable mumax3 binary; the message says how to install or configure one."""


def find_binary(config: dict) -> Path:
    """Path of the mumax3 executable: config ``device.mumax3.binary``, else ``$MUMAX3``, else
    ``mumax3`` on ``PATH``. The first of these that is set must work: a configured binary that
    is missing is an error, never silently replaced by another one.

    Raises :class:`Mumax3NotFound` with installation advice when none is usable."""
    mcfg = config["device"].get("mumax3", {}) or {}
    for source, value in (("device.mumax3.binary", mcfg.get("binary")), ("MUMAX3", os.environ.get("MUMAX3"))):
        if value:
            found = shutil.which(str(value))
            if found:
                return Path(found)
            raise Mumax3NotFound(f"engine mumax3: {source} = {value!r} is not an executable file. " + INSTALL_HINT)
    found = shutil.which("mumax3")
    if found:
        return Path(found)
    raise Mumax3NotFound("engine mumax3: no mumax3 binary (device.mumax3.binary and MUMAX3 are unset, "
                         "and `mumax3` is not on PATH). " + INSTALL_HINT)


def binary_version(log_text: str) -> str:
    """The mumax3 version line from a run's log (``//mumax 3.11 ...``), or ''."""
    for line in log_text.splitlines():
        s = line.strip().lstrip("/").strip()
        if s.lower().startswith("mumax"):
            return s
    return ""


def _kernel_cache(workdir: Path) -> Path:
    base = os.environ.get("DWSYNAPSE_CACHE")
    return Path(base) / "mumax3_kernels" if base else workdir / "mumax3_kernels"


def _tail(path: Path, n: int = 5) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(lines[-n:])


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


def _run_attempt(cmd: list[str], cwd: Path, out_dir: Path, names: list[str], timeout_s: float) -> tuple[int | None, str]:
    """Run mumax3 once; kill it when ``timeout_s`` passes without a new final OVF.

    Returns (exit code or None when killed, reason text or '')."""
    log_path = cwd / "mumax3.log"
    with open(log_path, "wb") as log_fh:
        try:
            proc = subprocess.Popen(cmd, cwd=cwd, stdout=log_fh, stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            return None, f"cannot start {cmd[0]}: {exc.strerror or exc}"
        done, last_progress = 0, time.monotonic()
        poll = min(1.0, max(0.02, timeout_s / 20))
        while proc.poll() is None:
            time.sleep(poll)
            now_done = sum((out_dir / f"{n}.ovf").exists() for n in names)
            if now_done > done:
                done, last_progress = now_done, time.monotonic()
            elif time.monotonic() - last_progress > timeout_s:
                _kill(proc)
                return None, f"timed out: no instance finished within {timeout_s:g} s (killed)"
    rc = proc.returncode
    if rc != 0:
        return rc, f"mumax3 exited with code {rc} (log {log_path}: {_tail(log_path)})"
    return 0, ""


def _collect(out_dir: Path, local: int, seed: int, racetrack: Racetrack, table) -> InstanceResult:
    """Read the final OVF (and trace rows) of local instance ``local``; raise on any problem."""
    f = read_ovf(out_dir / f"{final_name(local)}.ovf")
    if f.ncomp != 3 or f.data.shape[1:] != (1, racetrack.ny, racetrack.nx):
        raise OvfError(
            f"{out_dir / final_name(local)}.ovf: shape {f.data.shape}, expected (3, 1, {racetrack.ny}, {racetrack.nx})"
        )
    m = f.data[:, 0]
    mz = m[2]
    if not np.all(np.isfinite(m[:, racetrack.mask])):
        raise OvfError(f"{out_dir / final_name(local)}.ovf: non-finite magnetization (the run diverged)")
    res = InstanceResult(
        seed=int(seed),
        ok=True,
        mz=float(mean_mz(mz, racetrack.mask)),
        dw_x=float(wall_position(mz, racetrack.mask, racetrack.cell_size)),
        m_final=m.astype(np.float32),
    )
    if table is not None:
        rows = table.data[table.column("instance") == local]
        if len(rows):
            res.t = rows[:, table.names.index("t_inst")].copy()
            res.mz_t = rows[:, table.names.index("mz")].copy()
    return res


def run_instances(
    config: dict,
    racetrack: Racetrack,
    ku: float,
    seeds: Sequence[int],
    workdir: Path,
    progress: bool = True,
) -> list[InstanceResult]:
    """Simulate one thermal instance per seed at anisotropy ``ku`` [J/m^3] with mumax3.

    Returns one :class:`InstanceResult` per seed, in order; failures have ``ok=False`` and the
    error text. Raises :class:`Mumax3NotFound` (before running anything) without a binary."""
    binary = find_binary(config)
    mcfg = config["device"].get("mumax3", {}) or {}
    timeout_s = float(mcfg.get("timeout_s", 3600))
    retries = int(mcfg.get("retries", 2))
    gpu = int(mcfg.get("gpu", 0))
    save_traces = bool(config["device"]["solver"].get("save_traces", True))
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    n = len(seeds)
    results: dict[int, InstanceResult] = {}
    errors: dict[int, list[str]] = {i: [] for i in range(n)}
    pending = list(range(n))
    for attempt in range(retries + 1):
        if not pending:
            break
        adir = workdir / f"attempt{attempt}"
        if adir.exists():
            shutil.rmtree(adir)
        script = write_inputs(adir, config, racetrack, ku, [seeds[i] for i in pending], pending)
        out_dir = adir / "out"
        cmd = [str(binary), "-gpu", str(gpu), "-o", str(out_dir), "-cache", str(_kernel_cache(workdir)),
               "-http", "", "-f", script.name]
        if progress:
            log.info("mumax3 attempt %d: %d instance(s) at Ku=%g J/m^3 in %s", attempt, len(pending), ku, adir)
        rc, reason = _run_attempt(cmd, adir, out_dir, [final_name(i) for i in pending], timeout_s)
        table, table_error = None, ""
        if save_traces:
            try:  # after a crash the last row may be half written: keep the complete ones
                table = read_table(out_dir / "table.txt", drop_incomplete_last=rc != 0)
            except TableError as exc:
                table_error = f"no usable trace ({exc})"
        if save_traces and table is None and rc != 0 and progress:
            log.warning("attempt %d: %s; finished instances are kept without traces", attempt, table_error)
        still = []
        for i in pending:
            try:
                if save_traces and table is None and rc == 0:
                    raise TableError(table_error)  # a clean exit must leave a readable table
                results[i] = _collect(out_dir, i, seeds[i], racetrack, table)
            except (OvfError, TableError, ValueError) as exc:
                errors[i].append(f"attempt {attempt}: {reason + '; ' if reason else ''}{exc}")
                still.append(i)
        if still and progress:
            log.warning("mumax3 attempt %d: %d of %d instance(s) failed: %s", attempt, len(still), len(pending),
                        errors[still[0]][-1])
        if rc != 0 and still:
            # the first unfinished instance was running when mumax3 died or was killed: run it last
            # next time, so that one bad instance cannot keep the others from ever running
            still = still[1:] + still[:1]
        pending = still
    out = []
    for i in range(n):
        if i in results:
            out.append(results[i])
        else:
            out.append(InstanceResult(seed=int(seeds[i]), ok=False, error=" || ".join(errors[i])))
    return out


def engine_version(workdir: Path) -> str:
    """The mumax3 version reported in the first attempt log under ``workdir`` ('' if none)."""
    for p in sorted(Path(workdir).glob("attempt*/mumax3.log")):
        v = binary_version(p.read_text(errors="replace"))
        if v:
            return v
    return ""
