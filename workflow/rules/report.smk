# Figures (PNG + PDF), energy tables and the paper-vs-reproduction table, from the results.
# Inputs come from the config's training grid (dwsynapse.plots.run_paths), so a reduced grid
# only asks for - and only plots - the runs it configures.
from dwsynapse.energy import ENERGY_OUTPUTS
from dwsynapse.plots import FIGURES, figure_inputs, wanted_figures
from dwsynapse.plots.data import run_paths

REPORT_FIGURES = wanted_figures(config)


def fig_out(name, category, caption):
    """PNG (in the HTML report) and PDF outputs of one figure rule."""
    stem = res("report", "figures", FIGURES[name])
    return {
        "png": report(stem + ".png", category=category, caption=caption),
        "pdf": stem + ".pdf",
    }


def training_metrics():
    """metrics.json of every training run the config asks for (baseline, in-situ, ex-situ)."""
    rp = run_paths(config)
    runs = [rp.baseline, *rp.insitu.values(), *rp.exsitu.values()]
    return [str(d / "metrics.json") for d in runs]


def report_targets():
    """Every report output of this config (added to all_targets())."""
    targets = []
    for name in REPORT_FIGURES:
        stem = res("report", "figures", FIGURES[name])
        targets += [stem + ".png", stem + ".pdf"]
    targets += [res("report", "figures", "fig7_level_probability" + ext) for ext in (".csv", ".md")]
    targets += [res("report", "energy", f) for f in ENERGY_OUTPUTS.values()]
    targets += [res("report", "reproduction.md"), res("report", "reproduction.csv")]
    return targets


rule plot_fig1_device:
    input:
        stats=device_stats_path(),
    output:
        **fig_out("fig1_device", "Device", "../report/fig1_device.rst"),
    params:
        figure="fig1_device",
    log:
        res("logs", "report", "fig1_device.log"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/python.yaml"
    script:
        "../../scripts/plot_figure.py"


rule plot_fig7_cdf:
    input:
        stats=device_stats_path(),
    output:
        **fig_out("fig7_cdf", "Device", "../report/fig7_cdf.rst"),
        table_csv=report(
            res("report", "figures", "fig7_level_probability.csv"),
            category="Device",
            caption="../report/fig7_table.rst",
        ),
        table_md=res("report", "figures", "fig7_level_probability.md"),
    params:
        figure="fig7_cdf",
    log:
        res("logs", "report", "fig7_cdf.log"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/python.yaml"
    script:
        "../../scripts/plot_figure.py"


rule plot_fig3_insitu:
    input:
        runs=figure_inputs(config, "fig3_insitu"),
    output:
        **fig_out("fig3_insitu", "In-situ training", "../report/fig3_insitu.rst"),
    params:
        figure="fig3_insitu",
    log:
        res("logs", "report", "fig3_insitu.log"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/python.yaml"
    script:
        "../../scripts/plot_figure.py"


rule plot_fig4_writes:
    input:
        runs=figure_inputs(config, "fig4_writes"),
    output:
        **fig_out("fig4_writes", "In-situ training", "../report/fig4_writes.rst"),
    params:
        figure="fig4_writes",
    log:
        res("logs", "report", "fig4_writes.log"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/python.yaml"
    script:
        "../../scripts/plot_figure.py"


rule plot_fig5_weights:
    input:
        runs=figure_inputs(config, "fig5_weights"),
    output:
        **fig_out("fig5_weights", "In-situ training", "../report/fig5_weights.rst"),
    params:
        figure="fig5_weights",
    log:
        res("logs", "report", "fig5_weights.log"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/python.yaml"
    script:
        "../../scripts/plot_figure.py"


rule plot_fig6_exsitu:
    input:
        runs=figure_inputs(config, "fig6_exsitu"),
    output:
        **fig_out("fig6_exsitu", "Ex-situ training", "../report/fig6_exsitu.rst"),
    params:
        figure="fig6_exsitu",
    log:
        res("logs", "report", "fig6_exsitu.log"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/python.yaml"
    script:
        "../../scripts/plot_figure.py"


rule plot_figS3_offline:
    input:
        runs=figure_inputs(config, "figS3_offline"),
    output:
        **fig_out("figS3_offline", "Supplementary", "../report/figS3_offline.rst"),
    params:
        figure="figS3_offline",
    log:
        res("logs", "report", "figS3_offline.log"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/python.yaml"
    script:
        "../../scripts/plot_figure.py"


rule plot_figS4_alpha:
    input:
        runs=figure_inputs(config, "figS4_alpha"),
    output:
        **fig_out("figS4_alpha", "Supplementary", "../report/figS4_alpha.rst"),
    params:
        figure="figS4_alpha",
    log:
        res("logs", "report", "figS4_alpha.log"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/python.yaml"
    script:
        "../../scripts/plot_figure.py"


rule energy_tables:
    input:
        runs=training_metrics(),
        stats=device_stats_path(),
    output:
        write_csv=report(
            res("report", "energy", ENERGY_OUTPUTS["write_csv"]),
            category="Energy",
            caption="../report/energy_write.rst",
        ),
        write_md=res("report", "energy", ENERGY_OUTPUTS["write_md"]),
        programming_csv=report(
            res("report", "energy", ENERGY_OUTPUTS["programming_csv"]),
            category="Energy",
            caption="../report/energy_programming.rst",
        ),
        programming_md=res("report", "energy", ENERGY_OUTPUTS["programming_md"]),
        system_csv=report(
            res("report", "energy", ENERGY_OUTPUTS["system_csv"]),
            category="Energy",
            caption="../report/energy_system.rst",
        ),
        system_md=res("report", "energy", ENERGY_OUTPUTS["system_md"]),
        json=res("report", "energy", ENERGY_OUTPUTS["json"]),
    log:
        res("logs", "report", "energy.log"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/python.yaml"
    script:
        "../../scripts/report_energy.py"


rule reproduction_table:
    input:
        runs=training_metrics(),
        stats=device_stats_path(),
        energy=rules.energy_tables.output.json,
    output:
        md=report(
            res("report", "reproduction.md"),
            category="Paper vs reproduction",
            caption="../report/reproduction.rst",
        ),
        csv=report(
            res("report", "reproduction.csv"),
            category="Paper vs reproduction",
            caption="../report/reproduction.rst",
        ),
    log:
        res("logs", "report", "reproduction.log"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/python.yaml"
    script:
        "../../scripts/report_reproduction.py"
