"""Calibration study: acceptance criteria A1-A5, the loss built from them, the trial log and its resume."""

import json
import math
import warnings

import numpy as np
import pytest

from dwsynapse import calibration_study as cs
from dwsynapse.devicestats import read_device_stats

KUS = [8.0e5, 7.75e5, 7.5e5, 7.25e5, 7.0e5]


def paper_like(n=40, seed=0):
    """Per-instance samples that meet every criterion: 8.0e5 held near -0.833, middle levels on target,
    7.0e5 mostly short of +1 with 10 % beyond 0.85, positions spread by ~80 nm."""
    rng = np.random.default_rng(seed)
    ku, w = [], []
    centres = {8.0e5: -0.833, 7.75e5: -0.5, 7.5e5: 0.0, 7.25e5: 0.5, 7.0e5: 0.6}
    for k in KUS:
        ku += [k] * n
        if k == 7.0e5:
            vals = np.r_[rng.uniform(0.3, 0.8, n - 4), [0.9, 0.95, 0.9, 0.88]]
        elif k == 8.0e5:
            vals = -0.833 + rng.uniform(-0.1, 0.1, n)
        else:
            vals = centres[k] + rng.normal(0, 0.3, n)
        w += list(vals)
    ku, w = np.array(ku), np.array(w)
    x = 300e-9 * (1 + w)  # x = L (1 + w) / 2 on a 600 nm strip
    return ku, w, x, np.ones(ku.size, bool)


def test_acceptance_of_a_paper_like_device_passes_and_its_loss_is_small():
    a = cs.acceptance(*paper_like())
    assert all(a[f"pass_A{i}"] for i in range(1, 6)), a
    assert cs.acceptance_loss(a) < 1.0


def test_each_criterion_fails_on_its_own_defect():
    ku, w, x, one = paper_like()
    held = w.copy()
    held[ku == 8.0e5] = -0.4  # level -1 not held in the start notch
    assert not cs.acceptance(ku, held, x, one)["pass_A1"]
    easy = w.copy()
    easy[ku == 7.0e5] = 0.95  # +1 always reached: not the hardest level
    a = cs.acceptance(ku, easy, x, one)
    assert not a["pass_A2"] and not a["A2_plus1_hardest"]
    shifted = w.copy()
    shifted[ku == 7.5e5] += 0.4
    assert not cs.acceptance(ku, shifted, x, one)["pass_A3"]
    assert not cs.acceptance(ku, w, 0.3 * x, one)["pass_A4"]  # 3x less spread in position
    broken = one.copy()
    broken[::10] = False
    a = cs.acceptance(ku, w, x, broken)
    assert not a["pass_A5"] and a["single_wall_fraction"] == pytest.approx(0.9)
    assert cs.acceptance_loss(a) > cs.acceptance_loss(cs.acceptance(ku, w, x, one))


def test_a_screen_with_one_instance_per_ku_has_no_position_spread_and_no_warning():
    ku, w, x, one = (a[::40] for a in paper_like())  # the first instance of every Ku
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a = cs.acceptance(ku, w, x, one)
    assert math.isnan(a["A4_dw_std_nm"]) and not a["pass_A4"]
    assert a["mean_7.5e+05"] == pytest.approx(w[2])


def test_trial_device_sets_d_from_d_over_dc_and_rejects_d_outside_its_range(default_config):
    geo = default_config["device"]["geometry"]
    params = {"Ms": 1.0e6, "Aex": 3e-11, "alpha": 0.05, "d_over_dc": 0.7, "theta_sh": 0.15,
              "notch_depth": 9e-9, "notch_width": 7e-9}
    mat, g = cs.trial_device(params, geo)
    keff = cs.newell_keff(7.0e5, 1.0e6, g)
    assert mat["Dind"] == pytest.approx(0.7 * cs.critical_dmi(3e-11, keff))
    assert g["notch_depth"] == pytest.approx(8e-9) and g["notch_width"] == pytest.approx(8e-9)  # whole cells, >= 2
    nxx, nzz = cs.strip_demag_factors(geo, 1.0e6)
    assert 0 < nxx < 0.01 and 0.95 < nzz < 1.0  # a 600 x 60 x 1 nm strip is nearly a thin film
    with pytest.raises(ValueError, match="outside the cited range"):
        cs.trial_device({**params, "d_over_dc": 0.2, "Aex": 1e-11}, geo)
    with pytest.raises(ValueError, match="no perpendicular anisotropy"):  # Keff <= 0, not "D = 0"
        cs.trial_device({**params, "Ms": 1.4e6}, geo)


def test_stable_dt_keeps_each_integrator_below_unit_growth():
    import torch

    from dwsynapse.engines.torchfd.mesh import Mesh
    from dwsynapse.engines.torchfd.racetrack import exchange_mode_growth
    from dwsynapse.engines.torchfd.solver import Material

    mesh = Mesh(np.ones((2, 2), bool), 4e-9, 4e-9, 1e-9, torch.device("cpu"), torch.float64)
    for alpha in (0.01, 0.05, 0.3):
        mat = {"Ms": 1e6, "Aex": 3e-11, "alpha": alpha}
        dt = cs.stable_dt(mat, 4e-9)
        assert 0 < dt <= 2e-13
        assert exchange_mode_growth(Material(1e6, 3e-11, alpha), mesh, dt) < 1
    assert cs.stable_dt({"Ms": 1e6, "Aex": 3e-11, "alpha": 0.01}, 4e-9) < cs.stable_dt(
        {"Ms": 1e6, "Aex": 3e-11, "alpha": 0.3}, 4e-9)  # weak damping needs a smaller step
    # RK4's stability region reaches ~6x further along the imaginary axis: a larger step at weak damping
    mat = {"Ms": 1e6, "Aex": 3e-11, "alpha": 0.01}
    dt_rk4 = cs.stable_dt(mat, 4e-9, integrator="rk4", **cs.STUDY_STEP["rk4"])
    assert exchange_mode_growth(Material(1e6, 3e-11, 0.01), mesh, dt_rk4, "rk4") < 1
    assert dt_rk4 > 1.5 * cs.stable_dt(mat, 4e-9, **cs.STUDY_STEP["heun"])


def test_trial_log_is_appended_and_resumed(tmp_path, default_config, monkeypatch):
    """A study stopped after some trials continues from its CSV: finished trials are not re-run and the
    optimizer is told their losses."""
    calls = []

    def fake_evaluate(params, base, *, n_per_ku, temperature, **kw):
        calls.append((round(params["Ms"]), n_per_ku))
        a = cs.acceptance(*paper_like(n=4))
        return {**a, "screen_loss": abs(params["Ms"] - 1e6) / 1e5, "screen_pass": abs(params["Ms"] - 1e6) < 1e5,
                "loss": cs.acceptance_loss(a), "Dind": 1e-3,
                "dt": 1e-13, "wall_time_s": 0.0, "instance_steps": 0, "dw_x_nm": "[]", "mz_all": "[]"}

    monkeypatch.setattr(cs, "evaluate", fake_evaluate)
    path = tmp_path / "trials.csv"
    start = {"Ms": 1.0e6, "Aex": 3e-11, "alpha": 0.05, "d_over_dc": 0.7, "theta_sh": 0.15,
             "notch_depth": 8e-9, "notch_width": 8e-9}
    rows = cs.run_study(default_config["device"], path, 3, seed=1, enqueue=[start])
    assert sorted({int(r["trial"]) for r in rows}) == [0, 1, 2]
    assert calls[0] == (1000000, 1) and calls[1] == (1000000, 8)  # the enqueued start passes the screen
    n_calls = len(calls)
    later = dict(start, alpha=0.03)  # a start point added when resuming runs next; the first is not re-run
    rows = cs.run_study(default_config["device"], path, 5, seed=1, enqueue=[start, later])
    assert sorted({int(r["trial"]) for r in rows}) == [0, 1, 2, 3, 4]
    assert len(calls) - n_calls in (2, 3, 4)  # only the two new trials ran (screen, maybe thermal)
    assert float(next(r for r in rows if r["trial"] == 3)["alpha"]) == pytest.approx(0.03)
    assert sum(1 for r in rows if r["stage"] == "screen" and float(r["alpha"]) == pytest.approx(0.05)
               and float(r["Ms"]) == pytest.approx(1e6) and float(r["theta_sh"]) == pytest.approx(0.15)) == 1
    assert cs.trial_loss(rows, 0) == pytest.approx(float([r for r in rows if r["trial"] == 0][-1]["loss"]))


def test_screen_keeps_materials_where_8e5_holds_and_7e5_leaves(default_config):
    geo = dict(default_config["device"]["geometry"], first_notch=60e-9, notch_width=8e-9, notch_pitch=75e-9)
    assert cs.screen_passes([61e-9, 62e-9, 59e-9, 285e-9, 280e-9], geo)
    assert not cs.screen_passes([205e-9, 284e-9, 278e-9, 324e-9, 336e-9], geo)  # 8.0e5 not held
    assert not cs.screen_passes([60e-9, 60e-9, 60e-9, 60e-9, 100e-9], geo)  # 7.0e5 does not leave


def test_ks_two_sample_statistic_and_p_value():
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, 200), rng.normal(0, 1, 150)
    d, p = cs.ks_two_sample(a, b)
    assert 0 < d < 0.2 and p > 0.05  # same distribution
    d, p = cs.ks_two_sample(a, b + 1.0)
    assert d > 0.3 and p < 1e-6  # shifted by one standard deviation
    assert cs.ks_two_sample([1, 2, 3], [1, 2, 3]) == (0.0, 1.0)
    # disjoint samples of 10 each: D = 1, lambda = sqrt 5 + 0.12 + 0.11 / sqrt 5, p ~ 2 exp(-2 lambda^2); the
    # exact permutation p is 2 / C(20, 10) = 1.08e-5
    d, p = cs.ks_two_sample(np.arange(10), np.arange(10) + 100)
    lam = math.sqrt(5) + 0.12 + 0.11 / math.sqrt(5)
    assert d == 1.0 and p == pytest.approx(2 * math.exp(-2 * lam**2), rel=1e-6)
    assert 1.08e-5 < p < 2 * 1.08e-5
    with pytest.raises(ValueError, match="non-empty"):
        cs.ks_two_sample([], [1.0])


def test_ks_detection_rate_rises_with_the_shift():
    # no shift: about the nominal false-alarm rate (D is a multiple of 1/64 here, so not exactly 0.05);
    # a shift of 3 spreads: always
    assert 0.02 < cs.ks_detection_rate(0.0, 0.007, 64, trials=500) < 0.10
    assert cs.ks_detection_rate(0.021, 0.007, 64, trials=200) == 1.0
    mid = cs.ks_detection_rate(0.003, 0.007, 64, trials=500)
    assert 0.3 < mid < 0.8 and mid == cs.ks_detection_rate(0.003, 0.007, 64, trials=500)
    with pytest.raises(ValueError, match="spread > 0"):
        cs.ks_detection_rate(0.001, 0.0, 64)


def test_binomial_interval_matches_the_closed_forms_and_a_table():
    # k = 0 and k = n have closed forms: (0, 1 - (a/2)^(1/n)) and ((a/2)^(1/n), 1)
    lo, hi = cs.binomial_interval(0, 64)
    assert lo == 0.0 and hi == pytest.approx(1 - 0.025 ** (1 / 64), rel=1e-9)
    lo, hi = cs.binomial_interval(20, 20)
    assert hi == 1.0 and lo == pytest.approx(0.025 ** (1 / 20), rel=1e-9)
    # the textbook Clopper-Pearson interval of 3 in 10: 0.0667 ... 0.6525
    lo, hi = cs.binomial_interval(3, 10)
    assert lo == pytest.approx(0.06674, abs=1e-4) and hi == pytest.approx(0.65245, abs=1e-4)
    # at each end the binomial tail beyond the count is exactly (1 - level) / 2, also for large n
    lo, hi = cs.binomial_interval(1, 320)
    assert 1 - cs._binomial_cdf(0, 320, lo) == pytest.approx(0.025, rel=1e-6)
    assert cs._binomial_cdf(1, 320, hi) == pytest.approx(0.025, rel=1e-6)
    assert lo < 1 / 320 < hi
    with pytest.raises(ValueError, match="0 <= k <= n"):
        cs.binomial_interval(5, 4)


def test_in_window_counts_a2_landings_with_their_interval():
    w = [0.93, 0.84, 0.86, 0.5, 1.0, -0.1, 0.851]
    row = cs.in_window(w, 1.0)
    assert row["hits"] == 4 and row["n"] == 7 and row["p"] == pytest.approx(4 / 7)
    assert (row["p_low"], row["p_high"]) == pytest.approx(cs.binomial_interval(4, 7))
    assert cs.in_window(w, -0.833)["hits"] == 0


def test_fit_ringing_recovers_a_damped_oscillation():
    # the instance-mean <m_z>(t) of a wall ringing in its notch after the pulse: 3.4 GHz, 1.3 ns decay
    rng = np.random.default_rng(3)
    t = np.arange(0.0, 2.0e-9 + 1e-15, 10e-12)
    t0 = 1.0e-9
    truth = dict(level=-0.765, slope=2e6, amplitude=0.015, phase=0.4, frequency=3.4e9, tau=1.3e-9)
    y = (truth["level"] + truth["slope"] * (t - 1.5e-9)
         + truth["amplitude"] * np.exp(-(t - t0) / truth["tau"])
         * np.cos(2 * np.pi * truth["frequency"] * (t - t0) + truth["phase"]) + rng.normal(0.0, 5e-4, t.size))
    y[t < t0] = 0.0  # the pulse part is not fitted
    fit = cs.fit_ringing(t, y, t0)
    assert fit["frequency"] == pytest.approx(truth["frequency"], rel=0.005)
    assert fit["level"] == pytest.approx(truth["level"], abs=5e-4)
    assert fit["amplitude"] == pytest.approx(truth["amplitude"], rel=0.15)
    assert fit["rms_residual"] < 8e-4
    end = t[-1]
    exact = (truth["level"] + truth["slope"] * (end - 1.5e-9) + truth["amplitude"] * np.exp(-(end - t0) / truth["tau"])
             * np.cos(2 * np.pi * truth["frequency"] * (end - t0) + truth["phase"]))
    assert fit["value_at_end"] == pytest.approx(exact, abs=1e-3)
    # a trace without an oscillation fits a negligible amplitude
    flat = cs.fit_ringing(t, np.full_like(t, -0.7) + rng.normal(0.0, 5e-4, t.size), t0)
    assert flat["amplitude"] < 1e-3 and flat["level"] == pytest.approx(-0.7, abs=3e-4)


def test_fit_ringing_refuses_too_few_samples_and_bad_ranges():
    t = np.linspace(0.0, 1e-9, 101)
    with pytest.raises(ValueError, match="need at least 8"):
        cs.fit_ringing(t, np.zeros_like(t), 0.99e-9)
    with pytest.raises(ValueError, match="f_min < f_max"):
        cs.fit_ringing(t, np.zeros_like(t), 0.0, f_min=5e9, f_max=1e9)
    with pytest.raises(ValueError, match="same length"):
        cs.fit_ringing(t, np.zeros(5), 0.0)


def _tiny_stage(default_config, tmp_path):
    """A real two-Ku device stage of 2 instances each (6 nm cells, 20 ps pulse), its chunk files and merged stats."""
    from dwsynapse.device import chunks as dplan
    from dwsynapse.device import engine as dengine
    from dwsynapse.device import merge as dmerge

    c = default_config
    c["device"].update(engine="torch", instances_per_ku=2, chunk_size=2, ku_values=[7.0e5, 8.0e5])
    c["device"]["geometry"].update(cell_size=6e-9, notch_width=12e-9, notch_depth=12e-9)
    c["device"]["drive"]["pulse_duration"] = 2e-11
    c["device"]["solver"].update(relax_max_time=1e-11, rest_window=1e-11, dt=1e-13, initial_relax_time=1e-11)
    c["device"]["torch"].update(device="cpu", compile=False)
    paths = []
    for ch in dplan.plan_chunks(c):
        p = tmp_path / "chunks" / ch.group / f"chunk_{ch.chunk_index}.h5"
        dengine.run_chunk(c, ch.group, ch.chunk_index, p, tmp_path / "w" / ch.group, progress=False)
        paths.append(p)
    dmerge.merge_chunks(c, paths, tmp_path / "d.h5")
    return c, paths, tmp_path / "d.h5"


def test_extension_continues_the_final_states_and_half_dt_reruns_the_stage_seeds(default_config, tmp_path):
    c, chunks, stats = _tiny_stage(default_config, tmp_path)
    ext = cs.extension_check(c["device"], chunks, per_ku=2, extra_time=1e-12, compile=False)
    # 10 steps at 300 K barely move a wall: nothing counts as unconverged, and the states were the stage's
    assert ext["n_per_ku"] == 2 and set(ext["moved_fraction_per_ku"]) == {"7e+05", "8e+05"}
    assert ext["moved_fraction"] == 0.0 and ext["pass"] and ext["max_change"] < 0.05
    assert set(ext["mean_change_per_ku"]) == {"7e+05", "8e+05"}
    assert all(abs(v) <= ext["max_change"] for v in ext["mean_change_per_ku"].values())
    half = cs.rerun_check(c, stats, per_ku=2, workdir=tmp_path / "half", overrides={"solver": {"dt": 5e-14}})
    for row in half["per_ku"].values():
        assert row["n_rerun"] == 2 and 0.0 <= row["ks_p"] <= 1.0
        assert abs(row["mean_rerun"] - row["mean_stage"]) < 0.2  # same seeds, same protocol, half the step
    run = json.loads((tmp_path / "half" / "ku_7.000e+05" / "torchfd_run.json").read_text())
    assert run["seeds"] == [int(s) for s in read_device_stats(stats).by_ku(7.0e5).seed[:2]]  # the stage's seeds
    assert c["device"]["solver"]["dt"] == 1e-13  # the caller's config is not changed
    one = cs.rerun_check(c, stats, per_ku=1, workdir=tmp_path / "rk4", kus=[8.0e5],
                         overrides={"solver": {"integrator": "rk4"}})
    assert list(one["per_ku"]) == ["8e+05"] and one["overrides"] == {"solver": {"integrator": "rk4"}}
    assert json.loads((tmp_path / "rk4" / "ku_8.000e+05" / "torchfd_run.json").read_text())["integrator"] == "rk4"
    # the stage's own settings from its second instance on reproduce the stage's outcome of that instance
    same = cs.rerun_check(c, stats, per_ku=1, workdir=tmp_path / "same", kus=[8.0e5], first=1,
                          overrides={"solver": {"dt": c["device"]["solver"]["dt"]}})
    row = same["per_ku"]["8e+05"]
    assert row["first_index"] == 1 and row["rerun"] == pytest.approx(row["first_stage"], abs=1e-6)
    assert row["first_stage"] == [float(read_device_stats(stats).by_ku(8.0e5).mz[1])]


def test_depinning_search_brackets_each_ku_threshold(default_config, monkeypatch):
    """The bracket search finds a per-Ku threshold within (points + 1)^-rounds of the searched log range,
    and reports a Ku whose wall never leaves (or always leaves) as unbracketed."""
    from dwsynapse import calibration

    jc = {8.0e5: 5.5e11, 7.75e5: 4.1e11, 7.5e5: 3.05e11, 7.25e5: 2.2e11, 7.0e5: 1e12}  # 7.0e5 never leaves
    x0 = float(default_config["device"]["geometry"]["first_notch"])
    batches = []

    def fake_explore(material, geometry, kus, *, n_per_ku, current_density, **kw):
        ku = np.repeat(kus, n_per_ku)
        batches.append(len(ku))
        j = np.asarray(current_density)
        dw_x = np.where(j >= np.array([jc[k] for k in ku]), x0 + 80e-9, x0 + 1e-9)
        return {"dw_x": dw_x, "wall_time_s": 0.0, "instance_steps": len(ku)}

    monkeypatch.setattr(calibration, "explore", fake_explore)
    out = cs.depinning_thresholds(default_config["device"], 1.5e11, 8e11, rounds=3, points=3)
    assert batches == [25, 15, 15]
    width = (8e11 / 1.5e11) ** (1 / 4 ** 3)
    for k in (8.0e5, 7.75e5, 7.5e5, 7.25e5):
        t = out["per_ku"][k]
        lo, hi = t["bracket"]
        assert lo < jc[k] <= hi and hi / lo == pytest.approx(width, rel=1e-9) and t["monotonic"]
        assert t["threshold"] == pytest.approx(math.sqrt(lo * hi))
    never = out["per_ku"][7.0e5]
    assert never["threshold"] is None and never["held_at_low"] and not never["left_at_high"]
    with pytest.raises(ValueError, match="j_low < j_high"):
        cs.depinning_thresholds(default_config["device"], 8e11, 1.5e11)
    # a wall at the limit that leaves at j_low in one round and holds there in the next has no threshold
    batches.clear()
    jc[7.0e5] = 1e11

    def limit_explore(material, geometry, kus, *, n_per_ku, current_density, **kw):
        out = fake_explore(material, geometry, kus, n_per_ku=n_per_ku, current_density=current_density, **kw)
        if len(batches) > 1:
            out["dw_x"][-n_per_ku:] = x0 + 1e-9
        return out

    monkeypatch.setattr(calibration, "explore", limit_explore)
    edge = cs.depinning_thresholds(default_config["device"], 1.5e11, 8e11, rounds=3, points=3)["per_ku"][7.0e5]
    assert edge["threshold"] is None and edge["bracket"] is None and not edge["held_at_low"]


def test_device_knobs_are_the_inverse_of_trial_device(default_config):
    dev = default_config["device"]
    knobs = cs.device_knobs(dev)
    material, geometry = cs.trial_device(knobs, dev["geometry"])
    assert material["Dind"] == pytest.approx(dev["material"]["Dind"], rel=1e-9)
    assert geometry["notch_depth"] == pytest.approx(dev["geometry"]["notch_depth"], rel=1e-12)
    assert {k: material[k] for k in ("Ms", "Aex", "alpha", "theta_sh")} == {k: dev["material"][k] for k in
                                                                             ("Ms", "Aex", "alpha", "theta_sh")}


def _threshold_from_wall_energy(monkeypatch, device_seen, per_sigma=1e14):
    """A fake T = 0 engine in which a wall leaves the start notch when J >= per_sigma x its wall energy."""
    from dwsynapse import calibration

    def fake_explore(material, geometry, kus, *, n_per_ku, current_density, **kw):
        device_seen.append((material, geometry, kw["dt"], kw["demag"]))
        ku = np.repeat(kus, n_per_ku)
        sigma = np.array([cs.wall_energy(material["Aex"], cs.newell_keff(k, material["Ms"], geometry), material["Dind"])
                          for k in ku])
        x0 = float(geometry["first_notch"])
        return {"dw_x": np.where(np.asarray(current_density) >= per_sigma * sigma, x0 + 80e-9, x0),
                "wall_time_s": 0.0, "instance_steps": len(ku)}

    monkeypatch.setattr(calibration, "explore", fake_explore)


def test_threshold_window_measures_the_drive_window_on_the_trials_own_device(default_config, monkeypatch):
    """The window is threshold(8.0e5) / threshold(7.75e5) of the trial's material, notch and study step; where
    the thresholds scale with the wall energy it equals the wall-energy ratio, and the drive is compared with
    both thresholds."""
    seen = []
    _threshold_from_wall_energy(monkeypatch, seen)
    dev = default_config["device"]
    params = {**cs.device_knobs(dev), "Aex": 2e-11, "notch_depth": 16e-9}
    row = cs.threshold_window(params, dev, rounds=4, compile=False)
    material, geometry, dt, demag = seen[-1]
    assert material["Aex"] == 2e-11 and geometry["notch_depth"] == pytest.approx(16e-9) and demag == "newell"
    assert dt == row["dt"] == cs.trial_device_section(params, dev)["solver"]["dt"] != dev["solver"]["dt"]
    sigma = [row[f"sigma_{k:.4g}"] for k in KUS]
    assert sigma == sorted(sigma, reverse=True) and row["sigma_ratio"] == pytest.approx(sigma[0] / sigma[1])
    for k, s in zip(KUS, sigma):
        assert row[f"threshold_{k:.4g}"] == pytest.approx(1e14 * s, rel=0.011)  # 4 rounds: bracket within 1.1 %
    assert row["window"] == pytest.approx(row["sigma_ratio"], rel=0.02)
    drive = float(dev["drive"]["current_density"])
    assert row["drive_over_threshold_8e+05"] == pytest.approx(drive / row["threshold_8e+05"])
    assert set(row) | {"point", "status", "error"} == set(cs.WINDOW_FIELDS)


def test_window_scan_logs_each_point_resumes_and_refuses_a_renamed_material(tmp_path, default_config, monkeypatch):
    seen = []
    _threshold_from_wall_energy(monkeypatch, seen)
    dev, path = default_config["device"], tmp_path / "window.csv"
    points = [("default", {}), ("weak DMI", {"d_over_dc": 0.4}), ("too little D", {"d_over_dc": 0.2})]
    rows = cs.run_window_scan(dev, path, points, rounds=2, compile=False)
    assert [r["point"] for r in rows] == ["default", "weak DMI", "too little D"]
    assert [r["status"] for r in rows] == ["ok", "ok", "rejected"] and "outside the cited range" in rows[2]["error"]
    assert rows[1]["sigma_ratio"] < rows[0]["sigma_ratio"]  # a weaker DMI leaves the wall energies closer
    text = cs.window_thresholds_text({**rows[0], "threshold_7e+05": ""})
    assert text.endswith(", -") and text.split(", ")[0] == f"{float(rows[0]['threshold_8e+05']) / 1e10:.1f}"
    n_runs = len(seen)
    rows = cs.run_window_scan(dev, path, points + [("thin", {"Aex": 2e-11})], rounds=2, compile=False)
    assert len(rows) == 4 and rows[3]["point"] == "thin" and len(seen) == n_runs + 2  # one point, two rounds
    with pytest.raises(ValueError, match="other knob values"):
        cs.run_window_scan(dev, path, [("thin", {"Aex": 2.5e-11})], rounds=2, compile=False)
    with pytest.raises(ValueError, match="unknown knobs"):
        cs.run_window_scan(dev, path, [("x", {"Ku": 1})], rounds=2, compile=False)
    assert len(cs.read_trials(path)) == 4


def _calibrate_device_bench():
    """bench/calibrate_device.py as a module (its ``main(argv)``)."""
    import importlib.util

    from .conftest import REPO

    spec = importlib.util.spec_from_file_location("calibrate_device_bench", REPO / "bench" / "calibrate_device.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_calibrate_device_bench_modes_take_only_their_own_options(capsys):
    """Each mode of bench/calibrate_device.py has its own options: `MODE --help` lists them and none of another
    mode's, and another mode's option is a usage error naming it (exit 2) instead of being silently ignored."""
    bench = _calibrate_device_bench()
    with pytest.raises(SystemExit) as exc:
        bench.main(["converge", "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert "--rerun-first" in text and "--stats" in text and "--config" in text
    assert "--box" not in text and "--per-ku" not in text
    for argv, wrong in ((["check", "--per-ku", "4"], "--per-ku"), (["study", "--no-hold"], "--no-hold"),
                        (["compare"], "--other"), (["window"], "--point"),
                        (["window", "--point", "p", "{}", "--j-range", "2e11", "1e11"], "LOW < HIGH")):
        with pytest.raises(SystemExit) as exc:
            bench.main(argv)
        assert exc.value.code == 2
        assert wrong in capsys.readouterr().err


def test_depinning_bench_applies_the_set_overrides_and_records_them_in_its_report(tmp_path, monkeypatch):
    """`calibrate_device.py depinning --set geometry.key=value` measures the racetrack with that value and
    writes the override into its JSON report, so the report says which racetrack it measured."""
    from dwsynapse import calibration

    from .conftest import REPO

    bench = _calibrate_device_bench()
    seen = []

    def fake_explore(material, geometry, kus, *, n_per_ku, current_density, **kw):
        seen.append((geometry["edge_correlation_length"], geometry["seed"]))
        ku = np.repeat(kus, n_per_ku)
        x0 = float(geometry["first_notch"])
        return {"dw_x": np.where(np.asarray(current_density) >= 3e11, x0 + 80e-9, x0), "wall_time_s": 0.0,
                "instance_steps": len(ku)}

    monkeypatch.setattr(calibration, "explore", fake_explore)
    out = tmp_path / "depinning.json"
    sets = ["geometry.edge_correlation_length=3.2e-8", "geometry.seed=8"]
    assert bench.main(["depinning", "--config", str(REPO / "config.yaml"), "--rounds", "1", "--json", str(out),
                       *[a for s in sets for a in ("--set", s)]]) == 0
    assert seen and set(seen) == {(3.2e-8, 8)}
    report = json.loads(out.read_text())
    assert report["set"] == sets
    assert all(lo < 3e11 <= hi for lo, hi in (t["bracket"] for t in report["thresholds"]["per_ku"].values()))


def test_threshold_transfer_compares_centres_and_brackets():
    def thresholds(values, width=1.02):
        return {"ku": [8e5, 7e5], "per_ku": {k: {"threshold": v, "bracket": None if v is None else [v / width, v * width]}
                                             for k, v in zip([8e5, 7e5], values)}}

    ok = cs.threshold_transfer(thresholds([5e11, 2e11]), thresholds([5.5e11, 1.8e11]))
    assert ok["pass"] and ok["rows"][0]["relative"] == pytest.approx(0.1)
    assert ok["rows"][0]["worst_case"] == pytest.approx(5.5e11 * 1.02 / (5e11 / 1.02) - 1)
    far = cs.threshold_transfer(thresholds([5e11, 2e11]), thresholds([5e11, 2.4e11]))
    assert not far["pass"] and far["rows"][1]["relative"] == pytest.approx(0.2)
    missing = cs.threshold_transfer(thresholds([5e11, 2e11]), thresholds([5e11, None]))
    assert not missing["pass"] and missing["rows"][1]["relative"] is None


def test_study_over_several_geometry_seeds_scores_the_mean_and_upgrades_an_old_log(tmp_path, default_config,
                                                                                   monkeypatch):
    """With geometry_seeds the screen runs on the first racetrack and the 300 K stage on each, one row per
    seed; the trial's loss is their mean. A log written before the geometry_seed column existed is
    rewritten with it, its rows kept."""
    seen = []

    def fake_evaluate(params, base, *, n_per_ku, temperature, **kw):
        g = base["geometry"]["seed"]
        seen.append((n_per_ku, g))
        a = cs.acceptance(*paper_like(n=4))
        return {**a, "screen_loss": 0.5, "screen_pass": True, "loss": float(g), "Dind": 1e-3, "dt": 1e-13,
                "wall_time_s": 0.0, "instance_steps": 0, "dw_x_nm": "[]", "mz_all": "[]"}

    monkeypatch.setattr(cs, "evaluate", fake_evaluate)
    path = tmp_path / "trials.csv"
    old_fields = [f for f in cs.STUDY_FIELDS if f != "geometry_seed"]
    old_row = {"trial": "0", "stage": "screen", "status": "rejected", "Ms": "1e6", "Aex": "3e-11", "alpha": "0.05",
               "d_over_dc": "0.7", "theta_sh": "0.15", "notch_depth": "8e-9", "notch_width": "8e-9"}
    path.write_text(",".join(old_fields) + "\n" + ",".join(old_row.get(f, "") for f in old_fields) + "\n")
    rows = cs.run_study(default_config["device"], path, 2, seed=1, geometry_seeds=[7, 8, 9])
    assert path.read_text().splitlines()[0].split(",") == list(cs.STUDY_FIELDS)
    assert rows[0]["trial"] == 0 and rows[0]["status"] == "rejected"  # the old row is kept
    assert seen == [(1, 7), (8, 7), (8, 8), (8, 9)]
    thermal = [r for r in rows if r["trial"] == 1 and r["stage"] == "thermal"]
    assert [r["geometry_seed"] for r in thermal] == [7, 8, 9]
    assert cs.trial_loss(rows, 1) == pytest.approx(8.0)

    # interrupted after its first seed: the resumed study runs only the missing 300 K stages of that trial
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-2]) + "\n")
    seen.clear()
    rows = cs.run_study(default_config["device"], path, 2, seed=1, geometry_seeds=[7, 8, 9])
    assert seen == [(8, 8), (8, 9)]
    assert sorted(r["geometry_seed"] for r in rows if r["trial"] == 1 and r["stage"] == "thermal") == [7, 8, 9]


def test_compare_stats_puts_two_files_side_by_side(tmp_path):
    """Per Ku in both files: counts, means, in-window P and a KS test that separates shifted samples."""
    from dwsynapse.devicestats import DeviceStats, KuStats, write_device_stats

    rng = np.random.default_rng(0)

    def stats(shift, kus, n):
        groups = [KuStats(ku=k, mz=np.clip(cs.TARGET_OF_KU[k] + shift + rng.normal(0, 0.05, n), -1, 1),
                          dw_x=rng.normal(100e-9, 10e-9, n), seed=np.arange(n), n_requested=n) for k in kus]
        return DeviceStats(groups=groups, engine="torch")

    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    write_device_stats(a, stats(0.0, KUS, 64))
    write_device_stats(b, stats(0.3, KUS[:2], 8))
    rows = cs.compare_stats(a, b)
    assert [r["ku"] for r in rows] == KUS[:2] and rows[0]["n_a"] == 64 and rows[0]["n_b"] == 8
    assert rows[0]["mean_b"] - rows[0]["mean_a"] == pytest.approx(0.3, abs=0.08)
    assert rows[0]["in_window_a"] > 0.9 and rows[0]["in_window_b"] < 0.3 and rows[0]["ks_p"] < 0.01
    assert cs.compare_stats(a, a)[0]["ks_p"] == 1.0


def test_compare_by_notch_tells_a_shift_inside_a_notch_from_walls_caught_elsewhere():
    """Walls at the 285 nm notch of a 600 nm strip (<mz> -0.05) in both samples, sample B 0.01 lower and with a
    quarter of its walls at the 360 nm notch: the per-notch rows give the fractions and the in-notch shift."""
    rng = np.random.default_rng(5)
    notch_x, length = np.array([60e-9, 135e-9, 210e-9, 285e-9, 360e-9]), 600e-9
    a = -0.05 + 0.004 * rng.standard_normal(400)
    b = np.concatenate([-0.06 + 0.004 * rng.standard_normal(300), 0.2 + 0.004 * rng.standard_normal(100)])
    out = cs.compare_by_notch(a, b, notch_x, length)
    assert out["a"]["n"] == 400 and out["b"]["n"] == 400 and out["ks_p"] < 1e-6
    by = {round(r["notch_nm"]): r for r in out["notches"]}
    assert set(by) == {285, 360}
    assert by[285]["fraction_a"] == 1.0 and by[285]["fraction_b"] == 0.75 and by[360]["fraction_a"] == 0.0
    assert by[285]["difference"] == pytest.approx(-0.01, abs=0.002) and by[285]["z"] < -20
    assert "difference" not in by[360]  # no wall of A there
    assert cs.position_from_mz(-0.05, length) == pytest.approx(285e-9)
    with pytest.raises(ValueError, match=">= 2 values"):
        cs.compare_by_notch([0.1], b, notch_x, length)
    # the same instances at two settings: the pairs see a 0.002 in-notch shift that the spread hides
    c = a + 0.002 + 0.0005 * rng.standard_normal(a.size)
    c[:40] = 0.2  # 40 walls caught one notch further
    pairs = cs.compare_by_notch(a, c, notch_x, length, index_a=range(400), index_b=range(400))
    at = {round(r["notch_nm"]): r for r in pairs["notches"]}[285]
    assert at["paired_n"] == 360 and at["paired_difference"] == pytest.approx(0.002, abs=2e-4)
    assert at["paired_se"] < 1e-4 and abs(at["difference"] - 0.002) < 3 * at["se_a"]
    with pytest.raises(ValueError, match="one instance index per value"):
        cs.compare_by_notch(a, c, notch_x, length, index_a=range(10), index_b=range(400))


def test_rerun_samples_pool_reports_and_refuse_a_seed_counted_twice(tmp_path):
    def report(name, first, values):
        row = {"first_index": first, "n_requested": len(values), "first_stage": [], "rerun": values}
        path = tmp_path / name
        path.write_text(json.dumps({"rerun": {"per_ku": {"7.5e+05": row}}}))
        return path

    one, two = report("a.json", 0, [0.1, 0.2]), report("b.json", 2, [0.3])
    values, covered = cs.rerun_samples([(one, "rerun"), (two, "rerun")], 7.5e5)
    assert values.tolist() == [0.1, 0.2, 0.3] and covered == [0, 1, 2]
    with pytest.raises(ValueError, match="overlap"):
        cs.rerun_samples([(one, "rerun"), (report("c.json", 1, [0.4]), "rerun")], 7.5e5)
    values, covered = cs.rerun_samples([(two, "rerun")], 7.5e5, taken=[0, 1])  # the stage's instances 0 and 1
    assert values.tolist() == [0.3] and covered == [2]
    with pytest.raises(ValueError, match="overlap"):
        cs.rerun_samples([(one, "rerun")], 7.5e5, taken=[1])
    with pytest.raises(ValueError, match="no rerun of Ku 800000"):
        cs.rerun_samples([(one, "rerun")], 8.0e5)
    with pytest.raises(ValueError, match="no half_dt of Ku"):
        cs.rerun_samples([(one, "half_dt")], 7.5e5)


def test_a_narrowed_search_box_keeps_every_proposal_inside_it_and_refuses_bounds_outside_the_literature(
        tmp_path, default_config, monkeypatch):
    """``box`` narrows what the optimizer proposes (a fixed knob stays fixed); bounds outside a knob's cited
    range, unknown knobs and malformed specs are refused with the knob named."""
    proposals = []

    def fake_evaluate(params, base, *, n_per_ku, **kw):
        proposals.append(dict(params))
        return {"screen_loss": 1.0, "screen_pass": False, "Dind": 1e-3, "dt": 1e-13, "wall_time_s": 0.0,
                "instance_steps": 0, "dw_x_nm": "[]", "mz_all": "[]"}

    monkeypatch.setattr(cs, "evaluate", fake_evaluate)
    narrow = cs.parse_search_box(["Ms=1.0e6:1.04e6", "notch_depth=12e-9", "alpha=0.01:0.02"])
    assert narrow["notch_depth"] == (12e-9, 12e-9)
    cs.run_study(default_config["device"], tmp_path / "t.csv", 10, seed=3, box=narrow)
    assert len(proposals) == 10
    assert all(1.0e6 <= p["Ms"] <= 1.04e6 and p["notch_depth"] == 12e-9 and 0.01 <= p["alpha"] <= 0.02
               for p in proposals)
    assert any(p["theta_sh"] < 0.15 for p in proposals)  # a knob left out keeps its whole cited range
    with pytest.raises(ValueError, match="alpha .* leaves its cited range"):
        cs.search_box({"alpha": (0.001, 0.02)})
    with pytest.raises(ValueError, match="unknown knob 'Ku'"):
        cs.search_box({"Ku": (7e5, 8e5)})
    with pytest.raises(ValueError, match="Ms low .* > high"):
        cs.search_box({"Ms": (1.1e6, 1.0e6)})
    with pytest.raises(ValueError, match="not NAME=LOW:HIGH"):
        cs.parse_search_box(["alpha"])


def test_acceptance_from_stats_gives_the_in_window_counts_their_intervals_and_leaves_extra_domains_out(tmp_path):
    from dwsynapse.devicestats import DeviceStats, KuStats, write_device_stats

    mz = {8.0e5: [-0.80, -0.76, -0.60, -0.83], 7.0e5: [0.93, 0.40, 0.95, 0.60]}
    one_wall = {8.0e5: [True, True, True, True], 7.0e5: [True, True, False, True]}
    groups = [KuStats(ku=k, mz=np.asarray(v), dw_x=300e-9 * (1 + np.asarray(v)), seed=np.arange(4), n_requested=4,
                      single_wall=np.asarray(one_wall[k])) for k, v in mz.items()]
    path = tmp_path / "device_stats.h5"
    write_device_stats(path, DeviceStats(groups=groups, engine="torch"))
    rows = cs.acceptance_from_stats(path)["in_window"]
    assert (rows["8e+05"]["hits"], rows["8e+05"]["n"]) == (3, 4)
    # the 0.95 wall has extra domains: one of the three single-wall 7.0e5 instances lands at w >= 0.85
    assert (rows["7e+05"]["hits"], rows["7e+05"]["n"]) == (1, 3)
    assert (rows["7e+05"]["p_low"], rows["7e+05"]["p_high"]) == pytest.approx(cs.binomial_interval(1, 3))


def test_loss_resolution_shrinks_with_more_instances_and_refuses_sizes_it_cannot_resample(tmp_path):
    """Subsamples of a 64-per-Ku stage: the loss scatters less with 16 per Ku than with 4, the same seed draws the
    same subsamples, and a size the file cannot be resampled at is refused naming the file."""
    from dwsynapse.devicestats import DeviceStats, KuStats, write_device_stats

    ku, w, _, _ = paper_like(n=64, seed=3)
    w = np.clip(w, -1, 1)
    x = 300e-9 * (1 + w)
    groups = [KuStats(ku=k, mz=w[ku == k], dw_x=x[ku == k], seed=np.arange(64), n_requested=64) for k in KUS]
    path = tmp_path / "device_stats.h5"
    write_device_stats(path, DeviceStats(groups=groups, engine="torch"))
    report = cs.loss_resolution(path, [4, 16], draws=300, seed=2)
    assert report["n_full"] == 64
    assert report["loss_full"] == pytest.approx(cs.acceptance_loss(cs.acceptance(ku, w, x, np.ones(ku.size, bool))))
    small, large = report["rows"]
    assert small["std"] > 1.5 * large["std"] > 0
    assert small["p10"] <= small["median"] <= small["p90"]
    assert cs.loss_resolution(path, [4], draws=50, seed=2)["rows"][0] == cs.loss_resolution(path, [4], draws=50, seed=2)["rows"][0]
    for bad in (1, 64):
        with pytest.raises(ValueError, match="device_stats.h5, whose smallest Ku holds 64"):
            cs.loss_resolution(path, [bad], draws=10)
    # the bench mode: a table and a JSON report; a size it cannot resample is a usage error before any draw
    from .conftest import REPO

    bench, out = _calibrate_device_bench(), tmp_path / "resolution.json"
    argv = ["resolution", "--config", str(REPO / "config.yaml"), "--stats", str(path), "--draws", "20"]
    assert bench.main(argv + ["--per-ku", "4", "8", "--json", str(out)]) == 0
    assert [r["n_per_ku"] for r in json.loads(out.read_text())["rows"]] == [4, 8]
    with pytest.raises(SystemExit) as exc:
        bench.main(argv + ["--per-ku", "64"])
    assert exc.value.code == 2
