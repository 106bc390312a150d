"""The chunk guard: one device-stage chunk job runs its chunk in a child process under a wall-clock limit.

A crash (non-zero exit, a signal such as SIGSEGV or the out-of-memory SIGKILL) or a hang of the child
cannot take the job down without a record. Tries (docs/design.md "Retries"): this module owns the
policy of re-running a failed chunk child. The job is tried ``device.chunk_retries`` + 1 times, each
try a fresh Snakemake job (the rule's ``retries``, :mod:`dwsynapse.device.resources`) whose child
gets ``attempt`` times the first try's timeout; a failure before the last try fails the job
(:class:`ChunkJobFailed`) so that Snakemake submits the next one, and on the last try the chunk file
records every instance of the chunk as failed, with the reasons of all tries. Starting, timing out
and killing the child is :func:`dwsynapse.procguard.run_child`.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Sequence

import yaml

from dwsynapse.device.chunkfile import read_chunk, write_chunk
from dwsynapse.device.chunks import DeviceStageError, chunk_seeds, device_config_sha256, find_chunk
from dwsynapse.device.resources import chunk_retries, chunk_timeout_s
from dwsynapse.engines import InstanceResult
from dwsynapse.geometry import build_racetrack
from dwsynapse.io import write_text
from dwsynapse.procguard import check_count, run_child
from dwsynapse.settings import device_settings

log = logging.getLogger("dwsynapse.device.guard")


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
    check_count(attempt, "attempt", 1, error=DeviceStageError)
    retries = chunk_retries(config) if retries is None else check_count(retries, "retries", error=DeviceStageError)
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
    why = run_child(argv, env, timeout)
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
    dev = device_settings(config)
    write_chunk(out_path, chunk, results, build_racetrack(dev.geometry), dev.engine, "", device_config_sha256(config))
    return out_path
