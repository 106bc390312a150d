"""Figures of the paper from the pipeline's results (see :mod:`dwsynapse.plots.figures`).

:func:`render_figure` is what the Snakemake scripts and the ``dwsynapse figures`` command call:
it reads the results a config produced (paths from :func:`dwsynapse.plots.data.run_paths`)
and renders one named figure.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np

from dwsynapse import devicemaps
from dwsynapse.devicemaps import initial_state_path
from dwsynapse.devicestage import chunk_files
from dwsynapse.geometry import build_racetrack
from dwsynapse.nn import selection, study
from dwsynapse.plots import figures
from dwsynapse.plots.data import ResultsError, alpha_tag, load_metrics, load_trace, run_paths

log = logging.getLogger(__name__)

FIGURES = {
    "fig1_device": "fig1cd_device_distributions",
    "fig3_insitu": "fig3_insitu_accuracy",
    "fig4_writes": "fig4_device_writes",
    "fig5_weights": "fig5_weight_evolution",
    "fig6_exsitu": "fig6_exsitu_accuracy",
    "fig7_cdf": "fig7_weight_cdf",
    "figS3_offline": "figS3_offline_epochs",
    "figS4_alpha": "figS4_alpha_sweep",
    "fig1a_racetrack": "fig1a_racetrack_initial_state",
    "figS2_final_maps": "figS2_final_states",
    "figS5_energy": "figS5_energy_breakdown",
    "figS1_selection": "figS1_network_selection",
}
DEVICE_FIGURES = ("fig1_device", "fig7_cdf")
MAP_FIGURES = ("fig1a_racetrack", "figS2_final_maps")  # need the device stage's own outputs (not device.stats_file)
# Figures whose plot rules report.smk generates from this table: figure -> report category.
GENERATED_PLOT_RULES = {"fig1a_racetrack": "Device", "figS2_final_maps": "Supplementary",
                        "figS5_energy": "Energy", "figS1_selection": "Supplementary"}
SUPPLEMENTARY = ("figS1_selection",)  # `make supplementary`, not part of the default run


def notch_positions(geometry: dict) -> np.ndarray:
    """Notch centres [m]: ``first_notch + k·notch_pitch`` inside ``length`` (DESIGN.md §3)."""
    try:
        first, pitch, length = float(geometry["first_notch"]), float(geometry["notch_pitch"]), float(geometry["length"])
    except KeyError as exc:
        raise ResultsError(f"geometry lacks {exc} needed to mark the notches") from None
    if pitch <= 0:
        raise ResultsError(f"geometry notch_pitch must be > 0, got {pitch}")
    return np.arange(first, length, pitch)


def wanted_figures(config: dict) -> list[str]:
    """The figure names a default run of a config produces (only what its training grid runs; the
    m_z maps only when it runs the device stage itself). Not the supplementary ones (S1)."""
    rp = run_paths(config)
    names = ["fig1_device", "fig7_cdf", "figS5_energy"]
    if not config["device"].get("stats_file"):
        names += list(MAP_FIGURES)
    if rp.insitu:
        names += ["fig3_insitu", "fig4_writes", "fig5_weights"]
    if rp.exsitu:
        names += ["fig6_exsitu", "figS3_offline"]
    if len({a for _, a in rp.insitu} | {a for m, _, a in rp.exsitu if m == "stochastic"}) >= 2:
        names.append("figS4_alpha")
    return names


def figure_inputs(config: dict, name: str) -> list[str]:
    """Training-result files one figure reads (the device file is passed separately)."""
    rp = run_paths(config)
    if name == "fig3_insitu":
        return [str(rp.baseline / "metrics.json")] + [str(d / "metrics.json") for d in rp.insitu.values()]
    if name == "fig4_writes":
        return [str(d / "metrics.json") for d in rp.insitu.values()]
    if name == "fig5_weights":
        return [str(rp.insitu[k] / "trace.csv") for k in trace_keys(config)]
    if name in ("fig6_exsitu", "figS3_offline"):
        return [str(d / "metrics.json") for d in rp.exsitu.values()]
    if name == "figS4_alpha":
        return [str(d / "metrics.json") for d in rp.insitu.values()] + [
            str(d / "metrics.json") for k, d in rp.exsitu.items() if k[0] == "stochastic"]
    if name in DEVICE_FIGURES:
        return []
    if name == "fig1a_racetrack":
        return [str(initial_state_path(config))]
    if name == "figS2_final_maps":
        return chunk_files(config, Path(config["results_dir"]) / "device" / "chunks")
    if name == "figS5_energy":
        return [str(_energy_csv(config))]
    if name == "figS1_selection":
        return [str(d / "metrics.json") for d in selection.point_dirs(config).values()]
    raise ResultsError(f"unknown figure '{name}'; known: {sorted(FIGURES)}")


def _energy_csv(config: dict) -> Path:
    from dwsynapse.energy import ENERGY_OUTPUTS

    return Path(config["results_dir"]) / "report" / "energy" / ENERGY_OUTPUTS["system_csv"]


def trace_keys(config: dict) -> list[tuple[int, float]]:
    """The in-situ runs whose synapse trace Fig. 5 shows: the most states, every alpha."""
    rp = run_paths(config)
    if not rp.insitu:
        return []
    s_max = max(s for s, _ in rp.insitu)
    return sorted(k for k in rp.insitu if k[0] == s_max)


def all_alphas(config: dict) -> list[float]:
    """Every noise margin of the config's in-situ and ex-situ grids, sorted."""
    tr = config["train"]
    return sorted({float(a) for a in tr.get("exsitu", {}).get("alphas", [])}
                  | {float(a) for a in tr.get("insitu", {}).get("alphas", [])})


def training_metric_paths(config: dict) -> list[str]:
    """metrics.json of every training run the config asks for (baseline, in-situ, ex-situ)."""
    rp = run_paths(config)
    return [str(d / "metrics.json") for d in (rp.baseline, *rp.insitu.values(), *rp.exsitu.values())]


def report_outputs(config: dict) -> list[str]:
    """Every output of workflow/rules/report.smk for ``config`` (figures of its grid with their data
    CSVs, the Fig. 7 table, energy tables, reproduction table, the report's front-page summary): the
    report part of the workflow's targets. A supplementary figure that ``make supplementary`` made
    for this config's grid, and a study that ``make study-learning`` / ``make device-sensitivity`` made
    (:mod:`dwsynapse.nn.study`), are included, so the HTML report shows them."""
    from dwsynapse.energy import ENERGY_OUTPUTS

    rep = Path(config["results_dir"]) / "report"
    names = wanted_figures(config) + [n for n in SUPPLEMENTARY if supplementary_present(config, n)]
    out = [str(rep / "figures" / f"{FIGURES[n]}{ext}") for n in names for ext in (".png", ".pdf", ".csv")]
    out += [str(rep / "figures" / f"fig7_level_probability{ext}") for ext in (".csv", ".md")]
    out += [str(rep / "energy" / f) for f in ENERGY_OUTPUTS.values()]
    out += [str(rep / f) for f in ("reproduction.md", "reproduction.csv", WORKFLOW_SUMMARY, RUN_FACTS)]
    out += [f for st in study.STUDIES if study.study_present(config, st) for f in study.study_outputs(config, st).values()]
    return out


WORKFLOW_SUMMARY = "workflow_summary.rst"  # included by workflow/report/workflow.rst (the report's first page)
RUN_FACTS = "run_facts.rst"  # included by every figure caption under workflow/report/


def supplementary_present(config: dict, name: str) -> bool:
    """Whether supplementary figure ``name`` was made for this config (its PNG and every input exist)."""
    png = Path(config["results_dir"]) / "report" / "figures" / f"{FIGURES[name]}.png"
    return png.exists() and all(Path(p).exists() for p in figure_inputs(config, name))


def render_figure(name: str, config: dict, png: str | Path, pdf: str | Path, stats_path: str | Path | None = None) -> dict:
    """Render figure ``name`` (a key of :data:`FIGURES`) for ``config`` to ``png``/``pdf``.

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
            geom = stats.geometry if {"first_notch", "notch_pitch", "length"} <= set(stats.geometry) \
                else config["device"]["geometry"]
            return figures.fig_device_distributions(stats, notch_positions(geom), png, pdf)
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
        layer = (config["train"].get("trace_synapse") or {}).get("layer")
        return figures.fig_weight_evolution({k: load_trace(rp.insitu[k] / "trace.csv") for k in trace_keys(config)},
                                            png, pdf, layer=layer)
    if name == "fig6_exsitu":
        return figures.fig_exsitu_accuracy({k: load_metrics(d / "metrics.json") for k, d in rp.exsitu.items()}, png, pdf)
    if name == "figS3_offline":
        return figures.fig_offline_epochs({k: load_metrics(d / "metrics.json") for k, d in rp.exsitu.items()}, png, pdf)
    if name == "fig1a_racetrack":
        initial = devicemaps.read_initial_states(initial_state_path(config))
        return figures.fig_racetrack(initial, notch_positions(geom), png, pdf,
                                     roughness_rms=build_racetrack(geom).measured_rms)
    if name == "figS2_final_maps":
        final = devicemaps.read_final_states(figure_inputs(config, name))
        return figures.fig_final_maps(final, notch_positions(geom), float(geom["notch_width"]), png, pdf)
    if name == "figS5_energy":
        return figures.fig_energy_breakdown(_read_csv(_energy_csv(config)), config["energy"]["per_op"]["citation"],
                                            png, pdf)
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
    from dwsynapse.energy import markdown_table, write_csv
    from dwsynapse.io import write_text

    rows = figures.level_probability_table(read_device_stats(stats_path), alphas)
    write_csv(rows, csv_path)
    md = [dict(ku=f"{r['ku']:.3e}", level=f"{r['level']:+.2f}", target=f"{r['target']:+.3f}", alpha=f"{r['alpha']:.2f}",
               n=r["n"], mean_mz=f"{r['mean_mz']:+.3f}", probability=f"{100 * r['probability']:.1f} %",
               expected_pulses=f"{r['expected_pulses']:.3g}",
               probability_at_level=f"{100 * r['probability_at_level']:.1f} %") for r in rows]
    write_text("# Probability of programming within the margin with one pulse (Fig. 7)\n\n"
               + markdown_table(md, list(md[0])), md_path)
    return rows


def register(sub) -> None:
    """``dwsynapse figures``: render every figure a config can produce."""
    from dwsynapse.cli import add_common_arguments

    p = sub.add_parser("figures", help="render the paper's figures (PNG + PDF) from the results")
    add_common_arguments(p)
    p.add_argument("--stats", default=None, help="device_stats.h5 (default: the device stage's file)")
    p.add_argument("--outdir", default=None, help="output folder (default: <results_dir>/report/figures)")
    p.add_argument("--only", nargs="*", choices=sorted(FIGURES), help="render only these figures")
    p.set_defaults(func=_cli)


def _cli(args) -> int:
    from dwsynapse.cli import start_command
    from dwsynapse.devicestats import default_stats_path

    config = start_command(args)
    outdir = Path(args.outdir or Path(config["results_dir"]) / "report" / "figures")
    stats = args.stats or default_stats_path(config)
    for name in args.only or wanted_figures(config):
        stem = outdir / FIGURES[name]
        summary = render_figure(name, config, stem.with_suffix(".png"), stem.with_suffix(".pdf"), stats)
        print(f"{stem}.png/.pdf: {summary['panels']} panels, series per panel {summary['series']}")
    return 0


__all__ = ["FIGURES", "render_figure", "wanted_figures", "figure_inputs", "trace_keys", "notch_positions",
           "run_paths", "alpha_tag", "load_metrics", "load_trace", "all_alphas", "ResultsError",
           "write_level_table", "register", "report_outputs", "training_metric_paths", "GENERATED_PLOT_RULES",
           "SUPPLEMENTARY", "supplementary_present", "WORKFLOW_SUMMARY", "RUN_FACTS"]
