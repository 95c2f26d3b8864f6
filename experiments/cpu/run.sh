#!/usr/bin/env bash
# Runs a shipped study on its cpu budget as two processes (GOMAXPROCS=1
# each) on one SQLite store under experiments/cpu, resumable: rerun the same
# command after a stop and it picks up where the store and its checkpoints
# left off.
#   BIN=bin bash experiments/cpu/run.sh table1 [budget]
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-bin}
STUDY=$1
BUDGET=${2:-cpu}
DB=experiments/cpu/$STUDY${3:+-$3}.db
LOG=experiments/cpu/$STUDY${3:+-$3}
for w in 1 2; do
  GOMAXPROCS=1 OPENBLAS_NUM_THREADS=1 "$BIN/tune" --study "$STUDY" --budget "$BUDGET" \
    --data-dir ../shared/data --plugins-dir "$BIN/plugins" --storage "$DB" --no-progress \
    >> "$LOG.w$w.log" 2>&1 &
  sleep 5   # the first process creates the study
done
wait
