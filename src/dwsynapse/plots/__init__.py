"""Figures of the paper from the pipeline's results (see :mod:`dwsynapse.plots.figures`).

:func:`render_figure` is what the Snakemake scripts and the ``dwsynapse figures`` command call:
it reads the results a config produced (paths from :func:`dwsynapse.layout.run_paths`)
and renders one named figure. Which files a figure reads is :func:`dwsynapse.targets.figure_inputs`.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

from dwsynapse import devicemaps
from dwsynapse.device.chunks import chunk_files
from dwsynapse.geometry import GeometryError, build_racetrack, notch_centres
from dwsynapse.layout import (DEVICE_FIGURES, FIGURES, all_alphas, chunk_dir, device_stats_path, energy_path,
                              figure_dir, initial_state_path, run_paths, trace_keys, wanted_figures)
from dwsynapse.levels import level_probability_table
from dwsynapse.nn import selection
from dwsynapse.plots import figures
from dwsynapse.results import ResultsError, load_metrics, load_trace
from dwsynapse.tabular import markdown_table, write_csv

log = logging.getLogger(__name__)


NOTCH_KEYS = ("first_notch", "notch_pitch", "notch_width", "length")  # what geometry.notch_centres reads


def stats_notches(stats, geometry: dict) -> np.ndarray:
    """Notch centres [m] to mark on the figures of a device-statistics file: the positions it records
    (``/geometry/notch_x``, the racetrack the instances ran on), else, for a file without them,
    :func:`dwsynapse.geometry.notch_centres` of the file's geometry attribute when that has the keys,
    else of ``geometry`` (the config's)."""
    if stats.notch_x is not None:
        return np.asarray(stats.notch_x, np.float64)
    geom = stats.geometry if set(NOTCH_KEYS) <= set(stats.geometry) else geometry
    try:
        return notch_centres(geom)
    except GeometryError as exc:
        raise ResultsError(f"cannot mark the notches: {exc}") from None


def render_figure(name: str, config: dict, png: str | Path, pdf: str | Path, stats_path: str | Path | None = None) -> dict:
    """Render figure ``name`` (a key of :data:`dwsynapse.layout.FIGURES`) for ``config`` to ``png``/``pdf``.

    Device figures read ``stats_path`` (device_stats.h5); training figures read the runs of
    :func:`run_paths`. Returns the figure summary (panels and series per panel).
    """
    summary = _render(name, config, png, pdf, stats_path)
    log.info("%s -> %s (+ .pdf): %d panels, series per panel %s", name, png, summary["panels"], summary["series"])
    return summary


def _read_csv(path: Path) -> list[dict]:
    if not path.exists():
        raise ResultsError(f"{path}: not found")
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _render(name: str, config: dict, png, pdf, stats_path) -> dict:
    rp = run_paths(config)
    geom = config["device"]["geometry"]
    if name in DEVICE_FIGURES:
        from dwsynapse.devicestats import read_device_stats

        if stats_path is None:
            raise ResultsError(f"figure '{name}' needs the device-statistics file")
        stats = read_device_stats(stats_path)
        if name == "fig1_device":
            return figures.fig_device_distributions(stats, stats_notches(stats, geom), png, pdf)
        alphas = all_alphas(config)
        if not alphas:
            raise ResultsError("figure 'fig7_cdf' needs a noise margin: the config has no train alphas")
        return figures.fig_weight_cdf(stats, alphas[0], png, pdf)
    if name == "fig3_insitu":
        base = rp.baseline / "metrics.json"
        baseline = load_metrics(base) if base.exists() else None
        return figures.fig_insitu_accuracy(baseline, {k: load_metrics(d / "metrics.json") for k, d in rp.insitu.items()},
                                           png, pdf)
    if name == "fig4_writes":
        return figures.fig_device_writes({k: load_metrics(d / "metrics.json") for k, d in rp.insitu.items()}, png, pdf)
    if name == "fig5_weights":
        ts = config["train"]["trace_synapse"]
        layer = ts["layer"] if ts else None
        return figures.fig_weight_evolution({k: load_trace(rp.insitu[k] / "trace.csv") for k in trace_keys(config)},
                                            png, pdf, layer=layer)
    if name == "fig6_exsitu":
        return figures.fig_exsitu_accuracy({k: load_metrics(d / "metrics.json") for k, d in rp.exsitu.items()}, png, pdf)
    if name == "figS3_offline":
        return figures.fig_offline_epochs({k: load_metrics(d / "metrics.json") for k, d in rp.exsitu.items()}, png, pdf)
    if name == "fig1a_racetrack":
        initial = devicemaps.read_initial_states(initial_state_path(config))
        racetrack = build_racetrack(geom)  # the one the initial states were relaxed on
        return figures.fig_racetrack(initial, racetrack.notch_x, png, pdf, roughness_rms=racetrack.measured_rms)
    if name == "figS2_final_maps":
        final = devicemaps.read_final_states(chunk_files(config, chunk_dir(config)))
        return figures.fig_final_maps(final, build_racetrack(geom).notch_x, float(geom["notch_width"]), png, pdf)
    if name == "figS5_energy":
        return figures.fig_energy_breakdown(_read_csv(energy_path(config, "system_csv")),
                                            config["energy"]["per_op"]["citation"], png, pdf)
    if name == "figS1_selection":
        return figures.fig_selection(selection.load_points(config), selection.chosen_point(config), png, pdf)
    if name == "figS4_alpha":
        return figures.fig_alpha_sweep(
            {k: load_metrics(d / "metrics.json") for k, d in rp.insitu.items()},
            {k: load_metrics(d / "metrics.json") for k, d in rp.exsitu.items() if k[0] == "stochastic"}, png, pdf)
    raise ResultsError(f"unknown figure '{name}'; known: {sorted(FIGURES)}")


def write_level_table(stats_path: str | Path, alphas, csv_path: str | Path, md_path: str | Path) -> list[dict]:
    """Fig. 7 table: per Ku and alpha the probability of landing within ±alpha of the target
    with one pulse and the expected pulses; written as CSV and Markdown."""
    from dwsynapse.devicestats import read_device_stats
    from dwsynapse.io import write_text

    rows = level_probability_table(read_device_stats(stats_path), alphas)
    write_csv(rows, csv_path)
    md = [dict(ku=f"{r['ku']:.3e}", level=f"{r['level']:+.2f}", target=f"{r['target']:+.3f}", alpha=f"{r['alpha']:.2f}",
               n=r["n"], mean_mz=f"{r['mean_mz']:+.3f}", probability=f"{100 * r['probability']:.1f} %",
               expected_pulses=f"{r['expected_pulses']:.3g}") for r in rows]
    write_text("# Probability of programming within the margin with one pulse (Fig. 7)\n\n"
               + markdown_table(md, list(md[0])), md_path)
    return rows


def register(sub) -> None:
    """``dwsynapse figures``: render every figure a config can produce."""
    from dwsynapse.command import add_report_command

    p = add_report_command(sub, "figures", "render the paper's figures (PNG + PDF) from the results", _cli,
                           "<results_dir>/report/figures")
    p.add_argument("--only", nargs="*", choices=sorted(FIGURES), help="render only these figures")


def _cli(args) -> int:
    from dwsynapse.command import start_command

    config = start_command(args)
    outdir = Path(args.outdir or figure_dir(config))
    stats = args.stats or device_stats_path(config)
    for name in args.only or wanted_figures(config):
        stem = outdir / FIGURES[name]
        summary = render_figure(name, config, stem.with_suffix(".png"), stem.with_suffix(".pdf"), stats)
        print(f"{stem}.png/.pdf: {summary['panels']} panels, series per panel {summary['series']}")
    return 0


__all__ = ["render_figure", "stats_notches", "write_level_table", "register"]
