# Figures (PNG + PDF), energy tables and the paper-vs-reproduction table, from the results.
# Inputs come from the config's training grid (dwsynapse.layout.run_paths), so a reduced grid
# only asks for - and only plots - the runs it configures.
from dwsynapse.layout import (
    DEVICE_FIGURES,
    ENERGY_OUTPUTS,
    FIGURES,
    GENERATED_PLOT_RULES,
    LEVEL_TABLE,
    REPRODUCTION,
    RUN_FACTS,
    WORKFLOW_SUMMARY,
    training_metric_paths,
)
from dwsynapse.targets import figure_inputs, report_outputs

REPORT_TARGETS = report_outputs(config)  # added to all_targets() in common.smk
TRAINING_METRICS = training_metric_paths(config)
FIGDIR = res("report", "figures")


rule plot_fig7_cdf:
    input:
        stats=device_stats_path(),
    output:
        png=report(
            f"{FIGDIR}/{FIGURES['fig7_cdf']}.png",
            category="Device",
            caption="../report/fig7_cdf.rst",
        ),
        pdf=f"{FIGDIR}/{FIGURES['fig7_cdf']}.pdf",
        csv=f"{FIGDIR}/{FIGURES['fig7_cdf']}.csv",  # the data behind the figure
        table_csv=report(
            f"{FIGDIR}/{LEVEL_TABLE}.csv",
            category="Device",
            caption="../report/fig7_table.rst",
        ),
        table_md=f"{FIGDIR}/{LEVEL_TABLE}.md",
    params:
        config=config_digest(config, RULE_CONFIG["plot_fig7_cdf"]),
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


rule energy_tables:
    input:
        runs=TRAINING_METRICS,
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
    params:
        config=config_digest(config, RULE_CONFIG["energy_tables"]),
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
        runs=TRAINING_METRICS,
        stats=device_stats_path(),
        energy=rules.energy_tables.output.json,
        control=control_reproduction(),
    output:
        md=report(
            res("report", REPRODUCTION[0]),
            category="Paper vs reproduction",
            caption="../report/reproduction.rst",
        ),
        csv=report(
            res("report", REPRODUCTION[1]),
            category="Paper vs reproduction",
            caption="../report/reproduction.rst",
        ),
    params:
        config=config_digest(config, RULE_CONFIG["reproduction_table"]),
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


# One plot rule per row of dwsynapse.layout.GENERATED_PLOT_RULES: the training results (or device-stage
# files) it reads from figure_inputs, the device file for the device figures, and as outputs the figure
# (PNG, PDF) and the data behind it (CSV).
for _fig, _category in GENERATED_PLOT_RULES.items():

    rule:
        name:
            f"plot_{_fig}"
        input:
            runs=figure_inputs(config, _fig),
            **({"stats": device_stats_path()} if _fig in DEVICE_FIGURES else {}),
        output:
            png=report(f"{FIGDIR}/{FIGURES[_fig]}.png", category=_category, caption=f"../report/{_fig}.rst"),
            pdf=f"{FIGDIR}/{FIGURES[_fig]}.pdf",
            csv=f"{FIGDIR}/{FIGURES[_fig]}.csv",
        params:
            figure=_fig,
            config=config_digest(config, RULE_CONFIG[f"plot_{_fig}"]),
        log:
            res("logs", "report", f"{_fig}.log"),
        threads: 1
        resources:
            mem_mb=1000,
            runtime=10,
        conda:
            "../../envs/python.yaml"
        script:
            "../../scripts/plot_figure.py"


rule supplementary:
    # `make supplementary`: Fig. S1 (network selection over the grid selection.<selection.grid>)
    input:
        rules.plot_figS1_selection.output,


rule report_summary:
    input:
        reproduction=rules.reproduction_table.output.csv,
        stats=device_stats_path(),
    output:
        summary=res("report", WORKFLOW_SUMMARY),
        facts=res("report", RUN_FACTS),
    params:
        config=config_digest(config, RULE_CONFIG["report_summary"]),
    log:
        res("logs", "report", "summary.log"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/python.yaml"
    script:
        "../../scripts/report_summary.py"
