#!/usr/bin/env bash
# Stop the localhost SLURM started by scripts/slurm/start.sh: cancel its jobs, then end
# slurmd, slurmctld and munged by the PIDs start.sh recorded (never by name).
#
#   scripts/slurm/stop.sh [STATE_DIR]        (default: $DWS_SLURM_DIR or /tmp/dwsynapse-slurm)
set -uo pipefail

DIR=${1:-${DWS_SLURM_DIR:-/tmp/dwsynapse-slurm}}
[ -d "$DIR" ] || { echo "slurm/stop.sh: nothing to stop ($DIR does not exist)"; exit 0; }
export SLURM_CONF="$DIR/slurm.conf"

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if alive "$DIR/slurmctld.pid" && command -v scancel >/dev/null; then
    scancel --full --user "$(id -un)" 2>/dev/null || true
    for _ in $(seq 20); do
        [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
        sleep 0.5
    done
fi

for p in slurmd slurmctld munged; do
    f="$DIR/$p.pid"
    alive "$f" || continue
    pid=$(cat "$f")
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    if kill -0 "$pid" 2>/dev/null; then
        echo "slurm/stop.sh: $p ($pid) ignored SIGTERM, sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null
    fi
    rm -f "$f"
done
echo "slurm/stop.sh: localhost SLURM in $DIR stopped"
