#!/usr/bin/env bash
# Runs studies with two workers (GOMAXPROCS=1 each), each going through the
# list in order on the studies' stores: a worker that finds nothing left to
# claim in a study moves on to the next while the other finishes its last
# trial, so neither core waits. Rerun it after a stop: complete studies
# finish at once and the rest resume.
#   BIN=bin bash experiments/cpu/queue.sh table1 small-batch table1:cpu-epochs
# An entry STUDY runs the study's cpu budget on experiments/cpu/STUDY.db;
# STUDY:BUDGET runs that budget on experiments/cpu/STUDY-BUDGET.db.
# WAIT_PIDS="p1 p2" makes worker i first wait for process pi to end;
# DATA_DIR (default ../shared/data) is the folder of CIFAR-10's binary files.
set -uo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-bin}
DATA_DIR=${DATA_DIR:-../shared/data}   # CIFAR-10 in the binary layout
read -r -a wait_pids <<< "${WAIT_PIDS:-}"
worker() {
  local w=$1; shift
  local pid=${wait_pids[$((w - 1))]:-}
  if [ -n "$pid" ]; then
    while kill -0 "$pid" 2>/dev/null; do sleep 10; done
  fi
  for entry in "$@"; do
    local s=${entry%%:*} budget=cpu store=${entry%%:*}
    if [ "$entry" != "$s" ]; then
      budget=${entry#*:}
      store=$s-$budget
    fi
    echo "$(date -u +%FT%TZ) worker $w: start $s (budget $budget, experiments/cpu/$store.db)"
    GOMAXPROCS=1 OPENBLAS_NUM_THREADS=1 "$BIN/tune" --study "$s" --budget "$budget" \
      --data-dir "$DATA_DIR" --plugins-dir "$BIN/plugins" --storage "experiments/cpu/$store.db" --no-progress \
      >> "experiments/cpu/$store.w$w.log" 2>&1
    echo "$(date -u +%FT%TZ) worker $w: $s exit $?"
  done
}
worker 1 "$@" &
sleep 20   # the first worker creates a new study
worker 2 "$@" &
wait
