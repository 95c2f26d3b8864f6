#!/usr/bin/env bash
# Measures how SGD's test accuracy on all of CIFAR-10 depends on the number of
# epochs E when the paper's schedule is scaled to E (×0.1 at 150/350·E and
# 250/350·E), to choose E for the cpu budget tier. One core per run.
#   BIN=bin bash experiments/cpu-budget/sgd-epochs.sh 20 30 40 60
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-bin}
OUT=experiments/cpu-budget
for E in "$@"; do
  m1=$(awk "BEGIN{printf \"%.4f\", 150/350*$E}")
  m2=$(awk "BEGIN{printf \"%.4f\", 250/350*$E}")
  for S in ${SEEDS:-1}; do
    f=$OUT/sgd-E$E-s$S
    [ -s "$f.json" ] && continue
    GOMAXPROCS=1 OPENBLAS_NUM_THREADS=1 "$BIN/train" --optimizer sgd --model lenet --dataset cifar10 \
      --data-dir ../shared/data --epochs "$E" --batch-size 128 --lr 0.1 --schedule step \
      --milestones "$m1,$m2" --augment on --seed "$S" --json --no-progress \
      --plugins-dir "$BIN/plugins" --curve "$f.csv" > "$f.tmp" 2> "$f.log"
    tail -n 1 "$f.tmp" > "$f.json" && rm "$f.tmp"
  done
done
