#!/usr/bin/env bash
# `make test-slurm`: install SLURM if needed, start a localhost cluster, run the pytest tests marked
# `slurm` (tests/test_slurm*.py) against it, and stop the cluster again whatever happens.
#
#   scripts/slurm/run_tests.sh [PYTEST_ARGS...]
#
# Exits 0 with a "SKIPPED" line when SLURM cannot be installed here (not root, no apt-get).
# Environment: PYTHON (default .venv/bin/python), DWS_SLURM_DIR (default /tmp/dwsynapse-slurm),
# DWS_SLURM_TEST_TIMEOUT_S (default 1500): the whole pytest run is killed after that many seconds.
set -uo pipefail
cd "$(dirname "$0")/../.."

PYTHON=${PYTHON:-.venv/bin/python}
export DWS_SLURM_DIR=${DWS_SLURM_DIR:-/tmp/dwsynapse-slurm}
TIMEOUT_S=${DWS_SLURM_TEST_TIMEOUT_S:-1500}

scripts/slurm/install.sh
rc=$?
if [ $rc -eq 3 ]; then
    echo "test-slurm: SKIPPED: SLURM is not installed and cannot be installed here (see the line above)."
    exit 0
fi
[ $rc -eq 0 ] || { echo "test-slurm: installing SLURM failed (exit $rc)" >&2; exit $rc; }
if [ "$(id -u)" -ne 0 ]; then
    echo "test-slurm: SKIPPED: starting slurmd/munged for a localhost cluster needs root."
    exit 0
fi

t0=$SECONDS
trap 'scripts/slurm/stop.sh "$DWS_SLURM_DIR"' EXIT
scripts/slurm/start.sh "$DWS_SLURM_DIR" || exit 1
echo "test-slurm: cluster up in $((SECONDS - t0)) s"
# shellcheck source=/dev/null
. "$DWS_SLURM_DIR/env.sh"
timeout -s KILL "$TIMEOUT_S" "$PYTHON" -m pytest -m slurm -p no:cacheprovider "$@" tests
rc=$?
[ $rc -eq 137 ] && echo "test-slurm: killed after ${TIMEOUT_S} s" >&2
exit $rc
