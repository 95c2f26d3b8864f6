#!/usr/bin/env bash
# Submits a study to SLURM as a job array of tune workers on one PostgreSQL
# store (scripts/slurm/tune-array.sbatch; docs/cluster.md).
#
#   LRSGD_STORAGE_FILE=~/.lrsgd-dsn LRSGD_STUDY=gamma-sweep \
#     scripts/slurm/submit.sh [--tasks N | --array SPEC] [SBATCH-OPTION...] [-- TUNE-ARG...]
#
#   --tasks N      N array tasks, --array=0-(N-1) (default 4)
#   --array SPEC   exactly these indices, e.g. to resubmit task 2: --array 2
#   SBATCH-OPTION  passed to sbatch (--cpus-per-task=4, --time=12:00:00, --partition=..., --output=...)
#   TUNE-ARG       passed to every task's tune (--set k=v, --sampler grid, ...)
#
# The store's DSN comes from $LRSGD_STORAGE_FILE (a file, mode 600, holding
# it) or $LRSGD_STORAGE, never from the command line. The environment
# variables of tune-array.sbatch (LRSGD_STUDY, LRSGD_BUDGET, LRSGD_BIN,
# LRSGD_PLUGINS, LRSGD_DATA_DIR, ...) are passed on to the tasks; LRSGD_BIN
# defaults to this checkout's bin/. Prints the job id on stdout.
#
# The study is not created here. Nothing in tune creates a study without
# running trials (--trials 0 means "run it to its total", and --dry-run stops
# before the store is opened), and tune handles concurrent creation: the
# first task to start creates it and queues its grid, the others wait for it
# and join. What is done here, once, before any task is queued: the study is
# checked against the plugins (tune --dry-run: bad input fails now, not in N
# tasks), and the store is opened and migrated to this lab's schema (report
# opens it), which also checks that it can be reached; set
# LRSGD_SKIP_STORE_CHECK=1 where only the compute nodes can reach it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() {
  sed -n '4,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# Arguments: the array, then sbatch's options, then tune's after "--".
array=0-3
sbatch_args=()
tune_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --tasks)
      [[ ${2:-} =~ ^[1-9][0-9]*$ ]] || usage
      array=0-$(($2 - 1))
      shift 2
      ;;
    --tasks=*)
      n=${1#--tasks=}
      [[ $n =~ ^[1-9][0-9]*$ ]] || usage
      array=0-$((n - 1))
      shift
      ;;
    --array)
      [ -n "${2:-}" ] || usage
      array=$2
      shift 2
      ;;
    --array=*)
      array=${1#--array=}
      shift
      ;;
    -h | --help) usage ;;
    --)
      shift
      tune_args=("$@")
      break
      ;;
    *)
      sbatch_args+=("$1")
      shift
      ;;
  esac
done

# The DSN: read from the file when one is named (the tasks read the same
# file themselves, so the DSN is not put into the job's environment either).
if [ -n "${LRSGD_STORAGE_FILE:-}" ]; then
  [ -r "$LRSGD_STORAGE_FILE" ] || { echo "submit: LRSGD_STORAGE_FILE $LRSGD_STORAGE_FILE cannot be read" >&2; exit 2; }
  LRSGD_STORAGE_FILE=$(cd "$(dirname "$LRSGD_STORAGE_FILE")" && pwd)/$(basename "$LRSGD_STORAGE_FILE")
  dsn=$(sed -n '/^[[:space:]]*\(#.*\)\{0,1\}$/!{s/^[[:space:]]*//;s/[[:space:]]*$//;p;q;}' "$LRSGD_STORAGE_FILE")
  export LRSGD_STORAGE_FILE
else
  dsn=${LRSGD_STORAGE:-}
fi
case $dsn in
  postgres://* | postgresql://* | host=*) ;;
  "") echo "submit: no store: set LRSGD_STORAGE_FILE (a file holding the PostgreSQL DSN) or LRSGD_STORAGE" >&2; exit 2 ;;
  *) echo "submit: the store must be PostgreSQL (postgres://..., or host=...): tasks on many nodes cannot share a SQLite file" >&2; exit 2 ;;
esac

export LRSGD_BIN=${LRSGD_BIN:-$(cd "$here/../.." && pwd)/bin}
export LRSGD_STUDY=${LRSGD_STUDY:-gamma-sweep} LRSGD_BUDGET=${LRSGD_BUDGET:-default}
plugins=${LRSGD_PLUGINS:-$LRSGD_BIN/plugins}
if [ ! -x "$LRSGD_BIN/tune" ] || [ ! -x "$LRSGD_BIN/report" ]; then
  echo "submit: no tune and report in $LRSGD_BIN: run make, or set LRSGD_BIN" >&2
  exit 2
fi

# 1. Check the study against the plugins, as every task will run it; the
#    name comes from the resolved study (--set name=... may change it).
data=()
[ -z "${LRSGD_DATA_DIR:-}" ] || data=(--data-dir "$LRSGD_DATA_DIR")
if ! resolved=$(LRSGD_STORAGE='' "$LRSGD_BIN/tune" --study "$LRSGD_STUDY" --budget "$LRSGD_BUDGET" \
  --plugins-dir "$plugins" "${data[@]}" "${tune_args[@]}" --dry-run); then
  echo "submit: the study does not pass tune --dry-run (above); nothing submitted" >&2
  exit 2
fi
name=$(sed -n 's/^name: //p' <<<"$resolved" | head -n 1)
name=${name//[\"\']/}
[ -n "$name" ] || { echo "submit: tune --dry-run printed no study name" >&2; exit 1; }

# 2. Open (and migrate) the store, from here, before any task starts. report
#    says "no such study" for a new study: that is expected.
if [ "${LRSGD_SKIP_STORE_CHECK:-0}" != 1 ]; then
  if out=$(LRSGD_STORAGE=$dsn "$LRSGD_BIN/report" --study "$name" --format csv 2>&1 >/dev/null); then
    echo "submit: study $name is in the store already: the tasks resume it" >&2
  elif grep -q 'no such study' <<<"$out"; then
    echo "submit: study $name is new: the first task to start creates it" >&2
  else
    echo "submit: the store cannot be opened from here (set LRSGD_SKIP_STORE_CHECK=1 if only the nodes reach it):" >&2
    echo "$out" >&2
    exit 2
  fi
fi

# 3. The array: one tune worker per task, all named after the study, so that
#    squeue -n and the tasks themselves (exit status 3) can find each other.
[ -z "${LRSGD_STORAGE_FILE:-}" ] || unset LRSGD_STORAGE
job=$(sbatch --parsable --array="$array" --job-name="lrsgd-$name" "${sbatch_args[@]}" \
  "$here/tune-array.sbatch" "${tune_args[@]}")
job=${job%%;*}
echo "submit: job array $job (tasks $array) for study $name; watch it with" >&2
echo "  squeue -n lrsgd-$name    and    LRSGD_STORAGE=... $LRSGD_BIN/report --study $name" >&2
echo "$job"
