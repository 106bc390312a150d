"""OVF 2.0: hand-made files in mumax3's exact byte layout parse; round trips; bad files fail clearly."""

import struct

import numpy as np
import pytest

from dwsynapse.ovf import OvfError, parse_ovf, read_ovf, write_ovf

# Header exactly as mumax3 3.11 writes it for m on a 3 x 2 x 1 grid of 2 x 2 x 1 nm cells.
HEADER = (
    "# OOMMF OVF 2.0\n"
    "# Segment count: 1\n"
    "# Begin: Segment\n"
    "# Begin: Header\n"
    "# Title: m\n"
    "# meshtype: rectangular\n"
    "# meshunit: m\n"
    "# xmin: 0\n"
    "# ymin: 0\n"
    "# zmin: 0\n"
    "# xmax: 6.000000000000001e-09\n"  # mumax3 prints float64(3) * 2e-9 as Go does
    "# ymax: 4e-09\n"
    "# zmax: 1e-09\n"
    "# valuedim: 3\n"
    "# valuelabels: m_x m_y m_z\n"
    "# valueunits: 1 1 1\n"
    "# Desc: Total simulation time:  1.5e-09  s\n"
    "# xbase: 1e-09\n"
    "# ybase: 1e-09\n"
    "# zbase: 5e-10\n"
    "# xnodes: 3\n"
    "# ynodes: 2\n"
    "# znodes: 1\n"
    "# xstepsize: 2e-09\n"
    "# ystepsize: 2e-09\n"
    "# zstepsize: 1e-09\n"
    "# End: Header\n"
)


def cell_values():
    """m[c, iy, ix] = distinct numbers so that any ordering mistake shows."""
    return np.array([[[100 * c + 10 * iy + ix for ix in range(3)] for iy in range(2)] for c in range(3)], float) / 1000


def mumax_binary4() -> bytes:
    m = cell_values()
    body = struct.pack("<f", 1234567.0)
    for iy in range(2):  # x fastest, component fastest of all
        for ix in range(3):
            for c in range(3):
                body += struct.pack("<f", m[c, iy, ix])
    return (HEADER + "# Begin: Data Binary 4\n").encode() + body + b"# End: Data Binary 4\n# End: Segment\n"


def mumax_text() -> bytes:
    m = cell_values()
    body = ""
    for iy in range(2):
        for ix in range(3):
            body += "".join(f"{m[c, iy, ix]:g} " for c in range(3)) + "\n"  # Go: 0, 0.001, ...
    return (HEADER + "# Begin: Data Text\n" + body + "# End: Data Text\n# End: Segment\n").encode()


def test_mumax_binary4_layout_parses():
    f = parse_ovf(mumax_binary4())
    assert f.data.shape == (3, 1, 2, 3)
    np.testing.assert_allclose(f.data[:, 0], cell_values(), rtol=1e-6)
    assert f.step == (2e-9, 2e-9, 1e-9)
    assert f.title == "m" and f.time == pytest.approx(1.5e-9)


def test_mumax_text_layout_parses():
    f = parse_ovf(mumax_text())
    np.testing.assert_allclose(f.data[:, 0], cell_values(), rtol=1e-6)


def test_writer_reproduces_mumax_bytes(tmp_path):
    write_ovf(tmp_path / "m.ovf", cell_values(), (2e-9, 2e-9, 1e-9), title="m", fmt="binary4", time=1.5e-9)
    assert (tmp_path / "m.ovf").read_bytes() == mumax_binary4()
    write_ovf(tmp_path / "t.ovf", cell_values(), (2e-9, 2e-9, 1e-9), title="m", fmt="text", time=1.5e-9)
    assert (tmp_path / "t.ovf").read_bytes() == mumax_text()


@pytest.mark.parametrize("fmt", ["binary4", "binary8", "text"])
def test_round_trip(tmp_path, fmt):
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, size=(3, 2, 5, 7))
    write_ovf(tmp_path / "a.ovf", a, (4e-9, 4e-9, 1e-9), fmt=fmt)
    f = read_ovf(tmp_path / "a.ovf")
    assert f.data.shape == a.shape
    np.testing.assert_allclose(f.data, a, rtol=1e-6 if fmt != "binary8" else 0, atol=1e-7 if fmt != "binary8" else 0)


def test_scalar_mask_round_trip(tmp_path):
    mask = np.zeros((4, 6), bool)
    mask[1:3, :5] = True
    write_ovf(tmp_path / "geom.ovf", mask[None].astype(float), (2e-9, 2e-9, 1e-9), title="geom")
    f = read_ovf(tmp_path / "geom.ovf")
    assert f.ncomp == 1 and "valuelabels" in f.header and f.header["valuelabels"] == "geom"
    np.testing.assert_array_equal(f.data[0, 0] > 0.5, mask)


def test_oommf_style_newline_before_end_is_accepted():
    raw = mumax_binary4().replace(b"# End: Data Binary 4", b"\n# End: Data Binary 4")
    np.testing.assert_allclose(parse_ovf(raw).data[:, 0], cell_values(), rtol=1e-6)


@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda b: b[:-60], "truncated data block"),
        (lambda b: b[: len(HEADER) - 30], "truncated header"),
        (lambda b: b.replace(struct.pack("<f", 1234567.0), struct.pack(">f", 1234567.0)), "control number"),
        (lambda b: b.replace(b"OVF 2.0", b"OVF 9.9"), "not an OVF 2.0"),
        (lambda b: b.replace(b"# xnodes: 3\n", b""), "xnodes"),
        (lambda b: b.replace(b"# xnodes: 3", b"# xnodes: 2"), "not followed by"),
        (lambda b: b.replace(b"Data Binary 4\n", b"Data Binary 3\n", 1), "unsupported data format"),
        (lambda b: b.replace(b"# ynodes: 2", b"# ynodes: two"), "bad number"),
    ],
)
def test_malformed_binary_fails_clearly(tmp_path, mutate, words):
    p = tmp_path / "bad.ovf"
    p.write_bytes(mutate(mumax_binary4()))
    with pytest.raises(OvfError, match=words) as exc:
        read_ovf(p)
    assert str(p) in str(exc.value)


@pytest.mark.parametrize(
    "mutate, words",
    [
        (lambda b: b[: b.index(b"# End: Data Text")], "truncated text data"),
        (lambda b: b.replace(b"0.012 ", b"", 1), "numbers, header needs"),
        (lambda b: b.replace(b"0.012 ", b"x.y ", 1), "non-numeric"),
    ],
)
def test_malformed_text_fails_clearly(mutate, words):
    with pytest.raises(OvfError, match=words):
        parse_ovf(mutate(mumax_text()))


def test_missing_file_and_bad_arguments(tmp_path):
    with pytest.raises(OvfError, match="cannot read"):
        read_ovf(tmp_path / "nope.ovf")
    with pytest.raises(OvfError, match="ncomp 1 or 3"):
        write_ovf(tmp_path / "x.ovf", np.zeros((2, 3, 3)), (1e-9, 1e-9, 1e-9))
    with pytest.raises(OvfError, match="unknown OVF data format"):
        write_ovf(tmp_path / "x.ovf", np.zeros((1, 3, 3)), (1e-9, 1e-9, 1e-9), fmt="binary2")
