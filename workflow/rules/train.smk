# Training: float baseline, in-situ (Algorithm 1) and ex-situ networks.
# Run folders: dwsynapse.layout.RUN, QUANTIZED_TRAINING and SELECTION_RUN (imported in common.smk).


rule train_baseline:
    input:
        mnist=rules.fetch_mnist.output.files,
    output:
        metrics=res("train", "baseline", "metrics.json"),
        csv=res("train", "baseline", "metrics.csv"),
        weights=res("train", "baseline", "weights.npz"),
        curve=report(
            res("train", "baseline", "learning_curve.png"),
            category="Training",
            caption="../report/learning_curve.rst",
        ),
    params:
        config=config_digest(config, RULE_CONFIG["train_baseline"]),
    log:
        res("logs", "train_baseline.log"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    conda:
        "../../envs/python.yaml"
    script:
        "../../scripts/train_baseline.py"


# In-situ (Algorithm 1) and ex-situ training on the config's grid (train.insitu / train.exsitu).
# Ex-situ (a) float programs the baseline's weights; (b) quantized trains once per number of states;
# neither depends on alpha, so only the programming step runs per alpha. (c) trains per alpha, and
# programs the in-situ run's network where the in-situ grid has that (states, alpha): same training.


rule train_insitu:
    wildcard_constraints:
        states="[235]",
        alpha=r"\d\.\d\d",
    input:
        mnist=rules.fetch_mnist.output.files,
        stats=device_stats_path(),
    output:
        metrics=res("train", "insitu", RUN, "metrics.json"),
        csv=res("train", "insitu", RUN, "metrics.csv"),
        trace=res("train", "insitu", RUN, "trace.csv"),
        weights=res("train", "insitu", RUN, "weights.npz"),
    params:
        config=config_digest(config, RULE_CONFIG["train_insitu"]),
    log:
        res("logs", "train", "insitu_{states}state_alpha{alpha}.log"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    conda:
        "../../envs/python.yaml"
    script:
        "../../scripts/train_insitu.py"


rule train_exsitu_quantized:
    wildcard_constraints:
        states="[235]",
    input:
        mnist=rules.fetch_mnist.output.files,
    output:
        weights=res("train", "exsitu", "quantized", QUANTIZED_TRAINING, "weights.npz"),
        training=res("train", "exsitu", "quantized", QUANTIZED_TRAINING, "training.json"),
    params:
        method="quantized",
        config=config_digest(config, RULE_CONFIG["train_exsitu"]),
    log:
        res("logs", "train", "exsitu_quantized_{states}state.log"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    conda:
        "../../envs/python.yaml"
    script:
        "../../scripts/train_exsitu.py"


rule train_exsitu_stochastic:
    wildcard_constraints:
        states="[235]",
        alpha=r"\d\.\d\d",
    input:
        mnist=rules.fetch_mnist.output.files,
        stats=device_stats_path(),
    output:
        weights=res("train", "exsitu", "stochastic", RUN, "training", "weights.npz"),
        training=res("train", "exsitu", "stochastic", RUN, "training", "training.json"),
    params:
        method="stochastic",
        config=config_digest(config, RULE_CONFIG["train_exsitu"]),
    log:
        res("logs", "train", "exsitu_stochastic_{states}state_alpha{alpha}.log"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    conda:
        "../../envs/python.yaml"
    script:
        "../../scripts/train_exsitu.py"


rule program_exsitu:
    wildcard_constraints:
        states="[235]",
        alpha=r"\d\.\d\d",
        method="float|quantized|stochastic",
    input:
        unpack(exsitu_trained),
        mnist=rules.fetch_mnist.output.files,
        stats=device_stats_path(),
    output:
        metrics=res("train", "exsitu", "{method}", RUN, "metrics.json"),
        csv=res("train", "exsitu", "{method}", RUN, "metrics.csv"),
    params:
        config=config_digest(config, RULE_CONFIG["program_exsitu"]),
    log:
        res("logs", "train", "exsitu_{method}_{states}state_alpha{alpha}.log"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../../envs/python.yaml"
    script:
        "../../scripts/program_exsitu.py"


# Supplementary Fig. S1 (`make supplementary`): one float run per point of the selection grid
# (dwsynapse.nn.selection), each cached in its own folder.
rule train_selection:
    wildcard_constraints:
        layers=r"\d",
        ratio=r"\d\.\d\d",
        eta=r"[0-9.e-]+",
    input:
        mnist=rules.fetch_mnist.output.files,
    output:
        metrics=res("train", "selection", SELECTION_RUN, "metrics.json"),
        csv=res("train", "selection", SELECTION_RUN, "metrics.csv"),
        weights=res("train", "selection", SELECTION_RUN, "weights.npz"),
    params:
        config=config_digest(config, RULE_CONFIG["train_selection"]),
    log:
        res("logs", "train", "selection_{layers}layers_ratio{ratio}_eta{eta}.log"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=120,
    conda:
        "../../envs/python.yaml"
    script:
        "../../scripts/train_selection.py"
