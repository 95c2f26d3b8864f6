#!/bin/sh
# bench/run.sh — what `make bench` runs: training-step times of the
# trainer's models with host/ops and with PyTorch (Debian's python3-torch)
# in the same run, several interleaved repeats, with GFLOP/s, the share of
# the fp32 peak (bench.PeakGFLOPS, 156.5 for the 2 cores) and each side's
# peak RSS. Prints the table with medians and ratios (ours / PyTorch), the
# machine, the load and the command, and writes it to
# bench/results/<date>.md.
#
#   bash bench/run.sh            LeNet (batch 128, 512) and the MLP (128), also
#                                with stock Gorgonia, at 2 and 1 threads, plus the
#                                one-process-vs-one-per-core throughput test
#   bash bench/run.sh resnet     ResNet18 at batch 32 and 128, 2 threads
#   bash bench/run.sh vgg        VGG16-BN at batch 32 and 128, 2 threads
#   bash bench/run.sh big        both of the above in one run
#   bash bench/run.sh mlp        the MLP at batch 128, 1 and 2 threads
#
# Stock Gorgonia is not timed for ResNet18 and VGG16 (4–17 s a step; pass
# -stock to add it). Run it in a quiet window: other processes on the two
# cores skew every figure. Extra arguments go to speedbench (see
# `go run ./bench/cmd/speedbench -h`), e.g. bash bench/run.sh resnet -repeats 5.
set -eu
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-/usr/bin/python3}
torch=bench/torch_lenet.py
if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
	echo "bench/run.sh: $PYTHON cannot import torch (apt-get install -y python3-torch); timing without PyTorch" >&2
	torch=
fi
what=${1:-lenet}
case $what in
resnet | vgg | big | mlp | lenet) [ $# -gt 0 ] && shift ;;
-*) what=lenet ;;
*)
	echo "bench/run.sh: unknown selection $what (want resnet, vgg, big, mlp or lenet)" >&2
	exit 2
	;;
esac
case $what in
resnet) set -- -configs resnet18/32,resnet18/128 -threads 2 -stock=false -repeats 3 -steps 8 -warmup 2 "$@" ;;
vgg) set -- -configs vgg16/32,vgg16/128 -threads 2 -stock=false -repeats 3 -steps 8 -warmup 2 "$@" ;;
big) set -- -configs resnet18/32,resnet18/128,vgg16/32,vgg16/128 -threads 2 -stock=false -repeats 3 -steps 8 -warmup 2 "$@" ;;
mlp) set -- -configs mlp/128 -threads 1,2 -stock=false "$@" ;;
lenet) set -- -threads 2,1 -throughput "$@" ;;
esac
# Our side calls OpenBLAS with one thread per goroutine; keep its pthread
# pool from starting idle threads (see host/blas). The PyTorch servers get
# their own thread settings from speedbench.
export OPENBLAS_NUM_THREADS=1
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), nproc $(nproc); load: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
set -x
exec go run ./bench/cmd/speedbench -python "$PYTHON" -torch "$torch" "$@"
