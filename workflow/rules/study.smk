# Studies outside the default run (dwsynapse.nn.study): `make study-learning` (the open learning choices,
# results/study/learning/) and `make device-sensitivity` (in-situ accuracy vs a changed device,
# results/study/sensitivity/). One cached run per point; the table rule writes the table, figure and summary.
from dwsynapse.nn.study import point_files, point_settings, points, study_outputs


rule study_point:
    wildcard_constraints:
        study="learning|sensitivity",
    input:
        mnist=rules.fetch_mnist.output.files,
        stats=device_stats_path(),
    output:
        point=res("study", "{study}", "runs", "{point}", "point.json"),
        metrics=res("study", "{study}", "runs", "{point}", "metrics.json"),
    params:
        # the point's values and the study settings it uses: a changed grid re-runs only what changed
        point=lambda w: repr(points(config, w.study)[w.point]),
        study=lambda w: point_settings(config, w.study, points(config, w.study)[w.point]),
        config=config_digest(config, RULE_CONFIG["study_point"]),
    log:
        res("logs", "study", "{study}_{point}.log"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    conda:
        "../../envs/python.yaml"
    script:
        "../../scripts/study_point.py"


rule study_table:
    wildcard_constraints:
        study="learning|sensitivity",
    input:
        points=lambda w: point_files(config, w.study),
    output:
        table_csv=report(res("study", "{study}", "table.csv"), category="Studies", caption="../report/study.rst"),
        table_md=res("study", "{study}", "table.md"),
        summary_md=report(res("study", "{study}", "summary.md"), category="Studies", caption="../report/study.rst"),
        summary_json=res("study", "{study}", "summary.json"),
        png=report(res("study", "{study}", "accuracy.png"), category="Studies", caption="../report/study.rst"),
        pdf=res("study", "{study}", "accuracy.pdf"),
        figure_csv=res("study", "{study}", "accuracy.csv"),
    params:
        study=lambda w: config["study"],
        config=config_digest(config, RULE_CONFIG["study_table"]),
    log:
        res("logs", "study", "{study}_table.log"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    conda:
        "../../envs/python.yaml"
    script:
        "../../scripts/study_table.py"


rule study_learning:
    # `make study-learning`: the grid study.<study.grid>
    input:
        list(study_outputs(config, "learning").values()),


rule device_sensitivity:
    # `make device-sensitivity`: grid study.sensitivity
    input:
        list(study_outputs(config, "sensitivity").values()),
