#!/usr/bin/env bash
# LRSGD-R and LRSGD-C on all of CIFAR-10 at SGD's gradient budget of E = 150
# epochs (sgd-E150-s1: 58,650 gradient evaluations): 15 LRSGD epochs of
# about 10 gradients per outer step, the paper's schedule scaled to 15
# epochs (×0.1 at 150/350·15 and 250/350·15), reference settings, crop +
# flip. One process per optimizer, one core each, one store.
#   BIN=bin [SEED=1] [PARALLEL=1] bash experiments/cpu-budget/lrsgd-matched.sh
# (PARALLEL=0 runs the two one after the other, on one core.)
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BIN:-bin}
OUT=experiments/cpu-budget
SEED=${SEED:-1}
for opt in lrsgd-r lrsgd-c; do
  f=$OUT/$opt-matched150-s$SEED
  [ -s "$f.json" ] && continue
  run() {
  GOMAXPROCS=1 OPENBLAS_NUM_THREADS=1 "$BIN/train" --optimizer "$opt" --model lenet --dataset cifar10 \
    --data-dir ../shared/data --epochs 15 --batch-size 128 --lr 0.1 --schedule step \
    --milestones 6.4286,10.7143 --augment on --seed "$SEED" --json --no-progress \
    --plugins-dir "$BIN/plugins" --curve "$f.csv" --storage "$OUT/matched.db" --study matched-150 > "$f.tmp" 2> "$f.log" \
    && tail -n 1 "$f.tmp" > "$f.json" && rm "$f.tmp"
  }
  if [ "${PARALLEL:-1}" = 1 ]; then run & else run; fi
done
wait
