#!/usr/bin/env bash
# The README's test command, run by CI (.ci/run). Three stages, each failing
# the command:
#   1. suite: scripts/setup.sh installs what is missing and builds build/
#      (Release, gcc); CTest runs everything but tests labelled slow
#      (`--all` runs those too).
#   2. fuzz:  build-fuzz/ (clang, CMake preset "fuzz": only the libFuzzer
#      targets and the torch-free libraries, ASan + UBSan); CTest runs every
#      target (label fuzz) for FEDGE_FUZZ_SECONDS seconds (default 20) from
#      its seed corpus, two at a time.
#   3. asan:  build-asan/ (gcc, preset "asan": FEDGE_SANITIZE=address,undefined,
#      undefined behaviour aborts); CTest runs the tests labelled unit.
# `--suite-only` skips stages 2 and 3. Stage 2 needs clang and
# libclang-rt-14-dev, which setup.sh installs.
set -euo pipefail
cd "$(dirname "$0")/.."

all=0 suite_only=0
for a in "$@"; do
  case "$a" in
    --all) all=1 ;;
    --suite-only) suite_only=1 ;;
    *) echo "usage: $0 [--all] [--suite-only]" >&2; exit 2 ;;
  esac
done

stage() { echo "== test.sh: $1 ($(date +%T))"; }

stage "suite: setup and build (build/)"
./scripts/setup.sh
stage "suite: ctest"
args=(--test-dir build --output-on-failure -j2)
if [ "$all" -eq 0 ]; then
  args+=(-LE slow)
fi
ctest "${args[@]}"
[ "$suite_only" -eq 1 ] && exit 0

if ! command -v clang++ >/dev/null ||
   [ ! -f "$(clang++ --print-runtime-dir 2>/dev/null)/libclang_rt.fuzzer-x86_64.a" ]; then
  echo "test.sh: clang or libclang-rt-14-dev missing (libFuzzer); run scripts/setup.sh as root" >&2
  exit 1
fi

# Sanitizer reports name files and lines; a leak report from a library we do
# not build is suppressed narrowly in tests/lsan.supp (each entry says why).
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:check_initialization_order=1:strict_init_order=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/lsan.supp:print_suppressions=0}

stage "fuzz: configure and build (build-fuzz/)"
[ -f build-fuzz/CMakeCache.txt ] || cmake --preset fuzz >/dev/null
cmake --build build-fuzz -j"${JOBS:-2}"
stage "fuzz: ${FEDGE_FUZZ_SECONDS:-20} s per target"
ctest --test-dir build-fuzz -L fuzz --output-on-failure -j2

stage "asan: configure and build (build-asan/)"
[ -f build-asan/CMakeCache.txt ] || cmake --preset asan >/dev/null
cmake --build build-asan -j"${JOBS:-2}"
stage "asan: ctest -L unit"
ctest --test-dir build-asan -L unit --output-on-failure -j2
stage "done"
