"""Racetrack geometry: a cell mask with notches and seeded edge roughness, shared by both engines.

The strip is ``length`` x ``width`` x ``thickness`` on a square in-plane grid of edge
``cell_size``. Its long axis is x (the fastest index of the mask, ``mask[iy, ix]``).
Notches are rectangular cut-outs of ``notch_depth`` from both edges, ``notch_width`` wide,
centred every ``notch_pitch`` from ``first_notch`` (where the domain wall starts). The columns of a
notch, and those within ``notch_clearance`` of its flanks, keep the nominal edges (no roughness).

Edge roughness moves each long edge, column by column, by a whole number of cells. The edge is
one curve in metres, the same on every mesh: a Gaussian random profile with correlation function
exp(-x^2 / lc^2) (``lc`` = ``edge_correlation_length``) drawn at points ``edge_profile_spacing``
apart, joined linearly. Its scale is chosen on those points, so that the profile rounded to steps of
``edge_profile_spacing`` has the rms ``edge_roughness_rms`` in this realisation (the points without
roughness excluded), and it is clipped to the spare rows of that grid. Each mesh then rounds the same
curve, sampled at its column centres, to its own cells: one geometry seed is one physical racetrack
on every ``cell_size`` (on a mesh of ``edge_profile_spacing`` the rounding is the fitted one). Cells
are added outside the nominal strip as well as removed from it, so the grid carries spare rows on each
side. The roughness each mesh actually gets is measured and reported (``measured_rms``).

The total number of grid cells is kept even (mumax3 3.11 refuses thermal noise otherwise):
when ``nx * ny`` would be odd, one empty column is appended at the right end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_KEYS = ("length", "width", "thickness", "cell_size", "first_notch", "notch_pitch", "notch_depth", "notch_width",
         "notch_clearance", "edge_roughness_rms", "edge_correlation_length", "edge_profile_spacing", "seed")

# Rounding tolerance when checking that lengths are whole multiples of the cell size.
_GRID_TOL = 1e-3


class GeometryError(ValueError):
    """The geometry configuration cannot be turned into a cell mask."""


@dataclass(frozen=True)
class Racetrack:
    """A racetrack on a regular grid.

    ``mask`` is (ny, nx) bool, True = magnetic cell, indexed ``[iy, ix]`` with x the long
    axis. ``x = 0`` is the left end of the strip (cell ``ix`` has its centre at
    ``(ix + 0.5) * cell_size``). Lengths are in metres.
    """

    mask: np.ndarray
    cell_size: float
    thickness: float
    notch_x: np.ndarray
    start_x: float
    measured_rms: float

    ny = property(lambda self: int(self.mask.shape[0]), doc="cells across the strip (y)")
    nx = property(lambda self: int(self.mask.shape[1]), doc="cells along the strip (x)")

    @property
    def n_magnetic(self) -> int:
        """Number of magnetic cells."""
        return int(self.mask.sum())


def _whole_cells(value: float, cell: float, name: str) -> int:
    n = value / cell
    k = int(round(n))
    if k < 1 or abs(n - k) > _GRID_TOL:
        raise GeometryError(
            f"geometry.{name} = {value:g} m is not a whole number of cells of {cell:g} m "
            f"({n:.4g} cells); choose a cell_size that divides it"
        )
    return k


def _columns_within(x_centres: np.ndarray, low: float, high: float) -> np.ndarray:
    """Columns whose centre lies in [low, high) [m] (bool per column)."""
    return (x_centres >= low) & (x_centres < high)


def _rough(x_centres: np.ndarray, notch_x: np.ndarray, nwidth: float, clearance: float, has_notches: bool) -> np.ndarray:
    """Columns (centres [m]) that get edge roughness: all but the notches and their clearance (bool per column)."""
    smooth = np.zeros(x_centres.size, dtype=bool)
    if has_notches:
        for xc in notch_x:
            smooth |= _columns_within(x_centres, xc - 0.5 * nwidth - clearance, xc + 0.5 * nwidth + clearance)
    return ~smooth


def _pad_rows(rms_cells: float) -> int:
    """Spare rows per side: room for edge bumps up to about 3 rms."""
    if rms_cells <= 0:
        return 0
    return max(1, math.ceil(3.0 * rms_cells - 0.5))


def _fit_scale(profiles: list[np.ndarray], columns: np.ndarray, pad: int, rms_cells: float) -> float:
    """Scale s for which the rounded edges clip(rint(s * profile)) have the target rms.

    The realised profiles are scaled to the configured roughness (the usual normalisation
    of a generated rough edge), so that one geometry, not only the ensemble average, has the
    configured rms: the mean over both edges of the variance of the cell-rounded
    displacement in ``columns`` is matched to ``rms_cells**2`` by bisection on s. Bisection ends
    at a scale where one point rounds half-way; the scale returned is the middle of the range of
    scales that round every point of ``columns`` as that one does, so that no point sits at a
    rounding tie (a finer mesh then rounds the same curve consistently with this grid).
    """
    target = rms_cells**2

    def msd(scale: float) -> float:
        return float(np.mean([np.var(np.clip(np.rint(scale * p[columns]), -pad, pad)) for p in profiles]))

    hi = 1.0
    while msd(hi) < target and hi < 1e6:
        hi *= 2.0
    lo = 0.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if msd(mid) < target:
            lo = mid
        else:
            hi = mid
    best = lo if abs(msd(lo) - target) <= abs(msd(hi) - target) else hi
    return _middle_of_rounding_range(best, [p[columns] for p in profiles], pad)


def _middle_of_rounding_range(scale: float, values: list[np.ndarray], pad: int) -> float:
    """Middle of the interval of scales s that give clip(rint(s * v), -pad, pad) == that of ``scale``."""
    magnitudes = np.abs(np.concatenate(values))
    magnitudes = magnitudes[magnitudes > 0]
    if magnitudes.size == 0 or pad < 1:
        return scale
    # a point changes its rounded value where s |v| = k + 1/2; beyond pad - 1/2 the clip holds it
    ties = np.unique(np.outer(np.arange(pad) + 0.5, 1.0 / magnitudes).ravel())
    edges = np.concatenate(([0.0], ties, [2.0 * ties[-1]]))

    def rounded(s: float) -> list[np.ndarray]:
        return [np.clip(np.rint(s * v), -pad, pad) for v in values]

    reference = rounded(scale)
    j = int(np.searchsorted(edges, scale))
    for k in (j, j + 1, j - 1):  # the interval [edges[k-1], edges[k]] that holds the scale, up to float noise
        if 1 <= k < edges.size:
            middle = 0.5 * (edges[k - 1] + edges[k])
            if all(np.array_equal(a, b) for a, b in zip(rounded(middle), reference)):
                return float(middle)
    return scale


def _correlated_gaussian(rng: np.random.Generator, n: int, corr_cells: float) -> np.ndarray:
    """Unit-variance Gaussian sequence of length n with correlation exp(-(dx/corr)^2)."""
    if corr_cells <= 0:
        return rng.standard_normal(n)
    sigma_k = corr_cells / math.sqrt(2.0)  # white noise * Gaussian(sigma_k) -> exp(-dx^2 / (4 sigma_k^2))
    half = int(math.ceil(4.0 * sigma_k))
    offsets = np.arange(-half, half + 1, dtype=float)
    kernel = np.exp(-0.5 * (offsets / sigma_k) ** 2)
    kernel /= math.sqrt(np.sum(kernel**2))
    noise = rng.standard_normal(n + 2 * half)
    return np.convolve(noise, kernel, mode="valid")


def edge_profiles(mask: np.ndarray, pad: int, ny_core: int, columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edge displacements (in cells, outward positive) of the bottom and top edge in ``columns``.

    The bottom edge of a column is below its lowest magnetic cell, the top edge above its
    highest; the nominal edges lie ``pad`` rows from the grid border.
    """
    cols = mask[:, columns]
    if not np.all(cols.any(axis=0)):
        raise GeometryError("a strip column has no magnetic cells; roughness/notches cut the strip")
    ny = mask.shape[0]
    lowest = np.argmax(cols, axis=0)
    highest = ny - 1 - np.argmax(cols[::-1], axis=0)
    bottom = pad - lowest
    top = (highest + 1) - (pad + ny_core)
    return bottom.astype(float), top.astype(float)


def notch_centres(geometry_cfg: dict) -> np.ndarray:
    """Notch centres [m] (float64): ``first_notch + k * notch_pitch`` for k = 0, 1, ... as long as
    the whole notch (``notch_width`` wide) lies inside ``length``. The one rule for where the notches
    are: :func:`build_racetrack` cuts them there (``Racetrack.notch_x``), and a device-statistics file
    without recorded notch positions falls back to it."""
    keys = ("first_notch", "notch_pitch", "notch_width", "length")
    missing = [k for k in keys if k not in geometry_cfg or geometry_cfg[k] is None]
    if missing:
        raise GeometryError("device.geometry lacks " + ", ".join(missing) + " (needed for the notch positions)")
    first, pitch, nwidth, length = (float(geometry_cfg[k]) for k in keys)
    if pitch <= 0:
        raise GeometryError(f"geometry.notch_pitch must be > 0, got {pitch:g}")
    out = []
    while first + len(out) * pitch + 0.5 * nwidth <= length + 1e-12:
        out.append(first + len(out) * pitch)
    return np.asarray(out, dtype=float)


def subdivided(racetrack: Racetrack, factor: int) -> Racetrack:
    """``racetrack`` on cells ``factor`` times smaller [m]: every cell split into factor x factor cells, so the
    edges and notches stay exactly those of the coarse mesh (a finer solver on the coarse mesh's geometry:
    separates the solver's discretization from the edges' rounding, docs/calibration.md)."""
    if int(factor) != factor or factor < 1:
        raise GeometryError(f"subdivision factor must be a whole number >= 1, got {factor}")
    factor = int(factor)
    return Racetrack(mask=np.kron(racetrack.mask, np.ones((factor, factor), bool)),
                     cell_size=racetrack.cell_size / factor, thickness=racetrack.thickness,
                     notch_x=racetrack.notch_x, start_x=racetrack.start_x, measured_rms=racetrack.measured_rms)


def build_racetrack(geometry_cfg: dict) -> Racetrack:
    """Build the racetrack mask from ``config["device"]["geometry"]``, seeded by its ``seed``.

    Keys (SI units): length, width, thickness, cell_size, first_notch, notch_pitch,
    notch_depth, notch_width, notch_clearance, edge_roughness_rms, edge_correlation_length,
    edge_profile_spacing [m], seed (int).
    Notches whose full width fits inside the strip are kept. The same configuration always
    gives the same mask.
    """
    missing = [k for k in _KEYS if k not in geometry_cfg or geometry_cfg[k] is None]
    if missing:
        raise GeometryError("device.geometry lacks " + ", ".join(missing) + " (see config.yaml for the meaning of each)")
    g = geometry_cfg
    cell = float(g["cell_size"])
    if cell <= 0:
        raise GeometryError(f"geometry.cell_size must be > 0, got {cell:g}")
    length, width = float(g["length"]), float(g["width"])
    nx_core = _whole_cells(length, cell, "length")
    ny_core = _whole_cells(width, cell, "width")
    depth, nwidth = float(g["notch_depth"]), float(g["notch_width"])
    if 2 * depth >= width:
        raise GeometryError(f"geometry.notch_depth = {depth:g} m from each edge leaves no strip of width {width:g} m")
    first, pitch = float(g["first_notch"]), float(g["notch_pitch"])
    if not 0 <= first < length:
        raise GeometryError(f"geometry.first_notch = {first:g} m lies outside the strip (length {length:g} m)")
    if pitch <= 0:
        raise GeometryError(f"geometry.notch_pitch must be > 0, got {pitch:g}")
    rms = float(g["edge_roughness_rms"])
    corr = float(g["edge_correlation_length"])
    clearance = float(g["notch_clearance"])
    if rms < 0 or corr < 0 or clearance < 0:
        raise GeometryError("geometry.edge_roughness_rms, edge_correlation_length and notch_clearance must be >= 0")
    spacing = float(g["edge_profile_spacing"])
    if spacing <= 0:
        raise GeometryError(f"geometry.edge_profile_spacing must be > 0, got {spacing:g}")

    # the edge curve lies within +-pad_ref * spacing of the nominal edge; this mesh's spare rows hold it
    pad_ref = _pad_rows(rms / spacing)
    pad = math.ceil(pad_ref * spacing / cell - _GRID_TOL)
    ny = ny_core + 2 * pad
    nx = nx_core + ((nx_core * ny) % 2)  # one empty column at the right keeps nx*ny even

    mask = np.zeros((ny, nx), dtype=bool)
    mask[pad : pad + ny_core, :nx_core] = True

    notch_x = notch_centres(g)
    x_centres = (np.arange(nx_core) + 0.5) * cell
    y_centres = (np.arange(ny) - pad + 0.5) * cell  # 0 at the nominal bottom edge
    cut_rows = (y_centres < depth) | (y_centres > width - depth)
    has_notches = nwidth > 0 and depth > 0
    notch_cols = np.zeros(nx_core, dtype=bool)
    for xc in notch_x:
        cols = _columns_within(x_centres, xc - 0.5 * nwidth, xc + 0.5 * nwidth)
        if has_notches and not cols.any():
            raise GeometryError(
                f"geometry.notch_width = {nwidth:g} m is narrower than one cell ({cell:g} m): no notch would be cut"
            )
        if has_notches:
            notch_cols |= cols
    rough_cols = np.flatnonzero(_rough(x_centres, notch_x, nwidth, clearance, has_notches))
    if rms > 0 and rough_cols.size:
        # the profile's points, centred as the columns of a mesh of cell `spacing`
        n_ref = math.ceil(length / spacing - _GRID_TOL)
        x_ref = (np.arange(n_ref) + 0.5) * spacing
        rng = np.random.default_rng(np.random.SeedSequence([int(g["seed"]), 0x6E6F7463]))
        profiles = [_correlated_gaussian(rng, n_ref, corr / spacing) for _ in range(2)]
        rough_ref = _rough(x_ref, notch_x, nwidth, clearance, has_notches)
        scale = _fit_scale(profiles, rough_ref, pad_ref, rms / spacing)
        for side, prof in zip(("bottom", "top"), profiles):
            # the edge curve in units of `spacing`, sampled at this mesh's columns, rounded to its cells
            curve = np.clip(scale * np.interp(x_centres, x_ref, prof), -pad_ref, pad_ref)
            shift = np.clip(np.rint(curve * (spacing / cell)), -pad, pad).astype(int)  # outward positive
            for ix in rough_cols:
                s = shift[ix]
                if side == "bottom":
                    if s > 0:
                        mask[pad - s : pad, ix] = True
                    elif s < 0:
                        mask[pad : pad - s, ix] = False
                else:
                    top = pad + ny_core
                    if s > 0:
                        mask[top : top + s, ix] = True
                    elif s < 0:
                        mask[top + s : top, ix] = False
    if has_notches:
        # a notch column got no roughness, and cut_rows include the spare rows outside the nominal strip
        mask[np.ix_(cut_rows, np.flatnonzero(notch_cols))] = False

    if rough_cols.size:
        bottom, top = edge_profiles(mask, pad, ny_core, rough_cols)
        var = 0.5 * (np.var(bottom) + np.var(top))
        measured = math.sqrt(var) * cell
    else:
        measured = 0.0

    return Racetrack(
        mask=mask,
        cell_size=cell,
        thickness=float(g["thickness"]),
        notch_x=notch_x,
        start_x=first,
        measured_rms=measured,
    )
