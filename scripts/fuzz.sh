#!/usr/bin/env bash
# Longer libFuzzer runs: builds build-fuzz/ (clang, CMake preset "fuzz": ASan +
# UBSan, no LibTorch) and runs each target for SECONDS seconds (default 600)
# from its seed corpus plus what earlier runs found, one at a time.
#   ./scripts/fuzz.sh [SECONDS] [TARGET...]
# Targets are the tests/fuzz/<TARGET>_fuzzer.cc files: checkpoint compression
# coordinator csv decode key_file model_store npy routed_envelope
# verified_version. New inputs are kept in build-fuzz/corpus/<TARGET>/,
# crashes written to build-fuzz/crashes/<TARGET>/ (replay one with
# build-fuzz/bin/<TARGET>_fuzzer FILE). scripts/test.sh runs the same for 20 s.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift || true

for p in clang libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || {
    echo "fuzz: installing $p"; apt-get install -y -qq "$p" >/dev/null; }
done
[ -f build-fuzz/CMakeCache.txt ] || cmake --preset fuzz >/dev/null
cmake --build build-fuzz -j"${JOBS:-2}"
filter=()
if [ $# -gt 0 ]; then
  filter=(-R "^fuzz_($(IFS='|'; echo "$*"))\$")
fi
FEDGE_FUZZ_SECONDS=$seconds ctest --test-dir build-fuzz -L fuzz --output-on-failure "${filter[@]}"
