# dwsynapse: domain-wall racetrack synapses, from micromagnetics to MNIST accuracy.
# Stages: device statistics -> data -> training -> figures/energy/report.

from snakemake.utils import min_version, validate

from dwsynapse.config import SCHEMA_PATH
from dwsynapse.setupcheck import check_workflow_config

min_version("9.0")


configfile: "config.yaml"


validate(config, str(SCHEMA_PATH))  # workflow/schemas/config.schema.yaml, shipped with the package
check_workflow_config(config)  # keys that must agree, files and folders the run needs (as `dwsynapse check-config`)


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/device.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/study.smk"


rule all:
    input:
        all_targets(),
    default_target: True
