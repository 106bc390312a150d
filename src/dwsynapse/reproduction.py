"""Paper-vs-reproduction table: every headline number of the paper next to ours.

The paper's numbers are facts about the paper and live in :data:`dwsynapse.paper.PAPER` with
the section they come from. Every "ours" value is computed from this workflow's results (training metrics,
device statistics, energy tables); a quantity the config did not produce is listed with an
empty "ours" and the reason.
"""

from __future__ import annotations

import collections
import csv
import json
import logging
from pathlib import Path

import numpy as np

from dwsynapse.energy import network_counts, write_energy
from dwsynapse.io import write_text
from dwsynapse.layout import REPRODUCTION, all_alphas, alpha_tag, device_stats_path, energy_path, results_path, run_paths
from dwsynapse.levels import level_probability_table
from dwsynapse.nn.network import N_CLASSES, N_INPUT
from dwsynapse.paper import HEADLINE, PAPER, PaperValue
from dwsynapse.results import ResultsError, load_metrics
from dwsynapse.settings import device_settings
from dwsynapse.tabular import markdown_table, write_csv

log = logging.getLogger(__name__)


def _acc(x: float) -> float:
    return 100.0 * float(x)


def compute_ours(config: dict, stats_path: str | Path | None, energy_json: str | Path | None) -> dict:
    """Our value and its provenance for every key of :data:`PAPER` that this config produced.

    Returns ``{key: (value, produced_by)}``; keys the config did not produce are absent.
    """
    rp = run_paths(config)
    tr = config["train"]
    grid = f"epochs={tr['epochs']}, n_train={config['mnist']['n_train'] or 60000}"
    ours: dict[str, tuple[float, str]] = {}

    def prov(path: Path, m: dict) -> str:
        return f"{path} (n_train={m['n_train']}, n_test={m['n_test']}, epochs={len(m['epochs'])}, seed={m.get('seed')})"

    base = rp.baseline / "metrics.json"
    if base.exists():
        m = load_metrics(base)
        ours["baseline_test"] = (_acc(m["final_test_acc"]), prov(base, m))
        ours["baseline_train"] = (_acc(m["final_train_acc"]), prov(base, m))
    for (s, a), d in rp.insitu.items():
        m = load_metrics(d / "metrics.json")
        ours[f"insitu_{s}_{alpha_tag(a)}"] = (_acc(m["final_test_acc"]), prov(d / "metrics.json", m))
        ours[f"writes_{s}_{alpha_tag(a)}"] = (float(m["total_pulses"]), prov(d / "metrics.json", m))
    for (meth, s, a), d in rp.exsitu.items():
        m = load_metrics(d / "metrics.json")
        p = prov(d / "metrics.json", m) + f", trials={len(m['hardware_test_acc'])}"
        ours[f"exsitu_{meth}_{s}_{alpha_tag(a)}"] = (_acc(m["hardware_test_acc_mean"]), p)
        ours[f"exsitu_{meth}_{s}_{alpha_tag(a)}_sw"] = (_acc(m["software_test_acc"]), p)
    if stats_path is not None and Path(stats_path).exists():
        from dwsynapse.devicestats import read_device_stats

        stats = read_device_stats(stats_path)
        src = (f"{stats_path} (engine={stats.engine}, instances/Ku={[g.n_ok for g in stats.groups]}, "
               f"cell={config['device']['geometry']['cell_size']:.1e} m)")
        for g in stats.groups:
            if g.n_ok:
                ours[f"mz_{g.ku / 1e5:.2f}"] = (float(np.mean(g.mz)), src)
        for row_alpha in all_alphas(config):
            rows = level_probability_table(stats, [row_alpha])
            worst = min(rows, key=lambda r: r["probability"])
            p_min = worst["probability"]
            ours[f"p_min_{alpha_tag(row_alpha)}"] = (100.0 * p_min, src + f", lowest: level {worst['level']:+.2f}")
            if p_min > 0:
                ours[f"worst_attempts_{alpha_tag(row_alpha)}"] = (float(np.ceil(1.0 / p_min)), src)
    if energy_json is not None and Path(energy_json).exists():
        e = json.loads(Path(energy_json).read_text())
        src = f"{energy_json} (config energy.*, device.drive)"
        we = e["write_energy"]
        ours["capacitance"] = (we["capacitance"], src)
        ours["e_cap"] = (we["capacitive"], src)
        ours["resistance"] = (we["resistance"], src)
        ours["e_joule"] = (we["joule"], src)
        ours["e_write"] = (we["total"], src)
        for r in e["programming"]:
            if r["scenario"].startswith("in-situ 5-state alpha=0.25"):
                ours["prog_insitu"] = (r["energy_per_inference_J"], src + f", {r['scenario']}, n_train={r['n_train']}")
            if r["scenario"].startswith("ex-situ worst case alpha=0.15"):
                ours["prog_exsitu_worst"] = (r["energy_per_inference_J"], src + f", {r['scenario']}")
        sysd = e["system"]
        ours["system_dw"] = (sysd["dw_total_J"], src + ", model: energy.dw_system / energy.cmos / energy.per_op")
        ours["system_ratio"] = (sysd["ratio"], src + f", CMOS weight read {config['energy']['cmos']['weight_read_op']}")
    log.info("reproduction: %d of %d paper numbers have a value of ours (%s)",
             sum(pv.key in ours for pv in PAPER), len(PAPER), grid)
    return ours


def reproduction_rows(config: dict, stats_path=None, energy_json=None) -> list[dict]:
    """One row per paper number: quantity, paper, ours, difference (ours − paper; ratio for
    quantities spanning orders of magnitude), unit, paper section and what produced ours."""
    ours = compute_ours(config, stats_path, energy_json)
    rows = []
    for pv in PAPER:
        v, src = ours.get(pv.key, (None, "not produced by this config"))
        row = {"quantity": pv.quantity, "paper": pv.value, "ours": v, "unit": pv.unit, "difference": None,
               "ratio_ours_paper": None, "paper_section": pv.where, "produced_by": src}
        if v is not None:
            row["difference"] = v - pv.value
            if pv.value != 0:
                row["ratio_ours_paper"] = v / pv.value
        rows.append(row)
    return rows


def _fmt(v, unit: str) -> str:
    if v is None:
        return "—"
    if unit in ("J", "F"):
        for factor, prefix in ((1e-15, "f"), (1e-12, "p"), (1e-9, "n"), (1e-6, "µ")):
            if abs(v) < factor * 1000:
                return f"{v / factor:.3g} {prefix}{unit}"
    if unit == "pulses" and abs(v) >= 1e5:
        return f"{v / 1e6:.3g} M"
    return f"{v:.4g}{(' ' + unit) if unit and unit not in ('%',) else ('%' if unit == '%' else '')}"


def _diff(r: dict) -> str:
    if r["unit"] in ("J", "F", "pulses", "x"):
        return f"×{r['ratio_ours_paper']:.3g}" if r["ratio_ours_paper"] is not None else "—"
    if r["difference"] is None:
        return "—"
    if r["unit"] == "%":
        return f"{r['difference']:+.2f} pp"
    return f"{r['difference']:+.3g}{(' ' + r['unit']) if r['unit'] else ''}"


def paper_consistency_notes(config: dict) -> list[str]:
    """Checks of the paper's own arithmetic with the paper's numbers and this config's network."""
    p = {pv.key: pv.value for pv in PAPER}
    n_w = network_counts(N_INPUT, config["train"]["hidden"], N_CLASSES)["n_weights"]
    n_test = int(config["energy"]["test_images"])
    we = write_energy(config["energy"], config["device"]["drive"])
    insitu = p["writes_5_0.25"] * p["e_write"] / n_test
    exsitu = p["worst_attempts_0.15"] * n_w * p["e_write"] / n_test
    return [
        f"Paper's in-situ figure: {p['writes_5_0.25']:.3g} writes × {p['e_write'] * 1e15:.2g} fJ / {n_test} test images "
        f"= {insitu * 1e12:.3g} pJ (paper: {p['prog_insitu'] * 1e12:.3g} pJ).",
        f"Paper's ex-situ worst case: {p['worst_attempts_0.15']:.0f} pulses × {n_w} weights × {p['e_write'] * 1e15:.2g} fJ"
        f" / {n_test} = {exsitu * 1e12:.3g} pJ (paper states {p['prog_exsitu_worst'] * 1e12:.3g} pJ).",
        f"SOT current through the Pt strip: J·w·t = {we.current * 1e6:.3g} µA (the paper's text quotes 21 µA; the "
        f"{p['e_joule'] * 1e15:.2g} fJ Joule energy it reports needs the {we.current * 1e6:.3g} µA).",
        f"Scope of the system rows: the paper's ~{p['system_dw'] * 1e9:.0f} nJ and {p['system_ratio']:.0f}× come from its "
        "supplementary S5 (not available) and, by its text, include the in-situ backward pass and digital gradient "
        "accumulation; ours is the forward pass of one test image with the per-operation model in config "
        "(energy.per_op, energy.dw_system, energy.cmos), so those two rows compare different scopes.",
    ]


REPRODUCED_PP = 1.0  # an accuracy within this many percentage points of the paper's counts as reproduced


def decided_by(paper: float, ours: float | None, control: float | None) -> str:
    """Who decides an accuracy [%] that misses the paper: ``device`` when the learning control (the same
    grid on a synthetic device with the paper's levels) reaches the paper within :data:`REPRODUCED_PP` and
    this run does not; ``not the device`` when the control misses too; ``reproduced`` when this run is
    within it; an empty string without both numbers."""
    if ours is None:
        return ""
    if abs(ours - paper) <= REPRODUCED_PP:
        return "reproduced"
    if control is None:
        return ""
    return "device" if abs(control - paper) <= REPRODUCED_PP else "not the device"


def read_control(csv_path) -> dict[str, float]:
    """quantity -> value of a control run's reproduction CSV (rows without a value are left out)."""
    import csv

    with open(csv_path, newline="") as fh:
        return {r["quantity"]: float(r["ours"]) for r in csv.DictReader(fh) if r.get("ours") not in (None, "")}


def write_reproduction(config: dict, stats_path, energy_json, md_path, csv_path, control_csv=None) -> list[dict]:
    """Write the paper-vs-ours table as Markdown and CSV; return its rows. With ``control_csv`` (the
    reproduction CSV of ``make control``) every accuracy row also gets the control's value and
    :func:`decided_by`."""
    rows = reproduction_rows(config, stats_path, energy_json)
    control = read_control(control_csv) if control_csv else None
    if control is not None:
        for r in rows:
            r["control"] = control.get(r["quantity"])
            r["decided_by"] = decided_by(r["paper"], r["ours"], r["control"]) if r["unit"] == "%" else ""
    write_csv(rows, csv_path)
    n_have = sum(r["ours"] is not None for r in rows)
    md_rows = [{
        "quantity": r["quantity"], "paper": _fmt(r["paper"], r["unit"]), "ours": _fmt(r["ours"], r["unit"]),
        "ours − paper": _diff(r),
        **({"control (synthetic device)": _fmt(r["control"], r["unit"]), "decided by": r["decided_by"] or "—"}
           if control is not None else {}),
        "paper §": r["paper_section"], "produced by": r["produced_by"],
    } for r in rows]
    d = device_settings(config)
    head = (
        "# Paper vs reproduction\n\n"
        f"{n_have} of {len(rows)} headline numbers of the paper have a value from this run. "
        f"Config: engine={d.engine}, instances_per_ku={d.instances_per_ku}, cell_size={d.geometry['cell_size']:g} m, "
        f"epochs={config['train']['epochs']}, n_train={config['mnist']['n_train'] or 60000}, "
        f"n_test={config['mnist']['n_test'] or 10000}. Accuracies are in percent; for energies, "
        "capacitance and pulse counts the last numeric column is the ratio ours/paper.\n\n"
    )
    if control is not None:
        head += ("The control column is the same grid trained on a synthetic device with the paper's levels "
                 f"(`make control`, {control_csv}); 'device' marks an accuracy that misses the paper by more than "
                 f"{REPRODUCED_PP:g} pp here while the control reaches it: the simulated device, not the learning, "
                 "decides it.\n\n")
    notes = "\n## Notes on the paper's numbers and on scope\n\n" + "".join(f"- {n}\n" for n in paper_consistency_notes(config))
    write_text(head + markdown_table(md_rows, list(md_rows[0])) + notes, md_path)
    return rows


def _rst_table(header: list[str], rows: list[list[str]]) -> str:
    """A docutils list-table."""
    out = [".. list-table::", "   :header-rows: 1", ""]
    for r in [header, *rows]:
        out += [f"   * - {r[0]}"] + [f"     - {c}" for c in r[1:]]
    return "\n".join(out) + "\n"


def _join(items) -> str:
    return ", ".join(str(i) for i in items) if items else "none"


def _ku_list(kus) -> str:
    return ", ".join(f"{float(k) / 1e5:.2f}e5" for k in kus)


def run_facts(config: dict, stats_path: str | Path) -> list[str]:
    """What this run used, as reStructuredText bullet items: device statistics (engine, Ku values,
    instances per Ku that succeeded / were requested), mesh and drive, training network and grid."""
    from dwsynapse.devicestats import read_device_stats
    from dwsynapse.geometry import build_racetrack

    dev, tr = device_settings(config), config["train"]
    stats = read_device_stats(stats_path)
    geom = dev.geometry
    rt = build_racetrack(geom)
    counts = [f"{g.n_ok}/{g.n_requested}" for g in stats.groups]
    n_ok = f"{counts[0]} each" if len(set(counts)) == 1 else ", ".join(counts)
    ins, exs = tr["insitu"], tr["exsitu"]
    source = (f"read from ``{dev.stats_file}`` (device stage not run)" if dev.stats_file else
              f"simulated by this run, engine **{stats.engine}** ({stats.engine_version or 'version not recorded'})")
    return [
        f"- **Device statistics**: {source}; Ku = {_ku_list(stats.ku_values)} J/m³, instances per Ku "
        f"(succeeded/requested) {n_ok}.",
        f"- **Mesh and drive**: {rt.nx} × {rt.ny} cells of {rt.cell_size * 1e9:g} × {rt.cell_size * 1e9:g} × "
        f"{rt.thickness * 1e9:g} nm ({geom['length'] * 1e9:g} × {geom['width'] * 1e9:g} nm, notches every "
        f"{geom['notch_pitch'] * 1e9:g} nm from {geom['first_notch'] * 1e9:g} nm, edges {rt.measured_rms * 1e9:.2f} nm "
        f"rms); {dev.solver.demag} demag, α {dev.material.alpha:g}, {dev.drive.temperature:g} K, "
        f"{dev.drive.pulse_duration * 1e9:g} ns at {dev.drive.current_density:.3g} A/m².",
        f"- **Training**: {'-'.join(str(n) for n in (N_INPUT, *tr['hidden'], N_CLASSES))}, η0 {tr['eta0']:g}, "
        f"{tr['epochs']} epochs, {config['mnist']['n_train'] or 60000} / {config['mnist']['n_test'] or 10000} "
        f"images; in-situ states {_join(ins['states'])} × noise margin α {_join(ins['alphas'])}; "
        f"ex-situ {_join(exs['methods'])} × states {_join(exs['states'])} × α {_join(exs['alphas'])}.",
        f"- **Device levels hard to program** (one pulse within ±α; in-situ re-pulses, ex-situ stops at "
        f"{int(exs['max_program_attempts'])} attempts): {level_warnings(config, stats)}",
    ]


def level_warnings(config: dict, stats) -> str:
    """Levels of the configured (states, alpha) grid that one pulse lands within ±alpha never or rarely
    (:func:`dwsynapse.nn.devicemodel.build_device_model`), as one sentence: each level and probability once,
    with the (states, alpha) pairs it holds for ("every pair" when it holds for all)."""
    from dwsynapse.nn.common import device_config
    from dwsynapse.nn.devicemodel import RARE_HIT_PROBABILITY, build_device_model

    rp = run_paths(config)
    pairs = sorted({k for k in rp.insitu} | {(s, a) for _, s, a in rp.exsitu})
    where: dict[tuple[float, str], list[str]] = collections.defaultdict(list)
    for s, a in pairs:
        for lv in build_device_model(stats, device_config(config, s, a)).summary()["levels"]:
            if lv["hit_probability"] < RARE_HIT_PROBABILITY:
                prob = "never" if lv["hit_probability"] == 0 else f"p = {lv['hit_probability']:.3f}"
                where[(lv["level"], prob)].append(f"{s}-state α {a:.2f}")
    if not where:
        return f"none (every level lands within ±α with p ≥ {RARE_HIT_PROBABILITY:g})."
    return "; ".join(f"level {level:+g} {prob}: {'every pair' if len(on) == len(pairs) else ', '.join(on)}"
                     for (level, prob), on in sorted(where.items(), key=lambda kv: -kv[0][0])) + "."


def workflow_summary(config: dict, reproduction_csv: str | Path, stats_path: str | Path) -> str:
    """reStructuredText for the report's first page: what this run did (:func:`run_facts`) and its
    headline numbers (:data:`dwsynapse.paper.HEADLINE`) next to the paper's, where this run has a value."""
    lines = ["What was run", "------------", "", *run_facts(config, stats_path), "", "Headline numbers",
             "----------------", ""]
    with open(reproduction_csv, newline="") as fh:
        produced = [r for r in csv.DictReader(fh) if r["ours"] not in ("", "None")]
    headline = {p.quantity for p in PAPER if p.key in HEADLINE}
    rows = [r for r in produced if r["quantity"] in headline]
    if rows:
        body = []
        for r in rows:
            unit = r["unit"]
            rec = dict(r, ours=float(r["ours"]), paper=float(r["paper"]),
                       difference=float(r["difference"]) if r["difference"] else None,
                       ratio_ours_paper=float(r["ratio_ours_paper"]) if r["ratio_ours_paper"] else None)
            body.append([r["quantity"], _fmt(rec["paper"], unit), _fmt(rec["ours"], unit), _diff(rec)])
        lines.append(_rst_table(["quantity", "paper", "this run", "this run − paper"], body))
        lines.append(f"The section *Paper vs reproduction* has all {len(produced)} numbers of the paper this run "
                     "produced, with their sources.\n")
    else:
        lines.append("No headline number of the paper was produced by this config.\n")
    return "\n".join(lines) + "\n"


def write_workflow_summary(config: dict, reproduction_csv, stats_path, summary_path, facts_path) -> str:
    """Write :func:`workflow_summary` to ``summary_path`` and :func:`run_facts` (included by every
    figure caption) to ``facts_path``, atomically; return the summary text."""
    text = workflow_summary(config, reproduction_csv, stats_path)
    write_text(text, summary_path)
    write_text("This run used:\n\n" + "\n".join(run_facts(config, stats_path)) + "\n", facts_path)
    return text


def register(sub) -> None:
    """``dwsynapse report``: the paper-vs-reproduction table (Markdown + CSV)."""
    from dwsynapse.command import add_report_command

    p = add_report_command(sub, "report", "paper-vs-reproduction table from the results", _cli, "<results_dir>/report")
    p.add_argument("--energy-json", default=None, help="energy.json of `dwsynapse energy` (default: under results)")


def _cli(args) -> int:
    from dwsynapse.command import start_command

    config = start_command(args)
    outdir = Path(args.outdir or results_path(config, "report"))
    stats = args.stats or device_stats_path(config)
    ej = args.energy_json or energy_path(config, "json")
    md, csv_name = REPRODUCTION
    rows = write_reproduction(config, stats, ej, outdir / md, outdir / csv_name)
    print(f"{outdir / md}: {sum(r['ours'] is not None for r in rows)} of {len(rows)} numbers have a value from this run")
    return 0


__all__ = ["PAPER", "PaperValue", "compute_ours", "reproduction_rows", "write_reproduction", "ResultsError"]
