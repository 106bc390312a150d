"""Figures from small synthetic results in exactly the agreed formats (metrics.json, trace.csv,
device_stats.h5): every figure renders, is not blank and draws the expected series."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest

from dwsynapse.config import with_defaults
from dwsynapse.devicestats import DeviceStats, KuStats, write_device_stats
from dwsynapse.layout import FIGURES, run_paths, wanted_figures
from dwsynapse.levels import level_probability_table, level_targets
from dwsynapse.geometry import GeometryError, notch_centres
from dwsynapse.plots import figures, render_figure, stats_notches, write_level_table
from dwsynapse.plots.data import most_active_synapse, trace_synapse_activity
from dwsynapse.results import ResultsError, load_metrics, load_trace
from dwsynapse.targets import figure_inputs

MEANS = {7.0e5: 0.97, 7.25e5: 0.5, 7.5e5: 0.0, 7.75e5: -0.5, 8.0e5: -0.83}


def write_synthetic_stats(path: Path, n: int = 40, seed: int = 0) -> Path:
    """A device_stats.h5 whose <mz> per Ku scatter around the paper's targets."""
    rng = np.random.default_rng(seed)
    groups = []
    for i, (ku, mu) in enumerate(MEANS.items()):
        mz = np.clip(mu + 0.12 * rng.standard_normal(n), -1, 1)
        groups.append(KuStats(ku=ku, mz=mz, dw_x=(mz + 1) / 2 * 600e-9, seed=np.arange(n) + 100 * i, n_requested=n))
    write_device_stats(path, DeviceStats(groups=groups, engine="synthetic",
                                         geometry={"length": 600e-9, "first_notch": 60e-9, "notch_pitch": 75e-9}))
    return path


def _epochs(n_ep, start, end, rng, pulses0=None):
    out = []
    for e in range(1, n_ep + 1):
        f = 1 - np.exp(-e / 2)
        row = {"epoch": e, "eta": 0.007 * 0.9 ** (e - 1), "train_acc": start + (end - start) * f + 0.002 * rng.random(),
               "test_acc": start + (end - start) * f - 0.01, "seconds": 1.0}
        if pulses0 is not None:
            row["pulses"] = int(pulses0 / e**1.5)
            row["pulses_per_layer"] = [row["pulses"] // 2, row["pulses"] - row["pulses"] // 2]
        out.append(row)
    return out


def write_synthetic_results(config: dict, n_epochs: int = 4, seed: int = 0) -> None:
    """Every training result ``config`` asks for, in the format of the Interfaces section."""
    rng = np.random.default_rng(seed)
    rp = run_paths(config)
    common = {"seed": 1, "n_train": 200, "n_test": 100, "wall_time_s": 1.0}
    rp.baseline.mkdir(parents=True, exist_ok=True)
    ep = _epochs(n_epochs, 0.8, 0.99, rng)
    (rp.baseline / "metrics.json").write_text(json.dumps({
        "method": "baseline", "states": None, "alpha": None, **common, "epochs": ep,
        "final_train_acc": ep[-1]["train_acc"], "final_test_acc": ep[-1]["test_acc"]}))
    n_w = 784 * 392 + 392 * 196 + 196 * 98 + 98 * 10
    for (s, a), d in rp.insitu.items():
        d.mkdir(parents=True, exist_ok=True)
        ep = _epochs(n_epochs, 0.7, 0.9 + 0.01 * s - a / 10, rng, pulses0=2e6 * s / (a * 10))
        (d / "metrics.json").write_text(json.dumps({
            "method": "insitu", "states": s, "alpha": a, **common, "epochs": ep,
            "final_train_acc": ep[-1]["train_acc"], "final_test_acc": ep[-1]["test_acc"], "n_weights": n_w,
            "float_writes_per_epoch": n_w * 200, "total_pulses": sum(e["pulses"] for e in ep)}))
        lines = []
        levels = np.linspace(-1, 1, s)
        for row, col in ((0, 3), (4, 1), (9, 9)):  # long format: one line per (image, traced synapse)
            w_fp = np.cumsum(0.01 * rng.standard_normal(300)) + 0.2
            w_q = levels[np.argmin(np.abs(w_fp[:, None] - levels[None]), axis=1)]
            w_dev = w_q + rng.uniform(-a, a, 300)
            lines += [(i + 1, row, col, w_fp[i], w_q[i], w_dev[i]) for i in range(300)]
        lines.sort(key=lambda r: r[:3])
        rows = "\n".join(f"{i},{r},{c},{f:.6f},{q:.6f},{v:.6f}" for i, r, c, f, q, v in lines)
        (d / "trace.csv").write_text("image,row,col,w_fp,w_q,w_dev\n" + rows + "\n")
    for (m, s, a), d in rp.exsitu.items():
        d.mkdir(parents=True, exist_ok=True)
        ep = _epochs(n_epochs, 0.6, 0.95, rng)
        hw = list(0.5 + 0.4 * rng.random(5))
        (d / "metrics.json").write_text(json.dumps({
            "method": f"exsitu-{m}", "states": s, "alpha": a, **common, "epochs": ep,
            "final_train_acc": ep[-1]["train_acc"], "final_test_acc": ep[-1]["test_acc"],
            "software_test_acc": ep[-1]["test_acc"], "hardware_test_acc": hw,
            "hardware_test_acc_mean": float(np.mean(hw)), "hardware_test_acc_std": float(np.std(hw)),
            "program_attempts": {"per_trial_total": [int(3 * n_w)] * 5, "mean_per_device": 3.0, "cap": 100,
                                 "devices_at_cap": 0}}))


def _wall_state(racetrack, x_wall: float) -> np.ndarray:
    """m (3, ny, nx): up left of ``x_wall`` [m], down right of it, a Neel core of two cells, zero off the strip."""
    x = (np.arange(racetrack.nx) + 0.5) * racetrack.cell_size
    mz = -np.tanh((x - x_wall) / (2 * racetrack.cell_size))
    m = np.zeros((3, racetrack.ny, racetrack.nx))
    m[2] = mz[None, :]
    m[0] = np.sqrt(np.clip(1 - mz**2, 0, 1))[None, :]
    return m * racetrack.mask[None]


def write_synthetic_maps(config: dict, seed: int = 0) -> None:
    """The device stage's map outputs for ``config`` without simulating: initial_state.h5 (walls at the
    start notch) and the chunk files, whose final walls sit at a notch (most) or between notches."""
    from dwsynapse.devicemaps import write_initial_states
    from dwsynapse.layout import initial_state_path
    from dwsynapse.device.chunkfile import write_chunk
    from dwsynapse.device.chunks import chunk_seeds, plan_chunks
    from dwsynapse.dwpos import mean_mz, wall_position
    from dwsynapse.engines import InstanceResult
    from dwsynapse.geometry import build_racetrack

    rng = np.random.default_rng(seed)
    dev = config["device"]
    rt = build_racetrack(dev["geometry"])
    notches = rt.notch_x

    def result(s, x):
        m = _wall_state(rt, x)
        return InstanceResult(seed=s, ok=True, mz=float(mean_mz(m[2], rt.mask)),
                              dw_x=float(wall_position(m[2], rt.mask, rt.cell_size)), m_final=m)

    kus = [float(k) for k in dev["ku_values"]]
    write_initial_states(initial_state_path(config), config, rt, kus, [result(0, rt.start_x) for _ in kus],
                         "synthetic", "test", "sha")
    for ch in plan_chunks(config):
        k = len(kus) - 1 - ch.ku_index  # lowest Ku goes furthest
        xs = [notches[min(k + int(rng.integers(0, 2)), len(notches) - 1)] + (rng.normal(0, 25e-9) if rng.random() < 0.3
              else 0.0) for _ in ch.indices]
        results = [result(s, x) for s, x in zip(chunk_seeds(config, ch), xs)]
        write_chunk(Path(config["results_dir"]) / "device" / "chunks" / ch.group / f"chunk_{ch.chunk_index}.h5", ch,
                    results, rt, "synthetic", "test", "sha")


def write_synthetic_selection(config: dict, seed: int = 0) -> None:
    """metrics.json of every point of the config's selection grid (accuracy peaks at 3 layers, eta0 0.007)."""
    from dwsynapse.nn.selection import point_dirs

    rng = np.random.default_rng(seed)
    n_ep = int(config["selection"]["epochs"])
    for (n, r, e), d in point_dirs(config).items():
        d.mkdir(parents=True, exist_ok=True)
        top = 0.97 - 0.01 * abs(n - 3) - 0.004 * n - 0.02 * abs(np.log10(e / 0.007)) - 0.02 * abs(r - 0.5)
        ep = _epochs(n_ep, 0.8, top, rng)
        (d / "metrics.json").write_text(json.dumps({
            "method": "baseline", "states": None, "alpha": None, "seed": 1, "n_train": 200, "n_test": 100,
            "wall_time_s": 1.0, "epochs": ep, "final_train_acc": ep[-1]["train_acc"],
            "final_test_acc": ep[-1]["test_acc"]}))


def write_synthetic_energy(config: dict, stats: Path) -> None:
    """results/report/energy/ of ``config`` from its (synthetic) training results."""
    from dwsynapse.energy import ENERGY_OUTPUTS, run_energy

    out = Path(config["results_dir"]) / "report" / "energy"
    run_energy(config, stats, {k: out / f for k, f in ENERGY_OUTPUTS.items()})


def with_paper_grid(cfg: dict) -> dict:
    """``cfg`` with the paper's in-situ grid (2, 3 and 5 states; config.yaml leaves 2-state out)."""
    cfg["train"]["insitu"]["states"] = [2, 3, 5]
    return cfg


@pytest.fixture
def synthetic(tmp_path, default_config):
    cfg = with_paper_grid(default_config)
    cfg["results_dir"] = str(tmp_path / "results")
    write_synthetic_results(cfg)
    stats = write_synthetic_stats(tmp_path / "device_stats.h5")
    write_synthetic_maps(cfg)
    write_synthetic_selection(cfg)
    write_synthetic_energy(cfg, stats)
    return cfg, stats, tmp_path


def _not_blank(png: Path) -> float:
    img = mpimg.imread(png)[..., :3]
    ink = np.mean(np.any(img < 0.9, axis=-1))
    assert img.std() > 0.05, f"{png} looks blank"
    assert 0.01 < ink < 0.9, f"{png}: {ink:.3f} of the pixels are drawn"
    return ink


# expected (panels, series per panel) for the default grid: states 2/3/5, alphas 0.15/0.25,
# ex-situ methods float/quantized/stochastic x states 3/5.
EXPECTED = {
    "fig1_device": [6, 5],  # 5 Ku + notch marker | 5 Ku
    "fig3_insitu": [4, 4, 4, 4],  # baseline + 3 states, 2 rows x 2 alphas
    "fig4_writes": [7],  # float + 3 states x 2 alphas
    "fig5_weights": [4, 4],  # band, W, W_q, W_dev per alpha (5-state)
    "fig6_exsitu": [2, 2],  # hardware, software per alpha
    "fig7_cdf": [7],  # 5 Ku + target + margin
    "figS3_offline": [6, 6],  # 3 methods x 2 states per alpha
    "figS4_alpha": [8],  # 3 states x (train, test) + 2 ex-situ
    "fig1a_racetrack": [2] * 5,  # one strip per Ku: notch centres + wall position
    "figS2_final_maps": [2] + [0] * 14 + [1],  # 5 Ku x 3 maps (legend on the first), near-notch bars
    "figS5_energy": [4, 4],  # 4 categories: DW + CMOS | DW alone
    "figS1_selection": [4, 5, 4],  # 4 hidden-layer counts per ratio, + the chosen point at ratio 0.5
}
# per figure: (kind, series) pairs its data CSV must hold
EXPECTED_DATA = {
    "fig1a_racetrack": {("image", "m_z map"), ("line", "notch centre"), ("line", "DW position (m_z zero crossing)")},
    "figS2_final_maps": {("image", "m_z map"), ("bar", "walls within {notch_nm:g} nm (one notch width) of a notch centre")},
    "figS5_energy": {("bar", "crossbar / SRAM weight read"), ("bar", "peripheral ops (ADC, activation)"),
                     ("bar", "digital accumulation (multiply + add)"), ("bar", "device writes (programming)")},
    "figS1_selection": {("line", f"{n} hidden layer{'s' if n > 1 else ''}") for n in (1, 2, 3, 4)}
    | {("line", "chosen: 784-392-196-98-10, η0 = 0.007")},
    "fig3_insitu": {("line", "float baseline"), ("line", "5-state DW")},
    "fig6_exsitu": {("bar", "hardware (programmed devices)"), ("errorbar", "hardware (programmed devices)")},
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_every_figure_renders(synthetic, name):
    cfg, stats, tmp = synthetic
    png, pdf = tmp / f"{name}.png", tmp / f"{name}.pdf"
    summary = render_figure(name, cfg, png, pdf, stats)
    assert summary["series"] == EXPECTED[name]
    assert pdf.stat().st_size > 2000 and pdf.read_bytes()[:4] == b"%PDF"
    _not_blank(png)
    for f in figure_inputs(cfg, name):
        assert Path(f).exists()
    with open(png.with_suffix(".csv"), newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and {int(r["panel"]) for r in rows} <= set(range(1, len(EXPECTED[name]) + 1))
    notch_nm = cfg["device"]["geometry"]["notch_width"] * 1e9
    expected = {(kind, series.format(notch_nm=notch_nm)) for kind, series in EXPECTED_DATA.get(name, set())}
    assert expected <= {(r["kind"], r["series"]) for r in rows}


def test_reduced_grid_only_asks_for_what_it_runs(synthetic):
    cfg, stats, tmp = synthetic
    cfg["train"]["insitu"].update(states=[5], alphas=[0.25])
    cfg["train"]["exsitu"]["methods"] = ["stochastic"]
    cfg["train"]["exsitu"]["alphas"] = [0.25]
    names = wanted_figures(cfg)
    assert "figS4_alpha" not in names and {"fig3_insitu", "fig6_exsitu", "fig7_cdf"} <= set(names)
    s = render_figure("fig3_insitu", cfg, tmp / "a.png", tmp / "a.pdf")
    assert s["series"] == [2, 2]
    s = render_figure("fig6_exsitu", cfg, tmp / "b.png", tmp / "b.pdf")
    assert s["panels"] == 1
    assert figure_inputs(cfg, "fig5_weights") == [str(run_paths(cfg).insitu[(5, 0.25)] / "trace.csv")]
    cfg["train"]["insitu"].update(states=[], alphas=[])
    assert "fig3_insitu" not in wanted_figures(cfg)


def test_grid_exclude_removes_runs(synthetic):
    cfg, _, _ = synthetic
    cfg["train"]["insitu"].update(states=[2, 5], alphas=[0.15, 0.25], exclude=[{"states": 2, "alpha": 0.15}])
    cfg["train"]["exsitu"].update(methods=["float", "stochastic"], states=[3, 5], alphas=[0.15, 0.25],
                                  exclude=[{"states": 3, "alpha": 0.25}])
    rp = run_paths(cfg)
    assert sorted(rp.insitu) == [(2, 0.25), (5, 0.15), (5, 0.25)]
    assert sorted(rp.exsitu) == sorted((m, s, a) for m in ("float", "stochastic")
                                       for s, a in ((3, 0.15), (5, 0.15), (5, 0.25)))


def test_level_probability_and_targets(synthetic):
    cfg, stats, tmp = synthetic
    from dwsynapse.devicestats import read_device_stats

    st = read_device_stats(stats)
    targets = {round(t["ku"]): t["target"] for t in level_targets(st)}
    assert targets[700000] == 1.0 and targets[725000] == 0.5 and targets[750000] == 0.0
    assert targets[800000] == pytest.approx(np.mean(st.by_ku(8.0e5).mz))  # level -1: reachable mean
    rows = level_probability_table(st, [0.15, 0.25])
    for ku in MEANS:
        p = {r["alpha"]: r["probability"] for r in rows if r["ku"] == ku}
        assert 0 < p[0.15] <= p[0.25] <= 1
    rows = write_level_table(stats, [0.15], tmp / "l.csv", tmp / "l.md")
    assert len(rows) == 5 and "| ku |" in (tmp / "l.md").read_text()


GEOMETRY = {"first_notch": 60e-9, "notch_pitch": 75e-9, "notch_width": 8e-9, "length": 600e-9}


def test_notches():
    """The figures mark the notches by the geometry's one rule: a notch counts when all of it lies
    inside the strip."""
    x = notch_centres(GEOMETRY)
    assert len(x) == 8 and x[0] == pytest.approx(60e-9) and x[-1] == pytest.approx(585e-9)
    assert len(notch_centres(dict(GEOMETRY, notch_width=40e-9))) == 7  # 585 nm +- 20 nm leaves the strip
    with pytest.raises(GeometryError, match="notch_pitch"):
        notch_centres({"first_notch": 60e-9, "notch_width": 8e-9, "length": 600e-9})


def test_device_figure_marks_the_notches_the_stats_file_records(tmp_path, default_config, monkeypatch):
    """fig1_device marks the notch centres stored in device_stats.h5 (/geometry/notch_x); a file
    without them falls back to geometry.notch_centres of its geometry, else of the config's."""
    from dwsynapse.devicestats import read_device_stats

    seen = []
    monkeypatch.setattr(figures, "fig_device_distributions",
                        lambda stats, notch_x, png, pdf: seen.append(np.asarray(notch_x)) or {"panels": 2, "series": []})
    stored = np.array([61e-9, 137e-9, 211e-9])  # not what any rule gives: only the file can say so
    path = write_synthetic_stats(tmp_path / "s.h5", n=5)
    st = read_device_stats(path)
    assert st.notch_x is None
    st.notch_x = stored
    write_device_stats(tmp_path / "stored.h5", st)
    render_figure("fig1_device", default_config, tmp_path / "a.png", tmp_path / "a.pdf", tmp_path / "stored.h5")
    assert seen[-1].dtype == np.float64 and seen[-1].tobytes() == stored.tobytes()
    render_figure("fig1_device", default_config, tmp_path / "b.png", tmp_path / "b.pdf", path)
    np.testing.assert_array_equal(seen[-1], notch_centres(default_config["device"]["geometry"]))
    st.notch_x, st.geometry = None, dict(GEOMETRY, notch_width=40e-9)
    assert len(stats_notches(st, default_config["device"]["geometry"])) == 7  # the file's own geometry first


def test_bad_inputs_name_the_file(tmp_path):
    with pytest.raises(ResultsError, match="not found"):
        load_metrics(tmp_path / "nope.json")
    p = tmp_path / "m.json"
    p.write_text(json.dumps({"method": "insitu", "epochs": [{"epoch": 1}]}))
    with pytest.raises(ResultsError, match=r"m\.json: metrics lacks"):
        load_metrics(p)
    t = tmp_path / "trace.csv"
    t.write_text("image,w_fp\n1,0.1\n")
    with pytest.raises(ResultsError, match="trace header"):
        load_trace(t)
    t.write_text("image,w_fp,w_q,w_dev\n1,0.1,0.0,0.05\n")  # the old one-synapse format
    with pytest.raises(ResultsError, match=r"trace\.csv: trace header .* lacks \['row', 'col'\]"):
        load_trace(t)
    t.write_text("image,row,col,w_fp,w_q,w_dev\n")
    with pytest.raises(ResultsError, match="no rows"):
        load_trace(t)
    t.write_text("image,row,col,w_fp,w_q,w_dev\n1,0.5,0,0.1,0.0,0.05\n")
    with pytest.raises(ResultsError, match="'row' must hold non-negative integers"):
        load_trace(t)
    with pytest.raises(ResultsError, match="unknown figure"):
        figure_inputs(with_defaults({"results_dir": "r", "train": {}}), "fig99")


def test_fig1_tolerates_expelled_walls(tmp_path, default_config):
    """A wall pushed out of the track has no position (NaN dw_x) but a valid <mz> = 1."""
    from dwsynapse.devicestats import read_device_stats

    stats = write_synthetic_stats(tmp_path / "s.h5", n=20)
    st = read_device_stats(stats)
    st.groups[0].dw_x[:5] = np.nan
    from dwsynapse.plots.figures import fig_device_distributions

    s = fig_device_distributions(st, notch_centres(GEOMETRY), tmp_path / "f.png", tmp_path / "f.pdf")
    assert s["series"] == [6, 5]
    _not_blank(tmp_path / "f.png")


def _crafted_trace(path: Path) -> Path:
    """Four synapses over 10 images: (3, 1) changes W_q 3 times, (0, 2) and (1, 0) twice (with 2 and
    5 W_dev changes), (0, 0) never."""
    q = {(0, 0): [0.0] * 10,
         (0, 2): [0.0, 0.0, 0.5, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 0.0],
         (1, 0): [0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.0, 0.0, 0.0, 0.0],
         (3, 1): [0.0, 0.5, 0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]}
    dev = {(0, 0): [0.1] * 10,
           (0, 2): [0.1, 0.1, 0.4, 0.4, 0.4, 0.1, 0.1, 0.1, 0.1, 0.1],
           (1, 0): [0.1, 0.4, 0.45, 0.45, 0.4, 0.4, 0.1, 0.05, 0.05, 0.05],
           (3, 1): [0.1, 0.4, 0.1, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4]}
    lines = ["image,row,col,w_fp,w_q,w_dev"]
    for i in range(10):
        for (r, c) in sorted(q):
            lines.append(f"{i + 1},{r},{c},{q[(r, c)][i] + 0.01},{q[(r, c)][i]},{dev[(r, c)][i]}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_most_active_synapse_rule(tmp_path):
    t = load_trace(_crafted_trace(tmp_path / "trace.csv"))
    act = trace_synapse_activity(t)
    assert [(a["row"], a["col"], a["q_changes"], a["dev_changes"]) for a in act] == [
        (3, 1, 3, 3), (1, 0, 2, 5), (0, 2, 2, 2), (0, 0, 0, 0)]
    best, n = most_active_synapse(t)
    assert (best["row"], best["col"], n) == (3, 1, 4)
    assert best["image"].tolist() == list(range(1, 11)) and best["w_q"][1] == 0.5
    # without (3, 1): the W_dev changes break the tie between (1, 0) and (0, 2)
    keep = ~((t["row"] == 3) & (t["col"] == 1))
    best, n = most_active_synapse({k: v[keep] for k, v in t.items()})
    assert (best["row"], best["col"], n) == ((1, 0) + (3,))
    # a full tie goes to the lowest (row, col)
    flat = {k: v.copy() for k, v in t.items()}
    flat["w_q"][:] = 0.0
    flat["w_dev"][:] = 0.1
    best, _ = most_active_synapse(flat)
    assert (best["row"], best["col"]) == (0, 0)


def test_fig5_shows_the_most_active_synapse(tmp_path, monkeypatch):
    t = load_trace(_crafted_trace(tmp_path / "trace.csv"))
    seen = {}
    real = figures.save_figure

    def spy(fig, png, pdf):
        ax = fig.axes[0]
        seen["title"] = ax.get_title()
        seen["w_q"] = [ln.get_ydata() for ln in ax.get_lines() if ln.get_label() == "quantized W_q"][0]
        return real(fig, png, pdf)

    monkeypatch.setattr(figures, "save_figure", spy)
    s = figures.fig_weight_evolution({(5, 0.15): t}, tmp_path / "f.png", tmp_path / "f.pdf", layer=2)
    assert s == {"panels": 1, "series": [4]}
    assert "layer 2 synapse 3→1" in seen["title"] and "most W_q level changes (3) of 4 traced" in seen["title"]
    np.testing.assert_array_equal(seen["w_q"], [0.0, 0.5, 0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5])
    _not_blank(tmp_path / "f.png")
