"""The paper's figures rendered from the pipeline's own results (PNG + PDF).

Every ``fig_*`` function takes already-read results plus the output paths, writes the figure
in both formats atomically and returns a summary ``{"panels": n, "series": [per panel]}`` that
tests use to check that the expected curves were drawn.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.legend_handler import HandlerTuple  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator, NullFormatter  # noqa: E402

from dwsynapse.io import atomic_path  # noqa: E402
from dwsynapse.levels import level_targets  # noqa: E402
from dwsynapse.plots.data import most_active_synapse  # noqa: E402
from dwsynapse.plots.figdata import write_figure_data  # noqa: E402

# Okabe & Ito colour-blind-safe palette.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
STATE_STYLE = {2: ("#D55E00", "s"), 3: ("#009E73", "^"), 5: ("#0072B2", "o")}
BASELINE_COLOR = "#000000"
KU_COLORS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
MARGIN_COLOR = "#D55E00"
STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 200,
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(color=OKABE_ITO),
}


def _state_style(states: int, i: int = 0):
    return STATE_STYLE.get(int(states), (OKABE_ITO[i % len(OKABE_ITO)], "D"))


def figure_csv_path(png: str | Path) -> Path:
    """The CSV with the data behind a figure: next to its PNG, same stem."""
    return Path(png).with_suffix(".csv")


def save_figure(fig, png: str | Path, pdf: str | Path) -> dict:
    """Write ``fig`` to ``png`` and ``pdf`` and the data it draws to :func:`figure_csv_path`
    (:func:`dwsynapse.plots.figdata.write_figure_data`), atomically; close it and return its summary
    (number of panels and legend series per panel)."""
    summary = _summary(fig)
    for path, fmt in ((png, "png"), (pdf, "pdf")):
        with atomic_path(path, suffix=f".{fmt}") as tmp:
            fig.savefig(tmp, format=fmt, bbox_inches="tight")
    write_figure_data(fig, figure_csv_path(png))
    plt.close(fig)
    return summary


def _summary(fig) -> dict:
    series = []
    for ax in fig.axes:
        if ax.get_label() == "<colorbar>":
            continue
        series.append(len(ax.get_legend_handles_labels()[1]))
    return {"panels": len(series), "series": series}


def _epoch_axis(ax, epochs) -> None:
    """Integer epoch ticks; a one-epoch run gets a readable unit-wide axis."""
    ep = sorted({int(e) for e in epochs})
    if len(ep) <= 12:
        ax.set_xticks(ep)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if len(ep) == 1:
        ax.set_xlim(ep[0] - 0.5, ep[0] + 0.5)


def _percent(x) -> np.ndarray:
    return 100.0 * np.asarray(x, float)


# ------------------------------------------------------------------------------ Fig. 1c/1d
JITTER_SEED = 1  # fixed: the jitter of the Fig. 1c/1d strip plots is the same on every render
EDGE_TOL_NM = 0.1  # a wall within this of a strip end sits on it: wall_position's "left the strip" value


def _ku_tick(g) -> str:
    return f"{g.ku / 1e5:.2f}e5\n(n={g.n_ok})"


def fig_device_distributions(stats, notch_x: np.ndarray, png, pdf, length: float | None = None) -> dict:
    """Fig. 1c/1d: final DW position [nm] and <mz> of every thermal instance, one row per Ku.

    Each row shows the instances of one Ku as points in the Ku's colour with a seeded vertical
    jitter (the same instance has the same jitter in c and d) and their mean as a hollow black
    diamond; dotted lines in c mark the notch centres. ``stats`` is a
    :class:`dwsynapse.devicestats.DeviceStats`; ``notch_x`` notch centres [m]; ``length`` the strip
    length [m] (default: ``stats.geometry["length"]`` when present).

    A wall that left the strip (:func:`dwsynapse.dwpos.wall_position` then reports a strip end, 0 or
    ``length``; anything outside ``[0, length]`` likewise) or that was not found (NaN position) has no
    position inside the strip: c draws it in the (grey) margin beyond that strip end as a triangle,
    a NaN one as a cross further out on the side its <mz> points to (+z left of the wall: +1 = wall
    gone right), the legend counts them, and the c mean uses only the walls inside the strip. d
    shows every instance.
    """
    if length is None and "length" in getattr(stats, "geometry", {}):
        length = float(stats.geometry["length"])
    groups = sorted(stats.groups, key=lambda g: g.ku)
    notch_nm = np.asarray(notch_x, float) * 1e9
    rng = np.random.default_rng(JITTER_SEED)
    jitter = [rng.uniform(-0.28, 0.28, g.n_ok) for g in groups]
    x_nm = [np.asarray(g.dw_x, float) * 1e9 for g in groups]
    if length is not None:
        L = float(length) * 1e9
        inside = [np.isfinite(x) & (x > EDGE_TOL_NM) & (x < L - EDGE_TOL_NM) for x in x_nm]
        lo, hi = 0.0, L
    else:
        inside = [np.isfinite(x) for x in x_nm]
        finite = np.concatenate([x[k] for x, k in zip(x_nm, inside)] + [notch_nm, np.zeros(0)])
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    pad = 0.07 * max(hi - lo, 1.0)
    xlim = (lo - pad, hi + pad)
    # where instances without a position in the strip go: walls that left it next to the strip end,
    # walls not found further out
    x_out, x_nan = (lo - 0.33 * pad, hi + 0.33 * pad), (lo - 0.7 * pad, hi + 0.7 * pad)
    y = np.arange(len(groups))
    with plt.rc_context(STYLE):
        fig, (ax_c, ax_d) = plt.subplots(1, 2, figsize=(9.0, 0.5 + 0.55 * max(len(groups), 3)), sharey=True)
        for ax in (ax_c, ax_d):
            ax.grid(False, axis="y")
            for yi in y[1:]:
                ax.axhline(yi - 0.5, color="0.85", lw=0.6, zorder=0)
        if length is not None:
            for a, b in ((xlim[0], lo), (hi, xlim[1])):
                ax_c.axvspan(a, b, color="0.92", lw=0, zorder=0)
        for k, xn in enumerate(notch_nm):
            ax_c.axvline(xn, color="0.3", ls=":", lw=1.0, zorder=1, label="notch centre" if k == 0 else None)
        n_out = n_nan = 0
        for i, g in enumerate(groups):
            color = KU_COLORS[i % len(KU_COLORS)]
            label = f"Ku = {g.ku / 1e5:.2f}e5 J/m³ (n={g.n_ok})"
            yy = y[i] + jitter[i]
            pts = dict(s=16, color=color, alpha=0.75, edgecolors="none", zorder=3)
            mean_style = dict(marker="D", ms=8, mfc="none", mec="black", mew=1.3, ls="none", zorder=5)
            x, ok = x_nm[i], inside[i]
            ax_c.scatter(x[ok], yy[ok], label=label, **pts)
            if ok.any():
                ax_c.plot([float(np.mean(x[ok]))], [y[i]], **mean_style)
            nan = ~np.isfinite(x)
            mz = np.asarray(g.mz, float)
            right = np.where(nan, mz >= 0, x >= 0.5 * (lo + hi)) & ~ok
            left = ~ok & ~right
            for j, (side, mk) in enumerate(((left, "<"), (right, ">"))):
                for sel, xe, m in ((side & ~nan, x_out[j], mk), (side & nan, x_nan[j], "X")):
                    k = int(sel.sum())
                    if k:  # evenly spread down the row (not jittered) so that none hides another
                        ax_c.scatter(np.full(k, xe), y[i] + (np.linspace(-0.28, 0.28, k) if k > 1 else [0.0]),
                                     marker=m, s=26, color=color, edgecolors="black", linewidths=0.5, zorder=4,
                                     clip_on=False)
            n_out += int(np.sum(~ok & ~nan))
            n_nan += int(np.sum(nan))
            ax_d.scatter(mz, yy, label=label, **pts)
            if g.n_ok:
                ax_d.plot([float(np.mean(mz))], [y[i]], **mean_style)
        ax_c.set_xlim(*xlim)
        ax_d.set_xlim(-1.08, 1.08)
        ax_c.set_yticks(y, [_ku_tick(g) for g in groups])
        ax_c.set_ylim(len(groups) - 0.5, -0.5)  # lowest Ku on top
        ax_c.set_ylabel("Ku (J/m³)")
        ax_c.set_xlabel("final DW position x (nm)")
        ax_c.set_title("c  DW position at rest, T = 300 K")
        ax_d.set_xlabel("<mz> (device weight)")
        ax_d.set_title("d  average magnetization <mz>")
        ax_d.tick_params(axis="y", left=False)
        # legend of proxies (not in any axes, so the summary counts the Ku series and notches only)
        proxy = dict(ls="none", color="0.45")
        handles = [Line2D([], [], marker="o", ms=4, alpha=0.75, **proxy),
                   Line2D([], [], marker="D", ms=7, mfc="none", mec="black", mew=1.3, ls="none"),
                   Line2D([], [], color="0.3", ls=":", lw=1.0)]
        labels = ["instance (vertical jitter only)", "mean per Ku (c: walls inside the strip)", "notch centre (c)"]
        if n_out:
            handles.append((Line2D([], [], marker="<", ms=6, mec="black", mew=0.5, **proxy),
                            Line2D([], [], marker=">", ms=6, mec="black", mew=0.5, **proxy)))
            labels.append(f"wall left the strip: drawn in the grey margin (c; {n_out} in all)")
        if n_nan:
            handles.append(Line2D([], [], marker="X", ms=6, mec="black", mew=0.5, **proxy))
            labels.append(f"no wall found (NaN x): drawn in the outer margin its <mz> points to (c; {n_nan} in all)")
        fig.tight_layout()
        fig.legend(handles, labels, loc="upper center", ncol=3 if len(handles) <= 3 else 2, frameon=False,
                   bbox_to_anchor=(0.5, 0.0), handler_map={tuple: HandlerTuple(ndivide=None)})
        return save_figure(fig, png, pdf)


# ------------------------------------------------------------------------------ Fig. 3
def fig_insitu_accuracy(baseline: dict | None, insitu: dict, png, pdf) -> dict:
    """Fig. 3a–d: in-situ train (top) and test (bottom) accuracy [%] vs epoch, one column per
    alpha, one curve per state count, with the float baseline. ``insitu`` maps
    ``(states, alpha)`` to metrics dicts."""
    alphas = sorted({a for _, a in insitu})
    if not alphas:
        raise ValueError("fig 3 needs at least one in-situ run")
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(2, len(alphas), figsize=(4.2 * len(alphas), 6.0), squeeze=False, sharex=True)
        letters = iter("abcdefghijklmnop")
        for row, key, what in ((0, "train_acc", "training"), (1, "test_acc", "test")):
            for col, alpha in enumerate(alphas):
                ax = axes[row, col]
                if baseline is not None:
                    ep = [e["epoch"] for e in baseline["epochs"]]
                    ax.plot(ep, _percent([e[key] for e in baseline["epochs"]]), color=BASELINE_COLOR, ls="--",
                            lw=1.3, marker="x", ms=4, label="float baseline")
                for i, states in enumerate(sorted(s for s, a in insitu if a == alpha)):
                    m = insitu[(states, alpha)]
                    color, marker = _state_style(states, i)
                    ax.plot([e["epoch"] for e in m["epochs"]], _percent([e[key] for e in m["epochs"]]), color=color,
                            marker=marker, ms=4, label=f"{states}-state DW")
                ax.set_title(f"{next(letters)}  {what} accuracy, α = {alpha:.2f}")
                ax.set_ylabel(f"{what} accuracy (%)")
                _epoch_axis(ax, [e["epoch"] for m in insitu.values() for e in m["epochs"]])
                if row == 1:
                    ax.set_xlabel("epoch")
                ax.legend(loc="lower right", frameon=False)
        fig.tight_layout()
        return save_figure(fig, png, pdf)


# ------------------------------------------------------------------------------ Fig. 4
def fig_device_writes(insitu: dict, png, pdf) -> dict:
    """Fig. 4: device programming pulses per epoch of every in-situ network and the weight
    writes per epoch of float training (n_weights × n_train), log scale."""
    if not insitu:
        raise ValueError("fig 4 needs at least one in-situ run")
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(5.2, 3.8))
        first = next(iter(insitu.values()))
        ep = [e["epoch"] for e in first["epochs"]]
        ax.plot(ep, [first["float_writes_per_epoch"]] * len(ep), color=BASELINE_COLOR, ls="--", lw=1.3, marker="x",
                ms=4, label="float training (every weight, every image)")
        for i, (states, alpha) in enumerate(sorted(insitu)):
            m = insitu[(states, alpha)]
            color, marker = _state_style(states, i)
            ls = "-" if alpha == min(a for _, a in insitu) else "-."
            pulses = np.array([e["pulses"] for e in m["epochs"]], float)
            ax.plot([e["epoch"] for e in m["epochs"]], np.where(pulses > 0, pulses, np.nan), color=color,
                    marker=marker, ls=ls, ms=4, label=f"{states}-state, α = {alpha:.2f}")
        ax.set_yscale("log")
        _epoch_axis(ax, [e["epoch"] for m in insitu.values() for e in m["epochs"]])
        ax.set_xlabel("epoch")
        ax.set_ylabel("device writes per epoch")
        ax.set_title("Device programming pulses vs float weight updates")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=7, handlelength=3)  # outside
        return save_figure(fig, png, pdf)


# ------------------------------------------------------------------------------ Fig. 5
def fig_weight_evolution(traces: dict, png, pdf, layer: int | None = None) -> dict:
    """Fig. 5: high-precision, quantized and device weight of one traced synapse over the first
    training images, one panel per alpha, with the W_q ± alpha band. ``traces`` maps
    ``(states, alpha)`` to :func:`dwsynapse.plots.data.load_trace` dicts; each panel shows the
    traced synapse whose W_q changes level most often (:func:`~dwsynapse.plots.data.most_active_synapse`:
    then most W_dev changes, then lowest row, col), named in the panel title with the selection rule.
    ``layer`` is the weight layer of the traced synapses (config ``train.trace_synapse.layer``)."""
    if not traces:
        raise ValueError("fig 5 needs at least one in-situ trace")
    keys = sorted(traces, key=lambda k: (k[1], k[0]))
    where = f"layer {layer} " if layer is not None else ""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(keys), figsize=(4.4 * len(keys), 3.6), squeeze=False, sharey=True)
        for ax, (states, alpha), letter in zip(axes[0], keys, "abcdefgh"):
            t, n_traced = most_active_synapse(traces[(states, alpha)])
            ax.fill_between(t["image"], t["w_q"] - alpha, t["w_q"] + alpha, step="post", color="#E69F00", alpha=0.25,
                            lw=0, label="W_q ± α")
            ax.plot(t["image"], t["w_fp"], color="#0072B2", lw=1.0, label="high-precision W")
            ax.step(t["image"], t["w_q"], where="post", color="#000000", lw=1.2, label="quantized W_q")
            ax.step(t["image"], t["w_dev"], where="post", color="#D55E00", lw=1.0, label="device weight W_dev")
            ax.set_title(f"{letter}  {states}-state, α = {alpha:.2f}: {where}synapse {t['row']}→{t['col']}\n"
                         f"most W_q level changes ({t['q_changes']}) of {n_traced} traced", fontsize=9)
            ax.set_xlabel("training image")
            ax.legend(loc="best", frameon=False, fontsize=7)
        axes[0, 0].set_ylabel("synaptic weight (normalised)")
        fig.tight_layout()
        return save_figure(fig, png, pdf)


# ------------------------------------------------------------------------------ Fig. 6
METHOD_LABEL = {"float": "float", "quantized": "quantized", "stochastic": "quantized + stochastic"}


def fig_exsitu_accuracy(exsitu: dict, png, pdf) -> dict:
    """Fig. 6: ex-situ test accuracy [%] per training method and state count; hardware bars
    (mean ± std over programming trials) next to software bars (the exact weights the network was
    trained with: float, W_q, device weights for (c)) with the accuracy of W_q alone marked on them;
    one panel per alpha.
    ``exsitu`` maps ``(method, states, alpha)`` to metrics dicts."""
    if not exsitu:
        raise ValueError("fig 6 needs at least one ex-situ run")
    alphas = sorted({a for _, _, a in exsitu})
    methods = [m for m in METHOD_LABEL if any(k[0] == m for k in exsitu)]
    states = sorted({s for _, s, _ in exsitu})
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(alphas), figsize=(6.0 * len(alphas), 3.8), squeeze=False, sharey=True)
        for ax, alpha, letter in zip(axes[0], alphas, "abcdefgh"):
            cats = [(m, s) for m in methods for s in states if (m, s, alpha) in exsitu]
            x = np.arange(len(cats))
            hw = [exsitu[(m, s, alpha)] for m, s in cats]
            ax.bar(x - 0.2, [100 * r["hardware_test_acc_mean"] for r in hw], 0.4,
                   yerr=[100 * r["hardware_test_acc_std"] for r in hw], capsize=3, color="#009E73",
                   label="hardware (programmed devices)")
            ax.bar(x + 0.2, [100 * r["software_test_acc"] for r in hw], 0.4, color="#E69F00",
                   label="software (weights as trained)")
            wq = [(xi + 0.2, 100 * r["quantized_test_acc"]) for xi, r in zip(x, hw) if "quantized_test_acc" in r]
            if wq:
                ax.plot(*zip(*wq), "k_", ms=14, mew=2, ls="none", label="$W_q$ alone")
            ax.set_xticks(x, [f"{METHOD_LABEL[m].replace(' + ', chr(10) + '+ ')}\n{s}-state" for m, s in cats],
                          fontsize=7)
            ax.set_title(f"{letter}  ex-situ, α = {alpha:.2f}")
            ax.set_ylim(0, 118)
            ax.set_yticks(np.arange(0, 101, 20))
            ax.legend(loc="upper center", ncol=3, frameon=False, fontsize=7)
        axes[0, 0].set_ylabel("test accuracy (%)")
        fig.tight_layout()
        return save_figure(fig, png, pdf)


# ------------------------------------------------------------------------------ Fig. 7
def fig_weight_cdf(stats, alpha: float, png, pdf) -> dict:
    """Fig. 7: empirical cumulative probability of the device weight per Ku, with the target
    weights (solid) and ±alpha margins (dotted)."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(5.6, 3.8))
        targets = sorted(level_targets(stats), key=lambda r: r["ku"])
        for i, t in enumerate(targets):
            mz = np.sort(stats.by_ku(t["ku"]).mz)
            if mz.size:
                cdf = np.arange(1, mz.size + 1) / mz.size
                ax.step(np.r_[mz[0], mz], np.r_[0.0, cdf], where="post", color=KU_COLORS[i % len(KU_COLORS)],
                        label=f"Ku = {t['ku'] / 1e5:.2f}e5 J/m³")
        for i, t in enumerate(targets):
            ax.axvline(t["target"], color="black", lw=1.0, label="target weight" if i == 0 else None)
            for s in (-1, 1):
                ax.axvline(t["target"] + s * alpha, color=MARGIN_COLOR, ls=":", lw=1.0,
                           label=f"target ± α (α = {alpha:.2f})" if (i == 0 and s == 1) else None)
        ax.set_xlim(-1.1, 1.1)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("device weight <mz>")
        ax.set_ylabel("cumulative probability")
        ax.set_title("Programmed weight distribution per Ku")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=7)
        return save_figure(fig, png, pdf)


def _shared_legend(fig, axes, ncol: int, **kw) -> None:
    """One legend below the figure with every distinct label of ``axes`` (first handle of each)."""
    by_label = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            by_label.setdefault(lab, h)
    fig.legend(list(by_label.values()), list(by_label), loc="upper center", bbox_to_anchor=(0.5, 0.0),
               ncol=min(ncol, len(by_label)), frameon=False, fontsize=7, **kw)


# ------------------------------------------------------------------------------ S3 / S4
def fig_offline_epochs(exsitu: dict, png, pdf) -> dict:
    """Supplementary S3: ex-situ (offline) software test accuracy [%] vs epoch, per method and
    state count, one panel per alpha."""
    if not exsitu:
        raise ValueError("fig S3 needs at least one ex-situ run")
    alphas = sorted({a for _, _, a in exsitu})
    ls_of = {"float": ":", "quantized": "--", "stochastic": "-"}
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(alphas), figsize=(4.6 * len(alphas), 3.6), squeeze=False, sharey=True)
        for ax, alpha in zip(axes[0], alphas):
            for i, (m, s, a) in enumerate(sorted(k for k in exsitu if k[2] == alpha)):
                r = exsitu[(m, s, a)]
                color, marker = _state_style(s, i)
                ax.plot([e["epoch"] for e in r["epochs"]], _percent([e["test_acc"] for e in r["epochs"]]),
                        color=color, ls=ls_of.get(m, "-"), marker=marker, ms=3, label=f"{METHOD_LABEL.get(m, m)}, {s}-state")
            ax.set_title(f"offline training, α = {alpha:.2f}")
            _epoch_axis(ax, [e["epoch"] for m in exsitu.values() for e in m["epochs"]])
            ax.set_xlabel("epoch")
        axes[0, 0].set_ylabel("software test accuracy (%)")
        fig.tight_layout()
        # one legend below the panels (same style per method and state in every panel): hides no curve
        _shared_legend(fig, axes[0], ncol=3, handlelength=3)
        return save_figure(fig, png, pdf)


def fig_alpha_sweep(insitu: dict, exsitu: dict, png, pdf) -> dict:
    """Supplementary S4: final in-situ train/test accuracy and ex-situ (quantized + stochastic)
    hardware test accuracy [%] vs the noise margin alpha, per state count."""
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(5.4, 3.8))
        for i, s in enumerate(sorted({k[0] for k in insitu})):
            color, marker = _state_style(s, i)
            al = sorted(a for st, a in insitu if st == s)
            ax.plot(al, [100 * insitu[(s, a)]["final_train_acc"] for a in al], color=color, marker=marker, ls=":",
                    label=f"in-situ train, {s}-state")
            ax.plot(al, [100 * insitu[(s, a)]["final_test_acc"] for a in al], color=color, marker=marker, ls="-",
                    label=f"in-situ test, {s}-state")
        for i, s in enumerate(sorted({k[1] for k in exsitu if k[0] == "stochastic"})):
            color, marker = _state_style(s, i)
            al = sorted(a for m, st, a in exsitu if m == "stochastic" and st == s)
            ax.errorbar(al, [100 * exsitu[("stochastic", s, a)]["hardware_test_acc_mean"] for a in al],
                        yerr=[100 * exsitu[("stochastic", s, a)]["hardware_test_acc_std"] for a in al], color=color,
                        marker=marker, ls="--", mfc="white", capsize=3, label=f"ex-situ (q+s) hardware, {s}-state")
        ax.set_xlabel("noise tolerance margin α")
        ax.set_ylabel("accuracy after the last epoch (%)")
        ax.set_title("Influence of α")
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=7)
        return save_figure(fig, png, pdf)


# ------------------------------------------------------------------------------ Fig. 1a / S2 (m_z maps)
MZ_CMAP = "RdBu_r"  # m_z = +1 red, -1 blue; non-magnetic cells light grey
NOTCH_COLOR = "#000000"
WALL_COLOR = "#009E73"


def _mz_strip(ax, mz_map: np.ndarray, cell: float, notch_nm: np.ndarray, wall_nm: float | None,
              labels: bool = False):
    """One m_z map to scale (1 nm = 1 nm in x and y), non-magnetic cells grey, notch centres as
    black triangles above and below the strip, the wall position as a dashed line."""
    ny, nx = mz_map.shape
    cmap = matplotlib.colormaps[MZ_CMAP].with_extremes(bad="0.85")
    w, h = nx * cell * 1e9, ny * cell * 1e9
    im = ax.imshow(np.ma.masked_invalid(mz_map), cmap=cmap, vmin=-1, vmax=1, origin="lower", extent=(0, w, 0, h),
                   interpolation="nearest", aspect="equal", label="m_z map")
    ax.grid(False)
    tri = dict(ls="none", color=NOTCH_COLOR, ms=4, clip_on=False, zorder=4)
    ax.plot(notch_nm, np.full(len(notch_nm), h + 0.06 * h), marker="v", label="notch centre" if labels else None, **tri)
    ax.plot(notch_nm, np.full(len(notch_nm), -0.06 * h), marker="^", **tri)
    if wall_nm is not None and np.isfinite(wall_nm):
        ax.axvline(wall_nm, color=WALL_COLOR, ls="--", lw=1.2, zorder=5,
                   label="DW position (m_z zero crossing)" if labels else None)
    ax.set_xlim(0, w)
    ax.set_ylim(-0.12 * h, 1.12 * h)
    return im


def fig_racetrack(initial, notch_x: np.ndarray, png, pdf, roughness_rms: float | None = None) -> dict:
    """Fig. 1a: m_z of the relaxed initial state (before the pulse) on the rough, notched strip,
    one strip per Ku, cells to scale; notch centres (triangles) and the wall position (dashed).
    ``initial`` is a :class:`dwsynapse.devicemaps.Maps` of :func:`dwsynapse.devicemaps.read_initial_states`,
    ``notch_x`` the notch centres [m], ``roughness_rms`` the measured edge roughness [m] for the title."""
    n = len(initial.ku)
    if n == 0:
        raise ValueError("fig 1a needs at least one relaxed state")
    notch_nm = np.asarray(notch_x, float) * 1e9
    ny, nx = initial.mask.shape
    with plt.rc_context(STYLE):
        strip_h = 9.0 * ny / nx
        fig, axes = plt.subplots(n, 1, figsize=(9.0, 0.8 + n * (strip_h + 0.55)), squeeze=False, sharex=True)
        for i, ax in enumerate(axes[:, 0]):
            im = _mz_strip(ax, initial.mz_maps[i], initial.cell_size, notch_nm, initial.dw_x[i] * 1e9, labels=True)
            ax.set_title(f"Ku = {initial.ku[i] / 1e5:.2f}e5 J/m³: <mz> = {initial.mz[i]:+.3f}, "
                         f"DW at x = {initial.dw_x[i] * 1e9:.1f} nm", fontsize=8, loc="left")
            ax.set_ylabel("y (nm)")
        axes[-1, 0].set_xlabel("x (nm)")
        rough = f", measured edge roughness {roughness_rms * 1e9:.2f} nm rms" if roughness_rms is not None else ""
        fig.suptitle(f"a  relaxed initial state (T = 0, no current; engine {initial.engine}), "
                     f"{initial.cell_size * 1e9:g} nm cells{rough}", fontsize=10, x=0.02, ha="left")
        fig.tight_layout()
        fig.colorbar(im, ax=axes[:, 0].tolist(), label="m_z", fraction=0.03, pad=0.025)
        fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="upper center", bbox_to_anchor=(0.45, 0.0), ncol=2,
                   frameon=False)
        return save_figure(fig, png, pdf)


def fig_final_maps(final, notch_x: np.ndarray, notch_width: float, png, pdf) -> dict:
    """Supplementary S2: final m_z maps of the instances with the lowest, median and highest <m_z>
    of each Ku (one row per Ku, lowest Ku on top), and a bottom panel with the fraction of walls per
    Ku that end within one notch width of a notch centre
    (:func:`dwsynapse.devicemaps.near_notch_fraction`). ``final`` is a
    :class:`dwsynapse.devicemaps.Maps` of :func:`dwsynapse.devicemaps.read_final_states`."""
    from dwsynapse.devicemaps import near_notch_fraction, representative

    kus = sorted({float(k) for k in final.ku})
    if not kus:
        raise ValueError("fig S2 needs at least one instance")
    notch_nm = np.asarray(notch_x, float) * 1e9
    ny, nx = final.mask.shape
    with plt.rc_context(STYLE):
        strip_h = 3.6 * ny / nx
        fig = plt.figure(figsize=(11.5, 1.2 + len(kus) * (strip_h + 0.62) + 2.4))
        gs = fig.add_gridspec(len(kus) + 1, 3, height_ratios=[strip_h + 0.35] * len(kus) + [1.7])
        im = None
        fractions = []
        for r, ku in enumerate(kus):
            sel = np.flatnonzero(np.isclose(final.ku, ku))
            for c, (role, j) in enumerate(representative(final.mz[sel])):
                i = sel[j]
                ax = fig.add_subplot(gs[r, c])
                im = _mz_strip(ax, final.mz_maps[i], final.cell_size, notch_nm, final.dw_x[i] * 1e9,
                               labels=(r == 0 and c == 0))
                seed = f", seed {int(final.seed[i])}" if final.seed is not None else ""
                ax.set_title(f"Ku {ku / 1e5:.2f}e5, {role} {final.mz[i]:+.2f}: x = {final.dw_x[i] * 1e9:.0f} nm{seed}",
                             fontsize=7, loc="left")
                ax.tick_params(labelsize=6)
                if c == 0:
                    ax.set_ylabel("y (nm)", fontsize=7)
                if r == len(kus) - 1:
                    ax.set_xlabel("x (nm)", fontsize=7)
            fractions.append((ku, near_notch_fraction(final.dw_x[sel], notch_x, notch_width), sel.size))
        ax = fig.add_subplot(gs[-1, :])
        xs = np.arange(len(kus))
        ax.bar(xs, [100 * f for _, f, _ in fractions], 0.6, color=[KU_COLORS[i % len(KU_COLORS)] for i in xs],
               label=f"walls within {notch_width * 1e9:g} nm (one notch width) of a notch centre")
        for x, (_, f, n) in zip(xs, fractions):
            ax.annotate(f"{100 * f:.0f} % of {n}", (x, 100 * f), ha="center", va="bottom", fontsize=8,
                        xytext=(0, 2), textcoords="offset points")
        ax.set_xticks(xs, [f"{k / 1e5:.2f}e5" for k in kus])
        ax.set_xlabel("Ku (J/m³)")
        ax.set_ylabel("walls near a notch (%)")
        ax.set_ylim(0, 135)
        ax.set_yticks(np.arange(0, 101, 20))
        ax.set_title("fraction of walls that end at a notch, per Ku", loc="left")
        ax.legend(loc="upper left", frameon=False)
        fig.tight_layout()
        fig.colorbar(im, ax=fig.axes[:-1], label="m_z", fraction=0.02, pad=0.01)
        h, lab = fig.axes[0].get_legend_handles_labels()
        fig.legend(h, lab, loc="upper center", bbox_to_anchor=(0.5, 1.0 + 0.25 / fig.get_figheight()), ncol=2,
                   frameon=False)
        return save_figure(fig, png, pdf)


# ------------------------------------------------------------------------------ Fig. S5
CATEGORY_COLORS = ["#0072B2", "#E69F00", "#009E73", "#D55E00"]


def fig_energy_breakdown(rows: list[dict], citation: str, png, pdf) -> dict:
    """Supplementary S5: energy per inference [nJ] of the DW crossbar network and of the 32-bit SRAM
    CMOS network as bars stacked by category (a), and the DW bar on its own scale [pJ] (b).
    ``rows`` are the system-energy rows of :func:`dwsynapse.energy.system_energy` (keys system,
    category, energy_J); ``citation`` the source of the per-operation energies (shown under the plot)."""
    from dwsynapse.energy import SYSTEM_CATEGORIES
    from dwsynapse.tabular import si_value

    systems = list(dict.fromkeys(r["system"] for r in rows))
    if not systems:
        raise ValueError("fig S5 needs system-energy rows")
    cats = list(SYSTEM_CATEGORIES) + sorted({r["category"] for r in rows} - set(SYSTEM_CATEGORIES))
    present = {r["category"] for r in rows}
    total = {s: sum(float(r["energy_J"]) for r in rows if r["system"] == s) for s in systems}
    with plt.rc_context(STYLE):
        fig, (ax_a, ax_b) = plt.subplots(1, 2, figsize=(8.4, 3.8), gridspec_kw={"width_ratios": [2, 1]})
        for ax, shown, scale, unit in ((ax_a, systems, 1e9, "nJ"), (ax_b, systems[:1], 1e12, "pJ")):
            xs = np.arange(len(shown))
            bottom = np.zeros(len(shown))
            parts = []
            for k, cat in enumerate(cats):
                e = np.array([sum(float(r["energy_J"]) for r in rows if r["system"] == s and r["category"] == cat)
                              for s in shown])
                ax.bar(xs, e * scale, 0.55, bottom=bottom, color=CATEGORY_COLORS[k % len(CATEGORY_COLORS)],
                       label=cat if cat in present else f"{cat}: none in this run")
                bottom += e * scale
                parts.append(f"{cat.split(' (')[0]}: {si_value(float(e[0]), 'J')}")
            for x, s in zip(xs, shown):
                ax.annotate(si_value(total[s], "J"), (x, bottom[x]), ha="center", va="bottom", fontsize=8,
                            xytext=(0, 2), textcoords="offset points")
            ax.set_xticks(xs, shown)
            ax.set_ylabel(f"energy per inference ({unit})")
            ax.set_ylim(0, 1.15 * max(bottom.max(), 1e-30))
        ratio = total[systems[-1]] / total[systems[0]] if len(systems) > 1 and total[systems[0]] > 0 else None
        ax_a.set_title("a  per inference" + (f": {systems[-1]} / {systems[0]} = {ratio:.4g}×" if ratio else ""),
                       loc="left")
        ax_b.set_title(f"b  {systems[0]} alone", loc="left")
        ax_b.text(0.5, 0.98, "\n".join(parts), transform=ax_b.transAxes, ha="center", va="top", fontsize=7,
                  bbox=dict(boxstyle="round", fc="white", ec="0.7", alpha=0.9))
        ax_b.set_ylim(0, 1.6 * ax_b.get_ylim()[1])
        fig.tight_layout()
        fig.legend(*ax_a.get_legend_handles_labels(), loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=2,
                   frameon=False)
        fig.text(0.5, -0.17, f"per-operation energies: {citation}", ha="center", fontsize=7, wrap=True)
        return save_figure(fig, png, pdf)


# ------------------------------------------------------------------------------ Fig. S1
def fig_selection(points: list[dict], chosen: dict | None, png, pdf) -> dict:
    """Supplementary S1: float test accuracy [%] after the last epoch vs the learning rate eta0
    (log axis), one panel per layer-size ratio, one curve per hidden-layer count; the configured
    network (``chosen``: keys layers, ratio, eta0) is marked with a star. ``points`` are dicts with
    layers, ratio, eta0, test_acc (0..1)."""
    if not points:
        raise ValueError("fig S1 needs at least one selection run")
    ratios = sorted({p["ratio"] for p in points})
    layer_counts = sorted({p["layers"] for p in points})
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(ratios), figsize=(3.8 * len(ratios), 3.6), squeeze=False, sharey=True)
        for ax, ratio, letter in zip(axes[0], ratios, "abcdefgh"):
            for i, nl in enumerate(layer_counts):
                pts = sorted((p for p in points if p["ratio"] == ratio and p["layers"] == nl), key=lambda p: p["eta0"])
                if pts:
                    ax.plot([p["eta0"] for p in pts], [100 * p["test_acc"] for p in pts], marker="o", ms=4,
                            color=OKABE_ITO[i % len(OKABE_ITO)], label=f"{nl} hidden layer{'s' if nl > 1 else ''}")
            hit = [p for p in points if chosen and np.isclose(ratio, chosen["ratio"]) and p["ratio"] == ratio
                   and p["layers"] == chosen["layers"] and np.isclose(p["eta0"], chosen["eta0"])]
            if hit:
                ax.plot([hit[0]["eta0"]], [100 * hit[0]["test_acc"]], marker="*", ms=15, mfc="none", mec="black",
                        mew=1.4, ls="none", label=f"chosen: {chosen['sizes']}, η0 = {chosen['eta0']:g}")
            ax.set_xscale("log")
            etas = sorted({p["eta0"] for p in points})
            ax.set_xticks(etas, [f"{e:g}" for e in etas], rotation=45)
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel("learning rate η0")
            ax.set_title(f"{letter}  layer-size ratio {ratio:g}")
        axes[0, 0].set_ylabel("float test accuracy after the last epoch (%)")
        fig.tight_layout()
        _shared_legend(fig, axes[0], ncol=5)
        return save_figure(fig, png, pdf)


# ------------------------------------------------------------------------------ studies (beyond the paper)
STUDY_AXIS = {"init": "initial weights σ (fan_in: 1/√fan_in)", "initial_programming": "initial programming",
              "device_sampling": "device sampling", "instances": "instances per Ku behind the model",
              "spread_scale": "spread of every level × (1 = calibrated)", "level0_shift": "shift of level 0 (<mz>)"}
STUDY_STYLE = {"float": ("s", ":"), "in-situ": ("o", "-"), "ex-situ (c)": ("^", "--")}  # marker, line style


def fig_study(rows: list[dict], factors, title: str, png, pdf) -> dict:
    """Study figure: final test accuracy [%] (mean ± std over seeds) vs the value of each choice, one
    panel per factor of ``factors``, one series per (run, states, alpha): colour = device (states, alpha),
    marker and line style = run (float, in-situ, ex-situ (c)). ``rows`` are the aggregated
    study rows (:func:`dwsynapse.nn.study.aggregate`)."""
    factors = [f for f in factors if any(r["factor"] == f for r in rows)]
    if not factors:
        raise ValueError("the study figure needs at least one study run")
    key = lambda r: (r["method"], r["states"], r["alpha"])  # noqa: E731
    devices = dict.fromkeys((r["states"], r["alpha"]) for r in rows if r["states"] is not None)
    colour = {k: OKABE_ITO[i % len(OKABE_ITO)] for i, k in enumerate(devices)} | {(None, None): "black"}
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(factors), figsize=(3.6 * len(factors), 3.6), squeeze=False, sharey=True)
        for ax, factor, letter in zip(axes[0], factors, "abcdefgh"):
            fr = [r for r in rows if r["factor"] == factor]
            values = list(dict.fromkeys(r["value"] for r in fr))
            for method, states, alpha in dict.fromkeys(map(key, fr)):
                pts = [r for r in fr if key(r) == (method, states, alpha)]
                label = method if states is None else f"{method} {states}-state α {alpha:.2f}"
                ax.errorbar([values.index(r["value"]) for r in pts], [100 * r["acc_mean"] for r in pts],
                            yerr=[100 * r["acc_std"] for r in pts], marker=STUDY_STYLE[method][0],
                            ls=STUDY_STYLE[method][1], ms=4, capsize=2, color=colour[(states, alpha)], label=label)
            ax.set_xticks(range(len(values)), values)
            ax.set_xlabel(STUDY_AXIS.get(factor, factor))
            ax.set_title(f"{letter}  {factor}")
        axes[0, 0].set_ylabel("test accuracy after the last epoch (%)")
        fig.suptitle(title, fontsize=9)
        fig.tight_layout()
        _shared_legend(fig, axes[0], ncol=4)
        return save_figure(fig, png, pdf)
