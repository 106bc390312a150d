# Device stage: thermal instances per (Ku, chunk) -> chunk files -> device_stats.h5 (+ per-Ku summary).
# The same rules serve both engines (device.engine: torch | mumax3). With device.stats_file set,
# training reads that file instead and none of the simulation rules is needed.

from dwsynapse.devicestage import plan_chunks

DEVICE_CHUNKS = plan_chunks(config)
_DEV = config["device"]
_GPU_JOB = _DEV["engine"] == "mumax3" or (_DEV.get("torch") or {}).get("device") == "cuda"


wildcard_constraints:
    group=r"ku_[0-9.]+e[+-][0-9]+",
    chunk=r"\d+",


def device_chunk_files():
    """Chunk files of every planned (Ku, chunk) job."""
    return [res("device", "chunks", ch.group, f"chunk_{ch.chunk_index}.h5") for ch in DEVICE_CHUNKS]


def device_chunk_runtime(wildcards):
    """Wall-time request of one chunk job [min] (SLURM -t). mumax3: its per-instance timeout for
    every try; torch: instance-steps x ~1.3 ms at 2250 cells on one CPU core (DESIGN.md section 8),
    scaled by the cell count, times 3 for safety."""
    n = int(_DEV["chunk_size"])
    if _DEV["engine"] == "mumax3":
        m = _DEV.get("mumax3") or {}
        return int(n * float(m.get("timeout_s", 3600)) * (int(m.get("retries", 2)) + 1) / 60) + 5
    g, s, d = _DEV["geometry"], _DEV["solver"], _DEV["drive"]
    cells = (g["length"] / g["cell_size"]) * (g["width"] / g["cell_size"] + 2)
    steps = (float(d["pulse_duration"]) + float(s.get("relax_max_time", 0.0))) / float(s["dt"])
    return int(3 * n * steps * 1.3e-3 * cells / 2250 / 60) + 10


rule device_check:
    output:
        res("device", "engine.json"),
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
        res("device", "chunks", "{group}", "chunk_{chunk}.h5"),
    params:
        workdir=lambda wc: res("device", "work", wc.group, f"chunk_{wc.chunk}"),
    log:
        res("logs", "device", "{group}", "chunk_{chunk}.log"),
    threads: 1 if _GPU_JOB else 2
    resources:
        mem_mb=4000,
        runtime=device_chunk_runtime,
        gpu=1 if _GPU_JOB else 0,
    conda:
        "../../envs/python.yaml"
    script:
        "../../scripts/device_chunk.py"


rule device_merge:
    input:
        device_chunk_files(),
    output:
        res("device", "device_stats.h5"),
    log:
        res("logs", "device", "merge.log"),
    threads: 1
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
