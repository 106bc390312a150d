"""Snakemake wrapper: rule device_merge (chunk files -> device_stats.h5)."""
from dwsynapse.devicestage import DeviceStageError, merge_chunks
from dwsynapse.logutil import setup_logging

log = setup_logging(snakemake.log[0])
try:
    merge_chunks(snakemake.config, list(snakemake.input), snakemake.output[0])
except DeviceStageError as exc:
    log.error("%s", exc)
    raise SystemExit(1)
