#!/usr/bin/env bash
# Runs studies on their cpu budgets one after the other (each as two
# processes on one store, see run.sh); a study already complete finishes
# at once, so the queue can be rerun after a stop.
#   BIN=bin bash experiments/cpu/queue.sh table1 small-batch stability-lenet
set -uo pipefail
cd "$(dirname "$0")/../.."
for s in "$@"; do
  echo "$(date -u +%FT%TZ) start $s"
  bash experiments/cpu/run.sh "$s" cpu
  echo "$(date -u +%FT%TZ) end $s"
done
