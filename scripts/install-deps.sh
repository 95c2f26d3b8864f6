#!/usr/bin/env bash
# Installs the Debian packages the lab builds and tests with (run as root, or with sudo).
#   libopenblas-dev      fast SGEMM for the trainer's convolution and dense ops (cgo)
#   dataset-fashion-mnist Fashion-MNIST in /usr/share/datasets/fashion-mnist
#   sqlite3              the sqlite3 shell, for querying the results store by hand
#   postgresql           only for the shared-study tests (.ci/postgres.sh starts it)
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends \
  gcc libc6-dev make git ca-certificates \
  libopenblas-dev dataset-fashion-mnist sqlite3 "$@"
