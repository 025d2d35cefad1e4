#!/usr/bin/env bash
# Measures what a device pays to run fedge (README "Device footprint") and
# prints markdown tables: one local epoch (RSS, wall time) for mlp and cnn,
# the idle SDK client's RSS, library sizes, inference latency float32/int8.
# Builds what it needs into build/ (configuring it like scripts/setup.sh if
# needed). Both the build and the measurement hold $FEDGE_LOCK, so nothing
# else built under that lock competes for the CPU while timing; do not wrap
# this script in the same flock. Extra arguments go to fedge-bench-device
# (e.g. --models=mlp --parts=idle; --help lists them).
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=${BUILD_DIR:-build}
LOCK=${FEDGE_LOCK:-/tmp/fedge-build.lock}
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
flock "$LOCK" cmake --build "$BUILD_DIR" -j"${JOBS:-2}" --target fedge-bench-device >/dev/null

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
torch=$(dpkg-query -W -f='${Version}' libtorch-dev 2>/dev/null || echo unknown)
flock "$LOCK" bash -c '
  echo "Machine: '"$(nproc)"' vCPU ('"$cpu"'), LibTorch '"$torch"' (Debian), load average before measuring: $(cut -d" " -f1-3 /proc/loadavg)"
  exec "$0" "$@"' "$BUILD_DIR/bin/fedge-bench-device" "$@"
