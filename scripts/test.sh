#!/usr/bin/env bash
# Sets up, builds and runs the test suite. `--all` also runs tests labelled slow.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
args=(--test-dir build --output-on-failure -j2)
if [ "${1:-}" != "--all" ]; then
  args+=(-LE slow)
fi
ctest "${args[@]}"
