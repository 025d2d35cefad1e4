#!/usr/bin/env bash
# The round-time-over-compute-floor benchmark of issue 11: the compute floor
# (fedge-bench-floor: a round's tasks trained back to back in one process,
# divided by the cores, data loaded and model built beforehand) and
# fedge-sim's rounds of the same shape, measured one after the other, then
# their ratio. Round 1 also pays for loading LibTorch and each client's data
# while clients register, which the floor does not, so the ratio is taken
# over rounds 2..N; round 1 and the mean of all rounds are printed too.
# Run on a quiet machine.
#   scripts/floor_bench.sh [CLIENTS [EXAMPLES [ROUNDS]]] [-- extra fedge-sim flags]
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${FEDGE_BIN:-build/bin}
CLIENTS=${1:-200}; EXAMPLES=${2:-150}; ROUNDS=${3:-10}
shift $(( $# < 3 ? $# : 3 )) || true
[ "${1:-}" = "--" ] && shift
[ "$ROUNDS" -ge 2 ] || { echo "floor_bench.sh: ROUNDS must be >= 2" >&2; exit 2; }
CORES=$(nproc)
# The environment fedge-sim gives its client processes (sim_setup.cc
# ChildEnv): OpenBLAS reads it as it loads, and with its default thread pool
# the floor came out 20 % slower than the clients' own training.
floor_line=$(OMP_NUM_THREADS=1 OMP_WAIT_POLICY=PASSIVE "$BIN/fedge-bench-floor" --clients="$CLIENTS" --examples="$EXAMPLES" --cores="$CORES")
echo "$floor_line"
floor=$(sed -E 's/.*floor per round on [0-9]+ cores: ([0-9.]+) s/\1/' <<<"$floor_line")
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$BIN/fedge-sim" --model=mlp --clients="$CLIENTS" --max_examples=$((CLIENTS * EXAMPLES)) \
  --partition=iid --rounds="$ROUNDS" --seed=0 --out="$out" "$@" >/dev/null 2>&1
# metrics.jsonl: one object per round with "round_seconds".
sed -E 's/.*"round_seconds":([0-9.]+).*/\1/' "$out/metrics.jsonl" | awk -v f="$floor" -v flags="$*" '
  { t[NR] = $1; all += $1; if (NR > 1) rest += $1 }
  END {
    printf "fedge-sim %s: round 1 %.3f s; mean of all %d rounds %.3f s; rounds 2-%d %.3f s\n",
           flags, t[1], NR, all / NR, NR, rest / (NR - 1)
    printf "rounds 2-%d / floor = %.2f\n", NR, rest / (NR - 1) / f
  }'
