# Training: float baseline, in-situ (Algorithm 1) and ex-situ networks.


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
# neither depends on alpha, so only the programming step runs per alpha. (c) trains per alpha.


wildcard_constraints:
    states="[235]",
    alpha=r"\d\.\d\d",
    method="float|quantized|stochastic",


def training_grid_targets():
    """metrics.json of every in-situ and ex-situ run in the config's grid."""
    tr = config["train"]
    ins, exs = tr.get("insitu") or {}, tr.get("exsitu") or {}
    out = [
        res("train", "insitu", f"{s}state_alpha{float(a):.2f}", "metrics.json")
        for s in ins.get("states", [])
        for a in ins.get("alphas", [])
    ]
    out += [
        res("train", "exsitu", m, f"{s}state_alpha{float(a):.2f}", "metrics.json")
        for m in exs.get("methods", [])
        for s in exs.get("states", [])
        for a in exs.get("alphas", [])
    ]
    return out


rule train_insitu:
    input:
        mnist=rules.fetch_mnist.output.files,
        stats=device_stats_path(),
    output:
        metrics=res("train", "insitu", "{states}state_alpha{alpha}", "metrics.json"),
        csv=res("train", "insitu", "{states}state_alpha{alpha}", "metrics.csv"),
        trace=res("train", "insitu", "{states}state_alpha{alpha}", "trace.csv"),
        weights=res("train", "insitu", "{states}state_alpha{alpha}", "weights.npz"),
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
    input:
        mnist=rules.fetch_mnist.output.files,
    output:
        weights=res("train", "exsitu", "quantized", "{states}state_training", "weights.npz"),
        training=res("train", "exsitu", "quantized", "{states}state_training", "training.json"),
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
    input:
        mnist=rules.fetch_mnist.output.files,
        stats=device_stats_path(),
    output:
        weights=res("train", "exsitu", "stochastic", "{states}state_alpha{alpha}", "training", "weights.npz"),
        training=res("train", "exsitu", "stochastic", "{states}state_alpha{alpha}", "training", "training.json"),
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


def exsitu_trained(wildcards):
    """The trained network an ex-situ run programs: baseline (a), quantized (b) or stochastic (c)."""
    if wildcards.method == "float":
        return {"weights": rules.train_baseline.output.weights, "training": rules.train_baseline.output.metrics}
    if wildcards.method == "quantized":
        d = ("train", "exsitu", "quantized", f"{wildcards.states}state_training")
    else:
        d = ("train", "exsitu", "stochastic", f"{wildcards.states}state_alpha{wildcards.alpha}", "training")
    return {"weights": res(*d, "weights.npz"), "training": res(*d, "training.json")}


rule program_exsitu:
    input:
        unpack(exsitu_trained),
        mnist=rules.fetch_mnist.output.files,
        stats=device_stats_path(),
    output:
        metrics=res("train", "exsitu", "{method}", "{states}state_alpha{alpha}", "metrics.json"),
        csv=res("train", "exsitu", "{method}", "{states}state_alpha{alpha}", "metrics.csv"),
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
