#!/usr/bin/env bash
# Runs a shipped study on its cpu budget as two processes (GOMAXPROCS=1
# each) on one SQLite store under experiments/cpu, resumable: rerun the same
# command after a stop and it picks up where the store and its checkpoints
# left off.
#   BIN=bin bash experiments/cpu/run.sh table1 [budget [store-suffix]]
# The store is experiments/cpu/STUDY[-SUFFIX].db; DATA_DIR (default
# ../shared/data) is the folder of CIFAR-10's binary files.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-bin}
DATA_DIR=${DATA_DIR:-../shared/data}   # CIFAR-10 in the binary layout
STUDY=$1
BUDGET=${2:-cpu}
DB=experiments/cpu/$STUDY${3:+-$3}.db
LOG=experiments/cpu/$STUDY${3:+-$3}
for w in 1 2; do
  GOMAXPROCS=1 OPENBLAS_NUM_THREADS=1 "$BIN/tune" --study "$STUDY" --budget "$BUDGET" \
    --data-dir "$DATA_DIR" --plugins-dir "$BIN/plugins" --storage "$DB" --no-progress \
    >> "$LOG.w$w.log" 2>&1 &
  sleep 5   # the first process creates the study
done
wait
