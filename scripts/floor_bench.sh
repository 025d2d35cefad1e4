#!/usr/bin/env bash
# The round-time-over-compute-floor benchmark of issue 11: the compute floor
# (fedge-bench-floor: a round's tasks trained back to back in one process,
# divided by the cores) and fedge-sim's mean round for the same round shape,
# measured one after the other, then their ratio. Run on a quiet machine.
#   scripts/floor_bench.sh [CLIENTS [EXAMPLES [ROUNDS]]] [-- extra fedge-sim flags]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FEDGE_BIN:-build/bin}
CLIENTS=${1:-200}; EXAMPLES=${2:-150}; ROUNDS=${3:-5}
shift $(( $# < 3 ? $# : 3 )) || true
[ "${1:-}" = "--" ] && shift
CORES=$(nproc)
floor_line=$("$BIN/fedge-bench-floor" --clients="$CLIENTS" --examples="$EXAMPLES" --cores="$CORES")
echo "$floor_line"
floor=$(sed -E 's/.*floor per round on [0-9]+ cores: ([0-9.]+) s/\1/' <<<"$floor_line")
out=$(mktemp -d)
sim_line=$("$BIN/fedge-sim" --model=mlp --clients="$CLIENTS" --max_examples=$((CLIENTS * EXAMPLES)) \
  --partition=iid --rounds="$ROUNDS" --seed=0 --out="$out" "$@" 2>/dev/null | grep "mean round")
echo "fedge-sim $*:$sim_line"
round=$(sed -E 's/.*mean round ([0-9.]+) s.*/\1/' <<<"$sim_line")
awk -v r="$round" -v f="$floor" 'BEGIN { printf "mean round / floor = %.2f\n", r / f }'
rm -rf "$out"
