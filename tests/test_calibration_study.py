"""Calibration study: acceptance criteria A1-A5, the loss built from them, the trial log and its resume."""

import numpy as np
import pytest

from dwsynapse import calibration_study as cs

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


def test_stable_dt_keeps_heun_below_unit_growth():
    import torch

    from dwsynapse.engines.torchfd.mesh import Mesh
    from dwsynapse.engines.torchfd.racetrack import heun_exchange_growth
    from dwsynapse.engines.torchfd.solver import Material

    mesh = Mesh(np.ones((2, 2), bool), 4e-9, 4e-9, 1e-9, torch.device("cpu"), torch.float64)
    for alpha in (0.01, 0.05, 0.3):
        mat = {"Ms": 1e6, "Aex": 3e-11, "alpha": alpha}
        dt = cs.stable_dt(mat, 4e-9)
        assert 0 < dt <= 2e-13
        assert heun_exchange_growth(Material(1e6, 3e-11, alpha), mesh, dt) < 1
    assert cs.stable_dt({"Ms": 1e6, "Aex": 3e-11, "alpha": 0.01}, 4e-9) < cs.stable_dt(
        {"Ms": 1e6, "Aex": 3e-11, "alpha": 0.3}, 4e-9)  # weak damping needs a smaller step


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
