"""Table, figure and summary of a study (:mod:`dwsynapse.nn.study`: its runs and their statistics)."""

from __future__ import annotations

from pathlib import Path

from dwsynapse.io import write_json, write_text
from dwsynapse.nn import study as studies
from dwsynapse.plots.figures import fig_study
from dwsynapse.tabular import markdown_table, write_csv


def write_study(config: dict, study: str, table_csv, table_md, summary_md, png, pdf) -> dict:
    """The study's table (CSV, Markdown), its figure (accuracy vs the choice) and a summary: for the
    learning study the defaults by :data:`dwsynapse.nn.study.RULE` next to the config's, for the
    sensitivity study the runs it made."""
    agg = studies.aggregate(studies.load_rows(config, study))
    write_csv(agg, table_csv)
    g = studies.study_settings(config, study)
    pct = lambda x: f"{100 * x:.2f}"  # noqa: E731
    md = [{"choice": r["factor"], "value": r["value"], "run": r["method"], "states": r["states"] or "",
           "α": f"{r['alpha']:.2f}" if r["alpha"] is not None else "", "seeds": r["n_seeds"],
           "test accuracy (%)": f"{pct(r['acc_mean'])} ± {pct(r['acc_std'])}",
           "(c) software (%)": "" if r["software_acc_mean"] is None else pct(r["software_acc_mean"]),
           "W_q alone (%)": "" if r["wq_acc_mean"] is None else pct(r["wq_acc_mean"])} for r in agg]
    head = (f"# Study: {study}\n\n{g['epochs']} epoch(s), n_train = {g['n_train'] or config['mnist']['n_train'] or 60000}, "
            f"seeds {list(g['seeds'])}; mean ± std over seeds. Ex-situ (c) = the in-situ network programmed "
            f"{config['study']['programming_trials']} times (read-verify-write within ±α).\n\n")
    write_text(head + markdown_table(md, list(md[0])), table_md)
    factors = studies.FACTORS if study == "learning" else studies.SENSITIVITY_FACTORS
    summary = {"study": study, "rows": len(agg)}
    if study == "learning":
        chosen = studies.choose_defaults(config, studies.load_rows(config, study))
        summary["defaults"] = chosen
        lines = [f"# Defaults by the study's rule\n\nRule: {studies.RULE}\n",
                 "| network | choice | chosen | config | agrees | per value: mean accuracy, paired gain over config ± s.e. (%) |",
                 "|---|---|---|---|---|---|"]
        for c in chosen:
            per = "; ".join(f"{v}: {pct(s['mean'])} (gain {100 * s['gain']:+.2f} ± {100 * s['gain_se']:.2f})"
                            + ("" if s["float_ok"] else ", float below floor") for v, s in c["values"].items())
            lines.append(f"| {c['network']} | {c['factor']} | {c['chosen']} | {c['config']} | {'yes' if c['agrees'] else 'NO'} "
                         f"| {per} |")
        write_text("\n".join(lines) + "\n", summary_md)
    else:
        write_text(f"# Device sensitivity\n\nIn-situ {g['states']}-state α = {g['alpha']:.2f} (and its ex-situ (c)) "
                   "on the calibrated statistics with every level's spread scaled about its mean, and level 0 "
                   "(Ku = 7.5e5 J/m³) shifted; the other choices as in config `train`.\n", summary_md)
    title = ("open learning choices, one at a time around config train" if study == "learning" else
             f"device sensitivity: in-situ {g['states']}-state α = {g['alpha']:.2f} on the changed calibrated statistics")
    summary["figure"] = fig_study(agg, factors, title, png, pdf)
    write_json(summary, Path(summary_md).with_suffix(".json"))
    return summary
