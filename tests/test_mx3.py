"""mumax3 script rendering: deterministic, complete, one ThermSeed per instance."""

import re

import numpy as np
import pytest

from dwsynapse.devicestage import chunk_seeds, plan_chunks, render_all
from dwsynapse.geometry import build_racetrack
from dwsynapse.mx3 import GEOMETRY_FILE, SOT_POLARIZATION, RenderError, final_name, render_script, write_inputs
from dwsynapse.ovf import read_ovf


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
    a = render_all(default_config, tmp_path / "a")
    b = render_all(default_config, tmp_path / "b")
    plan = plan_chunks(default_config)
    dev = default_config["device"]
    chunks_per_ku = -(-dev["instances_per_ku"] // dev["chunk_size"])
    assert len(a) == len(plan) == len(dev["ku_values"]) * chunks_per_ku
    for pa, pb in zip(a, b):
        assert pa.read_bytes() == pb.read_bytes()
        assert (pa.parent / GEOMETRY_FILE).read_bytes() == (pb.parent / GEOMETRY_FILE).read_bytes()
    kus = {float(_value(p.read_text(), "Ku1")) for p in a}
    assert kus == set(default_config["device"]["ku_values"])
    # another thermal seed changes the seeds and nothing else
    default_config["device"]["thermal_seed"] += 1
    c = render_all(default_config, tmp_path / "c")
    diff = [l for l, m in zip(a[0].read_text().splitlines(), c[0].read_text().splitlines()) if l != m]
    assert diff and all("ThermSeed" in l or "sha256" in l for l in diff)


def test_script_structure(default_config, tmp_path):
    cfg = default_config
    dev = cfg["device"]
    rt = build_racetrack(dev["geometry"])
    chunk = plan_chunks(cfg)[3]  # Ku number 1, second chunk
    seeds = chunk_seeds(cfg, chunk)
    s = render_script(cfg, rt, chunk.ku, seeds, list(chunk.indices))
    mat = dev["material"]
    assert float(_value(s, "Msat")) == mat["Ms"] and float(_value(s, "Aex")) == mat["Aex"]
    assert float(_value(s, "alpha")) == mat["alpha"] and float(_value(s, "Dind")) == mat["Dind"]
    assert float(_value(s, "Ku1")) == chunk.ku and _value(s, "anisU") == "vector(0, 0, 1)"
    assert float(_value(s, "Pol")) == mat["theta_sh"] and _value(s, "Lambda") == "1"
    assert _value(s, "EpsilonPrime") == "0" and _value(s, "DisableZhangLiTorque") == "true"
    assert _value(s, "FixedLayer") == "vector({:g}, {:g}, {:g})".format(*SOT_POLARIZATION)
    assert float(_value(s, "FreeLayerThickness")) == dev["geometry"]["thickness"]
    assert "SetSolver(2)" in s and float(_value(s, "FixDt")) == dev["solver"]["dt"]
    assert f'ext_InitGeomFromOVF("{GEOMETRY_FILE}")' in s
    # one block per instance: its index, its own seed, the temperature, the pulse, its output
    assert re.findall(r"ThermSeed\((\d+)\)", s) == [str(x) for x in seeds]
    assert len(set(seeds)) == len(seeds)
    assert re.findall(r"^instance = (\d+)$", s, re.M) == [str(i) for i in chunk.indices]
    assert re.findall(r'SaveAs\(m, "(\w+)"\)', s) == [final_name(i) for i in chunk.indices]
    assert s.count(f"Temp = {dev['drive']['temperature']:g}") == len(seeds)
    assert s.count("J = vector(0, 0, {:g})".format(dev["drive"]["current_density"])) == len(seeds)
    n_pulse = int(re.search(r"k < (\d+); k\+\+ \{\n\tRun\(([^)]+)\)", s).group(1))
    step = float(re.search(r"k < (\d+); k\+\+ \{\n\tRun\(([^)]+)\)", s).group(2))
    assert n_pulse * step == pytest.approx(dev["drive"]["pulse_duration"])
    # the wall starts at the first notch: mumax3 x is measured from the grid centre
    x0 = float(re.search(r"Transl\(([^,]+),", s).group(1))
    assert x0 + rt.nx * rt.cell_size / 2 == pytest.approx(rt.start_x)


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
    write_inputs(tmp_path, default_config, rt, 7e5, [1, 2], [0, 1])
    f = read_ovf(tmp_path / GEOMETRY_FILE)
    assert f.ncomp == 1 and f.step == (rt.cell_size, rt.cell_size, rt.thickness)
    np.testing.assert_array_equal(f.data[0, 0] > 0.5, rt.mask)
    assert (rt.nx * rt.ny) % 2 == 0


def test_sot_polarization_is_the_torch_engines():
    sot = pytest.importorskip("dwsynapse.engines.torchfd.sot")
    assert tuple(SOT_POLARIZATION) == tuple(sot.SIGMA)


@pytest.mark.parametrize(
    "change, words",
    [
        (lambda c: c["device"]["solver"].update(demag="thin_film"), "only in the torch engine"),
        (lambda c: c["device"]["solver"].update(rest_window=0.0), "rest_window must be > 0"),
    ],
)
def test_unrenderable_configs_fail_clearly(default_config, change, words):
    change(default_config)
    rt = build_racetrack(default_config["device"]["geometry"])
    with pytest.raises(RenderError, match=words):
        render_script(default_config, rt, 7e5, [1], [0])


def test_seed_count_must_match(default_config):
    rt = build_racetrack(default_config["device"]["geometry"])
    with pytest.raises(RenderError, match="one seed per instance"):
        render_script(default_config, rt, 7e5, [1, 2], [0])


# mumax3 identifiers the templates may use, read from the mumax3 sources (github.com/mumax/3,
# engine/*.go Decl* calls and parameters, script/stdlib.go; ext_InitGeomFromOVF since 3.11).
MUMAX3_API = {
    "ext_InitGeomFromOVF", "Msat", "Aex", "alpha", "Dind", "Ku1", "anisU", "EnableDemag", "Lambda", "Pol",
    "EpsilonPrime", "FixedLayer", "FreeLayerThickness", "DisableZhangLiTorque", "J", "SetSolver", "FixDt",
    "OutputFormat", "OVF2_BINARY", "TableAddVar", "Temp", "m", "TwoDomain", "Transl", "Relax", "ThermSeed",
    "TableSave", "Run", "SaveAs", "vector", "abs", "t", "Average", "Z", "true", "false", "for", "if",
}
SCRIPT_VARIABLES = {"instance", "t_start", "mz_prev", "mz_now", "at_rest", "k"}


def test_script_uses_only_mumax3_names_and_its_own_variables(default_config):
    rt = build_racetrack(default_config["device"]["geometry"])
    s = render_script(default_config, rt, 7e5, [3, 4], [0, 1])
    code = re.sub(r'"[^"]*"', '""', re.sub(r"//.*", "", s))  # drop comments and strings
    code = re.sub(r"\b\d+(\.\d*)?(e[+-]?\d+)?\b", "0", code)  # and numbers
    names = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", code))
    assert names <= MUMAX3_API | SCRIPT_VARIABLES, names - MUMAX3_API - SCRIPT_VARIABLES
    # every script variable is declared once (:=) before use
    for v in SCRIPT_VARIABLES - {"k"}:
        assert code.count(f"{v} :=") == 1 and code.index(f"{v} :=") == min(code.index(v + " "), code.index(f"{v} :="))
    assert code.count("{") == code.count("}")
