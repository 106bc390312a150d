"""Cross-checks of a schema-valid config: keys that must agree with each other and the files and folders
a run needs. The Snakefile runs :func:`check_setup` before any job starts, ``dwsynapse check-config``
runs the same check, so a config that would fail after the device stage is refused at once.

Each problem is reported as ``config key '<dotted key>': <what is wrong>``, all of them in one
:class:`~dwsynapse.config.ConfigError`.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from dwsynapse.config import ConfigError
from dwsynapse.settings import device_settings


def setup_problems(config: dict) -> list[str]:
    """Every cross-check ``config`` fails, one ``config key '...': ...`` line each (empty = fine)."""
    problems = []
    for key, check in (
        ("device.geometry", _geometry),
        ("device.stats_file", _stats_file),
        ("device.ku_values", _ku_values),
        ("train.trace_synapse", _trace_synapse),
        ("energy", _energy_ops),
        ("results_dir", _results_dir),
    ):
        why = check(config)
        if why:
            problems.append(f"config key '{key}': {why}")
    return problems


def check_setup(config: dict) -> dict:
    """Return ``config`` unchanged, or raise :class:`ConfigError` listing every failed cross-check."""
    problems = setup_problems(config)
    if problems:
        raise ConfigError("inconsistent configuration:\n  " + "\n  ".join(problems))
    return config


def check_workflow_config(config: dict) -> None:
    """The Snakefile's :func:`check_setup`: on failure the one line ``dwsynapse check-config`` prints goes
    to stderr and Snakemake stops with exit code 2 before any job (no Snakemake traceback)."""
    from dwsynapse.logutil import error_line

    try:
        check_setup(config)
    except ConfigError as exc:
        print(f"dwsynapse: {error_line(exc)}", file=sys.stderr)
        raise SystemExit(2) from None


def _geometry(config: dict) -> str | None:
    """The racetrack mask can be built: the cell size divides the strip, notches fit."""
    from dwsynapse.geometry import GeometryError, build_racetrack

    dev = device_settings(config)
    if dev.stats_file:
        return None  # no simulation: the geometry is not used
    try:
        build_racetrack(dev.geometry)
    except GeometryError as exc:
        return str(exc)
    return None


def _stats_file(config: dict) -> str | None:
    """A configured ``device.stats_file`` exists and is a valid device-statistics file."""
    from dwsynapse.devicestats import DeviceStatsError, read_device_stats

    path = device_settings(config).stats_file
    if not path:
        return None
    try:
        read_device_stats(path)
    except DeviceStatsError as exc:
        return str(exc)
    return None


def _ku_values(config: dict) -> str | None:
    """Every Ku [J/m^3] that the configured numbers of states program is simulated (or in the stats file)."""
    from dwsynapse.devicestats import KU_RTOL, DeviceStatsError, read_device_stats
    from dwsynapse.levels import ku_for_states

    tr = config["train"]
    states = set(tr["insitu"]["states"])
    if tr["exsitu"]["methods"]:
        states |= set(tr["exsitu"]["states"])
    dev = device_settings(config)
    path = dev.stats_file
    if path:
        try:
            have, where = read_device_stats(path).ku_values, f"the groups of {path}"
        except DeviceStatsError:
            return None  # reported under device.stats_file
    else:
        have, where = list(dev.ku_values), "device.ku_values"
    missing = {}
    for s in sorted(states):
        needed = ku_for_states(int(s), dev.ku_values)
        lacking = [ku for ku in needed if not any(abs(ku - h) <= KU_RTOL * ku for h in have)]
        if lacking:
            missing[s] = lacking
    if not missing:
        return None
    text = "; ".join(f"{s}-state devices need Ku {', '.join(f'{k:g}' for k in ku)} J/m^3" for s, ku in missing.items())
    return f"{text}, which {where} ({', '.join(f'{h:g}' for h in have)}) lack"


def _trace_synapse(config: dict) -> str | None:
    """The traced weight layer exists in the network ``train.hidden`` and holds ``count`` synapses."""
    from dwsynapse.nn.common import trace_spec
    from dwsynapse.nn.network import Layout
    from dwsynapse.nn.trainer import trace_synapses

    try:
        spec = trace_spec(config)
        if spec is not None:
            trace_synapses(Layout.from_hidden(config["train"]["hidden"]), spec, int(config["train"]["seed"]))
    except ValueError as exc:
        return str(exc)
    return None


def _energy_ops(config: dict) -> str | None:
    """Every operation that ``energy.dw_system`` and ``energy.cmos`` charge is in ``energy.per_op``."""
    from dwsynapse.energy import EnergyError, network_counts, system_energy
    from dwsynapse.nn.network import N_CLASSES, N_INPUT

    try:
        system_energy(config["energy"], network_counts(N_INPUT, config["train"]["hidden"], N_CLASSES), None)
    except (EnergyError, KeyError) as exc:
        return str(exc)
    return None


def _results_dir(config: dict) -> str | None:
    """``results_dir`` is a folder that can be written, or can be made in a folder that can be written."""
    path = Path(config["results_dir"]).absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        return f"{existing} is not a folder, results cannot go under it"
    try:
        with tempfile.TemporaryFile(dir=existing):  # os.access cannot tell for root or read-only mounts
            pass
    except OSError as exc:
        return f"{existing} is not writable ({exc.strerror}), results cannot go there"
    return None
