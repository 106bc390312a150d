"""One source of defaults for both engines: the config schema. A config without the optional solver
and torch keys means the same protocol in the torch engine and in the mumax3 script."""

import re

import pytest

from dwsynapse.config import load_config, load_schema, with_defaults
from dwsynapse.geometry import build_racetrack
from dwsynapse.mx3 import render_script

from .conftest import REPO

OPTIONAL_SOLVER = ("integrator", "demag", "initial_relax_time", "relax_max_time", "rest_velocity", "rest_window", "save_traces")


@pytest.fixture
def bare_config(default_config):
    dev = default_config["device"]
    for key in OPTIONAL_SOLVER:
        del dev["solver"][key]
    del dev["torch"], dev["mumax3"]
    dev["geometry"].update(cell_size=6e-9, notch_width=12e-9)  # 100 x 12 cells: fast
    dev["drive"]["pulse_duration"] = 1e-12
    return default_config


def test_defaults_come_from_the_schema(bare_config):
    schema = load_schema()["properties"]["device"]["properties"]
    dev = with_defaults(bare_config)["device"]
    for key in OPTIONAL_SOLVER:
        assert dev["solver"][key] == schema["solver"]["properties"][key]["default"]
    assert dev["solver"]["rest_velocity"] == 2.0 and dev["solver"]["demag"] == "newell"
    assert dev["solver"]["integrator"] == "heun"
    assert dev["torch"] == {"device": "auto", "dtype": "float32", "compile": False, "demag_refresh_steps": 1}
    assert dev["mumax3"]["processes"] >= 1 and dev["mumax3"]["binary"] is None
    assert "rest_velocity" not in bare_config["device"]["solver"]  # the input is not changed


def test_load_config_fills_the_defaults_snakemake_fills(tmp_path, bare_config):
    import yaml

    path = tmp_path / "bare.yaml"
    path.write_text(yaml.safe_dump(bare_config))
    assert load_config(path) == with_defaults(bare_config)
    # the shipped configs set every default but these (the schema fills them in, with the value the code used
    # before the schema held every default)
    left_to_schema = {"train.insitu.exclude", "train.exsitu.exclude"}
    for name, more in (("config.yaml", set()), ("config/tiny.yaml", set()),
                       ("config/paper.yaml", {"device.chunk_retries", "device.chunk_timeout_s"})):
        raw = yaml.safe_load((REPO / name).read_text())
        assert load_config(REPO / name) == with_defaults(raw), name
        assert set(_filled(raw, with_defaults(raw))) == left_to_schema | more, name


def _filled(raw, full, prefix=""):
    """Dotted keys of ``full`` that ``raw`` lacks."""
    for key, value in full.items():
        if key not in raw:
            yield f"{prefix}{key}"
        elif isinstance(value, dict) and isinstance(raw[key], dict):
            yield from _filled(raw[key], value, f"{prefix}{key}.")


def test_both_engines_run_the_same_protocol_without_the_optional_keys(bare_config, monkeypatch, tmp_path):
    torchfd = pytest.importorskip("dwsynapse.engines.torchfd.racetrack")
    rt = build_racetrack(bare_config["device"]["geometry"])
    seen = {}
    real_system = torchfd.LLGSystem

    def system(mesh, material, demag):
        seen["demag"] = demag
        return real_system(mesh, material, demag=demag)

    def batch(system, stepper, seeds, params, progress):
        seen.update(params, compiled=stepper.compiled)
        return [], 0

    monkeypatch.setattr(torchfd, "LLGSystem", system)
    monkeypatch.setattr(torchfd, "_run_batch", batch)
    torchfd.run_instances(bare_config, rt, 7.5e5, [1], tmp_path, progress=False)
    script = render_script(bare_config, rt, 7.5e5, 1)
    v, w = re.search(r"< (\S+) \* (\S+) \{", script).groups()
    assert float(v) == seen["rest_velocity"] == 2.0
    assert float(w) == seen["rest_window"] == pytest.approx(1.0e-9)
    assert seen["demag"] == "newell" and "EnableDemag = true" in script  # both: the full demag
    assert seen["n_relax"] == 0 and re.search(r"k < 0\) && \(at_rest == 0\)", script)  # no relaxation by default
    assert seen["compiled"] is False
