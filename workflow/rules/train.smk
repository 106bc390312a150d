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
