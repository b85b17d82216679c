#!/usr/bin/env bash
# pilot_sweep_slurm.sh -- `macx pilot sweep --executor slurm` for real: brings
# up a single-node Slurm from Debian's packages (munge, slurmctld, slurmd;
# installed here when missing, as root) in a scratch directory, runs a small
# sweep (2 variants x 2 seeds x 20 subjects) as one job array, and checks
# that its sweep.json is byte for byte the local executor's. Then: a sweep
# with sbatch refusing the job (an unknown partition) exits 69 naming
# sbatch. Without root and without Slurm it cannot run: exit 77 (skipped,
# with the reason). Stops everything it started by pid.
# Usage: pilot_sweep_slurm.sh MACX_BINARY SOURCE_DIR SCRATCH_DIR
source "$(dirname "$0")/broker_lib.bash" "$@"

need="slurmctld slurmd slurm-client munge"
missing=""
for p in $need; do
    dpkg-query -W -f='${Status}' "$p" 2> /dev/null | grep "install ok installed" > /dev/null || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "$TEST: SKIPPED: needs Debian's$missing and root to install and start them" >&2
        exit 77
    fi
    note "installing$missing"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends $missing > /dev/null) || { fail "apt-get install$missing"; finish; }
fi
if [ "$(id -u)" != 0 ]; then
    echo "$TEST: SKIPPED: starting munged, slurmctld and slurmd for a test needs root" >&2
    exit 77
fi

D=$S/slurm
mkdir -p "$D/state" "$D/spool" "$D/log"
# munge: its key is installed; its run directory is not made without systemd
mkdir -p /run/munge
chown munge:munge /run/munge
chmod 0755 /run/munge
# (its own socket and pid file there: the munge user cannot reach the scratch
# directory, and another munged may be running)
MUNGE_SOCKET=/run/munge/macx-test-$$.socket
runuser -u munge -- /usr/sbin/munged --pid-file="/run/munge/macx-test-$$.pid" \
    --socket="$MUNGE_SOCKET" || { fail "munged did not start"; finish; }
MUNGE_PID=$(cat "/run/munge/macx-test-$$.pid")
stop_slurm () {
    scontrol shutdown > /dev/null 2>&1 || true
    local p
    for p in "${SLURM_PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2> /dev/null || break; sleep 0.1; done
        kill -9 "$p" 2> /dev/null || true
    done
    kill "$MUNGE_PID" 2> /dev/null || true
}
SLURM_PIDS=()
trap 'stop_slurm; s_cleanup' EXIT

port () { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
host=$(hostname -s)
node=$(slurmd -C | head -1)
cat > "$D/slurm.conf" <<EOF
ClusterName=macxtest
SlurmctldHost=$host
SlurmctldPort=$(port)
SlurmdPort=$(port)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SchedulerType=sched/backfill
ReturnToService=2
MailProg=/bin/true
MpiDefault=none
$node State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$D/slurm.conf
slurmctld -D > "$D/log/slurmctld.out" 2>&1 &
SLURM_PIDS+=("$!")
slurmd -D > "$D/log/slurmd.out" 2>&1 &
SLURM_PIDS+=("$!")
up=no
for _ in $(seq 100); do
    if [ "$(sinfo -h -o %t 2> /dev/null)" = idle ]; then up=yes; break; fi
    sleep 0.2
done
[ $up = yes ] || { fail "the node is not idle: $(sinfo 2>&1 | tail -2)"; finish "$D/log/slurmctld.log" "$D/log/slurmd.log"; }

cat > small.yaml <<EOF
name: slurm-small
scenario: $SRC/scenarios/baseline
subjects: 20
seeds: [5, 6]
variants:
  - name: base
  - name: health-slow
    set: {agencies.ogd-health.capacity.sharing: 2}
EOF
run 0 local "$MACX" pilot sweep small.yaml --out local --quiet
run 0 slurm "$MACX" pilot sweep small.yaml --out viaslurm --executor slurm
has slurm err "Slurm job array"
has slurm err "4 tasks"
has slurm err "sweep: 4/4 runs done"
[ -s viaslurm/slurm/runs.txt ] || fail "no viaslurm/slurm/runs.txt"
[ "$(wc -l < viaslurm/slurm/runs.txt)" = 4 ] || fail "runs.txt has $(wc -l < viaslurm/slurm/runs.txt) lines"
cmp -s local/sweep.json viaslurm/sweep.json \
    || { fail "the Slurm executor's sweep.json differs from the local one"; diff local/sweep.json viaslurm/sweep.json | head >&2; }
cmp -s local/sweep.csv viaslurm/sweep.csv || fail "the Slurm executor's sweep.csv differs from the local one"
for r in viaslurm/runs/*/seed-*/; do
    [ -f "$r/report.json" ] || fail "$r has no report.json"
done

run 69 refused "$MACX" pilot sweep small.yaml --out refused --executor slurm \
    --sbatch-args "--partition=no-such-partition"
has refused err "sbatch refused the job array"

finish "$D/log/slurmctld.log" "$D/log/slurmd.log"
