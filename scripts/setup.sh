#!/usr/bin/env bash
# Installs fedge's build and run dependencies from Debian 12 packages (as root)
# and configures + builds the project in Release into build/. Fast when all is
# already installed and built.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(
  build-essential cmake pkg-config ccache
  libtorch-dev libopenblas0-pthread python3-torch
  libzmq3-dev cppzmq-dev libcereal-dev rapidjson-dev libssl-dev zlib1g-dev
  libabsl-dev libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev  # the fuzz and sanitizer stages of scripts/test.sh
  dataset-fashion-mnist
  python3-numpy python3-sklearn  # the sklearn tasks of examples/ and tests
  openmpi-bin libopenmpi-dev  # fedge-sim --launcher=mpi (multi-host)
  gnuplot-nox  # fedge-report and fedge-sim --report (PNG plots of runs)
  libcpp-httplib-dev  # fedge-coordinator --http_listen (metrics, status page) and fedge-ctl
  chromium  # the status page's headless-browser test
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "fedge: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "fedge: run as root (or install the packages above yourself)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

BUILD_DIR=${BUILD_DIR:-build}
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$BUILD_DIR" -j"${JOBS:-2}"
