"""Racetrack geometry: grid, notches, seeded edge roughness, even cell count."""

import numpy as np
import pytest

from dwsynapse.geometry import GeometryError, Racetrack, build_racetrack, edge_profiles, subdivided


@pytest.fixture
def geo(default_config) -> dict:
    return dict(default_config["device"]["geometry"])


def test_default_grid_and_notches(geo):
    rt = build_racetrack(geo)
    cell = geo["cell_size"]
    assert rt.cell_size == cell and rt.thickness == geo["thickness"]
    assert rt.nx * cell >= geo["length"] - 1e-15
    assert rt.mask.dtype == bool and rt.mask.shape == (rt.ny, rt.nx)
    assert (rt.nx * rt.ny) % 2 == 0
    assert rt.start_x == pytest.approx(60e-9)
    expected = 60e-9 + 75e-9 * np.arange(8)
    np.testing.assert_allclose(rt.notch_x, expected)
    # every notch column is narrower than the strip by 2 * depth (no roughness there)
    x_centres = (np.arange(rt.nx) + 0.5) * cell
    half = 0.5 * geo["notch_width"]
    for xc in rt.notch_x:
        cols = np.flatnonzero((x_centres >= xc - half) & (x_centres < xc + half))
        assert cols.size >= 1
        for ix in cols:
            assert rt.mask[:, ix].sum() * cell == pytest.approx(geo["width"] - 2 * geo["notch_depth"])
    # away from notches the strip is about `width` wide
    widths = rt.mask.sum(axis=0) * cell
    assert np.median(widths) == pytest.approx(geo["width"], abs=cell)


def test_same_seed_same_mask_other_seed_differs(geo):
    a, b = build_racetrack(geo), build_racetrack(geo)
    np.testing.assert_array_equal(a.mask, b.mask)
    c = build_racetrack(dict(geo, seed=geo["seed"] + 1))
    assert not np.array_equal(a.mask, c.mask)


@pytest.mark.parametrize("cell", [4e-9, 2e-9])
def test_measured_roughness_within_20_percent_over_50_seeds(geo, cell):
    """On a mesh that is the profile's own grid the rounded edges get the configured rms."""
    rms = []
    for seed in range(50):
        rt = build_racetrack(dict(geo, seed=seed, cell_size=cell, edge_profile_spacing=cell))
        rms.append(rt.measured_rms)
        assert (rt.nx * rt.ny) % 2 == 0
    rms = np.array(rms)
    assert np.all(np.abs(rms / geo["edge_roughness_rms"] - 1) < 0.2), rms


def test_measured_rms_is_recomputed_from_mask(geo):
    """The reported rms is what the mask shows: recompute the edge displacements independently."""
    rt = build_racetrack(geo)
    cell = rt.cell_size
    notch = np.zeros(rt.nx, bool)
    for xc in rt.notch_x:
        centres = (np.arange(rt.nx) + 0.5) * cell
        notch |= np.abs(centres - xc) < geo["notch_width"] / 2
    cols = [ix for ix in range(int(round(geo["length"] / cell))) if not notch[ix]]
    lo = np.array([np.flatnonzero(rt.mask[:, ix])[0] for ix in cols]) * cell
    hi = np.array([np.flatnonzero(rt.mask[:, ix])[-1] + 1 for ix in cols]) * cell
    rms = np.sqrt(0.5 * (lo.var() + hi.var()))
    assert rt.measured_rms == pytest.approx(rms, rel=1e-9)


def test_correlation_length_smooths_edges(geo):
    """A longer correlation length gives fewer edge steps per unit length."""
    steps = {}
    for lc in (0.0, 40e-9):
        n = 0
        for seed in range(10):
            rt = build_racetrack(dict(geo, seed=seed, edge_correlation_length=lc, cell_size=2e-9,
                                      edge_profile_spacing=2e-9, notch_depth=0.0))
            lowest = np.argmax(rt.mask, axis=0)
            n += np.count_nonzero(np.diff(lowest[: int(round(geo["length"] / 2e-9))]))
        steps[lc] = n
    assert steps[40e-9] < 0.5 * steps[0.0]


def test_no_roughness_is_a_clean_strip(geo):
    rt = build_racetrack(dict(geo, edge_roughness_rms=0.0, notch_depth=0.0))
    assert rt.measured_rms == 0.0
    assert rt.mask.all()
    assert rt.mask.shape == (15, 150)


@pytest.mark.parametrize("cell, depth", [(4e-9, 12e-9), (2e-9, 4e-9)])
def test_notch_clearance_keeps_the_nominal_edges_beside_every_notch(geo, cell, depth):
    """The columns of a notch are exactly width - 2 depth wide (also where a dent of the roughness would
    reach deeper than the notch: 2 nm cells, 3 spare rows, a 2-cell notch); with a clearance c the columns
    within c of a notch's flanks keep the nominal width, and the roughness elsewhere keeps its rms."""
    clearance = 8e-9
    base = dict(geo, cell_size=cell, edge_profile_spacing=cell, notch_depth=depth)
    x = (np.arange(int(round(geo["length"] / cell))) + 0.5) * cell
    half = 0.5 * geo["notch_width"]
    for seed in range(5):
        plain = build_racetrack(dict(base, seed=seed))
        clear = build_racetrack(dict(base, seed=seed, notch_clearance=clearance))
        beside_any = []
        for xc in clear.notch_x:
            in_notch = (x >= xc - half) & (x < xc + half)
            notch = np.flatnonzero(in_notch)
            beside = np.flatnonzero((x >= xc - half - clearance) & (x < xc + half + clearance) & ~in_notch)
            for rt in (plain, clear):
                assert all(rt.mask[:, ix].sum() * cell == pytest.approx(geo["width"] - 2 * depth) for ix in notch)
            assert all(clear.mask[:, ix].sum() * cell == pytest.approx(geo["width"]) for ix in beside)
            beside_any.extend(beside)
        # somewhere beside a notch the plain racetrack is rough (else the clearance would test nothing)
        assert any(plain.mask[:, ix].sum() * cell != pytest.approx(geo["width"]) for ix in beside_any)
        assert clear.measured_rms == pytest.approx(geo["edge_roughness_rms"], rel=0.2)


def _edge_cells(rt: Racetrack, geo: dict) -> tuple[np.ndarray, np.ndarray]:
    """Bottom and top edge displacement of every strip column, in cells, outward positive."""
    ny_core = int(round(geo["width"] / rt.cell_size))
    strip_columns = np.arange(int(round(geo["length"] / rt.cell_size)))
    return edge_profiles(rt.mask, (rt.ny - ny_core) // 2, ny_core, strip_columns)


def test_one_seed_is_one_physical_racetrack_on_every_mesh(geo):
    """The edge is one curve in metres: a mesh three times finer than the profile's 4 nm grid has a column
    centre on every profile point, and there its edge, rounded to 4 nm, is the 4 nm mesh's edge (the
    nested rounding of one value); between the points it follows the same curve within its cells."""
    spacing = 4e-9
    fine_cell = spacing / 3
    width = geo["width"]
    for seed in range(10):
        coarse = build_racetrack(dict(geo, seed=seed, cell_size=spacing, edge_profile_spacing=spacing))
        fine = build_racetrack(dict(geo, seed=seed, cell_size=fine_cell, edge_profile_spacing=spacing))
        n_coarse = int(round(geo["length"] / spacing))
        shared = 3 * np.arange(n_coarse) + 1  # fine columns centred on the coarse ones
        # only where both meshes are rough (away from the notches)
        notched = width - 2 * geo["notch_depth"] + 1e-12
        fine_rough = fine.mask.sum(axis=0)[: 3 * n_coarse] * fine_cell > notched
        rough = (coarse.mask.sum(axis=0)[:n_coarse] * spacing > notched) & fine_rough[shared]
        for coarse_edge, fine_edge in zip(_edge_cells(coarse, geo), _edge_cells(fine, geo)):
            np.testing.assert_array_equal(np.rint(fine_edge[shared][rough] / 3), coarse_edge[:n_coarse][rough])
            # between neighbouring rough columns the fine edge moves by less than a coarse cell
            steps = np.diff(fine_edge[: 3 * n_coarse])[fine_rough[1:] & fine_rough[:-1]]
            assert np.abs(steps).max() * fine_cell < spacing
        assert fine.measured_rms == pytest.approx(geo["edge_roughness_rms"], rel=0.3)
        assert not np.array_equal(coarse_edge, _edge_cells(build_racetrack(dict(geo, seed=seed + 1)), geo)[1])


def test_subdivided_racetrack_keeps_the_coarse_edges_and_notches(geo):
    """Each 4 nm cell becomes 2 x 2 cells of 2 nm: the same magnetic area, the same edge in metres in every
    column, the notches and the start where they were; a factor that is not a whole number is refused."""
    coarse = build_racetrack(geo)
    fine = subdivided(coarse, 2)
    assert fine.cell_size == pytest.approx(coarse.cell_size / 2)
    assert fine.mask.shape == (2 * coarse.ny, 2 * coarse.nx)
    assert fine.n_magnetic * fine.cell_size ** 2 == pytest.approx(coarse.n_magnetic * coarse.cell_size ** 2)
    np.testing.assert_array_equal(fine.mask.sum(axis=0)[::2] * fine.cell_size, coarse.mask.sum(axis=0) * coarse.cell_size)
    np.testing.assert_array_equal(fine.notch_x, coarse.notch_x)
    assert fine.start_x == coarse.start_x and fine.thickness == coarse.thickness
    with pytest.raises(GeometryError, match="whole number"):
        subdivided(coarse, 1.5)


def test_odd_cell_count_gets_an_empty_column(geo):
    # 7 x 3 cells of 4 nm, no roughness: 21 odd -> one empty column at the right
    rt = build_racetrack(dict(geo, length=28e-9, width=12e-9, first_notch=8e-9, notch_pitch=100e-9,
                              notch_depth=0.0, edge_roughness_rms=0.0))
    assert rt.mask.shape == (3, 8)
    assert not rt.mask[:, -1].any() and rt.mask[:, :-1].all()


@pytest.mark.parametrize(
    "change, words",
    [
        ({"cell_size": 7e-9}, "whole number of cells"),
        ({"cell_size": 0.0}, "cell_size must be > 0"),
        ({"notch_depth": 30e-9}, "leaves no strip"),
        ({"first_notch": 700e-9}, "outside the strip"),
        ({"notch_width": 1e-9}, "narrower than one cell"),
        ({"edge_roughness_rms": -1e-9}, ">= 0"),
        ({"notch_clearance": -4e-9}, "notch_clearance must be >= 0"),
        ({"edge_profile_spacing": 0.0}, "edge_profile_spacing must be > 0"),
    ],
)
def test_bad_geometry_is_rejected_clearly(geo, change, words):
    with pytest.raises(GeometryError, match=words):
        build_racetrack(dict(geo, **change))


def test_missing_key_is_named(geo):
    del geo["notch_pitch"]
    with pytest.raises(GeometryError, match="lacks notch_pitch"):
        build_racetrack(geo)
