#!/usr/bin/env bash
# Shows a study submitted with submit.sh every INTERVAL seconds (default 30):
# its tasks in squeue, then report's table of its trials. The DSN comes from
# $LRSGD_STORAGE_FILE or $LRSGD_STORAGE, as for submit.sh. Ctrl-C stops it.
#
#   LRSGD_STORAGE_FILE=~/.lrsgd-dsn scripts/slurm/watch.sh STUDY [INTERVAL]
set -euo pipefail

[ $# -ge 1 ] || { sed -n '6p' "$0" | sed 's/^# *//' >&2; exit 2; }
study=$1 interval=${2:-30}
bin=${LRSGD_BIN:-$(cd "$(dirname "$0")/../.." && pwd)/bin}
if [ -n "${LRSGD_STORAGE_FILE:-}" ]; then
  LRSGD_STORAGE=$(sed -n '/^[[:space:]]*\(#.*\)\{0,1\}$/!{s/^[[:space:]]*//;s/[[:space:]]*$//;p;q;}' "$LRSGD_STORAGE_FILE")
fi
export LRSGD_STORAGE=${LRSGD_STORAGE:?set LRSGD_STORAGE_FILE or LRSGD_STORAGE}

while :; do
  # Tasks first (pending, running; gone once finished), then the trials.
  date
  squeue -n "lrsgd-$study" -o '%.18i %.9T %.10M %.10L %R' || true
  "$bin/report" --study "$study" || true
  sleep "$interval"
done
