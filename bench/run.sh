#!/bin/sh
# bench/run.sh — what `make bench` runs: training-step times of LeNet
# (batch 128 and 512) and the MLP with stock Gorgonia ops, host/ops and
# PyTorch at 2 threads (the machine) and at 1 thread (robust to other load),
# several interleaved repeats in one run, plus the
# one-process-vs-one-per-core throughput test. Prints the table with
# medians, ratios (ours / PyTorch), GFLOP/s and share of peak, the machine
# and the load, and writes it to bench/results/<date>.md.
#
# Extra arguments go to speedbench (see `go run ./bench/cmd/speedbench -h`),
# e.g. bench/run.sh -repeats 9 -steps 30.
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-/usr/bin/python3}
torch=bench/torch_lenet.py
if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
	echo "bench/run.sh: $PYTHON cannot import torch (apt-get install -y python3-torch); timing without PyTorch" >&2
	torch=
fi
# Our side calls OpenBLAS with one thread per goroutine; keep its pthread
# pool from starting idle threads (see host/blas). The PyTorch servers get
# their own thread settings from speedbench.
export OPENBLAS_NUM_THREADS=1
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), nproc $(nproc); load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
set -x
exec go run ./bench/cmd/speedbench -python "$PYTHON" -torch "$torch" -threads 2,1 -throughput "$@"
