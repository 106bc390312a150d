"""The typed, frozen view of the device section (dwsynapse.settings) mirrors the schema: every key of the
schema's device section is a field, values are converted once, the schema's defaults fill absent keys."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from dwsynapse.config import load_config, load_schema
from dwsynapse.settings import (DeviceSettings, DriveSettings, MaterialSettings, Mumax3Settings, SolverSettings,
                                TorchSettings, device_settings)

from .conftest import REPO


def _schema_keys(node: dict, root: dict) -> set[str]:
    if "$ref" in node:
        node = root["definitions"][node["$ref"].rsplit("/", 1)[-1]]
    return set(node.get("properties", {}))


def _field_keys(cls) -> set[str]:
    return {f.metadata["key"] for f in dataclasses.fields(cls)}


SUBSECTIONS = {"material": MaterialSettings, "drive": DriveSettings, "solver": SolverSettings,
               "torch": TorchSettings, "mumax3": Mumax3Settings}


def test_every_key_of_the_device_schema_is_a_field():
    schema = load_schema()
    device = schema["properties"]["device"]
    assert _field_keys(DeviceSettings) == _schema_keys(device, schema)
    for key, cls in SUBSECTIONS.items():
        assert _field_keys(cls) == _schema_keys(device["properties"][key], schema), key


@pytest.mark.parametrize("name", ["config.yaml", "config/tiny.yaml", "config/paper.yaml"])
def test_shipped_configs_give_their_values_typed(name):
    config = load_config(REPO / name)
    dev, raw = device_settings(config), config["device"]
    assert dev.material.ms == float(raw["material"]["Ms"]) and isinstance(dev.material.ms, float)
    assert dev.material.dind == float(raw["material"]["Dind"])
    assert dev.solver.dt == float(raw["solver"]["dt"]) and dev.solver.integrator == raw["solver"]["integrator"]
    assert dev.ku_values == tuple(float(k) for k in raw["ku_values"])
    assert isinstance(dev.instances_per_ku, int) and dev.instances_per_ku == raw["instances_per_ku"]
    assert isinstance(dev.torch.demag_refresh_steps, int)
    assert dev.geometry["cell_size"] == raw["geometry"]["cell_size"]


def test_settings_are_frozen(default_config):
    dev = device_settings(default_config)
    with pytest.raises(dataclasses.FrozenInstanceError):
        dev.material.ms = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        dev.geometry["cell_size"] = 1e-9  # type: ignore[index]


def test_schema_defaults_fill_absent_keys_and_a_missing_required_key_is_named(default_config):
    cfg = copy.deepcopy(default_config)
    del cfg["device"]["solver"]["integrator"], cfg["device"]["torch"]["demag_refresh_steps"]
    del cfg["device"]["solver"]["readout_time"], cfg["device"]["solver"]["readout_dt"]
    dev = device_settings(cfg)
    assert dev.solver.integrator == "heun" and dev.torch.demag_refresh_steps == 1
    assert dev.solver.readout_time == 0.0 and dev.solver.readout_dt is None
    assert dev.solver.readout_step == dev.solver.dt  # a null readout_dt takes the main step
    del cfg["device"]["material"]["Ms"]
    with pytest.raises(KeyError, match=r"device\.material\.Ms"):
        device_settings(cfg)
