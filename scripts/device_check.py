"""Snakemake wrapper: rule device_check (fails early when the configured engine cannot run)."""
from dwsynapse.devicestage import check_engine
from dwsynapse.io import write_json
from dwsynapse.logutil import setup_logging

log = setup_logging(snakemake.log[0])
try:
    info = check_engine(snakemake.config)
except RuntimeError as exc:
    log.error("%s", exc)
    raise SystemExit(1)
write_json(info, snakemake.output[0])
