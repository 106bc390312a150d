#!/usr/bin/env bash
# Install SLURM (Debian's slurm-wlm) and munge for the localhost cluster tests, if missing.
# Exit 0 when they are present or were installed; exit 3 (with the reason) when they cannot be:
# not root, or no apt-get. Callers treat 3 as "skip the SLURM tests".
set -euo pipefail

have() { command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
         && command -v sbatch >/dev/null; }
have && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "slurm/install.sh: slurm-wlm/munge not installed and not root: cannot install them" >&2
    exit 3
fi
if ! command -v apt-get >/dev/null; then
    echo "slurm/install.sh: slurm-wlm/munge not installed and no apt-get on this machine" >&2
    exit 3
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
have || { echo "slurm/install.sh: installation finished but the SLURM/munge commands are missing" >&2; exit 1; }
echo "slurm/install.sh: installed $(slurmctld -V) and munge"
