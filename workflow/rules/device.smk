# Device stage: thermal instances per (Ku, chunk) -> chunk files -> device_stats.h5 (+ per-Ku summary).
# The same rules serve both engines (device.engine: torch | mumax3). With device.stats_file set,
# training reads that file instead and none of the simulation rules is needed.

from dwsynapse.device.chunks import chunk_files, device_config_sha256
from dwsynapse.device.resources import chunk_retries, chunk_runtime_minutes, chunk_uses_gpu


DEVICE_PRIORITY = 10  # Snakemake's default is 0


wildcard_constraints:
    group=r"ku_[0-9.]+e[+-][0-9]+",
    chunk=r"\d+",


rule device_check:
    output:
        res("device", "engine.json"),
    params:
        engine=config["device"]["engine"],
        mumax3=config["device"]["mumax3"],
    log:
        res("logs", "device", "check.log"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/python.yaml"
    script:
        "../../scripts/device_check.py"


rule device_chunk:
    input:
        engine=res("device", "engine.json"),
    output:
        res("device", "chunks", "{group}", CHUNK_FILE),
    params:
        workdir=lambda wc: res("device", "work", wc.group, f"chunk_{wc.chunk}"),
        device=device_config_sha256(config),  # a changed device configuration re-runs the chunks
    log:
        res("logs", "device", "{group}", "chunk_{chunk}.log"),
    # One thread per chunk: a batch of ~8 small grids gains little from a second thread, and on a 2-core
    # workstation a single-thread chunk runs beside another job instead of waiting for both cores.
    threads: 1
    # The chunks are the start of the run's longest path (device stage -> in-situ training): they go before
    # the jobs that do not need the device (float and quantized training), so the stage gets every core.
    priority: DEVICE_PRIORITY
    # docs/design.md "Retries": a crash or timeout of the simulating child is retried device.chunk_retries
    # times, each try a new job (this overrides the profile's retries, which cover the other rules); on the last
    # try the chunk's instances are recorded as failed (dwsynapse.device.guard.run_chunk_guarded). A failed mumax3
    # run of one instance is retried inside the job (device.mumax3.retries) and never fails the job.
    retries: chunk_retries(config)
    resources:
        mem_mb=4000,
        runtime=lambda wc, attempt: chunk_runtime_minutes(config, attempt),  # grows with the try, as the timeout
        gpu=1 if chunk_uses_gpu(config) else 0,
        attempt=lambda wc, attempt: attempt,  # tells the script which try this is (1-based)
    conda:
        "../../envs/python.yaml"
    script:
        "../../scripts/device_chunk.py"


rule device_merge:
    input:
        chunk_files(config, res("device", "chunks")),
    output:
        res("device", "device_stats.h5"),
    params:
        device=device_config_sha256(config),
        min_success_fraction=config["device"]["min_success_fraction"],
    log:
        res("logs", "device", "merge.log"),
    threads: 1
    priority: DEVICE_PRIORITY
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/python.yaml"
    script:
        "../../scripts/device_merge.py"


rule device_summary:
    input:
        device_stats_path(),
    output:
        report(
            res("device", "summary.csv"),
            category="Device",
            caption="../report/device_summary.rst",
        ),
    log:
        res("logs", "device", "summary.log"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/python.yaml"
    script:
        "../../scripts/device_summary.py"


rule device_initial_state:
    # Fig. 1a: the engine's relaxed initial state per Ku (the instance sequence with the drive off)
    input:
        engine=res("device", "engine.json"),
    output:
        res("device", "initial_state.h5"),
    params:
        workdir=res("device", "work", "initial_state"),
        device=device_config_sha256(config),
    log:
        res("logs", "device", "initial_state.log"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=lambda wc, attempt: chunk_runtime_minutes(config, attempt),
        gpu=1 if chunk_uses_gpu(config) else 0,
    conda:
        "../../envs/python.yaml"
    script:
        "../../scripts/device_initial_state.py"
