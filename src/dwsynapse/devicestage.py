"""Device stage: thermal instances per (Ku, chunk) -> chunk files -> ``device_stats.h5``.

Plan: for Ku number ``k`` (position in ``device.ku_values``) the ``instances_per_ku``
instances are cut into chunks of ``chunk_size``; instance ``i`` always has the thermal seed
``instance_seed(thermal_seed, k, i)``, however it is chunked.

Chunk file (HDF5, written atomically), one per (Ku, chunk)::

    / attrs: kind="dwsynapse-device-chunk", chunk_version, ku [J/m^3], ku_index, chunk_index,
             engine, engine_version, device_config_sha256, cell_size [m]
    index int64 (n,)  instance index within the Ku group     seed int64 (n,)
    ok    bool  (n,)  mz float64 (n,)  dw_x float64 (n,) [m]  error str (n,) ('' when ok)
    stop_time float64 (n,) [s] from the pulse start to the end of the run (rest or relaxation cap)
    single_wall bool (n,)  one wall, or the wall expelled at the far end (dwpos.single_wall)
    trace_t, trace_mz float64 (n, n_t)  NaN-padded traces [s], <mz> (only with traces)
    m_final float32 (n, 3, ny, nx)  final magnetization (NaN for failed instances)
    mask bool (ny, nx)

Merging is a pure function of the chunk files and the config (:func:`merge_chunks`).

A chunk job runs its chunk in a child process with a wall-clock limit (:func:`run_chunk_guarded`):
a crash or timeout fails the job so Snakemake tries it again (``device.chunk_retries``); on the
last try the chunk file records every instance of the chunk as failed, with the reasons.
"""

from __future__ import annotations

import collections
import csv
import ctypes
import io
import logging
import math
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import h5py
import numpy as np
import yaml

from dwsynapse import __version__
from dwsynapse.command import start_command
from dwsynapse.config import config_sha256, with_defaults
from dwsynapse.devicestats import DeviceStats, KuStats, ku_group_name, read_device_stats, write_device_stats
from dwsynapse.dwpos import single_wall
from dwsynapse.engines import InstanceResult, instance_seed
from dwsynapse.geometry import Racetrack, build_racetrack
from dwsynapse.io import atomic_path, write_text
from dwsynapse.layout import CHUNK_FILE

log = logging.getLogger("dwsynapse.devicestage")

CHUNK_KIND = "dwsynapse-device-chunk"
CHUNK_VERSION = 1


class DeviceStageError(RuntimeError):
    """The device stage cannot produce a trustworthy device-statistics file; the message says why."""


@dataclass(frozen=True)
class Chunk:
    """One job of the device stage: instances ``indices`` of Ku number ``ku_index``."""

    ku_index: int
    ku: float
    chunk_index: int
    indices: tuple[int, ...]

    @property
    def group(self) -> str:
        return ku_group_name(self.ku)


def plan_chunks(config: dict) -> list[Chunk]:
    """All (Ku, chunk) jobs of the device stage, in Ku order then chunk order."""
    dev = config["device"]
    n, size = int(dev["instances_per_ku"]), int(dev["chunk_size"])
    if n < 1 or size < 1:
        raise DeviceStageError(f"device.instances_per_ku ({n}) and device.chunk_size ({size}) must be >= 1")
    out = []
    for k, ku in enumerate(dev["ku_values"]):
        for c in range(math.ceil(n / size)):
            out.append(Chunk(k, float(ku), c, tuple(range(c * size, min(n, (c + 1) * size)))))
    return out


def find_chunk(config: dict, group: str, chunk_index: int) -> Chunk:
    """The planned chunk called ``group``/``chunk_index`` (as in the chunk file path)."""
    for ch in plan_chunks(config):
        if ch.group == group and ch.chunk_index == int(chunk_index):
            return ch
    raise DeviceStageError(f"no chunk {group}/chunk_{chunk_index} in the plan of this config")


def chunk_files(config: dict, chunk_dir: str | Path) -> list[str]:
    """Paths ``chunk_dir/<group>/chunk_<i>.h5`` of every planned chunk (what the merge reads)."""
    return [str(Path(chunk_dir) / ch.group / CHUNK_FILE.format(chunk=ch.chunk_index)) for ch in plan_chunks(config)]


def chunk_uses_gpu(config: dict) -> bool:
    """Whether a chunk job needs a GPU: engine mumax3, or torch with device.torch.device: cuda."""
    dev = config["device"]
    return dev["engine"] == "mumax3" or (dev.get("torch") or {}).get("device") == "cuda"


CHUNK_MARGIN_MIN = 5  # minutes of a chunk job's wall-time request beyond its child's timeout


def chunk_retries(config: dict) -> int:
    """How often a failed chunk job is tried again (``device.chunk_retries``, default 2)."""
    n = config["device"].get("chunk_retries", 2)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise DeviceStageError(f"device.chunk_retries must be an integer >= 0, got {n!r}")
    return n


def _estimated_chunk_seconds(config: dict) -> float:
    """Generous wall-time estimate of one chunk [s].

    mumax3: the per-instance timeout for every try of every wave of ``device.mumax3.processes``
    processes (the first instance runs alone while it warms the kernel cache). torch: instance-steps x
    ~1.3 ms per step at 2250 cells on one CPU core (docs/design.md "Cost of a step"), scaled by the cell count,
    times 10 for shared or slower machines, plus 10 min."""
    dev = with_defaults(config)["device"]
    n = int(dev["chunk_size"])
    if dev["engine"] == "mumax3":
        m = dev["mumax3"]
        waves = 1 + math.ceil((n - 1) / int(m["processes"]))  # one process per instance, the first may run alone
        return 60.0 * (int(waves * float(m["timeout_s"]) * (int(m["retries"]) + 1) / 60) + 5)
    g, s, d = dev["geometry"], dev["solver"], dev["drive"]
    cells = (g["length"] / g["cell_size"]) * (g["width"] / g["cell_size"] + 2)
    steps = (float(d["pulse_duration"]) + float(s["relax_max_time"])) / float(s["dt"])
    return 60.0 * (int(10 * n * steps * 1.3e-3 * cells / 2250 / 60) + 10)


def chunk_timeout_s(config: dict, attempt: int = 1) -> float:
    """Wall-clock limit [s] of the simulating child process of a chunk job on try ``attempt``
    (1-based): ``attempt`` times ``device.chunk_timeout_s``, or times the runtime estimate of one
    chunk when that is null, so a chunk that was merely slow gets more time on its next try."""
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise DeviceStageError(f"attempt must be an integer >= 1, got {attempt!r}")
    base = config["device"].get("chunk_timeout_s")
    if base is None:
        base = _estimated_chunk_seconds(config)
    elif isinstance(base, bool) or not isinstance(base, (int, float)) or not base > 0:
        raise DeviceStageError(f"device.chunk_timeout_s must be a number > 0 (seconds) or null, got {base!r}")
    return attempt * float(base)


def chunk_runtime_minutes(config: dict, attempt: int = 1) -> int:
    """Wall-time request of one chunk job on try ``attempt`` [min] (SLURM -t): the child's timeout
    (:func:`chunk_timeout_s`) plus ``CHUNK_MARGIN_MIN`` for starting Python and recording a failure,
    so the job itself is never cut off before it can record why its child failed."""
    return math.ceil(chunk_timeout_s(config, attempt) / 60) + CHUNK_MARGIN_MIN


def chunk_seeds(config: dict, chunk: Chunk) -> list[int]:
    """Thermal seeds of the chunk's instances (independent of the chunking)."""
    ts = int(config["device"]["thermal_seed"])
    return [instance_seed(ts, chunk.ku_index, i) for i in chunk.indices]


def device_config_sha256(config: dict) -> str:
    """Hash of the device section that determines the physics (not where its outputs go, nor how
    failed jobs are handled)."""
    dev = {k: v for k, v in config["device"].items() if k not in ("stats_file", "min_success_fraction",
                                                             "chunk_retries", "chunk_timeout_s")}
    return config_sha256(dev)


def get_engine(name: str):
    """``run_instances`` of the engine called ``name`` (torch | mumax3)."""
    if name == "torch":
        from dwsynapse.engines.torchfd import run_instances
    elif name == "mumax3":
        from dwsynapse.engines.mumax3 import run_instances
    else:
        raise DeviceStageError(f"unknown device.engine {name!r}; use torch or mumax3")
    return run_instances


def check_engine(config: dict) -> dict:
    """Fail early and clearly when the configured engine cannot run here; describe it otherwise."""
    name = config["device"]["engine"]
    if name == "mumax3":
        from dwsynapse.engines.mumax3 import find_binary
        from dwsynapse.mx3 import RenderError, check_renderable

        try:
            check_renderable(config)
        except RenderError as exc:
            raise DeviceStageError(f"engine mumax3: {exc}") from None
        return {"engine": name, "binary": str(find_binary(config))}
    get_engine(name)
    import torch

    return {"engine": name, "torch": torch.__version__, "cuda": bool(torch.cuda.is_available())}


def _engine_version(name: str, workdir: Path) -> str:
    if name == "mumax3":
        from dwsynapse.engines.mumax3 import engine_version

        return engine_version(workdir)
    import torch

    return f"dwsynapse {__version__} torchfd, torch {torch.__version__}"


def write_chunk(path: str | Path, chunk: Chunk, results: Sequence[InstanceResult], racetrack: Racetrack,
                engine: str, engine_version: str, device_sha: str) -> None:
    """Write the results of one chunk to ``path`` (HDF5, atomically)."""
    if len(results) != len(chunk.indices):
        raise DeviceStageError(f"chunk {chunk.group}/{chunk.chunk_index}: {len(results)} results "
                               f"for {len(chunk.indices)} instances")
    n = len(results)
    shape = racetrack.mask.shape
    m_final = np.full((n, 3) + shape, np.nan, np.float32)
    n_t = max([len(r.t) for r in results if r.ok and r.t is not None] + [0])
    trace_t = np.full((n, n_t), np.nan)
    trace_mz = np.full((n, n_t), np.nan)
    for j, r in enumerate(results):
        if r.ok and r.m_final is not None:
            m_final[j] = r.m_final
        if r.ok and r.t is not None and r.mz_t is not None:
            trace_t[j, : len(r.t)] = r.t
            trace_mz[j, : len(r.mz_t)] = r.mz_t
    with atomic_path(path, suffix=".h5.tmp") as tmp:
        with h5py.File(tmp, "w") as f:
            f.attrs.update(kind=CHUNK_KIND, chunk_version=CHUNK_VERSION, ku=chunk.ku, ku_index=chunk.ku_index,
                           chunk_index=chunk.chunk_index, engine=engine, engine_version=engine_version,
                           device_config_sha256=device_sha, cell_size=racetrack.cell_size)
            f["index"] = np.asarray(chunk.indices, np.int64)
            f["seed"] = np.asarray([r.seed for r in results], np.int64)
            f["ok"] = np.asarray([r.ok for r in results], bool)
            f["mz"] = np.asarray([r.mz if r.ok else np.nan for r in results], np.float64)
            f["dw_x"] = np.asarray([r.dw_x if r.ok else np.nan for r in results], np.float64)
            f["stop_time"] = np.asarray([r.stop_time if r.ok else np.nan for r in results], np.float64)
            f["single_wall"] = single_wall(np.nan_to_num(m_final[:, 2]), racetrack.mask) & np.asarray(
                [r.ok for r in results], bool)
            f.create_dataset("error", data=np.array([r.error if not r.ok else "" for r in results],
                                                    dtype=h5py.string_dtype()))
            if n_t:
                f["trace_t"] = trace_t
                f["trace_mz"] = trace_mz
            f.create_dataset("m_final", data=m_final, compression="gzip")
            f["mask"] = racetrack.mask


def run_chunk(config: dict, group: str, chunk_index: int, out_path: str | Path, workdir: str | Path,
              progress: bool = True) -> Path:
    """Simulate one planned chunk with the configured engine and write its chunk file."""
    chunk = find_chunk(config, group, chunk_index)
    engine = config["device"]["engine"]
    check_engine(config)
    racetrack = build_racetrack(config["device"]["geometry"])
    seeds = chunk_seeds(config, chunk)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    log.info("chunk %s/%d: %d instance(s) at Ku=%g J/m^3 with engine %s (grid %d x %d, %d magnetic cells)",
             group, chunk.chunk_index, len(seeds), chunk.ku, engine, racetrack.nx, racetrack.ny, racetrack.n_magnetic)
    results = get_engine(engine)(config, racetrack, chunk.ku, seeds, workdir, progress=progress)
    for r in results:
        if r.ok:
            log.info("  seed %d: <mz> = %.4f, DW at %.2f nm", r.seed, r.mz, r.dw_x * 1e9)
        else:
            log.warning("  seed %d FAILED: %s", r.seed, r.error)
    write_chunk(out_path, chunk, results, racetrack, engine, _engine_version(engine, workdir),
                device_config_sha256(config))
    return Path(out_path)


class ChunkJobFailed(DeviceStageError):
    """The child process of a chunk job failed on a try that is not the last one (Snakemake retries it)."""


CHUNK_COMMAND = (sys.executable, "-m", "dwsynapse", "device-chunk")
ATTEMPTS_FILE = "job_attempts.txt"


def run_chunk_guarded(config: dict, group: str, chunk_index: int, out_path: str | Path, workdir: str | Path, *,
                      attempt: int, retries: int | None = None, timeout_s: float | None = None, threads: int = 1,
                      command: Sequence[str] = CHUNK_COMMAND) -> Path:
    """Run one chunk in a child process (``command`` + ``--config ... --group ... --chunk ... --out
    ... --workdir ...``, by default ``python -m dwsynapse device-chunk``) with a wall-clock limit,
    so a crash (non-zero exit, a signal such as SIGSEGV or the out-of-memory SIGKILL) or a hang
    cannot take the job down without a record.

    ``attempt`` is the 1-based try of this job, ``retries`` (default ``device.chunk_retries``) how
    often it is tried again, ``timeout_s`` [s] the child's limit (default :func:`chunk_timeout_s`).
    When the child fails on a try before the last, :class:`ChunkJobFailed` is raised (the job fails
    and Snakemake tries it again); on the last try the chunk file is written (atomically) with every
    instance ok=False and the reasons of all tries, so the merge lists them under ``/failed`` and
    ``device.min_success_fraction`` decides. A child that exits 0 must have written a readable chunk
    file of this chunk. Returns ``out_path``."""
    chunk = find_chunk(config, group, chunk_index)
    if isinstance(attempt, bool) or not isinstance(attempt, int) or attempt < 1:
        raise DeviceStageError(f"attempt must be an integer >= 1, got {attempt!r}")
    retries = chunk_retries(config) if retries is None else retries
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise DeviceStageError(f"retries must be an integer >= 0, got {retries!r}")
    timeout = chunk_timeout_s(config, attempt) if timeout_s is None else float(timeout_s)
    if not timeout > 0:
        raise DeviceStageError(f"chunk timeout must be > 0 s, got {timeout_s!r}")
    n_tries = retries + 1
    out_path, workdir = Path(out_path), Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    config_file = workdir / "config.yaml"
    write_text(yaml.safe_dump(config, sort_keys=False), config_file)
    argv = [*command, "--config", str(config_file), "--group", chunk.group, "--chunk", str(chunk.chunk_index),
            "--out", str(out_path), "--workdir", str(workdir)]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), PYTHONFAULTHANDLER="1")
    name = f"{chunk.group}/chunk_{chunk.chunk_index}"
    log.info("chunk %s, try %d of %d: running %s with a limit of %g s", name, attempt, n_tries,
             " ".join(argv), timeout)
    why = _run_child(argv, env, timeout)
    if why is None:
        try:
            got = read_chunk(out_path)
            if (got.ku_index, got.chunk_index, tuple(got.index.tolist())) != (chunk.ku_index, chunk.chunk_index,
                                                                               chunk.indices):
                raise DeviceStageError(f"{out_path}: holds another chunk")
        except DeviceStageError as exc:
            why = f"exited with status 0 but left no usable chunk file ({exc})"
    if why is None:
        log.info("chunk %s finished on try %d of %d", name, attempt, n_tries)
        return out_path
    out_path.unlink(missing_ok=True)
    history = workdir / ATTEMPTS_FILE
    earlier = history.read_text().splitlines() if attempt > 1 and history.exists() else []
    tries = [t for t in earlier if int(t.split()[1].split("/")[0]) < attempt]  # this run's earlier tries
    tries.append(f"try {attempt}/{n_tries}: {why}")
    write_text("\n".join(tries) + "\n", history)
    if attempt < n_tries:
        msg = f"chunk {name} failed on try {attempt} of {n_tries}: {why}; Snakemake tries it again"
        log.error("%s", msg)
        raise ChunkJobFailed(msg)
    reason = f"chunk job {name} failed on all {n_tries} tries: " + "; ".join(tries)
    log.error("%s; recording its %d instance(s) as failed in %s", reason, len(chunk.indices), out_path)
    results = [InstanceResult(seed=s, ok=False, error=reason) for s in chunk_seeds(config, chunk)]
    write_chunk(out_path, chunk, results, build_racetrack(config["device"]["geometry"]), config["device"]["engine"],
                "", device_config_sha256(config))
    return out_path


def _run_child(argv: list[str], env: dict, timeout: float) -> str | None:
    """Run ``argv`` with its output echoed into this process's log; None when it exits 0, else why
    not (exit status, signal, or timeout [s]) with its last line of output."""
    tail: collections.deque[str] = collections.deque(maxlen=1)
    parent = os.getpid()

    def setup_child():  # own process group (killed as a whole on timeout); dies with this process (Linux)
        os.setpgid(0, 0)
        if sys.platform.startswith("linux"):
            ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
            if os.getppid() != parent:
                os._exit(1)

    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env=env, preexec_fn=setup_child)
    reader = threading.Thread(target=_echo, args=(proc.stdout, tail), daemon=True)
    reader.start()
    try:
        rc = proc.wait(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        _kill_tree(proc.pid)
        rc, timed_out = proc.wait(), True
    except BaseException:
        _kill_tree(proc.pid)
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


def _kill_tree(pid: int) -> None:
    """SIGKILL process ``pid``, its process group and (Linux) every descendant, also those that
    started their own session (an engine's solver binary)."""
    victims = [pid] + _descendants(pid)
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass
    for p in victims:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def _descendants(pid: int) -> list[int]:
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


@dataclass
class ChunkData:
    """Contents of one chunk file (see the module docstring)."""

    path: Path
    ku: float
    ku_index: int
    chunk_index: int
    engine: str
    engine_version: str
    device_sha: str
    index: np.ndarray
    seed: np.ndarray
    ok: np.ndarray
    mz: np.ndarray
    dw_x: np.ndarray
    error: list[str]
    trace_t: np.ndarray | None
    trace_mz: np.ndarray | None
    stop_time: np.ndarray | None = None
    single_wall: np.ndarray | None = None


def read_chunk(path: str | Path) -> ChunkData:
    """Read and check a chunk file; raises :class:`DeviceStageError` naming the file."""
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DeviceStageError(f"{path}: not a readable chunk file ({exc})") from exc
    with f:
        if f.attrs.get("kind") != CHUNK_KIND or int(f.attrs.get("chunk_version", -1)) != CHUNK_VERSION:
            raise DeviceStageError(f"{path}: not a dwsynapse device chunk (version {CHUNK_VERSION})")
        try:
            data = ChunkData(
                path=path, ku=float(f.attrs["ku"]), ku_index=int(f.attrs["ku_index"]),
                chunk_index=int(f.attrs["chunk_index"]), engine=str(f.attrs["engine"]),
                engine_version=str(f.attrs["engine_version"]), device_sha=str(f.attrs["device_config_sha256"]),
                index=f["index"][()], seed=f["seed"][()], ok=f["ok"][()].astype(bool), mz=f["mz"][()],
                dw_x=f["dw_x"][()],
                error=[e.decode() if isinstance(e, bytes) else str(e) for e in f["error"][()]],
                trace_t=f["trace_t"][()] if "trace_t" in f else None,
                trace_mz=f["trace_mz"][()] if "trace_mz" in f else None,
                stop_time=f["stop_time"][()] if "stop_time" in f else None,
                single_wall=f["single_wall"][()].astype(bool) if "single_wall" in f else None,
            )
        except KeyError as exc:
            raise DeviceStageError(f"{path}: chunk file lacks {exc}") from None
    n = data.index.shape[0]
    if any(np.shape(a)[0] != n for a in (data.seed, data.ok, data.mz, data.dw_x, data.error)):
        raise DeviceStageError(f"{path}: chunk datasets differ in length")
    if np.any(data.ok & ~np.isfinite(data.mz)):
        raise DeviceStageError(f"{path}: an instance marked ok has a non-finite <mz>")
    return data


def _common_traces(ts: list[np.ndarray], mzs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray] | None:
    """Put traces on the longest instance's time grid (linear interpolation, NaN after an
    instance's own end); None when no instance has a trace."""
    valid = [(t[np.isfinite(t)], m[np.isfinite(t)]) for t, m in zip(ts, mzs)]
    if not any(len(t) for t, _ in valid):
        return None
    ref = max((t for t, _ in valid), key=len)
    out = np.full((len(valid), len(ref)), np.nan)
    for j, (t, m) in enumerate(valid):
        if len(t):
            inside = ref <= t[-1] * (1 + 1e-9)
            out[j, inside] = np.interp(ref[inside], t, m)
    return ref, out


def merge_chunks(config: dict, chunk_paths: Sequence[str | Path], out_path: str | Path) -> DeviceStats:
    """Merge chunk files into the device-statistics file ``out_path``.

    Checks that every planned instance appears exactly once with the planned seed, records
    failed instances with their errors, and fails with :class:`DeviceStageError` when a Ku
    group's success fraction is below ``device.min_success_fraction``."""
    dev = config["device"]
    chunks = [read_chunk(p) for p in chunk_paths]
    n_req = int(dev["instances_per_ku"])
    min_frac = float(dev.get("min_success_fraction", 1.0))
    sha = device_config_sha256(config)
    engines = {c.engine for c in chunks}
    if len(engines) > 1:
        raise DeviceStageError(f"chunk files come from different engines {sorted(engines)}; re-run the device stage")
    for c in chunks:
        if c.device_sha != sha:
            raise DeviceStageError(f"{c.path}: made with another device configuration; re-run its chunk")
    groups, problems = [], []
    for k, ku in enumerate(dev["ku_values"]):
        mine = [c for c in chunks if c.ku_index == k]
        if not mine:
            raise DeviceStageError(f"no chunk files for Ku={ku:g} J/m^3 (Ku number {k})")
        index = np.concatenate([c.index for c in mine])
        order = np.argsort(index, kind="stable")
        if not np.array_equal(index[order], np.arange(n_req)):
            raise DeviceStageError(
                f"Ku={ku:g} J/m^3: chunk files hold instances {sorted(index.tolist())}, expected 0..{n_req - 1} once each"
            )
        cat = lambda name: np.concatenate([getattr(c, name) for c in mine])[order]  # noqa: E731
        seed, ok, mz, dw_x = cat("seed"), cat("ok"), cat("mz"), cat("dw_x")
        error = [e for c in mine for e in c.error]
        error = [error[i] for i in order]
        expected = [instance_seed(int(dev["thermal_seed"]), k, i) for i in range(n_req)]
        if not np.array_equal(seed, expected):
            raise DeviceStageError(f"Ku={ku:g} J/m^3: chunk seeds differ from the planned instance seeds")
        traces = None
        if all(c.trace_t is not None for c in mine):
            tt = [row for c in mine for row in c.trace_t]
            tm = [row for c in mine for row in c.trace_mz]
            tt, tm = [tt[i] for i in order if ok[i]], [tm[i] for i in order if ok[i]]
            traces = _common_traces(tt, tm) if tt else None
        cap = float(dev["drive"]["pulse_duration"]) + float(dev["solver"]["relax_max_time"])
        flags = {}
        if all(c.stop_time is not None and c.single_wall is not None for c in mine):
            flags = dict(single_wall=cat("single_wall")[ok], hit_cap=cat("stop_time")[ok] >= cap * (1 - 1e-6))
        g = KuStats(
            ku=float(ku), mz=mz[ok], dw_x=dw_x[ok], seed=seed[ok], n_requested=n_req, **flags,
            failed_seed=seed[~ok], failed_error=[error[i] for i in np.flatnonzero(~ok)],
            t=traces[0] if traces else None, mz_t=traces[1] if traces else None,
        )
        frac = g.n_ok / n_req
        if frac < min_frac:
            why = "; ".join(sorted(set(g.failed_error)))[:600]
            problems.append(f"Ku={ku:g} J/m^3: {g.n_ok}/{n_req} instances succeeded ({frac:.0%} < "
                            f"device.min_success_fraction {min_frac:.0%}); errors: {why}")
        groups.append(g)
    if problems:
        raise DeviceStageError("device stage failed:\n  " + "\n  ".join(problems))
    stats = DeviceStats(
        groups=groups,
        engine=chunks[0].engine,
        engine_version="; ".join(sorted({c.engine_version for c in chunks if c.engine_version})),
        config_sha256=sha,
        material=dict(dev["material"]),
        geometry=dict(dev["geometry"], measured_rms=build_racetrack(dev["geometry"]).measured_rms),
    )
    write_device_stats(out_path, stats)
    return stats


SUMMARY_FIELDS = ["ku", "n_requested", "n_ok", "n_failed", "mz_mean", "mz_std", "mz_min", "mz_max",
                  "dw_x_mean_m", "dw_x_std_m", "n_extra_domains", "hit_cap_fraction"]


def summary_csv(stats: DeviceStats) -> str:
    """Per-Ku summary table (CSV text): counts, <mz> and DW-position statistics (SI units). The DW
    statistics leave out instances flagged with extra domains (counted in ``n_extra_domains``);
    ``hit_cap_fraction`` is the fraction of instances whose relaxation reached its cap (both empty
    for files without the flags)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(SUMMARY_FIELDS)
    for g in stats.groups:
        mz, x = np.asarray(g.mz), np.asarray(g.dw_x)
        if g.single_wall is not None:
            x = x[g.single_wall]
        stat = (lambda a, f: repr(float(f(a))) if a.size else "nan")
        w.writerow([repr(g.ku), g.n_requested, g.n_ok, g.n_failed, stat(mz, np.mean),
                    stat(mz, lambda a: np.std(a, ddof=1) if a.size > 1 else 0.0), stat(mz, np.min),
                    stat(mz, np.max), stat(x, np.mean), stat(x, lambda a: np.std(a, ddof=1) if a.size > 1 else 0.0),
                    "" if g.single_wall is None else int((~g.single_wall).sum()),
                    "" if g.hit_cap is None else repr(float(np.mean(g.hit_cap))) if g.n_ok else "nan"])
    return buf.getvalue()


def write_summary(stats_path: str | Path, out_csv: str | Path) -> None:
    """Read a device-statistics file and write its per-Ku summary CSV (atomically)."""
    write_text(summary_csv(read_device_stats(stats_path)), out_csv)


def render_all(config: dict, outdir: str | Path) -> list[Path]:
    """Render the mumax3 inputs of every planned instance into ``outdir/<group>/instance_<i>/`` (for
    inspection or to run by hand); return the script paths. A config mumax3 cannot run raises
    :class:`dwsynapse.mx3.RenderError` before anything is written."""
    from dwsynapse.mx3 import check_renderable, write_inputs

    racetrack = build_racetrack(config["device"]["geometry"])
    check_renderable(config, racetrack)
    paths = []
    for ch in plan_chunks(config):
        for i, seed in zip(ch.indices, chunk_seeds(config, ch)):
            paths.append(write_inputs(Path(outdir) / ch.group / f"instance_{i:05d}", config, racetrack, ch.ku, seed))
    return paths


# ---- command line -------------------------------------------------------------------------------

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
