"""mumax3 script rendering: deterministic, complete, one script (one ThermSeed) per instance, the
same whatever the chunking; configs mumax3 cannot run are refused before anything is written."""

import re
import subprocess
import sys

import numpy as np
import pytest
import yaml

from dwsynapse import mx3
from dwsynapse.device.chunks import chunk_seeds, plan_chunks
from dwsynapse.device.engine import render_all
from dwsynapse.geometry import build_racetrack
from dwsynapse.mx3 import FINAL_NAME, GEOMETRY_FILE, SOT_POLARIZATION, RenderError, render_script, write_inputs
from dwsynapse.ovf import read_ovf

from .conftest import REPO


@pytest.fixture
def default_config(default_config):
    """mumax3 always computes the full demagnetizing field, so its path is tested with demag: newell
    whatever the default config picks for the torch engine."""
    default_config["device"]["solver"]["demag"] = "newell"
    return default_config


def _value(script, name):
    m = re.search(rf"^{name} = (.+)$", script, re.M)
    assert m, f"{name} not set in the script"
    return m.group(1).strip()


def test_all_five_ku_render_deterministically(default_config, tmp_path):
    default_config["device"]["instances_per_ku"] = 3
    a = render_all(default_config, tmp_path / "a")
    b = render_all(default_config, tmp_path / "b")
    dev = default_config["device"]
    assert len(a) == len(dev["ku_values"]) * 3
    assert a[4].parent == tmp_path / "a" / plan_chunks(default_config)[1].group / "instance_00001"
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes()
        assert (pa.parent / GEOMETRY_FILE).read_bytes() == (pb.parent / GEOMETRY_FILE).read_bytes()
    kus = {float(_value(p.read_text(), "Ku1")) for p in a}
    assert kus == set(default_config["device"]["ku_values"])
    # another thermal seed changes the seeds and nothing else
    default_config["device"]["thermal_seed"] += 1
    c = render_all(default_config, tmp_path / "c")
    diff = [l for l, m in zip(a[0].read_text().splitlines(), c[0].read_text().splitlines()) if l != m]
    assert diff and all("ThermSeed" in l for l in diff)


def test_instance_script_does_not_depend_on_chunking_or_outputs(default_config):
    rt = build_racetrack(default_config["device"]["geometry"])
    s = render_script(default_config, rt, 7.25e5, 12345)
    default_config["device"].update(chunk_size=3, chunk_retries=0, min_success_fraction=0.5)
    default_config.update(results_dir="elsewhere")
    default_config["device"]["mumax3"].update(processes=1, timeout_s=10)
    assert render_script(default_config, rt, 7.25e5, 12345) == s
    default_config["device"]["material"]["alpha"] *= 2  # the physics is in the script (and its hash)
    other = render_script(default_config, rt, 7.25e5, 12345)
    assert other != s and "sha256" in [l for l, m in zip(s.splitlines(), other.splitlines()) if l != m][0]


def test_script_structure(default_config, tmp_path):
    cfg = default_config
    dev = cfg["device"]
    rt = build_racetrack(dev["geometry"])
    chunk = plan_chunks(cfg)[3]  # Ku number 1, second chunk
    seed = chunk_seeds(cfg, chunk)[0]
    s = render_script(cfg, rt, chunk.ku, seed)
    mat = dev["material"]
    assert float(_value(s, "Msat")) == mat["Ms"] and float(_value(s, "Aex")) == mat["Aex"]
    assert float(_value(s, "alpha")) == mat["alpha"] and float(_value(s, "Dind")) == mat["Dind"]
    assert float(_value(s, "Ku1")) == chunk.ku and _value(s, "anisU") == "vector(0, 0, 1)"
    assert float(_value(s, "Pol")) == mat["theta_sh"] and _value(s, "Lambda") == "1"
    assert _value(s, "EpsilonPrime") == "0" and _value(s, "DisableZhangLiTorque") == "true"
    assert _value(s, "FixedLayer") == "vector({:g}, {:g}, {:g})".format(*SOT_POLARIZATION)
    assert float(_value(s, "FreeLayerThickness")) == dev["geometry"]["thickness"]
    assert f"SetSolver({ {'heun': 2, 'rk4': 4}[dev['solver']['integrator']] })" in s
    assert float(_value(s, "FixDt")) == dev["solver"]["dt"]
    assert f'ext_InitGeomFromOVF("{GEOMETRY_FILE}")' in s
    # one instance: its own seed set once after the T = 0 relaxation, the temperature, the pulse, its output
    assert re.findall(r"ThermSeed\((\d+)\)", s) == [str(seed)]
    assert s.index("Relax()") < s.index(f"ThermSeed({seed})") < s.index(f"Temp = {dev['drive']['temperature']:g}")
    assert re.findall(r'SaveAs\(m, "(\w+)"\)', s) == [FINAL_NAME]
    assert s.count("J = vector(0, 0, {:g})".format(dev["drive"]["current_density"])) == 1
    n_pulse = int(re.search(r"k < (\d+); k\+\+ \{\n\tRun\(([^)]+)\)", s).group(1))
    step = float(re.search(r"k < (\d+); k\+\+ \{\n\tRun\(([^)]+)\)", s).group(2))
    assert n_pulse * step == pytest.approx(dev["drive"]["pulse_duration"])
    # the wall starts at the first notch: mumax3 x is measured from the grid centre
    x0 = float(re.search(r"Transl\(([^,]+),", s).group(1))
    assert x0 + rt.nx * rt.cell_size / 2 == pytest.approx(rt.start_x)
    # the readout tail: after the relaxation loop, at its own step, sampled once, then the state is saved
    tail = re.search(r"\}\n(?://[^\n]*\n)?FixDt = ([^\n]+)\nRun\(([^)]+)\)\nTableSave\(\)\nSaveAs", s)
    assert tail, s[-600:]
    assert float(tail.group(1)) == dev["solver"]["readout_dt"] and float(tail.group(2)) == dev["solver"]["readout_time"]
    dev["solver"]["readout_time"] = 0.0
    s = render_script(cfg, rt, chunk.ku, seed)
    assert s.count("FixDt") == 1 and re.search(r"\}\nSaveAs", s)


def test_seeds_do_not_depend_on_chunking(default_config):
    cfg = default_config
    by_index = {}
    for ch in plan_chunks(cfg):
        for i, s in zip(ch.indices, chunk_seeds(cfg, ch)):
            by_index[(ch.ku_index, i)] = s
    cfg["device"]["chunk_size"] = 3
    for ch in plan_chunks(cfg):
        for i, s in zip(ch.indices, chunk_seeds(cfg, ch)):
            assert by_index[(ch.ku_index, i)] == s
    assert len(set(by_index.values())) == len(by_index)


def test_geometry_file_matches_mask(default_config, tmp_path):
    rt = build_racetrack(default_config["device"]["geometry"])
    write_inputs(tmp_path, default_config, rt, 7e5, 1)
    f = read_ovf(tmp_path / GEOMETRY_FILE)
    assert f.ncomp == 1 and f.step == (rt.cell_size, rt.cell_size, rt.thickness)
    np.testing.assert_array_equal(f.data[0, 0] > 0.5, rt.mask)
    assert (rt.nx * rt.ny) % 2 == 0
    assert set(f.header) <= mx3.MUMAX3_OVF_HEADER_KEYS


@pytest.mark.parametrize(
    "bad_write, words",
    [
        (lambda real, path, data, step, **kw: path.write_bytes(b"# OOMMF OVF 2.0\n# Begin: Data Binary 4\n"),
         "unreadable"),
        (lambda real, path, data, step, **kw: real(path, data, (step[0] * 2, step[1], step[2]), **kw),
         "not the racetrack mask"),
        (lambda real, path, data, step, **kw: real(path, 1 - data, step, **kw), "not the racetrack mask"),
    ],
)
def test_bad_geometry_file_is_caught_before_mumax3(default_config, tmp_path, monkeypatch, bad_write, words):
    rt = build_racetrack(default_config["device"]["geometry"])
    real = mx3.write_ovf
    monkeypatch.setattr(mx3, "write_ovf", lambda path, data, step, **kw: bad_write(real, path, data, step, **kw))
    with pytest.raises(RenderError, match=words):
        write_inputs(tmp_path, default_config, rt, 7e5, 1)
    assert not (tmp_path / GEOMETRY_FILE).exists() and not (tmp_path / mx3.SCRIPT_FILE).exists()


def test_geometry_header_key_mumax3_cannot_read_is_caught(default_config, tmp_path, monkeypatch):
    rt = build_racetrack(default_config["device"]["geometry"])
    real = mx3.write_ovf

    def with_extra_key(path, *a, **kw):
        real(path, *a, **kw)
        path.write_bytes(path.read_bytes().replace(b"# meshtype:", b"# Origin: 0\n# meshtype:", 1))

    monkeypatch.setattr(mx3, "write_ovf", with_extra_key)
    with pytest.raises(RenderError, match="header keys mumax3 cannot read: \\['origin'\\]"):
        write_inputs(tmp_path, default_config, rt, 7e5, 1)


def test_sot_polarization_is_the_torch_engines():
    sot = pytest.importorskip("dwsynapse.engines.torchfd.sot")
    assert tuple(SOT_POLARIZATION) == tuple(sot.SIGMA)


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda c: c["device"]["solver"].update(demag="thin_film"), "device.solver.demag = 'thin_film'"),
        (lambda c: c["device"]["solver"].update(rest_window=0.0), "device.solver.rest_window must be > 0"),
    ],
)
def test_unrenderable_configs_fail_clearly_and_write_nothing(default_config, tmp_path, change, words):
    change(default_config)
    rt = build_racetrack(default_config["device"]["geometry"])
    with pytest.raises(RenderError, match=re.escape(words)) as exc:
        render_script(default_config, rt, 7e5, 1)
    assert "\n" not in str(exc.value)
    with pytest.raises(RenderError):
        render_all(default_config, tmp_path / "render")
    with pytest.raises(RenderError):
        write_inputs(tmp_path / "one", default_config, rt, 7e5, 1)
    assert not (tmp_path / "render").exists() and not (tmp_path / "one").exists()


SHIPPED = ["config.yaml", "config/tiny.yaml", "config/paper.yaml"]


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_config_with_mumax3_renders_or_stops_at_check_config(name, tmp_path):
    cfg = yaml.safe_load((REPO / name).read_text())
    cfg["device"]["engine"] = "mumax3"
    path = tmp_path / "mumax3.yaml"
    path.write_text(yaml.safe_dump(cfg))
    r = subprocess.run([sys.executable, "-m", "dwsynapse", "check-config", "--config", str(path)],
                       capture_output=True, text=True, cwd=tmp_path, timeout=120)
    rt = build_racetrack(cfg["device"]["geometry"])
    if r.returncode == 0:
        ku = cfg["device"]["ku_values"][0]
        script = write_inputs(tmp_path / "one", cfg, rt, ku, 1)
        assert f"Ku1 = {ku:g}" in script.read_text() and (script.parent / GEOMETRY_FILE).exists()
    else:
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert str(path) in r.stderr and "device.solver.demag" in r.stderr and "engine: torch" in r.stderr
        with pytest.raises(RenderError):
            render_all(cfg, tmp_path / "render")
        assert not (tmp_path / "render").exists()
    # the repository's default is the only shipped config with the torch-only thin_film demag
    assert (r.returncode != 0) == (cfg["device"]["solver"]["demag"] == "thin_film")


def test_seed_must_be_a_64_bit_integer(default_config):
    rt = build_racetrack(default_config["device"]["geometry"])
    with pytest.raises(RenderError, match="non-negative 64-bit"):
        render_script(default_config, rt, 7e5, -1)


# mumax3 identifiers the templates may use, read from the mumax3 sources (github.com/mumax/3,
# engine/*.go Decl* calls and parameters, script/stdlib.go; ext_InitGeomFromOVF since 3.11).
MUMAX3_API = {
    "ext_InitGeomFromOVF", "Msat", "Aex", "alpha", "Dind", "Ku1", "anisU", "EnableDemag", "Lambda", "Pol",
    "EpsilonPrime", "FixedLayer", "FreeLayerThickness", "DisableZhangLiTorque", "J", "SetSolver", "FixDt",
    "OutputFormat", "OVF2_BINARY", "TableAddVar", "Temp", "m", "TwoDomain", "Transl", "Relax", "ThermSeed",
    "TableSave", "Run", "SaveAs", "vector", "abs", "t", "Average", "Z", "true", "false", "for", "if",
}
SCRIPT_VARIABLES = {"t_start", "mz_prev", "mz_now", "at_rest", "k"}


def test_script_uses_only_mumax3_names_and_its_own_variables(default_config):
    rt = build_racetrack(default_config["device"]["geometry"])
    s = render_script(default_config, rt, 7e5, 3)
    code = re.sub(r'"[^"]*"', '""', re.sub(r"//.*", "", s))  # drop comments and strings
    code = re.sub(r"\b\d+(\.\d*)?(e[+-]?\d+)?\b", "0", code)  # and numbers
    names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code))
    assert names <= MUMAX3_API | SCRIPT_VARIABLES, names - MUMAX3_API - SCRIPT_VARIABLES
    # every script variable is declared once (:=) before use
    for v in SCRIPT_VARIABLES - {"k"}:
        assert code.count(f"{v} :=") == 1 and code.index(f"{v} :=") == min(code.index(v + " "), code.index(f"{v} :="))
    assert code.count("{") == code.count("}")
