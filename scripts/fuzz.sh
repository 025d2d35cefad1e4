#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan) into build-fuzz/ and
# runs each for SECONDS seconds (default 60) from the seed corpus.
#   ./scripts/fuzz.sh [SECONDS] [TARGET...]     targets: decode coordinator key_file
# Crashes are written to build-fuzz/crashes/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("${@:-decode coordinator key_file}")
read -r -a targets <<<"${targets[*]}"

for p in clang libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || {
    echo "fuzz: installing $p"; apt-get install -y -qq "$p" >/dev/null; }
done
if [ ! -f build-fuzz/CMakeCache.txt ]; then
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DFEDGE_FUZZ=ON -DFEDGE_BUILD_BENCH=OFF >/dev/null
fi
for t in "${targets[@]}"; do
  cmake --build build-fuzz -j2 --target "${t}_fuzzer" "${t}_fuzz_replay"
  corpus=build-fuzz/corpus/$t crashes=build-fuzz/crashes/$t
  mkdir -p "$corpus" "$crashes"
  build-fuzz/bin/${t}_fuzz_replay --write_corpus="$corpus"
  echo "fuzz: $t for ${seconds}s"
  FEDGE_LOG_LEVEL=error build-fuzz/bin/${t}_fuzzer -max_total_time="$seconds" \
    -max_len=4096 -artifact_prefix="$crashes/" "$corpus"
done
