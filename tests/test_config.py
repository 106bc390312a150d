"""The config schema refuses bad values with a message naming the key."""

import copy
import subprocess
import sys

import pytest
import yaml

from dwsynapse.config import ConfigError, load_config, validate_config

from .conftest import REPO


def test_default_config_is_valid(default_config):
    validate_config(default_config)


def test_every_preset_is_valid():
    for path in [REPO / "config.yaml", *sorted((REPO / "config").glob("*.yaml"))]:
        load_config(path)


def _set(cfg, dotted, value):
    cfg = copy.deepcopy(cfg)
    *parents, last = dotted.split(".")
    node = cfg
    for p in parents:
        node = node[p]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return cfg


_DELETE = object()

BAD_VALUES = [
    ("train.epochs", -1, "train.epochs"),
    ("train.epochs", "ten", "train.epochs"),
    ("train.insitu.alphas", [0.15, 1.0], "train.insitu.alphas.1"),
    ("train.insitu.alphas", [-0.1], "train.insitu.alphas.0"),
    ("train.insitu.states", [4], "train.insitu.states.0"),
    ("train.exsitu.methods", ["magic"], "train.exsitu.methods.0"),
    ("train.backprop", "adam", "train.backprop"),
    ("device.engine", "oommf", "device.engine"),
    ("device.instances_per_ku", 0, "device.instances_per_ku"),
    ("device.material.Ms", -8e5, "device.material.Ms"),
    ("device.solver.dt", 1e-9, "device.solver.dt"),
    ("device.solver.readout_time", -1e-11, "device.solver.readout_time"),
    ("device.solver.readout_dt", 0.0, "device.solver.readout_dt"),
    ("device.geometry.cell_size", 0, "device.geometry.cell_size"),
    ("mnist.binarize_threshold", 300, "mnist.binarize_threshold"),
    ("mnist.sha256", {"train-images-idx3-ubyte": "not-a-hash"}, "mnist.sha256.train-images-idx3-ubyte"),
    ("train.learning_rate", 0.1, "train.learning_rate"),  # unknown key
    ("device.material.Aex", _DELETE, "device.material.Aex"),  # missing key
]


@pytest.mark.parametrize("dotted,value,named", BAD_VALUES, ids=[f"{d}={v!r}" for d, v, _ in BAD_VALUES])
def test_bad_value_is_refused_naming_the_key(default_config, dotted, value, named):
    with pytest.raises(ConfigError) as err:
        validate_config(_set(default_config, dotted, value))
    assert f"'{named}'" in str(err.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.yaml")


def test_snakemake_refuses_bad_config_before_any_job(tmp_path, default_config):
    """The Snakefile validates with the same schema: a dry run stops with the key named."""
    bad = _set(default_config, "train.insitu.states", [2, 4])
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml.safe_dump(bad))
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "--configfile", str(cfg), "-d", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "insitu" in out and "states" in out and "4" in out
