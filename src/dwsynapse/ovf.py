"""OVF 2.0 reader and writer (the field format mumax3 writes: Binary 4, Binary 8, Text).

Layout, as mumax3 writes it: ``# OOMMF OVF 2.0`` header lines ``# key: value``, then
``# Begin: Data Binary 4``, the control number 1234567.0 (float32, little endian), the
values with the component fastest, then x, y, z (x-fastest cell order), then directly -
without a newline - ``# End: Data Binary 4`` and ``# End: Segment``. Binary 8 uses
float64 and the control number 123456789012345.0. Text data has one cell per line.

Arrays in this module have shape (ncomp, nz, ny, nx), i.e. ``a[c, iz, iy, ix]``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dwsynapse.io import atomic_path

CONTROL_4 = 1234567.0
CONTROL_8 = 123456789012345.0


class OvfError(ValueError):
    """An OVF file is malformed, truncated or not OVF 2.0; the message names the file."""


@dataclass
class OvfField:
    """One OVF segment: ``data`` (ncomp, nz, ny, nx) float, cell sizes [m], metadata."""

    data: np.ndarray
    step: tuple[float, float, float]
    title: str = ""
    time: float = float("nan")  # total simulation time [s], if the file states it
    header: dict = field(default_factory=dict)

    @property
    def ncomp(self) -> int:
        return int(self.data.shape[0])


def go_float(x: float | np.floating) -> str:
    """Format like Go's ``fmt.Print`` of a float (%v: shortest digits of its own precision,
    exponent form when the decimal exponent is < -4 or >= 6), as mumax3 writes headers and text."""
    x = x if isinstance(x, np.floating) else np.float64(x)
    if x == 0:
        return "0"
    if not np.isfinite(x):
        return "NaN" if np.isnan(x) else ("+Inf" if x > 0 else "-Inf")
    sci = np.format_float_scientific(x, unique=True, trim="-", exp_digits=2)
    exp10 = int(sci.split("e")[1])
    if exp10 < -4 or exp10 >= 6:
        return sci
    return np.format_float_positional(x, unique=True, trim="-")


def write_ovf(
    path: str | Path,
    data: np.ndarray,
    step: tuple[float, float, float],
    title: str = "m",
    fmt: str = "binary4",
    time: float = 0.0,
    unit: str = "1",
) -> None:
    """Write ``data`` (ncomp, nz, ny, nx) or (ncomp, ny, nx) with cell sizes ``step`` [m]
    as OVF 2.0 in mumax3's byte layout, atomically. ``fmt``: binary4 | binary8 | text."""
    a = np.asarray(data, dtype=np.float64)
    if a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4 or a.shape[0] not in (1, 3):
        raise OvfError(f"{path}: data must be (ncomp, [nz,] ny, nx) with ncomp 1 or 3, got {np.shape(data)}")
    fmt_key = fmt.lower().replace(" ", "")
    if fmt_key not in ("binary4", "binary8", "text"):
        raise OvfError(f"{path}: unknown OVF data format {fmt!r}; use binary4, binary8 or text")
    ncomp, nz, ny, nx = a.shape
    n = (nx, ny, nz)
    labels = [title] if ncomp == 1 else [f"{title}_{c}" for c in "xyz"]
    lines = [
        "# OOMMF OVF 2.0",
        "# Segment count: 1",
        "# Begin: Segment",
        "# Begin: Header",
        f"# Title: {title}",
        "# meshtype: rectangular",
        "# meshunit: m",
        "# xmin: 0",
        "# ymin: 0",
        "# zmin: 0",
    ]
    lines += [f"# {ax}max: {go_float(step[i] * n[i])}" for i, ax in enumerate("xyz")]
    lines += [
        f"# valuedim: {ncomp}",
        "# valuelabels: " + " ".join(labels),
        "# valueunits: " + " ".join([unit] * ncomp),
        f"# Desc: Total simulation time:  {go_float(time)}  s",
    ]
    lines += [f"# {ax}base: {go_float(step[i] / 2)}" for i, ax in enumerate("xyz")]
    lines += [f"# {ax}nodes: {n[i]}" for i, ax in enumerate("xyz")]
    lines += [f"# {ax}stepsize: {go_float(step[i])}" for i, ax in enumerate("xyz")]
    lines += ["# End: Header"]
    cells = a.transpose(1, 2, 3, 0).reshape(-1, ncomp)  # z, y, x (x fastest), component fastest
    if fmt_key == "text":
        body = "# Begin: Data Text\n" + "".join(
            "".join(go_float(np.float32(v)) + " " for v in row) + "\n" for row in cells
        )
        payload = body.encode() + b"# End: Data Text\n"
    else:
        dt, ctrl, label = (("<f4", CONTROL_4, "Binary 4") if fmt_key == "binary4" else ("<f8", CONTROL_8, "Binary 8"))
        payload = (
            f"# Begin: Data {label}\n".encode()
            + np.array([ctrl], dt).tobytes()
            + cells.astype(dt).tobytes()
            + f"# End: Data {label}\n".encode()
        )
    payload += b"# End: Segment\n"
    with atomic_path(path, suffix=".ovf.tmp") as tmp:
        tmp.write_bytes("\n".join(lines).encode() + b"\n" + payload)


_HEADER_LINE = re.compile(rb"^#\s*([^:]*?)\s*:\s*(.*?)\s*$")


def read_ovf(path: str | Path) -> OvfField:
    """Read an OVF 2.0 file (Binary 4, Binary 8 or Text); raises :class:`OvfError` naming
    the file when it is missing, not OVF 2.0, truncated or otherwise malformed."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise OvfError(f"{path}: cannot read OVF file ({exc.strerror or exc})") from exc
    return parse_ovf(raw, str(path))


def parse_ovf(raw: bytes, name: str = "<bytes>") -> OvfField:
    """Parse the bytes of an OVF 2.0 file; ``name`` is used in error messages."""
    pos = 0
    first = True
    header: dict[str, str] = {}
    data_format = None
    while True:
        nl = raw.find(b"\n", pos)
        if nl < 0:
            raise OvfError(f"{name}: truncated header (no '# Begin: Data' line)")
        line = raw[pos:nl].rstrip(b"\r")
        pos = nl + 1
        if first:
            if line.strip().lower() != b"# oommf ovf 2.0":
                raise OvfError(f"{name}: not an OVF 2.0 file (first line {line[:40]!r})")
            first = False
            continue
        line = line.split(b"##", 1)[0]
        if not line.strip():
            continue
        m = _HEADER_LINE.match(line)
        if not m:
            raise OvfError(f"{name}: malformed header line {line[:60]!r}")
        key, value = m.group(1).decode(errors="replace").lower(), m.group(2).decode(errors="replace")
        if key == "begin" and value.lower().startswith("data"):
            data_format = value[4:].strip().lower()
            break
        if key == "desc":
            header.setdefault("desc", []).append(value)
        else:
            header[key] = value
    try:
        n = tuple(int(header[f"{ax}nodes"]) for ax in "xyz")
        step = tuple(float(header.get(f"{ax}stepsize", "0")) for ax in "xyz")
        ncomp = int(header.get("valuedim", "3"))
    except KeyError as exc:
        raise OvfError(f"{name}: header lacks {exc.args[0]!r}") from None
    except ValueError as exc:
        raise OvfError(f"{name}: bad number in header ({exc})") from None
    if min(n) < 1 or ncomp < 1:
        raise OvfError(f"{name}: bad grid {n} or valuedim {ncomp}")
    count = n[0] * n[1] * n[2] * ncomp
    if data_format in ("binary 4", "binary 8"):
        size = 4 if data_format == "binary 4" else 8
        dt = "<f4" if size == 4 else "<f8"
        need = size * (count + 1)
        if len(raw) - pos < need:
            raise OvfError(
                f"{name}: truncated data block: {len(raw) - pos} bytes after the header, {need} needed "
                f"for {n[0]}x{n[1]}x{n[2]} cells x {ncomp} components"
            )
        ctrl = float(np.frombuffer(raw, dt, 1, pos)[0])
        expected = CONTROL_4 if size == 4 else CONTROL_8
        if ctrl != expected:
            raise OvfError(f"{name}: bad control number {ctrl!r} (expected {expected}); corrupt or big-endian data")
        values = np.frombuffer(raw, dt, count, pos + size).astype(np.float64)
        tail = raw[pos + need :].lstrip(b"\r\n")
        end_tag = f"# end: data binary {size}".encode()
        if not tail.lower().startswith(end_tag):
            raise OvfError(f"{name}: data block not followed by '# End: Data Binary {size}' (wrong size or corrupt)")
    elif data_format == "text":
        end = raw.lower().find(b"# end: data text", pos)
        if end < 0:
            raise OvfError(f"{name}: truncated text data (no '# End: Data Text')")
        try:
            values = np.array(raw[pos:end].split(), dtype=np.float64)
        except ValueError as exc:
            raise OvfError(f"{name}: non-numeric text data ({exc})") from None
        if values.size != count:
            raise OvfError(f"{name}: text data has {values.size} numbers, header needs {count}")
    else:
        raise OvfError(f"{name}: unsupported data format {data_format!r} (Binary 4, Binary 8 or Text)")
    data = values.reshape(n[2], n[1], n[0], ncomp).transpose(3, 0, 1, 2)
    time = float("nan")
    for desc in header.get("desc", []):
        m = re.match(r"Total simulation time:\s*([^\s]+)", desc)
        if m:
            try:
                time = float(m.group(1))
            except ValueError:
                pass
    return OvfField(data=np.ascontiguousarray(data), step=step, title=header.get("title", ""), time=time, header=header)
