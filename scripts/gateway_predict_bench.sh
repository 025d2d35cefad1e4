#!/usr/bin/env bash
# Gateway inference against on-device prediction (issue 14; docs/topologies.md).
# Not part of CI (the default matrix takes about two minutes on 2 cores).
#
#   scripts/gateway_predict_bench.sh [MODELS] [DEVICES...]
#   e.g. scripts/gateway_predict_bench.sh "mlp cnn" 1 4 16 64
#
# For each model (untrained, seed 0: latency does not depend on the weights)
# a fedge-gateway serves it from its --model_dir (--insecure, no root; one
# LibTorch thread), for each of BATCHES (default "32 1": the default
# --predict_max_batch, then no batching); D devices (threads of fedge-bench-predict, each a
# fedge_client of the C API) call fedge_gateway_predict with one example back
# to back for SECONDS (default 5). Then the same devices predict on
# themselves (fedge_model_predict, one LibTorch thread each). Gateway,
# devices and the benchmark share this machine's cores, so the figures
# compare the three ways on the same hardware, not a gateway box against a
# device. Prints one line per run (calls/s, examples/s, p50 and p99 latency).
set -euo pipefail
cd "$(dirname "$0")/.."
MODELS=${1:-"mlp cnn"}
shift || true
DEVICES=${*:-"1 4 16 64"}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-5}
BATCHES=${BATCHES:-"32 1"}
BIN=./build/bin
OUT=${OUT:-/tmp/fedge-predict-bench}
rm -rf "$OUT" && mkdir -p "$OUT"
export OMP_NUM_THREADS=1

gateway_pid=
stop_gateway() {
  if [[ -n $gateway_pid ]]; then
    kill -TERM "$gateway_pid" 2>/dev/null || true
    wait "$gateway_pid" 2>/dev/null || true
    gateway_pid=
  fi
}
trap stop_gateway EXIT

# Starts a gateway serving $1's store with --predict_max_batch=$2; sets $endpoint.
start_gateway() {
  local store=$1 batch=$2 ready="$OUT/ready.$$"
  rm -f "$ready" && mkfifo "$ready"
  "$BIN/fedge-gateway" --insecure --root="ipc://$OUT/no-root" --gateway_id=1 \
    --listen=tcp://127.0.0.1:* --model_dir="$store" --predict_max_batch="$batch" \
    --ready_fd=3 3>"$ready" 2>>"$OUT/gateway.log" &
  gateway_pid=$!
  read -r endpoint <"$ready"
  rm -f "$ready"
}

for model in $MODELS; do
  store="$OUT/$model"
  mkdir -p "$store"
  "$BIN/fedge-bench-inference" init "$model" "$store/model-1.fms"
  for batch in $BATCHES; do
    start_gateway "$store" "$batch"
    for d in $DEVICES; do
      echo "model=$model gateway_max_batch=$batch $("$BIN/fedge-bench-predict" --mode=gateway \
        --endpoint="$endpoint" --store="$store" --devices="$d" --seconds="$SECONDS_PER_RUN" 2>>"$OUT/bench.log")"
    done
    stop_gateway
  done
  for d in $DEVICES; do
    echo "model=$model on_device $("$BIN/fedge-bench-predict" --mode=device --store="$store" \
      --devices="$d" --seconds="$SECONDS_PER_RUN" 2>>"$OUT/bench.log")"
  done
done
