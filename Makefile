# dwsynapse — the README's two set-up commands are `make run` and `make test`.
# Both create .venv (CPU PyTorch first, from the local build where it exists) and install the package.
PYTHON ?= python3
VENV   := .venv
BIN    := $(abspath $(VENV))/bin
CORES  ?= all
CONFIG ?= config.yaml
SNAKEMAKE_ARGS ?=
# A target goes first on a snakemake line: --configfile and --config take every word after them.
PYTEST_ARGS ?=
SELECTION_GRID ?=
SELECTION_ARGS := $(if $(SELECTION_GRID),--config 'selection={grid: $(SELECTION_GRID)}')
STUDY_GRID ?=
STUDY_ARGS := $(if $(STUDY_GRID),--config 'study={grid: $(STUDY_GRID)}')

export PATH := $(BIN):$(PATH)

.PHONY: install run test test-slow test-slurm gpu-check lint dry-run report supplementary study-learning device-sensitivity control clean-venv

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@# torch==2.13.0 is a local CPU build on the project's machines; elsewhere fall back to
	@# PyTorch's CPU wheel index so that a plain install does not pull a multi-GB CUDA build.
	$(BIN)/pip install -q torch==2.13.0 \
	  || $(BIN)/pip install -q 'torch>=2.3' --index-url https://download.pytorch.org/whl/cpu \
	  || $(BIN)/pip install -q 'torch>=2.3'
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

## Whole workflow on the default config, all cores, CPU.
run: install
	$(BIN)/snakemake --profile workflow/profiles/default --cores $(CORES) --configfile $(CONFIG) $(SNAKEMAKE_ARGS)
	$(MAKE) --no-print-directory report

## Learning control (not part of `make run`): the config's whole training grid on a synthetic device with the
## paper's levels (N(target, 0.1) per Ku), under <results_dir>/control/. A later `make run` / `make report` adds its
## numbers to the paper-vs-reproduction table, so it shows which numbers the simulated device decides.
CONTROL_DIR = $(shell $(BIN)/python -c "from dwsynapse.config import load_config; from dwsynapse.layout import results_path, CONTROL_DIR; print(results_path(load_config('$(CONFIG)'), CONTROL_DIR))")
control: install
	$(BIN)/dwsynapse device-synthetic --config $(CONFIG) --out $(CONTROL_DIR)/synthetic_near_paper.h5
	$(BIN)/snakemake --profile workflow/profiles/default --cores $(CORES) --configfile $(CONFIG) \
	  --config results_dir=$(CONTROL_DIR) 'device={stats_file: $(CONTROL_DIR)/synthetic_near_paper.h5}'

## Fast test suite (heavier checks: `make test-slow`). Under CI (CI=true) also `make test-slurm`.
test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	@if [ "$${CI:-}" = true ]; then $(MAKE) --no-print-directory test-slurm; \
	else echo "make test: the localhost-SLURM end-to-end test runs with CI=true or 'make test-slurm'"; fi

## Cluster path: install (root + apt-get) and start a localhost SLURM, run the tests marked `slurm`
## (tiny workflow through snakemake-executor-plugin-slurm), stop SLURM. Skips with a message when it cannot.
test-slurm: install
	PYTHON=$(BIN)/python scripts/slurm/run_tests.sh $(PYTEST_ARGS)

test-slow: install
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

## GPU check of both engines on one NVIDIA GPU (<= 5 min, docs/engine.md); needs a CUDA build of torch in
## .venv. GPU_CHECK_ARGS=--dry runs the same sections on the CPU with tiny sizes.
GPU_CHECK_ARGS ?=
gpu-check: install
	$(BIN)/python bench/gpu_check.py $(GPU_CHECK_ARGS)

## HTML report (figures, energy tables, paper vs reproduction) of a finished run.
report: install
	$(BIN)/snakemake --profile workflow/profiles/default --cores 1 --configfile $(CONFIG) $(SELECTION_ARGS) $(STUDY_ARGS) \
	  --report results/report/report.html

## Supplementary Fig. S1 (network selection: tens of float runs, not part of `make run`), then the report,
## which shows S1 once it exists. SELECTION_GRID=reduced runs the small grid (config selection.reduced).
supplementary: install
	$(BIN)/snakemake supplementary --profile workflow/profiles/default --cores $(CORES) --configfile $(CONFIG) \
	  $(SELECTION_ARGS) $(SNAKEMAKE_ARGS)
	$(MAKE) --no-print-directory report

## Study of the open learning choices (results/study/learning/; 120 runs, ~35 min on 2 cores at the full grid, not part of
## `make run`); STUDY_GRID=reduced runs the small grid. Then the report, which shows the study once it exists.
study-learning: install
	$(BIN)/snakemake study_learning --profile workflow/profiles/default --cores $(CORES) --configfile $(CONFIG) \
	  $(STUDY_ARGS) $(SNAKEMAKE_ARGS)
	$(MAKE) --no-print-directory report

## In-situ accuracy vs a controlled change of the device model (results/study/sensitivity/; config
## study.sensitivity: 8 runs, ~10-15 min on 2 cores where the levels land within alpha; not part of `make run`), then the report.
device-sensitivity: install
	$(BIN)/snakemake device_sensitivity --profile workflow/profiles/default --cores $(CORES) --configfile $(CONFIG) \
	  $(SNAKEMAKE_ARGS)
	$(MAKE) --no-print-directory report

lint: install
	$(BIN)/snakemake --lint --configfile $(CONFIG)

dry-run: install
	$(BIN)/snakemake -n --configfile $(CONFIG)

clean-venv:
	rm -rf $(VENV)
