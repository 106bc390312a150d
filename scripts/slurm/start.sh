#!/usr/bin/env bash
# Start a single-node SLURM cluster on localhost for the cluster-path tests.
#
#   scripts/slurm/start.sh [STATE_DIR]        (default: $DWS_SLURM_DIR or /tmp/dwsynapse-slurm)
#
# Writes STATE_DIR/slurm.conf and STATE_DIR/env.sh (source it: it exports SLURM_CONF), starts
# munged (own key and socket in STATE_DIR), slurmctld and slurmd in the background, records their
# PIDs in STATE_DIR/*.pid and waits until `sinfo` reports the node idle. No systemd, no cgroups,
# no accounting database (see docs/design.md "A localhost SLURM for tests"). Stop everything with scripts/slurm/stop.sh.
#
# Environment: DWS_SLURM_CPUS (default: nproc), DWS_SLURM_CTLD_PORT (6817), DWS_SLURM_SLURMD_PORT
# (6818), DWS_SLURM_WAIT_S (60). Needs root (slurmd runs jobs as the submitting user) and the
# Debian packages slurm-wlm and munge (scripts/slurm/install.sh).
set -euo pipefail

DIR=${1:-${DWS_SLURM_DIR:-/tmp/dwsynapse-slurm}}
CPUS=${DWS_SLURM_CPUS:-$(nproc)}
CTLD_PORT=${DWS_SLURM_CTLD_PORT:-6817}
SLURMD_PORT=${DWS_SLURM_SLURMD_PORT:-6818}
WAIT_S=${DWS_SLURM_WAIT_S:-60}

die() { echo "slurm/start.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (slurmd and munged switch users); run as root or skip the SLURM tests"
for exe in munged slurmctld slurmd sinfo sbatch; do
    command -v "$exe" >/dev/null || die "'$exe' not found: install slurm-wlm and munge (scripts/slurm/install.sh)"
done
id munge >/dev/null 2>&1 || die "user 'munge' missing: reinstall the munge package"

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }
if alive "$DIR/slurmctld.pid" || alive "$DIR/slurmd.pid" || alive "$DIR/munged.pid"; then
    die "a SLURM started from $DIR is still running: scripts/slurm/stop.sh $DIR first"
fi

HOST=$(hostname -s)
# RealMemory: 90 % of this machine's memory in MB, so that every rule's mem_mb request fits.
MEM_MB=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)

rm -rf "$DIR"
mkdir -p "$DIR"/state "$DIR"/spool "$DIR"/munge
chmod 755 "$DIR"

# munge: a private key and socket, so that nothing on the machine is touched.
dd if=/dev/urandom of="$DIR/munge/munge.key" bs=1024 count=1 status=none
chown -R munge:munge "$DIR/munge"
chmod 755 "$DIR/munge"   # the socket directory must be searchable by everyone
chmod 400 "$DIR/munge/munge.key"
SOCKET="$DIR/munge/munge.socket"

cat >"$DIR/slurm.conf" <<EOF
# Written by scripts/slurm/start.sh: single-node localhost SLURM for tests.
ClusterName=dwsynapse
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SOCKET
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.daemon.pid
SlurmdPidFile=$DIR/slurmd.daemon.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
MinJobAge=300
InactiveLimit=0
KillWait=10
SlurmdParameters=config_overrides
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF

# Client wrappers: snakemake-executor-plugin-slurm-jobstep removes every SLURM_* variable (SLURM_CONF
# too) before its inner `srun`, so the client commands find this cluster through PATH instead.
mkdir -p "$DIR/bin"
for exe in srun sbatch squeue scancel sinfo scontrol sacct; do
    real=$(command -v "$exe") || continue
    printf '#!/bin/sh\nSLURM_CONF=%s exec %s "$@"\n' "$DIR/slurm.conf" "$real" >"$DIR/bin/$exe"
    chmod 755 "$DIR/bin/$exe"
done

cat >"$DIR/env.sh" <<EOF
# source me: points the SLURM client commands (sbatch, squeue, sinfo, ...) at the localhost cluster
export SLURM_CONF=$DIR/slurm.conf
export PATH=$DIR/bin:\$PATH
export DWS_SLURM_DIR=$DIR
EOF
export SLURM_CONF="$DIR/slurm.conf"

runuser -u munge -- munged --foreground --socket="$SOCKET" --key-file="$DIR/munge/munge.key" \
    --pid-file="$DIR/munge/munged.pid" --log-file="$DIR/munge/munged.log" \
    --seed-file="$DIR/munge/munged.seed" >"$DIR/munged.out" 2>&1 &
echo $! >"$DIR/munged.pid"
for _ in $(seq 50); do [ -S "$SOCKET" ] && break; sleep 0.1; done
[ -S "$SOCKET" ] || die "munged did not start: $(cat "$DIR/munged.out" "$DIR/munge/munged.log" 2>/dev/null)"
for _ in $(seq 50); do [ -s "$DIR/munge/munged.pid" ] && break; sleep 0.1; done
cp "$DIR/munge/munged.pid" "$DIR/munged.pid"   # the daemon itself, not the runuser wrapper

slurmctld -D -c -f "$DIR/slurm.conf" >"$DIR/slurmctld.out" 2>&1 &
echo $! >"$DIR/slurmctld.pid"
slurmd -D -f "$DIR/slurm.conf" -N "$HOST" >"$DIR/slurmd.out" 2>&1 &
echo $! >"$DIR/slurmd.pid"

deadline=$((SECONDS + WAIT_S))
state=""
while [ $SECONDS -lt $deadline ]; do
    for p in munged slurmctld slurmd; do
        alive "$DIR/$p.pid" || die "$p exited; see $DIR/$p.out and $DIR/$p.log"
    done
    state=$(sinfo -h -n "$HOST" -o %T 2>/dev/null || true)
    [ "$state" = "idle" ] && break
    sleep 1
done
[ "$state" = "idle" ] || die "node $HOST not idle after ${WAIT_S}s (state: '${state:-no answer}'); see $DIR/*.log"
echo "slurm/start.sh: localhost SLURM up (node $HOST, $CPUS CPUs, ${MEM_MB} MB); source $DIR/env.sh"
