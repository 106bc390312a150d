"""Calibration study of the racetrack device: an optimizer over cited material and notch ranges,
scored against what the paper says about its device (acceptance criteria A1-A5).

The paper's Table 1 is lost, so the material is chosen, not copied. What the paper does say:

* A1 - at Ku = 8.0e5 J/m^3 the wall stays in the start notch: level -1 (target -0.833) lands within
  +-0.15 in most programming pulses (here: P >= 0.80);
* A2 - at Ku = 7.0e5 level +1 is the hardest level to program, ~6 % of pulses within +-0.15 (Fig. 7):
  P(w >= 0.85) between 0.02 and 0.15, and +1 the level with the lowest in-window probability;
* A3 - the middle levels sit near -0.5, 0, +0.5 (Ku 7.75, 7.5, 7.25e5; means within +-0.15) and the
  five means are ordered;
* A4 - "an average variance of ~90 nm" of the final positions: the DW-position standard deviation
  averaged over the five Ku lies between 60 and 120 nm;
* A5 - >= 95 % of instances end with one wall (or with the wall expelled at the far end).

:func:`acceptance` evaluates A1-A5 on any set of final states (a trial here, or a finished
``device_stats.h5`` via :func:`acceptance_from_stats`), so the study and the final check share one
definition. The study itself (:func:`run_study`) has two stages per trial, both with common random
numbers (the same geometry and thermal seeds in every trial):

1. a T = 0 screen: one batch with every Ku, full Newell demag, the paper's pulse (35e10 A/m^2, 1 ns)
   and a fixed relaxation. Materials go on only where the start notch holds the wall at 8.0e5 and the
   wall leaves it at 7.0e5 (:func:`screen_passes`); ``screen_loss``, the distance of the final positions
   from the notch ladder that gives the paper's levels, is recorded and ranks the ones that stop here.
   (The ladder itself is no filter: thermal activation at 300 K moves walls that T = 0 leaves pinned,
   and at 300 K a material with T = 0 positions near the ladder left 8.0e5 walls nowhere near the start);
2. a 300 K stage with ``n_per_ku`` instances per Ku on each racetrack of ``geometry_seeds`` (the
   roughness realizations the device must not depend on), each scored by :func:`acceptance_loss`; the
   trial's loss is their mean.

Every trial is appended to a CSV file as soon as it ends; a restarted study reads the file back and
tells the optimizer (optuna's seeded TPE sampler) about every finished trial before asking for new
ones, so an interrupted study resumes where it stopped.
"""

from __future__ import annotations

import collections
import csv
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np

from .calibration import PAPER_TARGETS
from .dwpos import single_wall
from .settings import device_settings

log = logging.getLogger(__name__)

#: The weight a programming pulse aims at per Ku [J/m^3] (level -1 is -0.833: the wall in the start notch),
#: and the five Ku in the paper's order 8.0e5 ... 7.0e5.
TARGET_OF_KU = PAPER_TARGETS
KUS = tuple(sorted(PAPER_TARGETS, reverse=True))
WINDOW = 0.15  # +- window of a programming pulse that counts as "on target" (alpha = 0.15)


def on_target(w: np.ndarray | Sequence[float], target: float, window: float = WINDOW) -> np.ndarray:
    """Which weights ``w`` (<m_z>) land within +-``window`` of ``target``: the one test behind A1's and A2's
    probabilities, :func:`in_window` and :func:`compare_stats`."""
    return np.abs(np.asarray(w) - target) <= window


@dataclass(frozen=True)
class Knob:
    """One calibration parameter: its range, whether it is searched on a log scale, and the source."""

    name: str
    low: float
    high: float
    log: bool
    source: str


#: The searched parameters and their literature ranges (Co / CoFe(B) on Pt, ultrathin).
KNOBS = (
    Knob("Ms", 0.7e6, 1.4e6, False, "A/m; Metaxas et al. PRL 99, 217208 (2007); Emori et al. Nat. Mater. 12, 611 (2013)"),
    Knob("Aex", 1.0e-11, 3.0e-11, False, "J/m; Metaxas et al. (2007) and references there"),
    Knob("alpha", 0.01, 0.3, True, "Gilbert damping; CoFeB ~0.01-0.03 (Devolder et al. APL 102, 022407 (2013)) "
                                   "to Pt/Co ~0.1-0.3 (Metaxas 2007)"),
    Knob("d_over_dc", 0.2, 0.75, False, "D / Dc(7.0e5) with the Newell Keff, at most 0.75 (acceptance A7); D itself within 0.5-2.2 mJ/m^2 "
                                        "(Emori 2013; Pizzini et al. PRL 113, 047203 (2014))"),
    Knob("theta_sh", 0.06, 0.2, False, "Pt spin Hall angle; Liu et al. PRL 106, 036601 (2011) 0.07; "
                                       "Nguyen et al. PRL 116, 126601 (2016) up to ~0.2"),
    Knob("notch_depth", 8e-9, 20e-9, False, "m from each edge; a design choice of the device"),
    Knob("notch_width", 8e-9, 16e-9, False, "m; at least two 4 nm cells"),
)
D_RANGE = (0.5e-3, 2.2e-3)  # J/m^2, the cited DMI range (a trial outside it is rejected)

def search_box(narrow: dict[str, tuple[float, float]] | None = None) -> dict[str, tuple[float, float, bool]]:
    """The study's search box: (low, high, log) per knob of :data:`KNOBS`, each knob's cited range unless
    ``narrow`` gives a (low, high) inside it (low == high fixes the knob). Raises ValueError for an unknown
    knob, low > high, or a bound outside the cited range (a narrowed study never leaves the literature)."""
    box = {k.name: (k.low, k.high, k.log) for k in KNOBS}
    for name, (low, high) in (narrow or {}).items():
        if name not in box:
            raise ValueError(f"search box: unknown knob {name!r} (knobs: {', '.join(box)})")
        cited_low, cited_high, log_scale = box[name]
        if not low <= high:
            raise ValueError(f"search box: {name} low {low:g} > high {high:g}")
        if low < cited_low * (1 - 1e-9) or high > cited_high * (1 + 1e-9):
            raise ValueError(f"search box: {name} [{low:g}, {high:g}] leaves its cited range "
                             f"[{cited_low:g}, {cited_high:g}]")
        box[name] = (low, high, log_scale)
    return box


def parse_search_box(specs: Sequence[str]) -> dict[str, tuple[float, float]]:
    """``NAME=LOW:HIGH`` strings (``NAME=VALUE`` fixes the knob) as :func:`search_box`'s ``narrow``."""
    out = {}
    for spec in specs:
        name, sep, bounds = spec.partition("=")
        low, _, high = bounds.partition(":")
        try:
            if not sep:
                raise ValueError
            out[name.strip()] = (float(low), float(high or low))
        except ValueError:
            raise ValueError(f"search box: {spec!r} is not NAME=LOW:HIGH or NAME=VALUE") from None
    return out
# a trial's fixed step (stable_dt) per device.solver.integrator: a fraction of the exchange mode's stability
# limit, at most dt_max [s]. RK4 takes a quarter of its ~6x larger limit, where it damps the fastest exchange
# mode within ~10 % of alpha as it should (exchange_mode_extra_damping; at half its limit the 300 K outcomes
# changed, docs/engine.md)
STUDY_STEP = {"heun": {"margin": 0.8, "dt_max": 2e-13}, "rk4": {"margin": 0.25, "dt_max": 2e-13}}


def strip_demag_factors(geometry: dict, ms: float) -> tuple[float, float]:
    """Cell-averaged demagnetizing factors (N_xx, N_zz) of the straight strip of ``geometry`` (length,
    width, thickness, cell_size [m]) from the engine's Newell kernel (no notches, no roughness)."""
    import torch

    from .engines.torchfd.demag import NewellDemag
    from .engines.torchfd.mesh import MU0, Mesh

    cell = float(geometry["cell_size"])
    nx = int(round(float(geometry["length"]) / cell))
    ny = int(round(float(geometry["width"]) / cell))
    mesh = Mesh(np.ones((ny, nx), bool), cell, cell, float(geometry["thickness"]), torch.device("cpu"), torch.float64)
    demag = NewellDemag(mesh, ms)
    out = []
    for comp in (0, 2):
        m = torch.zeros(1, 3, ny, nx, dtype=torch.float64)
        m[:, comp] = 1.0
        out.append(float(-demag(m)[0, comp].mean()) / (MU0 * ms))
    return out[0], out[1]


def newell_keff(ku: float, ms: float, geometry: dict) -> float:
    """Effective anisotropy [J/m^3] of the strip for a Neel wall: Ku - mu0 Ms^2 (N_zz - N_xx) / 2."""
    from .engines.torchfd.mesh import MU0

    nxx, nzz = strip_demag_factors(geometry, ms)
    return ku - 0.5 * MU0 * ms * ms * (nzz - nxx)


def wall_energy(aex: float, keff: float, dind: float) -> float:
    """Energy per area of a Neel wall with interfacial DMI, sigma = 4 sqrt(Aex Keff) - pi |D| [J/m^2]
    (Thiaville et al., EPL 100, 57002 (2012)); to first order a notch that removes wall area pins the wall
    with a force proportional to it."""
    return 4.0 * math.sqrt(aex * keff) - math.pi * abs(dind) if keff > 0 else float("nan")


def critical_dmi(aex: float, keff: float) -> float:
    """Dc = 4 sqrt(Aex Keff) / pi [J/m^2]: above it the uniform state gives way to spin cycloids."""
    return 4.0 * math.sqrt(aex * keff) / math.pi if keff > 0 else 0.0


def trial_device(params: dict, base_geometry: dict) -> tuple[dict, dict]:
    """(material, geometry) config sections of a trial: D from D/Dc(7.0e5, Newell Keff), the notch
    from ``notch_depth`` / ``notch_width`` rounded to whole cells. Raises ValueError when D lies
    outside the cited range or Ms leaves Keff <= 0 at 7.0e5 J/m^3."""
    geometry = dict(base_geometry)
    cell = float(geometry["cell_size"])
    geometry["notch_depth"] = max(1, round(params["notch_depth"] / cell)) * cell
    geometry["notch_width"] = max(2, round(params["notch_width"] / cell)) * cell
    keff = newell_keff(7.0e5, params["Ms"], geometry)
    if keff <= 0:
        raise ValueError(f"Ms = {params['Ms']:.3g} A/m leaves no perpendicular anisotropy at Ku 7.0e5 "
                         f"(Newell Keff = {keff:.3g} J/m^3)")
    dind = params["d_over_dc"] * critical_dmi(params["Aex"], keff)
    if not D_RANGE[0] <= dind <= D_RANGE[1]:
        raise ValueError(f"D = {dind:.3g} J/m^2 lies outside the cited range {D_RANGE}")
    material = {"Ms": params["Ms"], "Aex": params["Aex"], "alpha": params["alpha"], "Dind": dind,
                "theta_sh": params["theta_sh"]}
    return material, geometry


def acceptance(ku: Sequence[float], w: Sequence[float], dw_x: Sequence[float], one_wall: Sequence[bool]) -> dict:
    """Acceptance metrics A1-A5 (module docstring) from per-instance Ku [J/m^3], weight <m_z>, DW position
    [m] and the single-wall flag. Instances with extra domains count against A5 and are left out of
    the others. Returns a flat dict of the measured values and ``pass_A1`` ... ``pass_A5``."""
    ku, w, x = np.asarray(ku, float), np.asarray(w, float), np.asarray(dw_x, float)
    ok = np.asarray(one_wall, bool) & np.isfinite(w)
    out: dict = {"n": int(ku.size), "single_wall_fraction": float(ok.mean()) if ku.size else 0.0}
    means, p_window, stds = {}, {}, []
    for k in KUS:
        sel = ok & np.isclose(ku, k)
        wk = w[sel]
        means[k] = float(wk.mean()) if wk.size else float("nan")
        p_window[k] = float(on_target(wk, TARGET_OF_KU[k]).mean()) if wk.size else 0.0
        if wk.size > 1:  # a T = 0 screen (one instance per Ku) has no spread
            stds.append(float(x[sel].std()))
        out[f"mean_{k:.4g}"] = means[k]
        out[f"p_window_{k:.4g}"] = p_window[k]
    w7 = w[ok & np.isclose(ku, 7.0e5)]
    out["A1_p_level_minus1"] = p_window[8.0e5]
    out["A2_p_w_ge_0.85"] = float((w7 >= 0.85).mean()) if w7.size else 0.0
    out["A2_plus1_hardest"] = bool(p_window[7.0e5] <= min(p_window[k] for k in p_window if k != 7.0e5))
    mid = [abs(means[k] - TARGET_OF_KU[k]) for k in (7.75e5, 7.5e5, 7.25e5)]
    out["A3_max_mid_deviation"] = float(max(mid))
    ordered = [means[k] for k in KUS]
    out["A3_ordered"] = bool(np.all(np.diff(ordered) > 0))
    out["A4_dw_std_nm"] = float(np.mean(stds) * 1e9) if stds else float("nan")
    out["pass_A1"] = out["A1_p_level_minus1"] >= 0.80
    out["pass_A2"] = 0.02 <= out["A2_p_w_ge_0.85"] <= 0.15 and out["A2_plus1_hardest"]
    out["pass_A3"] = out["A3_max_mid_deviation"] <= WINDOW and out["A3_ordered"]
    out["pass_A4"] = 60.0 <= out["A4_dw_std_nm"] <= 120.0
    out["pass_A5"] = out["single_wall_fraction"] >= 0.95
    return out


def acceptance_loss(a: dict) -> float:
    """Scalar loss (0 when A1-A5 all pass) from :func:`acceptance`: each criterion's shortfall,
    scaled so that one window (0.15) of error in a level or 30 nm of spread weighs about 1."""
    loss = max(0.0, 0.80 - a["A1_p_level_minus1"]) / 0.2
    p = a["A2_p_w_ge_0.85"]
    loss += (max(0.0, 0.02 - p) + max(0.0, p - 0.15)) / 0.05 + (0.0 if a["A2_plus1_hardest"] else 0.5)
    for k in (7.75e5, 7.5e5, 7.25e5):
        dev = abs(a[f"mean_{k:.4g}"] - TARGET_OF_KU[k]) if np.isfinite(a[f"mean_{k:.4g}"]) else 2.0
        loss += (dev / WINDOW) ** 2
    loss += 0.0 if a["A3_ordered"] else 1.0
    s = a["A4_dw_std_nm"] if np.isfinite(a["A4_dw_std_nm"]) else 0.0
    loss += (max(0.0, 60.0 - s) + max(0.0, s - 120.0)) / 30.0
    loss += max(0.0, 0.95 - a["single_wall_fraction"]) / 0.05
    return float(loss)


def ladder_targets(geometry: dict) -> dict:
    """T = 0 screen targets: the wall position [m] per Ku whose <m_z> is the paper's level on this strip
    (x = L (1 + w) / 2 for a straight wall); for 7.0e5 the aim is w = +0.7, a wall in the last notches
    (the mean lies well below +1 because +1 is the hardest level)."""
    length = float(geometry["length"])
    aim = {**TARGET_OF_KU, 7.0e5: 0.7}
    return {k: 0.5 * length * (1.0 + v) for k, v in aim.items()}


def screen_loss(ku: Sequence[float], dw_x: Sequence[float], one_wall: Sequence[bool], geometry: dict) -> float:
    """Sum over Ku of ((x - x_target) / notch pitch)^2, plus 4 per state with extra domains."""
    targets = ladder_targets(geometry)
    pitch = float(geometry["notch_pitch"])
    loss = 0.0
    for k, x, single in zip(ku, dw_x, one_wall):
        xt = targets[min(targets, key=lambda t: abs(t - k))]
        loss += ((x - xt) / pitch) ** 2 if np.isfinite(x) else 16.0
        loss += 0.0 if single else 4.0
    return float(loss)


def screen_passes(dw_x: Sequence[float], geometry: dict) -> bool:
    """The T = 0 screen's filter, per Ku in the order 8.0e5 ... 7.0e5: the 8.0e5 wall ends within one
    notch width of the start notch and the 7.0e5 wall at least one notch pitch beyond it."""
    start, width, pitch = (float(geometry[k]) for k in ("first_notch", "notch_width", "notch_pitch"))
    return bool(abs(dw_x[0] - start) <= max(width, float(geometry["cell_size"])) and dw_x[-1] - start >= pitch)


def stable_dt(material: dict, cell: float, dt_max: float = 2e-13, margin: float = 0.8,
              integrator: str = "heun") -> float:
    """Fixed step [s] of ``integrator``: ``margin`` times the largest step for which it does not amplify
    the fastest exchange mode (:func:`dwsynapse.engines.torchfd.racetrack.exchange_mode_growth` < 1), at
    most ``dt_max``, rounded down to 0.1 fs. (With weak damping neither Heun nor RK4 damps that mode much,
    so the limit is growth < 1, not a fixed growth below it.)"""
    import torch

    from .engines.torchfd.mesh import Mesh
    from .engines.torchfd.racetrack import exchange_mode_growth
    from .engines.torchfd.solver import Material

    mesh = Mesh(np.ones((2, 2), bool), cell, cell, 1e-9, torch.device("cpu"), torch.float64)
    mat = Material(ms=material["Ms"], aex=material["Aex"], alpha=material["alpha"])
    lo, hi = 0.0, 1e-11  # growth < 1 at lo (-> 0), >= 1 at hi for any damping <= 1 and cells >= 0.1 nm
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if exchange_mode_growth(mat, mesh, mid, integrator) < 1.0 else (lo, mid)
    return math.floor(min(dt_max, margin * lo) * 1e16) / 1e16


def _reset_compiled_step(compile: bool) -> None:
    """Forget the compiled steps of earlier trials: every trial brings a new material, mask and batch; without
    a reset the compiled step's guards pile up over a study's trials until dynamo's recompile limit, and later
    trials silently run eager."""
    if compile:
        import torch

        torch._dynamo.reset()


def trial_device_section(params: dict, base: dict) -> dict:
    """The ``device`` section of a trial: ``base`` (the config's ``device`` section) with the trial's material
    and notch (:func:`trial_device`), its fixed step (:func:`stable_dt` with :data:`STUDY_STEP`) and the
    Newell demag, as every stage of the study runs it."""
    material, geometry = trial_device(params, base["geometry"])
    integrator = base["solver"]["integrator"]
    dt = stable_dt(material, float(geometry["cell_size"]), integrator=integrator, **STUDY_STEP[integrator])
    return {**base, "material": material, "geometry": geometry,
            "solver": {**base["solver"], "dt": dt, "demag": "newell"}}


def evaluate(params: dict, base: dict, *, n_per_ku: int, temperature: float, relax_time: float,
             seed: int, compile: bool = True) -> dict:
    """Run one stage of a trial with :func:`dwsynapse.calibration.explore` (every Ku, ``n_per_ku``
    instances each, one batch, Newell demag, float32) on ``base`` (the config's ``device`` section:
    geometry, drive, solver.integrator, solver.readout_time / readout_dt (the readout tail, at
    ``temperature`` [K] > 0 only), torch.demag_refresh_steps; the step from :func:`stable_dt` and
    :data:`STUDY_STEP`). Returns the acceptance metrics plus ``screen_loss``, the final
    positions per Ku and the cost."""
    from .calibration import explore

    _reset_compiled_step(compile)
    device = trial_device_section(params, base)
    material, geometry, dt = device["material"], device["geometry"], device["solver"]["dt"]
    kus = list(KUS)
    # at 300 K the state is read after the stage's readout tail (never at a coarser step than the trial's own);
    # at T = 0 (the screen) there are no overheated modes to cool
    readout_time = float(base["solver"]["readout_time"]) if temperature > 0 else 0.0
    readout_dt = min(dt, float(base["solver"]["readout_dt"] or dt))
    res = explore(material, geometry, kus, n_per_ku=n_per_ku, temperature=temperature,
                  readout_time=readout_time, readout_dt=readout_dt,
                  current_density=float(base["drive"]["current_density"]),
                  pulse_duration=float(base["drive"]["pulse_duration"]), relax_time=relax_time, dt=dt,
                  demag="newell", seed=seed, initial_relax_time=float(base["solver"]["initial_relax_time"]),
                  dtype="float32", compile=compile, demag_refresh_steps=int(base["torch"]["demag_refresh_steps"]),
                  integrator=base["solver"]["integrator"])
    from .geometry import build_racetrack

    mask = build_racetrack(geometry).mask
    one = single_wall(np.nan_to_num(res["m_final"][:, 2]), mask) & res["finite"]
    a = acceptance(res["ku"], res["mz"], res["dw_x"], one)
    a["screen_loss"] = screen_loss(res["ku"], res["dw_x"], one, geometry)
    a["screen_pass"] = screen_passes(res["dw_x"], geometry) if n_per_ku == 1 else ""
    a["loss"] = acceptance_loss(a)
    a["Dind"] = material["Dind"]
    a["dt"] = dt
    a["wall_time_s"] = float(res["wall_time_s"])
    a["instance_steps"] = int(res["instance_steps"])
    a["dw_x_nm"] = json.dumps([round(float(v) * 1e9, 1) for v in res["dw_x"]])
    a["mz_all"] = json.dumps([round(float(v), 3) for v in res["mz"]])
    return a


STUDY_FIELDS = (["trial", "stage", "status"] + [k.name for k in KNOBS]
                + ["Dind", "dt", "screen_loss", "screen_pass", "loss", "A1_p_level_minus1", "A2_p_w_ge_0.85", "A2_plus1_hardest",
                   "A3_max_mid_deviation", "A3_ordered", "A4_dw_std_nm", "single_wall_fraction",
                   "pass_A1", "pass_A2", "pass_A3", "pass_A4", "pass_A5"]
                + [f"mean_{k:.4g}" for k in KUS]
                + ["n", "wall_time_s", "instance_steps", "dw_x_nm", "mz_all", "error", "geometry_seed"])


def read_trials(csv_path: Path) -> list[dict]:
    """Rows of the study CSV (numbers as floats where they parse); [] when the file does not exist."""
    if not csv_path.exists():
        return []
    rows = []
    with open(csv_path, newline="") as fh:
        for row in csv.DictReader(fh):
            rows.append({k: _number(v) for k, v in row.items()})
    return rows


def _number(v: str):
    try:
        return float(v)
    except (TypeError, ValueError):
        return v


def append_trial(csv_path: Path, row: dict, fields: Sequence[str] = STUDY_FIELDS) -> None:
    """Append one row to a log CSV with the columns ``fields`` (the study's :data:`STUDY_FIELDS`, or
    :data:`WINDOW_FIELDS`), writing the header first for a new file, flushed at once. A log written with
    fewer columns (an older version of ``fields``) is first rewritten with the current header, its rows
    unchanged and the new columns empty."""
    fields = list(fields)
    new = not csv_path.exists()
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    if not new:
        with open(csv_path, newline="") as fh:
            reader = csv.DictReader(fh)
            header, old_rows = reader.fieldnames or [], list(reader)
        if header != fields:
            unknown = set(header) - set(fields)
            if unknown:
                raise ValueError(f"{csv_path}: columns {sorted(unknown)} are not columns of this log; not appending to it")
            tmp = csv_path.with_suffix(".tmp")
            with open(tmp, "w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=fields)
                writer.writeheader()
                writer.writerows({k: r.get(k, "") for k in fields} for r in old_rows)
            tmp.replace(csv_path)
    with open(csv_path, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        if new:
            writer.writeheader()
        writer.writerow({k: row.get(k, "") for k in fields})
        fh.flush()


def trial_loss(rows: list[dict], trial: int) -> float | None:
    """Objective of a finished trial: the mean 300 K loss over its thermal stages (one per geometry seed)
    when they ran, else 10 + the screen loss (screened-out trials rank below every thermal one); None while
    the trial has no finished stage."""
    mine = [r for r in rows if r.get("trial") == trial and r.get("status") == "ok"]
    thermal = [r for r in mine if r.get("stage") == "thermal"]
    if thermal:
        return float(np.mean([float(r["loss"]) for r in thermal]))
    screen = [r for r in mine if r.get("stage") == "screen"]
    if screen:
        return 10.0 + float(screen[-1]["screen_loss"])
    failed = [r for r in rows if r.get("trial") == trial]
    return 100.0 if failed else None


def run_study(base: dict, csv_path: str | Path, n_trials: int, *, seed: int = 0, n_per_ku: int = 8,
              screen_relax: float = 1.0e-9, thermal_relax: float = 2.0e-9,
              thermal_seed: int = 20261201, enqueue: Sequence[dict] = (), compile: bool = True,
              geometry_seeds: Sequence[int] | None = None,
              box: dict[str, tuple[float, float]] | None = None) -> list[dict]:
    """Run (or resume) the calibration study until ``n_trials`` trials are in ``csv_path``.

    ``base`` is the config's ``device`` section (geometry with its seed, drive, solver). Every trial
    uses the same geometry and thermal seeds (common random numbers): the screen runs on the first of
    ``geometry_seeds`` (default: the config's geometry seed alone), the 300 K stage on each of them, one
    CSV row per seed; the trial's loss is the mean of theirs. ``enqueue`` holds parameter dicts to try
    first (e.g. the previous default). ``box`` narrows the searched ranges (:func:`search_box`); finished
    trials outside it stay in the log but are not told to the optimizer. Returns the rows of the CSV."""
    import optuna

    csv_path = Path(csv_path)
    seeds = [int(g) for g in (geometry_seeds or [base["geometry"]["seed"]])]

    def on_seed(g: int) -> dict:
        return {**base, "geometry": {**base["geometry"], "seed": g}}

    def thermal_stage(trial_id: int, params: dict, g: int) -> float:
        t0 = time.perf_counter()
        th = evaluate(params, on_seed(g), n_per_ku=n_per_ku, temperature=float(base["drive"]["temperature"]),
                      relax_time=thermal_relax, seed=thermal_seed, compile=compile)
        append_trial(csv_path, {"trial": trial_id, **params, **th, "stage": "thermal", "status": "ok", "geometry_seed": g})
        log.info("trial %d thermal, geometry seed %d: loss %.2f, means %s (%.0f s)", trial_id, g, th["loss"],
                 ", ".join(f"{th[f'mean_{k:.4g}']:+.2f}" for k in KUS), time.perf_counter() - t0)
        return th["loss"]

    rows = read_trials(csv_path)
    done = sorted({int(r["trial"]) for r in rows})
    # a trial interrupted after its screen passed (or between geometry seeds) first gets its missing 300 K stages
    for t in done:
        mine = [r for r in rows if int(r["trial"]) == t and r.get("status") == "ok"]
        if not any(r["stage"] == "screen" and str(r.get("screen_pass")) == "True" for r in mine):
            continue
        have = {seeds[0] if r.get("geometry_seed") in (None, "") else int(r["geometry_seed"])
                for r in mine if r["stage"] == "thermal"}
        params = {k.name: float(mine[0][k.name]) for k in KNOBS}
        for g in (g for g in seeds if g not in have):
            log.info("trial %d: completing its 300 K stage on geometry seed %d", t, g)
            thermal_stage(t, params, g)
    rows = read_trials(csv_path)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=8, multivariate=True)
    study = optuna.create_study(direction="minimize", sampler=sampler)
    dists = {name: optuna.distributions.FloatDistribution(low, high, log=log_scale and low < high)
             for name, (low, high, log_scale) in search_box(box).items()}
    for t in done:
        first = next(r for r in rows if int(r["trial"]) == t)
        loss = trial_loss(rows, t)
        params = {k.name: float(first[k.name]) for k in KNOBS}
        if loss is not None and all(dists[k].low <= v <= dists[k].high for k, v in params.items()):
            study.add_trial(optuna.trial.create_trial(params=params, distributions=dists, value=loss))
    tried = [{k.name: float(r[k.name]) for k in KNOBS} for r in rows if r.get("trial") is not None]
    for p in enqueue:  # a start point already in the log is not run again (a resumed study)
        if not any(all(math.isclose(float(p[k]), t[k], rel_tol=1e-9) for k in p) for t in tried):
            study.enqueue_trial(p)
    next_id = (max(done) + 1) if done else 0
    while next_id < n_trials:
        trial = study.ask(dists)
        params = dict(trial.params)
        base_row = {"trial": next_id, **params}
        loss = 100.0
        try:
            t0 = time.perf_counter()
            s = evaluate(params, on_seed(seeds[0]), n_per_ku=1, temperature=0.0, relax_time=screen_relax,
                         seed=thermal_seed, compile=compile)
            append_trial(csv_path, {**base_row, **s, "stage": "screen", "status": "ok", "geometry_seed": seeds[0]})
            log.info("trial %d screen: loss %.2f, DW x %s nm (%.0f s)", next_id, s["screen_loss"], s["dw_x_nm"],
                     time.perf_counter() - t0)
            loss = 10.0 + s["screen_loss"]
            if s["screen_pass"]:
                loss = float(np.mean([thermal_stage(next_id, params, g) for g in seeds]))
        except ValueError as exc:  # inadmissible trial (e.g. D outside its cited range)
            append_trial(csv_path, {**base_row, "stage": "screen", "status": "rejected", "error": str(exc)})
            log.info("trial %d rejected: %s", next_id, exc)
        study.tell(trial, loss)
        next_id += 1
    return read_trials(csv_path)


class _KuInstances(NamedTuple):
    """The instances of one Ku of a device-statistics file."""

    ku: float  # J/m^3
    mz: np.ndarray  # <m_z> per instance
    dw_x: np.ndarray  # DW position [m]
    single_wall: np.ndarray  # bool: one wall, no extra domains
    hit_cap: np.ndarray  # bool: relaxation reached the time cap


def _stats_instances(stats_path: str | Path) -> list[_KuInstances]:
    """Per Ku of a device-statistics file its instances; a file without the flags counts every instance as
    one wall that did not reach the cap."""
    from .devicestats import read_device_stats

    return [_KuInstances(g.ku, np.asarray(g.mz, float), np.asarray(g.dw_x, float),
                         np.asarray(g.single_wall if g.single_wall is not None else np.ones(g.n_ok, bool), bool),
                         np.asarray(g.hit_cap if g.hit_cap is not None else np.zeros(g.n_ok, bool), bool))
            for g in read_device_stats(stats_path).groups]


def _acceptance_of(groups: Sequence[_KuInstances]) -> dict:
    """:func:`acceptance` of the instances of every Ku."""
    return acceptance(np.concatenate([np.full(g.mz.size, g.ku) for g in groups]),
                      np.concatenate([g.mz for g in groups]), np.concatenate([g.dw_x for g in groups]),
                      np.concatenate([g.single_wall for g in groups]))


def acceptance_from_stats(stats_path: str | Path) -> dict:
    """:func:`acceptance` of a device-statistics file (``single_wall`` flags from the file; a file
    without them counts every instance as one wall), plus ``hit_cap_fraction`` over all instances and, per Ku
    of the paper's ladder, ``in_window``: the single-wall instances within +-:data:`WINDOW` of the level's
    target with their 95 % interval (how sure A1's and A2's counts are)."""
    groups = _stats_instances(stats_path)
    out = _acceptance_of(groups)
    out["hit_cap_fraction"] = float(np.concatenate([g.hit_cap for g in groups]).mean())
    out["in_window"] = {f"{g.ku:.4g}": in_window(g.mz[g.single_wall], TARGET_OF_KU[k])
                        for g in groups for k in KUS if math.isclose(g.ku, k, rel_tol=1e-6) and g.single_wall.any()}
    return out


def loss_resolution(stats_path: str | Path, n_per_ku: Sequence[int], draws: int = 2000, seed: int = 0) -> dict:
    """How far the study's loss (:func:`acceptance_loss`) of one 300 K stage with ``n`` instances per Ku
    scatters, estimated on a finished stage with more: ``draws`` subsamples of ``n`` instances per Ku, drawn
    without replacement (numpy generator seeded with ``seed``). Two trials whose losses differ by less than
    this scatter are not ranked apart by the study. Returns ``loss_full`` (all instances), ``n_full`` (the
    smallest Ku's count) and per ``n`` the mean, median, 10th / 90th percentile and standard deviation.
    Raises ValueError, before any draw, when an ``n`` is < 2 or not less than the smallest Ku's count (no
    spread to resample)."""
    groups = _stats_instances(stats_path)
    n_full = min(g.mz.size for g in groups)
    bad = [n for n in n_per_ku if not 2 <= n < n_full]
    if bad:
        raise ValueError(f"loss_resolution: {bad[0]} instances per Ku cannot be resampled from {stats_path}, "
                         f"whose smallest Ku holds {n_full} (need 2 <= n < {n_full})")
    rng = np.random.default_rng(seed)
    rows = []
    for n in n_per_ku:
        losses = np.empty(draws)
        for d in range(draws):
            picks = [rng.choice(g.mz.size, n, replace=False) for g in groups]
            losses[d] = acceptance_loss(_acceptance_of(
                [g._replace(mz=g.mz[i], dw_x=g.dw_x[i], single_wall=g.single_wall[i], hit_cap=g.hit_cap[i])
                 for g, i in zip(groups, picks)]))
        rows.append({"n_per_ku": int(n), "mean": float(losses.mean()), "median": float(np.median(losses)),
                     "p10": float(np.percentile(losses, 10)), "p90": float(np.percentile(losses, 90)),
                     "std": float(losses.std())})
    return {"stats": str(stats_path), "loss_full": acceptance_loss(_acceptance_of(groups)), "n_full": int(n_full),
            "draws": int(draws), "seed": int(seed), "rows": rows}


def _explore_at_zero_temperature(device: dict, kus: Sequence[float], *, compile: bool, **run) -> dict:
    """:func:`dwsynapse.calibration.explore` at T = 0 of every Ku in ``kus`` on ``device`` (the config's
    ``device`` section) with that section's own numerics: mesh, Heun or RK4 step, demag and its far-field
    refresh, initial relaxation; float32. ``run`` holds the drive (``current_density`` [A/m^2],
    ``pulse_duration`` [s]), ``relax_time`` [s] and ``n_per_ku``."""
    from .calibration import explore

    s = device_settings({"device": device})
    return explore(device["material"], s.geometry, kus, temperature=0.0, dt=s.solver.dt, demag=s.solver.demag,
                   initial_relax_time=s.solver.initial_relax_time, dtype="float32", compile=compile,
                   demag_refresh_steps=s.torch.demag_refresh_steps, integrator=s.solver.integrator, **run)


def hold_check(device: dict, duration: float = 5e-9, compile: bool = True) -> dict:
    """A7's stability test: every Ku of ``device`` (the config's ``device`` section) at T = 0 without
    current for ``duration`` [s] after the initial relaxation; the wall must stay within one notch width
    of the start notch. Returns ``{"dw_x_nm": [...], "start_nm": x0, "held": [...], "pass": bool}``."""
    from .geometry import build_racetrack

    geo = device_settings({"device": device}).geometry
    kus = list(KUS)
    res = _explore_at_zero_temperature(device, kus, current_density=0.0, pulse_duration=0.0, relax_time=duration,
                                       compile=compile)
    x0 = float(build_racetrack(geo).start_x)
    held = [bool(abs(x - x0) <= max(float(geo["notch_width"]), float(geo["cell_size"]))) for x in res["dw_x"]]
    return {"ku": kus, "dw_x_nm": [float(x) * 1e9 for x in res["dw_x"]], "start_nm": x0 * 1e9, "held": held,
            "pass": all(held)}


def depinning_thresholds(device: dict, j_low: float | dict = 1.5e11, j_high: float | dict = 8e11, rounds: int = 3,
                         points: int = 3, relax_time: float = 0.5e-9, compile: bool = True) -> dict:
    """T = 0 start-notch depinning threshold [A/m^2] of every Ku of :data:`KUS` on ``device`` (the config's
    ``device`` section, its own mesh, step, demag and pulse duration): the smallest current density of
    one pulse after which the wall, ``relax_time`` [s] later, rests more than half a notch pitch beyond
    the start notch.

    Searched in ``rounds`` rounds, all Ku in one batch per round: the first round tests ``j_low``,
    ``j_high`` (one value for every Ku, or a dict Ku -> value) and ``points`` currents between them, every
    later round ``points`` currents inside each Ku's bracket (evenly spaced in log J), so the bracket shrinks
    by ``points + 1`` per round (the default leaves it within 2.7 % of 1). Returns per Ku the bracket
    ``[held_at, left_at]`` (``None`` where the wall left at ``j_low`` or held at ``j_high``), ``threshold``
    (the bracket's geometric mean, else
    ``None``), ``monotonic`` (False if a wall that held at some current had left at a lower one) and the
    cost."""
    from .geometry import build_racetrack

    kus = list(KUS)
    start_lo = {k: float(j_low[k] if isinstance(j_low, dict) else j_low) for k in kus}
    start_hi = {k: float(j_high[k] if isinstance(j_high, dict) else j_high) for k in kus}
    if not all(0 < start_lo[k] < start_hi[k] for k in kus) or rounds < 1 or points < 1:
        raise ValueError(f"need 0 < j_low < j_high at every Ku, rounds >= 1, points >= 1 "
                         f"(got {j_low}, {j_high}, {rounds}, {points})")
    s = device_settings({"device": device})
    geo = s.geometry
    x0 = float(build_racetrack(geo).start_x)
    limit = 0.5 * float(geo["notch_pitch"])
    lo, hi = dict(start_lo), dict(start_hi)
    tested: dict[float, list[tuple[float, bool]]] = {k: [] for k in kus}
    wall, steps = 0.0, 0
    for r in range(rounds):
        per_ku = {}
        for k in kus:
            inner = list(np.geomspace(lo[k], hi[k], points + 2)[1:-1])
            per_ku[k] = ([start_lo[k]] + inner + [start_hi[k]]) if r == 0 else inner
        n = len(per_ku[kus[0]])
        res = _explore_at_zero_temperature(device, kus, n_per_ku=n, current_density=[j for k in kus for j in per_ku[k]],
                                           pulse_duration=s.drive.pulse_duration, relax_time=relax_time,
                                           compile=compile)
        wall += float(res["wall_time_s"])
        steps += int(res["instance_steps"])
        if not np.isfinite(res["dw_x"]).all():
            raise RuntimeError("depinning_thresholds: a run ended with non-finite magnetization")
        for i, k in enumerate(kus):
            for j, x in zip(per_ku[k], res["dw_x"][i * n:(i + 1) * n]):
                tested[k].append((float(j), bool(x - x0 <= limit)))
            held = [j for j, h in tested[k] if h]
            left = [j for j, h in tested[k] if not h]
            hi[k] = min(left) if left else start_hi[k]
            lo[k] = max([j for j in held if j < hi[k]], default=start_lo[k])
        log.info("depinning round %d/%d: %s", r + 1, rounds,
                 ", ".join(f"{k:.4g}: [{lo[k]:.3g}, {hi[k]:.3g}]" for k in kus))
    out = {}
    for k in kus:
        held = [j for j, h in tested[k] if h]
        left = [j for j, h in tested[k] if not h]
        # a wall that left at j_low has no bracket, even where a later round's retest of j_low held it (a wall
        # resting at the half-pitch limit)
        bracket = [lo[k], hi[k]] if held and left and lo[k] < hi[k] else None
        out[k] = {"bracket": bracket, "threshold": math.sqrt(lo[k] * hi[k]) if bracket else None,
                  "held_at_low": start_lo[k] in held and start_lo[k] not in left, "left_at_high": start_hi[k] in left,
                  "monotonic": not (held and left and max(held) > min(left)), "tested": sorted(tested[k])}
    return {"cell_size": float(geo["cell_size"]), "dt": s.solver.dt, "ku": kus, "per_ku": out,
            "wall_time_s": wall, "instance_steps": steps}


TRANSFER_TOLERANCE = 0.15  # issue 14: the 2 nm thresholds within 15 % of the calibration mesh's


def threshold_transfer(reference: dict, other: dict, tolerance: float = TRANSFER_TOLERANCE) -> dict:
    """Compare two :func:`depinning_thresholds` results (the calibration mesh, another mesh): per Ku the
    relative difference of the thresholds (bracket centres), whether it is within ``tolerance``, the worst
    case the two brackets allow and whether that is within too; ``pass`` when every Ku's centre is."""
    rows = []
    for k in reference["ku"]:
        a, b = reference["per_ku"][k], other["per_ku"][k]
        if a["threshold"] is None or b["threshold"] is None:
            rows.append({"ku": k, "reference": a["threshold"], "other": b["threshold"], "relative": None,
                         "worst_case": None, "within": False, "within_worst_case": False})
            continue
        rel = b["threshold"] / a["threshold"] - 1.0
        # the largest and smallest ratio the two brackets allow
        worst = max(abs(b["bracket"][1] / a["bracket"][0] - 1.0), abs(b["bracket"][0] / a["bracket"][1] - 1.0))
        rows.append({"ku": k, "reference": a["threshold"], "other": b["threshold"], "relative": rel,
                     "worst_case": worst, "within": abs(rel) <= tolerance, "within_worst_case": worst <= tolerance})
    return {"tolerance": tolerance, "rows": rows, "pass": all(r["within"] for r in rows)}


#: The two levels whose start-notch thresholds bound the drive: level -1 (8.0e5) must hold, level -0.5 (7.75e5) leave.
WINDOW_KUS = (8.0e5, 7.75e5)
WINDOW_FIELDS = (["point", "status"] + [k.name for k in KNOBS] + ["Dind", "dt", "rounds"]
                 + [f"threshold_{k:.4g}" for k in KUS] + [f"sigma_{k:.4g}" for k in KUS]
                 + ["window", "sigma_ratio"] + [f"drive_over_threshold_{k:.4g}" for k in WINDOW_KUS]
                 + ["brackets", "wall_time_s", "instance_steps", "error"])


def threshold_window(params: dict, base: dict, *, j_low: float = 1e11, j_high: float = 1.6e12, rounds: int = 4,
                     compile: bool = True) -> dict:
    """The drive window of one material: the T = 0 start-notch depinning thresholds [A/m^2] of every Ku
    (:func:`depinning_thresholds`) of the trial ``params`` (knob values, :func:`trial_device_section` on
    ``base``, the config's ``device`` section), next to the wall energies sigma per Ku [J/m^2]
    (:func:`wall_energy`, Newell Keff). ``window`` is threshold(8.0e5) / threshold(7.75e5): how far the
    paper's current can move between "level -1 holds" and "level -0.5 leaves" (A1 against A3);
    ``sigma_ratio`` is sigma(8.0e5) / sigma(7.75e5), what that ratio is if the thresholds scale with the
    wall energy; ``drive_over_threshold_<Ku>`` is the config's current density over that threshold (< 1:
    the wall holds at T = 0). Returns one :data:`WINDOW_FIELDS` row (thresholds ``None`` where the bracket
    [``j_low``, ``j_high``] does not hold them). Raises ValueError for an inadmissible trial."""
    _reset_compiled_step(compile)
    device = trial_device_section(params, base)
    t = depinning_thresholds(device, j_low, j_high, rounds=rounds, compile=compile)
    mat, geo = device["material"], device["geometry"]
    threshold = {k: t["per_ku"][k]["threshold"] for k in KUS}
    sigma = {k: wall_energy(mat["Aex"], newell_keff(k, mat["Ms"], geo), mat["Dind"]) for k in KUS}
    high, low = WINDOW_KUS
    drive = float(base["drive"]["current_density"])
    return {**params, "Dind": mat["Dind"], "dt": device["solver"]["dt"], "rounds": rounds,
           **{f"threshold_{k:.4g}": threshold[k] for k in KUS}, **{f"sigma_{k:.4g}": sigma[k] for k in KUS},
           "window": threshold[high] / threshold[low] if threshold[high] and threshold[low] else None,
           "sigma_ratio": sigma[high] / sigma[low],
           **{f"drive_over_threshold_{k:.4g}": drive / threshold[k] if threshold[k] else None for k in WINDOW_KUS},
           "brackets": json.dumps({f"{k:.4g}": t["per_ku"][k]["bracket"] for k in KUS}),
           "wall_time_s": t["wall_time_s"], "instance_steps": t["instance_steps"]}


def window_thresholds_text(row: dict, sep: str = ", ") -> str:
    """The thresholds of a :data:`WINDOW_FIELDS` row in 1e10 A/m^2, 8.0 ... 7.0e5, ``-`` where a Ku has none
    (``None`` in a fresh row, empty in one read back from the log)."""
    values = (row[f"threshold_{k:.4g}"] for k in KUS)
    return sep.join("-" if v in (None, "") else f"{float(v) / 1e10:.1f}" for v in values)


def run_window_scan(base: dict, csv_path: str | Path, points: Sequence[tuple[str, dict]], **window) -> list[dict]:
    """:func:`threshold_window` of each named point (``(name, knobs)``; a knob it leaves out keeps the value of
    ``base``, the config's ``device`` section: :func:`device_knobs`), one row appended to ``csv_path`` as soon as
    it ends (an inadmissible point as ``rejected`` with its reason). A point already in the log is not run
    again (a resumed scan); one logged with other knob values is refused (ValueError) before anything runs.
    ``window`` goes to :func:`threshold_window`. Returns the rows of the log."""
    csv_path = Path(csv_path)
    defaults = device_knobs(base)
    logged = {r["point"]: r for r in read_trials(csv_path)}
    todo = []
    for name, knobs in points:
        unknown = set(knobs) - set(defaults)
        if unknown:
            raise ValueError(f"window point {name!r}: unknown knobs {sorted(unknown)} (knobs: {', '.join(defaults)})")
        params = {**defaults, **{k: float(v) for k, v in knobs.items()}}
        if name in logged:
            if not all(math.isclose(float(logged[name][k]), v, rel_tol=1e-6) for k, v in params.items()):
                raise ValueError(f"{csv_path}: point {name!r} is logged with other knob values; give it another name")
            log.info("window point %s: in the log already", name)
            continue
        todo.append((name, params))
    for name, params in todo:
        try:
            row = {"point": name, "status": "ok", **threshold_window(params, base, **window)}
        except ValueError as exc:
            row = {"point": name, "status": "rejected", **params, "error": str(exc)}
        append_trial(csv_path, row, WINDOW_FIELDS)
        if row["status"] == "rejected":
            log.info("window point %s rejected: %s", name, row["error"])
        else:
            log.info("window point %s: thresholds %s e10 A/m^2 (8.0 ... 7.0e5), window %s, sigma ratio %.3f", name,
                     window_thresholds_text(row), "-" if row["window"] is None else f"{row['window']:.3f}",
                     row["sigma_ratio"])
    return read_trials(csv_path)


def admissible(device: dict) -> dict:
    """A7's range test: every searched knob inside its cited range (:data:`KNOBS`, D within
    :data:`D_RANGE`) and D <= 0.75 Dc at 7.0e5 J/m^3 (Newell Keff). Returns the values and ``pass``."""
    values = device_knobs(device)
    dind = device_settings({"device": device}).material.dind
    inside = {k.name: k.low * (1 - 1e-9) <= values[k.name] <= k.high * (1 + 1e-9) for k in KNOBS}
    inside["Dind"] = D_RANGE[0] <= dind <= D_RANGE[1]
    return {"values": values, "inside": inside, "pass": all(inside.values()) and values["d_over_dc"] <= 0.75}


def device_knobs(device: dict) -> dict:
    """The knob values (:data:`KNOBS`) of ``device`` (the config's ``device`` section), D as D / Dc(7.0e5)
    with the Newell Keff: the inverse of :func:`trial_device`."""
    s = device_settings({"device": device})
    mat, geo = s.material, s.geometry
    keff = newell_keff(7.0e5, mat.ms, geo)
    return {"Ms": mat.ms, "Aex": mat.aex, "alpha": mat.alpha, "d_over_dc": mat.dind / critical_dmi(mat.aex, keff),
            "theta_sh": mat.theta_sh, "notch_depth": float(geo["notch_depth"]), "notch_width": float(geo["notch_width"])}


EXTENSION_MOVE = 0.1  # A6: <mz> change that counts as "not converged" after the extra relaxation
HALF_STEP_KS_P = 0.05  # A6: the dt/2 outcome distribution must not differ at this level


def ks_two_sample(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """Two-sample Kolmogorov-Smirnov test: (D, p) with D the largest difference of the two empirical
    CDFs and p from the Kolmogorov distribution at (sqrt(ne) + 0.12 + 0.11 / sqrt(ne)) D, ne = n m / (n + m)
    (Stephens' small-sample correction, as in Numerical Recipes' ``kstwo``)."""
    a, b = np.sort(np.asarray(a, float)), np.sort(np.asarray(b, float))
    if a.size == 0 or b.size == 0:
        raise ValueError("ks_two_sample needs two non-empty samples")
    grid = np.concatenate([a, b])
    d = float(np.max(np.abs(np.searchsorted(a, grid, side="right") / a.size
                            - np.searchsorted(b, grid, side="right") / b.size)))
    en = math.sqrt(a.size * b.size / (a.size + b.size))
    lam = (en + 0.12 + 0.11 / en) * d
    if lam < 1e-3:
        return d, 1.0
    j = np.arange(1, 101)
    p = float(2.0 * np.sum((-1.0) ** (j - 1) * np.exp(-2.0 * (j * lam) ** 2)))
    return d, min(1.0, max(0.0, p))


def ks_detection_rate(shift: float, spread: float, n: int, m: int | None = None, p: float = HALF_STEP_KS_P,
                      trials: int = 2000, seed: int = 0) -> float:
    """Fraction of ``trials`` draws in which :func:`ks_two_sample` flags (p-value below ``p``) a shift of the
    mean by ``shift`` between two normal samples of ``n`` and ``m`` (default ``n``) values with standard
    deviation ``spread`` (same units as ``shift``, e.g. <m_z>). How often A6's dt / 2 test fails a level
    whose step bias is ``shift``; seeded, so the same arguments give the same rate."""
    if not spread > 0 or n < 1 or (m is not None and m < 1) or trials < 1:
        raise ValueError(f"ks_detection_rate: need spread > 0, n, m, trials >= 1 (got {spread}, {n}, {m}, {trials})")
    rng = np.random.default_rng(seed)
    m = n if m is None else m
    hits = sum(ks_two_sample(rng.normal(0.0, spread, n), rng.normal(shift, spread, m))[1] < p for _ in range(trials))
    return hits / trials


def _binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space (no overflow for n of a few thousand)."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 1.0 if k >= n else 0.0
    lp, lq = math.log(p), math.log1p(-p)
    return min(1.0, sum(math.exp(math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * lp + (n - i) * lq)
                        for i in range(k + 1)))


def binomial_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) two-sided confidence interval of a probability from ``k`` hits in ``n`` draws:
    the p whose Binomial(n, p) puts (1 - level) / 2 above k (lower end) and below k (upper end); 0 and 1 at
    k = 0 and k = n. How sure a count of rare landings (A2's walls at w >= 0.85) is."""
    if n < 1 or not 0 <= k <= n or not 0.0 < level < 1.0:
        raise ValueError(f"binomial_interval: need n >= 1, 0 <= k <= n and 0 < level < 1 (got k={k}, n={n}, "
                         f"level={level})")
    tail = 0.5 * (1.0 - level)

    def solve(f) -> float:  # f rises from < 0 to > 0 over p in [0, 1]
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            lo, hi = (lo, mid) if f(mid) > 0 else (mid, hi)
        return 0.5 * (lo + hi)

    lower = 0.0 if k == 0 else solve(lambda p: (1.0 - _binomial_cdf(k - 1, n, p)) - tail)
    upper = 1.0 if k == n else solve(lambda p: tail - _binomial_cdf(k, n, p))
    return lower, upper


def in_window(w: Sequence[float], target: float, window: float = WINDOW, level: float = 0.95) -> dict:
    """How many weights ``w`` (<m_z>) land within +-``window`` of ``target``: the count, the number of
    draws, the fraction and its :func:`binomial_interval`. At Ku 7.0e5 (target +1, w <= 1) this is A2's
    P(w >= 0.85)."""
    w = np.asarray(w, float)
    hits = int(on_target(w, target, window).sum())
    lower, upper = binomial_interval(hits, int(w.size), level)
    return {"target": float(target), "window": float(window), "hits": hits, "n": int(w.size),
            "p": hits / w.size, "p_low": lower, "p_high": upper, "level": level}


def fit_ringing(t: Sequence[float], y: Sequence[float], t0: float, f_min: float = 1e9, f_max: float = 10e9,
                n_freq: int = 2001, taus: Sequence[float] | None = None) -> dict:
    """Least-squares fit of a damped oscillation to a trace from ``t0`` [s] on:

        y(t) = level + slope (t - t_mid) + a exp(-(t - t0) / tau) cos(2 pi f (t - t0) + phase)

    (t_mid the middle of the fitted samples). The model is linear in level, slope, a cos(phase) and
    a sin(phase); the frequency f [Hz] is searched on ``n_freq`` points in [f_min, f_max] and the decay time
    tau [s] on ``taus`` (default 12 values from 0.2 to 10 ns, log-spaced), keeping the pair with the least
    squared residual. Used on the instance-mean <m_z>(t) after a pulse, where the wall rings coherently in
    the notch that holds it. Returns level, slope [1/s], amplitude (a, at t0), phase [rad], frequency [Hz],
    tau [s], the fit's value and slope [1/s] at the last sample and the rms residual."""
    t, y = np.asarray(t, float), np.asarray(y, float)
    if t.shape != y.shape or t.ndim != 1:
        raise ValueError(f"fit_ringing: t and y must be 1-D of the same length (got {t.shape}, {y.shape})")
    sel = t >= t0
    if sel.sum() < 8:
        raise ValueError(f"fit_ringing: {int(sel.sum())} samples at t >= {t0:.4g} s; need at least 8")
    if not 0 < f_min < f_max:
        raise ValueError(f"fit_ringing: need 0 < f_min < f_max (got {f_min}, {f_max})")
    ts, ys = t[sel], y[sel]
    t_mid = 0.5 * (ts[0] + ts[-1])
    taus = np.geomspace(0.2e-9, 10e-9, 12) if taus is None else np.asarray(taus, float)

    def design(tt: np.ndarray, f: float, tau: float) -> np.ndarray:
        e = np.exp(-(tt - t0) / tau)
        ph = 2.0 * np.pi * f * (tt - t0)
        return np.stack([np.ones_like(tt), tt - t_mid, e * np.cos(ph), e * np.sin(ph)], axis=-1)

    best = None
    for f in np.linspace(f_min, f_max, n_freq):
        for tau in taus:
            a = design(ts, f, tau)
            c = np.linalg.lstsq(a, ys, rcond=None)[0]
            r = float(((a @ c - ys) ** 2).sum())
            if best is None or r < best[0]:
                best = (r, float(f), float(tau), c)
    r, f, tau, c = best
    h = 1e-13
    end = np.array([ts[-1] - h, ts[-1], ts[-1] + h])
    at_end = design(end, f, tau) @ c
    return {"level": float(c[0]), "slope": float(c[1]), "amplitude": float(np.hypot(c[2], c[3])),
            "phase": float(np.arctan2(-c[3], c[2])), "frequency": f, "tau": tau, "value_at_end": float(at_end[1]),
            "slope_at_end": float((at_end[2] - at_end[0]) / (2 * h)), "rms_residual": math.sqrt(r / ts.size)}


def compare_stats(path_a: str | Path, path_b: str | Path) -> list[dict]:
    """Two device-statistics files side by side (e.g. the 4 nm default stage and a 2 nm sample): per Ku
    present in both, the instance count, mean and std of <mz>, the in-window probability of the Ku's
    target (+-:data:`WINDOW`), the DW-position std [nm], and the two-sample KS statistic and p value of
    the two <mz> samples."""
    from .devicestats import read_device_stats

    a, b = ({g.ku: g for g in read_device_stats(p).groups} for p in (path_a, path_b))
    rows = []
    for ku in sorted(set(a) & set(b), reverse=True):
        row = {"ku": ku, "target": TARGET_OF_KU.get(ku)}
        for tag, g in (("a", a[ku]), ("b", b[ku])):
            row.update({f"n_{tag}": int(g.mz.size), f"mean_{tag}": float(np.mean(g.mz)), f"std_{tag}": float(np.std(g.mz)),
                        f"dw_std_nm_{tag}": float(np.std(g.dw_x) * 1e9)})
            if row["target"] is not None:
                row[f"in_window_{tag}"] = float(on_target(g.mz, row["target"]).mean())
        row["ks_d"], row["ks_p"] = ks_two_sample(a[ku].mz, b[ku].mz)
        rows.append(row)
    if not rows:
        raise ValueError(f"{path_a} and {path_b} have no Ku in common")
    return rows


def position_from_mz(mz: np.ndarray | Sequence[float], length: float) -> np.ndarray:
    """Wall position [m] of a straight up | down wall across a strip of ``length`` [m] whose mean is ``mz``:
    x = length (1 + <m_z>) / 2 (the rough edges and the wall's tilt move it by a few nm; enough to tell which
    notch of a 75 nm pitch a wall rests in when only <m_z> was recorded)."""
    return 0.5 * float(length) * (1.0 + np.asarray(mz, float))


def compare_by_notch(a: Sequence[float], b: Sequence[float], notch_x: Sequence[float], length: float,
                     index_a: Sequence[int] | None = None, index_b: Sequence[int] | None = None) -> dict:
    """Two samples of final <m_z> of one Ku (e.g. the same seeds' outcomes at dt and at dt / 2): the two-sample
    KS test of the whole samples, and per notch (each wall assigned to the notch nearest to
    :func:`position_from_mz`; ``notch_x`` [m] the notch centres, ``length`` [m] the strip) the fraction of each
    sample resting there and the mean <m_z> of those walls with its standard error, their difference and
    that difference in standard errors (``z``). Tells a shift of the walls inside a notch (a step bias of the
    resting level) from walls caught at other notches (a change of the dynamics). With the instance indices of
    both samples (``index_a``, ``index_b``, one per value), an instance in both whose two walls rest at the same
    notch is also paired: ``paired_n`` and the mean of its differences b - a with their standard error
    (``paired_difference``, ``paired_se``), which the thermal spread of the level does not blur."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.size < 2 or b.size < 2:
        raise ValueError(f"compare_by_notch needs two samples of >= 2 values (got {a.size} and {b.size})")
    notch_x = np.asarray(notch_x, float)

    def nearest(v):
        return np.argmin(np.abs(position_from_mz(v, length)[:, None] - notch_x[None, :]), axis=1)

    def stats(v):
        return {"n": int(v.size), "mean": float(v.mean()),
                "se": float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else float("nan")}

    d, p = ks_two_sample(a, b)
    at_a, at_b = nearest(a), nearest(b)
    paired = index_a is not None and index_b is not None
    if paired:
        if len(index_a) != a.size or len(index_b) != b.size:
            raise ValueError("compare_by_notch: index_a and index_b need one instance index per value")
        row_b = {int(i): r for r, i in enumerate(index_b)}
        both = [(r, row_b[int(i)]) for r, i in enumerate(index_a) if int(i) in row_b]
    notches = []
    for j, x in enumerate(notch_x):
        va, vb = a[at_a == j], b[at_b == j]
        if va.size == 0 and vb.size == 0:
            continue
        row = {"notch_nm": float(x * 1e9), "fraction_a": float(va.size / a.size), "fraction_b": float(vb.size / b.size)}
        if va.size and vb.size:
            sa, sb = stats(va), stats(vb)
            row.update(mean_a=sa["mean"], se_a=sa["se"], mean_b=sb["mean"], se_b=sb["se"],
                       difference=sb["mean"] - sa["mean"])
            se = math.hypot(sa["se"], sb["se"])
            row["z"] = row["difference"] / se if se > 0 else float("nan")
        if paired:
            diff = np.asarray([b[rb] - a[ra] for ra, rb in both if at_a[ra] == j and at_b[rb] == j])
            row["paired_n"] = int(diff.size)
            if diff.size > 1:
                row["paired_difference"] = float(diff.mean())
                row["paired_se"] = float(diff.std(ddof=1) / math.sqrt(diff.size))
        notches.append(row)
    return {"a": stats(a), "b": stats(b), "ks_d": d, "ks_p": p, "notches": notches}


def rerun_samples(reports: Sequence[tuple[str | Path, str]], ku: float,
                  taken: Sequence[int] = ()) -> tuple[np.ndarray, list[int]]:
    """The rerun <m_z> of ``ku`` [J/m^3] pooled over ``converge`` reports, each given as (path, part) with part
    ``"rerun"`` or ``"half_dt"`` (a report may hold both), and the instance indices they cover; refuses parts
    whose instances overlap each other or ``taken`` (instances already in the sample, e.g. the stage's own: one
    seed counted twice) and reports without that part or Ku."""
    values, covered = [], list(taken)
    for path, part in reports:
        report = json.loads(Path(path).read_text())
        rows = report[part]["per_ku"] if part in report and report[part] else {}
        hits = [rows[k] for k in rows if math.isclose(float(k), ku, rel_tol=1e-3)]
        if not hits:
            raise ValueError(f"{path}: no {part} of Ku {ku:g} J/m^3")
        row = hits[0]
        first = int(row.get("first_index", 0))
        idx = list(range(first, first + int(row.get("n_requested", len(row["rerun"])))))
        if set(idx) & set(covered):
            raise ValueError(f"{path} ({part}): instances {idx[0]}...{idx[-1]} of Ku {ku:g} overlap another "
                             "source's")
        covered += idx
        values += [float(v) for v in row["rerun"]]
    return np.asarray(values, float), sorted(set(covered) - set(taken))


def _final_states(chunk_paths: Sequence[str | Path], per_ku: int | None) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    """Ku [J/m^3] -> (final magnetizations (n, 3, ny, nx), their <mz>) of the ok instances in the device
    stage's chunk files, in instance order, the first ``per_ku`` of each Ku (all when None)."""
    import h5py

    from .device.chunkfile import read_chunk

    by_ku: dict[float, list[tuple[int, np.ndarray, float]]] = collections.defaultdict(list)
    for path in chunk_paths:
        data = read_chunk(path)
        with h5py.File(path, "r") as f:
            m_final = f["m_final"][()]
        for j in np.flatnonzero(data.ok):
            by_ku[data.ku].append((int(data.index[j]), m_final[j], float(data.mz[j])))
    out = {}
    for ku, rows in sorted(by_ku.items()):
        rows.sort(key=lambda r: r[0])
        rows = rows[:per_ku] if per_ku else rows
        out[ku] = (np.stack([r[1] for r in rows]), np.asarray([r[2] for r in rows]))
    return out


def extension_check(device: dict, chunk_paths: Sequence[str | Path], per_ku: int | None = None,
                    extra_time: float = 3e-9, compile: bool = True) -> dict:
    """A6's first half: the final states of a device stage (its chunk files) relaxed ``extra_time`` [s]
    more at the stage's temperature, without current, with a thermal stream other than the stage's
    (seed ``thermal_seed + 1``), then the stage's readout tail, so that both states are read alike. Per Ku and
    overall, the fraction of instances whose <mz> moves by more
    than :data:`EXTENSION_MOVE`, and the mean signed change of <mz> (where the walls that move go); passes
    at <= 5 %."""
    from .calibration import explore

    states = _final_states(chunk_paths, per_ku)
    if not states:
        raise ValueError("extension_check: no ok instance in the chunk files")
    kus = list(states)
    n = min(len(states[k][1]) for k in kus)
    m_start = np.concatenate([states[k][0][:n] for k in kus])
    before = np.concatenate([states[k][1][:n] for k in kus])
    s = device_settings({"device": device})
    res = explore(device["material"], s.geometry, kus, n_per_ku=n, temperature=s.drive.temperature,
                  current_density=0.0, pulse_duration=0.0, relax_time=extra_time, dt=s.solver.dt,
                  demag=s.solver.demag, seed=s.thermal_seed + 1, dtype=s.torch.dtype, compile=compile,
                  m_start=m_start, demag_refresh_steps=s.torch.demag_refresh_steps, integrator=s.solver.integrator,
                  readout_time=s.solver.readout_time, readout_dt=s.solver.readout_step)
    change = res["mz"] - before
    moved = np.abs(change) > EXTENSION_MOVE
    per = {f"{k:.4g}": float(moved[i * n:(i + 1) * n].mean()) for i, k in enumerate(kus)}
    drift = {f"{k:.4g}": float(change[i * n:(i + 1) * n].mean()) for i, k in enumerate(kus)}
    frac = float(moved.mean())
    return {"extra_time_s": extra_time, "n_per_ku": n, "moved_fraction_per_ku": per, "moved_fraction": frac,
            "mean_change_per_ku": drift,
            "max_change": float(np.max(np.abs(change))), "pass": frac <= 0.05,
            "wall_time_s": res["wall_time_s"]}


def rerun_check(config: dict, stats_path: str | Path, per_ku: int, workdir: str | Path, overrides: dict,
                kus: Sequence[float] | None = None, first: int = 0) -> dict:
    """The stage's seeds ``first`` ... ``first + per_ku - 1`` of every Ku (or of those in ``kus`` [J/m^3]; indices
    past the stage's own instances extend the same seed sequence, for a larger sample) run again exactly as
    the device stage runs them (rest detection, cap) with the config changed by ``overrides`` (nested, e.g.
    ``{"solver": {"dt": 3e-14}}`` for the ``device`` section), compared per Ku with the stage's outcomes in
    ``stats_path`` by a two-sample KS test on <mz>; passes when every p > :data:`HALF_STEP_KS_P`. A6 uses
    it with dt / 2."""
    from .config import deep_update
    from .devicestats import read_device_stats
    from .engines import instance_seed
    from .engines.torchfd.racetrack import run_instances
    from .geometry import build_racetrack

    cfg = dict(config, device=deep_update(config["device"], overrides))
    dev = device_settings(cfg)
    racetrack = build_racetrack(dev.geometry)
    stats = read_device_stats(stats_path)
    rows, ok = {}, True
    only = None if kus is None else [float(v) for v in kus]
    kus = list(dev.ku_values)
    for g in stats.groups:
        if only is not None and not any(math.isclose(v, g.ku, rel_tol=1e-9) for v in only):
            continue
        matches = [j for j, v in enumerate(kus) if math.isclose(v, g.ku, rel_tol=1e-9)]
        if not matches:
            raise ValueError(f"{stats_path}: Ku {g.ku:g} J/m^3 is not in the config's device.ku_values {kus}")
        # the stage's own seeds of instances first ... first + per_ku - 1 (instance_seed of the Ku's index in the config)
        seeds = [instance_seed(dev.thermal_seed, matches[0], i) for i in range(first, first + per_ku)]
        wdir = Path(workdir) / f"ku_{g.ku:.3e}"
        wdir.mkdir(parents=True, exist_ok=True)
        done = [r for r in run_instances(cfg, racetrack, g.ku, seeds, wdir) if r.ok]
        again = np.asarray([r.mz for r in done], float)
        d, p = ks_two_sample(g.mz, again)
        rows[f"{g.ku:.4g}"] = {"n_stage": int(g.n_ok), "n_requested": per_ku, "n_rerun": int(again.size),
                               "mean_stage": float(g.mz.mean()),
                               "mean_rerun": float(again.mean()) if again.size else float("nan"),
                               "first_index": first, "first_stage": [float(v) for v in g.mz[first:first + per_ku]],
                               "rerun": [float(v) for v in again], "rerun_dw_x_nm": [float(r.dw_x * 1e9) for r in done],
                               "ks_d": d, "ks_p": p}
        ok = ok and p > HALF_STEP_KS_P
    return {"overrides": overrides, "per_ku": rows, "pass": ok}
