"""Config defaults live in one place, the JSON schema (docs/design.md "Data flow"). Every entry point fills
them in (the Snakefile's ``validate``, ``dwsynapse.config.load_config``) and the code reads every key plainly:
no ``section.get("key", default)`` of its own, so a default cannot differ between two readers."""

from __future__ import annotations

import ast
import copy
import re

import pytest
import yaml

from dwsynapse.config import SCHEMA_PATH, load_config, load_schema, with_defaults

from .conftest import REPO

SHIPPED = ("config.yaml", "config/tiny.yaml", "config/paper.yaml")

# Receivers of ``.get(`` / ``.setdefault(`` in src/ that are not config sections: result files (metrics JSON,
# checkpoints, CSV rows, HDF5 attrs, OVF headers), lookup tables of the code, the environment, and the schema and
# config walking of dwsynapse.config itself. A new ``.get`` on a config section fails this test: give the key its
# default in src/dwsynapse/resources/config.schema.yaml and read it as ``section["key"]``.
ANYWHERE = {"os.environ"}
NOT_CONFIG = {
    "config.py": {"sub", "_resolve(schema, root)", "error.schema", "out", "node"},  # schema walking, deep_update, digests
    "procguard.py": {"children"},
    "plots/figdata.py": {"ticks"},
    "plots/figures.py": {"STATE_STYLE", "ls_of", "METHOD_LABEL", "STUDY_AXIS", "by_label"},
    "nn/trainer.py": {"state"},  # checkpoint
    "nn/exsitu.py": {"training"},  # training.json
    "nn/study.py": {"groups", "by_value"},  # rows of the study's runs
    "energy.py": {"pa"},  # a metrics dict (per_trial_total)
    "tabular.py": {"r"},
    "results.py": {"m"},
    "reproduction.py": {"m", "ours", "r", "control", "by_p"},
    "devicemaps.py": {"f.attrs"},
    "devicestats.py": {"f", "f.attrs"},
    "device/chunkfile.py": {"f.attrs"},
    "ovf.py": {"header"},
    "calibration_study.py": {"row", "r", "TARGET_OF_KU"},  # rows of docs/calibration_trials.csv; Ku -> level target
    "calibration.py": {"r"},
}

# Keys a shipped config sets that are neither required nor defaulted, on purpose: the supplementary sections
# (read only by `make study-learning` / `make supplementary`; config/paper.yaml has no `study`) and the table of
# per-operation energies (looked up by the names energy.dw_system / energy.cmos give, EnergyError if absent).
OPTIONAL = ("study", "selection", "energy.per_op.")


def _get_calls(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("get", "setdefault") and not isinstance(node.func.value, ast.Dict)):
            yield node.lineno, ast.unparse(node.func.value)


def test_code_reads_config_keys_without_defaults_of_its_own():
    src = REPO / "src" / "dwsynapse"
    found = []
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src).as_posix()
        found += [f"src/dwsynapse/{rel}:{line}: {recv}.get(...)" for line, recv in _get_calls(path)
                  if recv not in ANYWHERE | NOT_CONFIG.get(rel, set())]
    for path in sorted((REPO / "scripts").glob("*.py")):  # the rules' scripts read snakemake.config
        found += [f"scripts/{path.name}:{line}: {recv}.get(...)" for line, recv in _get_calls(path) if recv not in ANYWHERE]
    for path in [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]:
        for line, text in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"\bconfig(\[[^\]]+\])*\.(get|setdefault)\(", text):
                found.append(f"{path.relative_to(REPO)}:{line}: {text.strip()}")
    assert not found, ("config keys read with a code-side default (put the default into config.schema.yaml and "
                       "read the key plainly; a dict that is not config goes into NOT_CONFIG):\n" + "\n".join(found))


def _required_only(node, schema, root):
    """``node`` (a config) with only the keys its schema requires, recursively."""
    if "$ref" in schema:
        schema = root["definitions"][schema["$ref"].rsplit("/", 1)[-1]]
    if not isinstance(node, dict) or "properties" not in schema:
        return copy.deepcopy(node)
    props = schema["properties"]
    return {k: _required_only(v, props[k], root) for k, v in node.items() if k in schema.get("required", [])}


def _loose_keys(node, schema, root, prefix=""):
    """Dotted keys of ``node`` (a config) that its schema neither requires nor gives a default."""
    if "$ref" in schema:
        schema = root["definitions"][schema["$ref"].rsplit("/", 1)[-1]]
    if not isinstance(node, dict) or "properties" not in schema:
        return
    for key, value in node.items():
        sub = schema["properties"][key]
        if key not in schema.get("required", []) and "default" not in sub:
            yield f"{prefix}{key}"
        yield from _loose_keys(value, sub, root, f"{prefix}{key}.")


@pytest.mark.parametrize("name", SHIPPED)
def test_every_key_is_required_or_has_a_schema_default(name):
    """Every key a shipped config sets is required by the schema or has its default there, so a config that
    leaves it out means the same to every reader."""
    schema = load_schema()
    loose = [k for k in _loose_keys(load_config(REPO / name), schema, schema)
             if not any(k == p or k.startswith(p if p.endswith(".") else p + ".") for p in OPTIONAL)]
    assert not loose, f"{name}: keys neither required nor defaulted in the schema: {loose}"


def _snakemake_fill(config):
    from snakemake.utils import validate

    out = copy.deepcopy(config)
    validate(out, str(SCHEMA_PATH))  # fills the schema's defaults in place
    return out


def test_with_defaults_fills_what_snakemake_fills():
    """The command-line tools (load_config) and the workflow (Snakefile validate) see the same config, also
    for a config with only the required keys, and with the nullable sections set to null."""
    schema = load_schema()
    full = load_config(REPO / "config.yaml")
    bare = _required_only(full, schema, schema)
    bare["study"], bare["selection"] = full["study"], full["selection"]
    for key in ("n_train",):  # defaults inside a $ref'd section (study.full, study.reduced)
        del bare["study"]["full"][key], bare["study"]["reduced"][key], bare["study"]["sensitivity"][key]
    assert with_defaults(bare) == _snakemake_fill(bare)
    assert with_defaults(bare)["study"]["full"]["n_train"] is None
    nulls = copy.deepcopy(bare)
    nulls["train"]["trace_synapse"] = None
    nulls["energy"]["dw_system"]["programming_run"] = None
    assert with_defaults(nulls) == _snakemake_fill(nulls)


def _nodes(schema, path=""):
    yield path, schema
    for key, sub in schema.get("properties", {}).items():
        yield from _nodes(sub, f"{path}.{key}" if path else key)
    for key, sub in schema.get("definitions", {}).items():
        yield from _nodes(sub, f"definitions.{key}")


def test_a_section_that_may_be_null_has_no_defaults_inside():
    """snakemake's validate sets defaults with ``instance.setdefault`` before it checks the type: a default
    inside a section given as null would crash it (AttributeError) instead of filling anything."""
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    bad = [path for path, node in _nodes(schema)
           if "null" in (node.get("type") if isinstance(node.get("type"), list) else [node.get("type")])
           and any("default" in sub for sub in node.get("properties", {}).values())]
    assert not bad, f"nullable sections with defaults inside: {bad}"
