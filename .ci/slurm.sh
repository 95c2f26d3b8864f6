#!/usr/bin/env bash
# Run by .ci/run (bash .ci/slurm.sh, as root): starts a one-node SLURM on this
# machine for the job-array test (internal/e2e/slurm_test.go): munge, then
# slurmctld and slurmd as root, one node with the machine's CPUs and memory,
# one partition, no accounting. It installs Debian's slurm-wlm and munge when
# they are missing, waits until sinfo shows the node idle, and exits non-zero
# with the reason (and the daemons' last log lines) when SLURM cannot start,
# so that the test after it fails rather than skips. Rerunning it is safe: a
# SLURM that already answers with an idle node is left as it is.
set -euo pipefail

conf=${SLURM_CONF:-/etc/slurm/slurm.conf} # slurmctld, slurmd and the commands read SLURM_CONF too
logs=/var/log/slurm
marker="# Written by .ci/slurm.sh"

fail() {
  echo "ci/slurm: $*" >&2
  for f in "$logs/slurmctld.log" "$logs/slurmd.log" /var/log/munge/munged.log; do
    [ -f "$f" ] && { echo "--- last lines of $f" >&2; tail -n 15 "$f" >&2; }
  done
  exit 1
}

[ "$(id -u)" -eq 0 ] || fail "run as root: slurmctld, slurmd and munged are started by this script"

# The packages, once (about 4 MB from Debian; not in scripts/install-deps.sh,
# since only this CI step needs them).
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q || fail "apt-get update failed"
  apt-get install -y -q --no-install-recommends slurm-wlm munge || fail "apt-get install slurm-wlm munge failed"
fi

# The commands retry an unreachable slurmctld for a long while: bound each
# call, and each wait below, by time.
node_idle() { timeout 10 sinfo -h -N -o '%T' 2>/dev/null | grep -qx 'idle'; }
ctld_up() { timeout 10 scontrol ping 2>/dev/null | grep -q 'UP'; }
wait_for() { # wait_for SECONDS COMMAND...: until COMMAND succeeds, at most SECONDS
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 1
  done
}

# Already up (an earlier run of this script, or a machine with its own SLURM):
# nothing to do.
if node_idle; then
  echo "ci/slurm: SLURM already up:"; sinfo
  exit 0
fi

# munge authenticates every message between the commands and the daemons. The
# package makes a key; make one if it did not (a fresh container image).
if [ ! -s /etc/munge/munge.key ]; then
  mungekey --create --keyfile=/etc/munge/munge.key 2>/dev/null ||
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
install -d -o munge -g munge -m 755 /run/munge
install -d -o munge -g munge -m 700 /var/lib/munge /var/log/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged || fail "munged did not start"
  for _ in $(seq 1 20); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.5; done
  munge -n | unmunge >/dev/null || fail "munge does not work (munge -n | unmunge)"
fi

# slurm.conf for this one machine: the node line is what slurmd itself
# detects (CPUs, sockets, cores, threads, memory), so the node is never
# drained for a mismatch. Daemons run as root (in a container there is no
# systemd to start them and no cgroup delegation: processes are tracked by
# their parent pids, proctrack/linuxproc, and tasks are not confined). CPUs
# are the consumable resource (cons_tres, CR_CPU), so several single-CPU
# tasks of an array run side by side; memory is not tracked. No accounting
# database: squeue and sinfo are all the test asks. KillWait is SLURM's
# default, 30 s between SIGTERM and SIGKILL at scancel or the time limit.
host=$(hostname -s)
if [ ! -f "$conf" ] || grep -qx "$marker" "$conf"; then
  nodeline=$(slurmd -C | head -n 1)
  case $nodeline in NodeName=*) ;; *) fail "slurmd -C does not describe this node: $nodeline" ;; esac
  install -d /etc/slurm
  cat >"$conf" <<EOF
$marker
ClusterName=lrsgd-ci
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$logs/slurmctld.log
SlurmdLogFile=$logs/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
KillWait=30
MinJobAge=300
$nodeline State=UNKNOWN
PartitionName=ci Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
else
  echo "ci/slurm: keeping $conf (not written by this script)"
fi
install -d /var/spool/slurmctld /var/spool/slurmd "$logs"

# Start the daemons that are not running (each daemonizes; -i on a restart
# would ignore saved state, which a CI machine does not need either way).
pgrep -x slurmctld >/dev/null || slurmctld || fail "slurmctld did not start"
wait_for 30 ctld_up || fail "slurmctld does not answer (scontrol ping: $(timeout 10 scontrol ping 2>&1 | tail -n 1))"
pgrep -x slurmd >/dev/null || slurmd || fail "slurmd did not start"

# Wait for the node to register and turn idle; a node left DOWN or DRAINED
# by an earlier run is resumed once.
resumed=0
idle_or_resume() {
  node_idle && return 0
  case $(timeout 10 sinfo -h -N -o '%T' 2>/dev/null) in
    down* | drain* | fail*)
      [ $resumed -eq 1 ] || scontrol update NodeName="$host" State=RESUME 2>/dev/null || true
      resumed=1
      ;;
  esac
  return 1
}
wait_for 60 idle_or_resume ||
  fail "the node did not become idle within 60 s (sinfo says: $(timeout 10 sinfo -h -N -o '%N %T %E' 2>&1))"
echo "ci/slurm: SLURM is up:"
sinfo
