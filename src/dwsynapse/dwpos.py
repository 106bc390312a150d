"""Domain-wall position and mean m_z from a magnetization map (numpy; one map or a batch).

The wall of a perpendicular racetrack is where the width-averaged m_z changes sign. This
is computed here from m_z over the magnetic cells only, not with mumax3's ``ext_dwpos``
(which tracks a different quantity). Convention: the domain left of the wall points +z,
the right one -z; x is measured from the left end of the strip, cell ``ix`` centred at
``(ix + 0.5) * cell_size``.
"""

from __future__ import annotations

import numpy as np


def _check(mz: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mz = np.asarray(mz, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D (ny, nx), got shape {mask.shape}")
    if mz.ndim not in (2, 3) or mz.shape[-2:] != mask.shape:
        raise ValueError(f"mz must have shape (ny, nx) or (B, ny, nx) with (ny, nx) = {mask.shape}, got {mz.shape}")
    if not mask.any():
        raise ValueError("mask has no magnetic cells")
    return mz, mask


def mean_mz(mz: np.ndarray, mask: np.ndarray) -> float | np.ndarray:
    """<m_z> (dimensionless) over the magnetic cells of ``mask``; a float for one map,
    an array of shape (B,) for a batch (B, ny, nx). Values in non-magnetic cells are ignored."""
    mz, mask = _check(mz, mask)
    out = np.where(mask, mz, 0.0).sum(axis=(-2, -1)) / mask.sum()
    return float(out) if out.ndim == 0 else out


def column_profile(mz: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Width-averaged m_z per column that holds magnetic cells, and those column indices.

    Returns ``(profile, columns)`` with profile shape (..., n_cols)."""
    mz, mask = _check(mz, mask)
    counts = mask.sum(axis=0)
    columns = np.flatnonzero(counts > 0)
    sums = np.where(mask, mz, 0.0).sum(axis=-2)
    return sums[..., columns] / counts[columns], columns


def wall_position(mz: np.ndarray, mask: np.ndarray, cell_size: float) -> float | np.ndarray:
    """Position [m] of the first zero crossing, from the left, of the width-averaged m_z.

    ``mz`` is (ny, nx) or (B, ny, nx); ``cell_size`` [m] is the in-plane cell edge. The
    crossing is linearly interpolated between the centres of the two columns where the sign
    changes (columns without magnetic cells are skipped). Without a sign change the wall
    has left the strip: the position is the right end of the last magnetic column when the
    whole profile is positive (wall expelled at the right), the left end of the first one
    when it is negative everywhere.
    """
    if not cell_size > 0:
        raise ValueError(f"cell_size must be > 0 m, got {cell_size!r}")
    prof, columns = column_profile(mz, mask)
    single = prof.ndim == 1
    prof = np.atleast_2d(prof)
    x = (columns + 0.5) * cell_size
    pos = prof > 0
    change = pos[:, 1:] != pos[:, :-1]
    has = change.any(axis=1)
    i = np.argmax(change, axis=1)  # first sign change (0 when none; masked below)
    rows = np.arange(prof.shape[0])
    c0, c1 = prof[rows, i], prof[rows, np.minimum(i + 1, prof.shape[1] - 1)]
    if prof.shape[1] > 1:
        x0, x1 = x[i], x[np.minimum(i + 1, len(x) - 1)]
        denom = np.where(has, c0 - c1, 1.0)
        frac = np.where(has, c0 / denom, 0.0)
        crossing = x0 + frac * (x1 - x0)
    else:
        crossing = np.full(prof.shape[0], np.nan)
    right_end = x[-1] + 0.5 * cell_size
    left_end = x[0] - 0.5 * cell_size
    out = np.where(has, crossing, np.where(pos[:, 0], right_end, left_end))
    return float(out[0]) if single else out


DOMAIN_LEVEL = 0.5  # |m_z| above which a cell (or column average) belongs to a domain, not to a wall


def _domain_changes(values: np.ndarray) -> int:
    """Number of up/down domain changes along a 1-D sequence of m_z: values beyond +-DOMAIN_LEVEL are
    domains, values in between (wall cores, thermal wiggles of one wall) are skipped, so a single
    rough wall counts once."""
    sign = np.sign(values[np.abs(values) > DOMAIN_LEVEL])
    return int((sign[1:] != sign[:-1]).sum())


def wall_counts(mz: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Number of walls of each state, ``mz`` (ny, nx) or (B, ny, nx): the domain changes (up <-> down,
    see :func:`_domain_changes`) along x of the width-averaged m_z and of every row of magnetic cells;
    the largest of these counts per state (0 = no wall). Returns an int array of shape (B,) (or (1,))."""
    mz, mask = _check(mz, mask)
    prof, _ = column_profile(mz, mask)
    prof = np.atleast_2d(prof)
    states = mz.reshape(-1, *mask.shape)
    out = np.zeros(states.shape[0], dtype=np.int64)
    for b, state in enumerate(states):
        counts = [_domain_changes(prof[b])]
        counts += [_domain_changes(state[iy][mask[iy]]) for iy in range(mask.shape[0]) if mask[iy].sum() > 1]
        out[b] = max(counts)
    return out


def single_wall(mz: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """True where a state holds exactly one wall, or none with the wall expelled at the far (+x) end
    (the whole strip up); False for extra domains or a wall lost through the start end. Shape (B,)."""
    counts = wall_counts(mz, mask)
    prof, _ = column_profile(mz, mask)
    all_up = (np.atleast_2d(prof) > 0).all(axis=-1)
    return (counts == 1) | ((counts == 0) & all_up)
