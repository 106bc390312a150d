"""mumax3 engine: run thermal instances through the external ``mumax3`` binary (GPU).

The binary is taken from ``device.mumax3.binary``, else the ``MUMAX3`` environment variable,
else ``mumax3`` on ``PATH``. Every thermal instance runs in its own mumax3 process
(``mumax3 -gpu N -o OUT -cache DIR -http "" -f script``, :mod:`dwsynapse.mx3`), up to
``device.mumax3.processes`` of them at once on the GPU: in mumax3 3.11 a second ``ThermSeed`` in
one process does not restart the noise reproducibly (mumax issue #396), so only one instance per
process gives an instance the same noise whatever chunk it is in and whatever ran before it.
Every path handed to mumax3 is absolute (mumax3 resolves relative ``-o``/``-cache`` paths against
its own working directory, the instance folder).

Demag-kernel cache: mumax3 writes its kernel files non-atomically, so no process writes to the
shared cache (``$DWSYNAPSE_CACHE/mumax3_kernels``, else ``workdir/mumax3_kernels``). Each process
gets a private copy of the shared kernels of its mesh; the kernels of a process that exited 0 are
published into the shared cache by atomic renames. When the shared cache has no kernel of the mesh
yet, the first process runs alone (it warms the cache) and the others start after it, reading.

An instance counts as done when its final OVF parses. A process that exits non-zero or runs
longer than ``timeout_s`` [s] (it is killed) fails its instance, which is run again in a fresh
attempt directory, at most ``retries`` more times; instances that still fail come back with
``ok=False`` and the reasons of every attempt, and the chunk job goes on: its own tries
(``device.chunk_retries``) are for a crash or hang of the job's child process, docs/design.md "Retries".
Every attempt keeps each instance's script, geometry, outputs and mumax3 log
(``attemptK/iNNNNN/mumax3.log``) under ``workdir``. The processes are started and killed by
:mod:`dwsynapse.procguard`, the guard of the chunk jobs: each in its own process group, killed with
its whole tree on a timeout or an interrupt, and (Linux) never outliving the runner.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from dwsynapse.dwpos import mean_mz, wall_position
from dwsynapse.engines import InstanceResult
from dwsynapse.geometry import Racetrack
from dwsynapse.mx3 import FINAL_NAME, check_renderable, write_inputs
from dwsynapse.ovf import OvfError, read_ovf
from dwsynapse.procguard import check_count, kill_tree, spawn
from dwsynapse.settings import device_settings
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
    configured = device_settings(config).mumax3.binary
    for source, value in (("device.mumax3.binary", configured), ("MUMAX3", os.environ.get("MUMAX3"))):
        if value:
            found = shutil.which(str(value))
            if found:
                return Path(os.path.abspath(found))
            raise Mumax3NotFound(f"engine mumax3: {source} = {value!r} is not an executable file. " + INSTALL_HINT)
    found = shutil.which("mumax3")
    if found:
        return Path(os.path.abspath(found))
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
    return (Path(base) / "mumax3_kernels" if base else workdir / "mumax3_kernels").absolute()


def _mesh_kernels(cache: Path, racetrack: Racetrack) -> list[Path]:
    """The kernel files of the racetrack's mesh in ``cache`` (mumax3 names them
    ``mumax3kernel_[nx ny nz]_...``, mag/demagkernel.go)."""
    return sorted(cache.glob(f"mumax3kernel_[[]{racetrack.nx} {racetrack.ny} 1[]]_*.ovf"))


def _publish(private: Path, shared: Path) -> None:
    """Move the kernel files of ``private`` that ``shared`` lacks into it, each by an atomic rename."""
    shared.mkdir(parents=True, exist_ok=True)
    for f in private.glob("mumax3kernel_*.ovf"):
        if not (shared / f.name).exists():
            tmp = shared / f".{f.name}.{os.getpid()}.tmp"
            shutil.copyfile(f, tmp)
            os.replace(tmp, shared / f.name)


def _tail(path: Path, n: int = 5) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(lines[-n:])


def _kill(proc: subprocess.Popen) -> None:
    kill_tree(proc.pid)
    proc.wait()


class _Process:
    """One mumax3 process running one instance in its folder ``folder`` (its working directory)."""

    def __init__(self, local: int, folder: Path, script: Path):
        self.local, self.folder, self.script = local, folder, script
        self.kernels = folder / "kernels"
        self.proc: subprocess.Popen | None = None
        self.started = 0.0
        self.reason = ""

    def start(self, binary: Path, gpu: int, shared_cache: Path, racetrack: Racetrack) -> bool:
        self.kernels.mkdir(parents=True, exist_ok=True)
        for f in _mesh_kernels(shared_cache, racetrack):
            shutil.copyfile(f, self.kernels / f.name)
        cmd = [str(binary), "-gpu", str(gpu), "-o", str(self.folder / "out"), "-cache", str(self.kernels),
               "-http", "", "-f", str(self.script)]
        self.log_fh = open(self.folder / "mumax3.log", "wb")
        try:
            self.proc = spawn(cmd, cwd=self.folder, stdout=self.log_fh, stderr=subprocess.STDOUT)
        except OSError as exc:
            self.log_fh.close()
            self.reason = f"cannot start {binary}: {exc.strerror or exc}"
            return False
        self.started = time.monotonic()
        return True

    def poll(self, timeout_s: float, shared_cache: Path) -> bool:
        """True when the process has ended (killed after ``timeout_s`` s); then ``reason`` says why
        it failed ('' after exit 0, whose kernels are published into ``shared_cache``)."""
        rc = self.proc.poll()
        if rc is None and time.monotonic() - self.started > timeout_s:
            _kill(self.proc)
            self.reason = f"timed out: the instance did not finish within {timeout_s:g} s (killed)"
        elif rc is None:
            return False
        elif rc != 0:
            self.reason = f"mumax3 exited with code {rc} (log {self.folder / 'mumax3.log'}: " \
                          f"{_tail(self.folder / 'mumax3.log')})"
        else:
            _publish(self.kernels, shared_cache)
        self.log_fh.close()
        shutil.rmtree(self.kernels, ignore_errors=True)
        return True


def _run_processes(jobs: list[_Process], binary: Path, gpu: int, processes: int, timeout_s: float,
                   shared_cache: Path, racetrack: Racetrack) -> None:
    """Run every job, at most ``processes`` at once; the first one alone while the shared cache has
    no kernel of this mesh. Sets each job's ``reason``."""
    queue, running = list(jobs), []
    warming = not _mesh_kernels(shared_cache, racetrack)
    poll = min(0.5, max(0.02, timeout_s / 20))
    try:
        while queue or running:
            while queue and len(running) < (1 if warming else processes):
                job = queue.pop(0)
                if job.start(binary, gpu, shared_cache, racetrack):
                    running.append(job)
            if not running:
                continue
            time.sleep(poll)
            ended = [job for job in running if job.poll(timeout_s, shared_cache)]
            running = [job for job in running if job not in ended]
            warming = warming and not ended
    finally:  # an interrupted runner leaves no mumax3 process behind on the GPU
        for job in running:
            _kill(job.proc)


def _collect(out_dir: Path, seed: int, racetrack: Racetrack, save_traces: bool) -> InstanceResult:
    """Read the final OVF (and the trace) of the instance whose outputs are in ``out_dir``; raise on
    any problem."""
    path = out_dir / f"{FINAL_NAME}.ovf"
    f = read_ovf(path)
    if f.ncomp != 3 or f.data.shape[1:] != (1, racetrack.ny, racetrack.nx):
        raise OvfError(f"{path}: shape {f.data.shape}, expected (3, 1, {racetrack.ny}, {racetrack.nx})")
    m = f.data[:, 0]
    mz = m[2]
    if not np.all(np.isfinite(m[:, racetrack.mask])):
        raise OvfError(f"{path}: non-finite magnetization (the run diverged)")
    res = InstanceResult(
        seed=int(seed),
        ok=True,
        mz=float(mean_mz(mz, racetrack.mask)),
        dw_x=float(wall_position(mz, racetrack.mask, racetrack.cell_size)),
        m_final=m.astype(np.float32),
    )
    if save_traces:
        try:
            table = read_table(out_dir / "table.txt")
        except TableError as exc:
            raise TableError(f"no usable trace ({exc})") from None
        res.t = table.data[:, table.names.index("t_inst")].copy()
        res.mz_t = table.data[:, table.names.index("mz")].copy()
        res.stop_time = float(res.t[-1]) if res.t.size else float("nan")
    return res


def run_instances(
    config: dict,
    racetrack: Racetrack,
    ku: float,
    seeds: Sequence[int],
    workdir: Path,
    progress: bool = True,
) -> list[InstanceResult]:
    """Simulate one thermal instance per seed at anisotropy ``ku`` [J/m^3] with mumax3, one process
    per instance.

    Returns one :class:`InstanceResult` per seed, in order; failures have ``ok=False`` and the
    error text. Raises :class:`Mumax3NotFound` or :class:`dwsynapse.mx3.RenderError` (before
    writing or running anything) without a binary or with a config mumax3 cannot run."""
    binary = find_binary(config)
    check_renderable(config, racetrack)
    dev = device_settings(config)
    timeout_s, retries = dev.mumax3.timeout_s, check_count(dev.mumax3.retries, "device.mumax3.retries")
    gpu, processes = dev.mumax3.gpu, dev.mumax3.processes
    save_traces = dev.solver.save_traces
    workdir = Path(workdir).absolute()
    workdir.mkdir(parents=True, exist_ok=True)
    cache = _kernel_cache(workdir)
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
        jobs = [_Process(i, adir / f"i{i:05d}", write_inputs(adir / f"i{i:05d}", config, racetrack, ku, seeds[i]))
                for i in pending]
        if progress:
            log.info("mumax3 attempt %d: %d instance(s) at Ku=%g J/m^3, %d process(es) at once, in %s", attempt,
                     len(jobs), ku, min(processes, len(jobs)), adir)
        _run_processes(jobs, binary, gpu, processes, timeout_s, cache, racetrack)
        still = []
        for job in jobs:
            i = job.local
            try:
                if job.reason:  # a crashed or killed process may have left outputs: none of them counts
                    raise RuntimeError(job.reason)
                results[i] = _collect(job.folder / "out", seeds[i], racetrack, save_traces)
            except (OvfError, TableError, ValueError, RuntimeError) as exc:
                errors[i].append(f"attempt {attempt}: {exc}")
                still.append(i)
        if still and progress:
            log.warning("mumax3 attempt %d: %d of %d instance(s) failed: %s", attempt, len(still), len(pending),
                        errors[still[0]][-1])
        pending = still
    out = []
    for i in range(n):
        if i in results:
            out.append(results[i])
        else:
            out.append(InstanceResult(seed=int(seeds[i]), ok=False, error=" || ".join(errors[i])))
    return out


def engine_version(workdir: Path) -> str:
    """The mumax3 version reported in the first instance log under ``workdir`` ('' if none)."""
    for p in sorted(Path(workdir).glob("attempt*/i*/mumax3.log")):
        v = binary_version(p.read_text(errors="replace"))
        if v:
            return v
    return ""
