"""The files the report rules read and write for a config: every figure's inputs and the report's
outputs (workflow/rules/report.smk, and ``all_targets()`` in common.smk).

Inputs come from the config's training grid (:func:`dwsynapse.layout.run_paths`), so a config with
a reduced grid only asks for - and only plots - what it produced. Importing this module imports
neither matplotlib nor torch (the Snakefile imports it).
"""

from __future__ import annotations

from pathlib import Path

from dwsynapse.device.chunks import chunk_files
from dwsynapse.layout import (DEVICE_FIGURES, ENERGY_OUTPUTS, FIGURES, LEVEL_TABLE, REPRODUCTION, RUN_FACTS,
                              SUPPLEMENTARY, WORKFLOW_SUMMARY, chunk_dir, energy_path, figure_dir, initial_state_path,
                              results_path, run_paths, trace_keys, wanted_figures)
from dwsynapse.nn import selection, study
from dwsynapse.results import ResultsError


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
        return chunk_files(config, chunk_dir(config))
    if name == "figS5_energy":
        return [str(energy_path(config, "system_csv"))]
    if name == "figS1_selection":
        return [str(d / "metrics.json") for d in selection.point_dirs(config).values()]
    raise ResultsError(f"unknown figure '{name}'; known: {sorted(FIGURES)}")


def supplementary_present(config: dict, name: str) -> bool:
    """Whether supplementary figure ``name`` was made for this config (its PNG and every input exist)."""
    png = figure_dir(config) / f"{FIGURES[name]}.png"
    return png.exists() and all(Path(p).exists() for p in figure_inputs(config, name))


def report_outputs(config: dict) -> list[str]:
    """Every output of workflow/rules/report.smk for ``config`` (figures of its grid with their data
    CSVs, the Fig. 7 table, energy tables, reproduction table, the report's front-page summary): the
    report part of the workflow's targets. A supplementary figure that ``make supplementary`` made
    for this config's grid, and a study that ``make study-learning`` / ``make device-sensitivity`` made
    (:mod:`dwsynapse.nn.study`), are included, so the HTML report shows them."""
    rep = results_path(config, "report")
    names = wanted_figures(config) + [n for n in SUPPLEMENTARY if supplementary_present(config, n)]
    out = [str(rep / "figures" / f"{FIGURES[n]}{ext}") for n in names for ext in (".png", ".pdf", ".csv")]
    out += [str(rep / "figures" / f"{LEVEL_TABLE}{ext}") for ext in (".csv", ".md")]
    out += [str(rep / "energy" / f) for f in ENERGY_OUTPUTS.values()]
    out += [str(rep / f) for f in (*REPRODUCTION, WORKFLOW_SUMMARY, RUN_FACTS)]
    out += [f for st in study.STUDIES if study.study_present(config, st) for f in study.study_outputs(config, st).values()]
    return out
