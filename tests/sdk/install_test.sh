#!/bin/bash
# The device SDK as a user gets it: install into a temporary prefix, build
# examples/ as a separate CMake project with find_package(fedge) (and once
# with pkg-config), run device_main (CURVE, signed models) against a live
# fedge-coordinator for two rounds, stop the coordinator, then predict
# offline from the model store.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR DATA_DIR
set -euo pipefail
build=$1 src=$2 data=$3
tmp=$(mktemp -d)
coord=
cleanup() {
  if [[ -n $coord ]]; then kill "$coord" 2>/dev/null || true; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
test -f "$tmp/prefix/include/fedge/fedge_client.h"
test -f "$tmp/prefix/lib/fedge/libfedge_torch_plugin.so"
test -f "$tmp/prefix/lib/pkgconfig/fedge.pc"

cmake -S "$src/examples" -B "$tmp/ex" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$tmp/ex" >/dev/null
# pkg-config works too (compile and link only).
cc -o "$tmp/device_main_pc" "$src/examples/device_main.c" \
  $(PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig" pkg-config --cflags --libs fedge)

# Keys as an operator makes them: the coordinator's, the device's, enrolled
# for client id 7. The device talks CURVE and checks model signatures.
keys="$tmp/keys"
"$build/bin/fedge-keygen" coordinator --out "$keys" >/dev/null
"$build/bin/fedge-keygen" device --out "$keys" --name dev7 >/dev/null
"$build/bin/fedge-keygen" enrol --allowlist "$keys/allowlist" --pub "$keys/dev7.pub" \
  --client_ids 7 >/dev/null

mkfifo "$tmp/ready"
OMP_NUM_THREADS=1 "$build/bin/fedge-coordinator" --listen=tcp://127.0.0.1:* --ready_fd=3 \
  --key_file="$keys/coordinator.key" --allowlist="$keys/allowlist" \
  --min_clients=1 --rounds=2 --model=mlp --quiet --retry_window=1s \
  3>"$tmp/ready" &
coord=$!
read -r -t 60 endpoint <"$tmp/ready"
echo "coordinator at $endpoint"

OMP_NUM_THREADS=1 "$tmp/ex/device_main" train "$endpoint" "$tmp/store" "$data" 7 2 \
  "$keys/dev7.key" "$keys/coordinator.pub" | tee "$tmp/train.out"
# Round 1 (the model it made comes back with the coordinator's advice), then
# round 2 on that model; the federation's final model (version 2) comes with
# its end.
grep -q "run_once: OK round=1 uploaded=1 stored_model=1 " "$tmp/train.out"
grep -q "run_once: OK round=2 uploaded=1 stored_model=2 " "$tmp/train.out"
ls "$tmp/store"/model-*.fms

# The coordinator is gone: inference still works from the store.
kill "$coord" 2>/dev/null || true
wait "$coord" || true
coord=
OMP_NUM_THREADS=1 "$tmp/device_main_pc" predict "$tmp/store" "$data" | tee "$tmp/predict.out"
grep -q "predict: model 2, 10 classes" "$tmp/predict.out"
echo PASS
