"""Merge of the device stage: chunk files -> the device-statistics file, and its per-Ku summary CSV.

Merging is a pure function of the chunk files and the config (:func:`merge_chunks`): every planned
instance must appear exactly once with its planned seed, failed instances are recorded under
``/failed`` with their errors, and ``device.min_success_fraction`` decides whether the statistics can
be trusted. The file also records the racetrack the chunks were simulated on (its measured edge
roughness, its notch centres).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Sequence

import numpy as np

from dwsynapse.device.chunkfile import read_chunk
from dwsynapse.device.chunks import DeviceStageError, device_config_sha256
from dwsynapse.devicestats import DeviceStats, KuStats, read_device_stats, write_device_stats
from dwsynapse.engines import instance_seed
from dwsynapse.geometry import build_racetrack
from dwsynapse.io import write_text
from dwsynapse.settings import device_settings


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
    dev = device_settings(config)
    chunks = [read_chunk(p) for p in chunk_paths]
    n_req = dev.instances_per_ku
    min_frac = dev.min_success_fraction
    sha = device_config_sha256(config)
    engines = {c.engine for c in chunks}
    if len(engines) > 1:
        raise DeviceStageError(f"chunk files come from different engines {sorted(engines)}; re-run the device stage")
    for c in chunks:
        if c.device_sha != sha:
            raise DeviceStageError(f"{c.path}: made with another device configuration; re-run its chunk")
    groups, problems = [], []
    for k, ku in enumerate(dev.ku_values):
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
        expected = [instance_seed(dev.thermal_seed, k, i) for i in range(n_req)]
        if not np.array_equal(seed, expected):
            raise DeviceStageError(f"Ku={ku:g} J/m^3: chunk seeds differ from the planned instance seeds")
        traces = None
        if all(c.trace_t is not None for c in mine):
            tt = [row for c in mine for row in c.trace_t]
            tm = [row for c in mine for row in c.trace_mz]
            tt, tm = [tt[i] for i in order if ok[i]], [tm[i] for i in order if ok[i]]
            traces = _common_traces(tt, tm) if tt else None
        cap = dev.drive.pulse_duration + dev.solver.relax_max_time + dev.solver.readout_time  # stop_time includes the tail
        flags = {}
        if all(c.stop_time is not None and c.single_wall is not None for c in mine):
            flags = dict(single_wall=cat("single_wall")[ok], hit_cap=cat("stop_time")[ok] >= cap * (1 - 1e-6))
        g = KuStats(
            ku=ku, mz=mz[ok], dw_x=dw_x[ok], seed=seed[ok], n_requested=n_req, **flags,
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
    racetrack = build_racetrack(dev.geometry)  # the one every chunk ran on (same device_config_sha256)
    stats = DeviceStats(
        groups=groups,
        engine=chunks[0].engine,
        engine_version="; ".join(sorted({c.engine_version for c in chunks if c.engine_version})),
        config_sha256=sha,
        material=dict(config["device"]["material"]),  # the values as configured (the file's record)
        geometry=dict(dev.geometry, measured_rms=racetrack.measured_rms),
        notch_x=racetrack.notch_x,
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
