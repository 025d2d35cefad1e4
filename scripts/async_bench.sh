#!/usr/bin/env bash
# FedBuff (--mode=async) against synchronous FedAvg on heterogeneous devices:
# wall time until the global model first reaches a test accuracy, each mode
# on the same seed, partition and device profiles. Not part of CI (a run of
# the default matrix takes a few minutes on 2 cores).
#
#   scripts/async_bench.sh [SEEDS] [CONCURRENCY...]
#   e.g. scripts/async_bench.sh "0 1" 4 10
#
# Settings: mlp, 100 clients, iid, E=1, B=32, lr 0.05, CURVE, target 0.80,
# 30 % of the clients 5x slower than the others, and every device 4x slower
# than one core of this machine (PROFILE=base=4,slow=0.3:5; PROFILE=slow=0.3:5
# makes the fast devices as fast as a core, and then the 2 cores shared by
# all simulated devices, not the devices' waiting, bound the rounds).
# Synchronous:
# --clients_per_round=C. Async: --concurrency=C --buffer=C/2 (at least 1),
# --staleness_exponent=0.5, --max_staleness=20. Prints, per seed and C, the
# time to the target from the first task (t), the same less the time the
# synchronous coordinator waited for its server-side evaluations between
# rounds (train; async evaluates beside training), and async/sync ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
SEEDS=${1:-"0 1"}
shift || true
CONCURRENCY=${*:-"4 10"}
TARGET=${TARGET:-0.8}
PROFILE=${PROFILE:-base=4,slow=0.3:5}
SIM=./build/bin/fedge-sim
OUT=${OUT:-/tmp/fedge-async-bench}
mkdir -p "$OUT"

# "round t wait" of the first round at or above the target, from metrics.jsonl.
reach() {
  awk -v target="$TARGET" -F'[,:{}]' '
    { acc = ""; el = ""; wait = 0; r = ""
      for (i = 1; i < NF; i++) {
        if ($i == "\"round\"") r = $(i + 1)
        if ($i == "\"test_accuracy\"") acc = $(i + 1)
        if ($i == "\"elapsed_seconds\"") el = $(i + 1)
        if ($i == "\"eval_wait_seconds\"") wait = $(i + 1)
      }
      if (acc != "" && acc + 0 >= target + 0) { print r, el, wait; found = 1; exit }
    }
    END { if (!found) print "- nan 0" }' "$1"
}

printf "%-4s %-4s %-8s %-8s %-9s | %-8s %-8s %-8s | %-7s %-7s\n" seed C sync_rnd sync_t \
  sync_train async_v async_t async_tr "t ratio" "train ratio"
for seed in $SEEDS; do
  for c in $CONCURRENCY; do
    k=$(( c / 2 > 0 ? c / 2 : 1 ))
    common=(--model=mlp --clients=100 --partition=iid --seed="$seed" --local_epochs=1
            --batch_size=32 --lr=0.05 --device_profile="${PROFILE}" --progress=off)
    "$SIM" "${common[@]}" --clients_per_round="$c" --rounds=$(( 400 / c + 20 )) \
      --out="$OUT/sync-$seed-$c" > "$OUT/sync-$seed-$c.log" 2>&1
    "$SIM" "${common[@]}" --mode=async --concurrency="$c" --buffer="$k" \
      --rounds=$(( 800 / c + 40 )) --out="$OUT/async-$seed-$c" > "$OUT/async-$seed-$c.log" 2>&1
    read -r sr st sw < <(reach "$OUT/sync-$seed-$c/metrics.jsonl")
    read -r ar at aw < <(reach "$OUT/async-$seed-$c/metrics.jsonl")
    awk -v seed="$seed" -v c="$c" -v sr="$sr" -v st="$st" -v sw="$sw" -v ar="$ar" -v at="$at" \
        -v aw="$aw" 'BEGIN {
      printf "%-4s %-4s %-8s %-8.2f %-9.2f | %-8s %-8.2f %-8.2f | %-7.2f %-7.2f\n", seed, c, sr,
             st, st - sw, ar, at, at - aw, at / st, (at - aw) / (st - sw) }'
  done
done
