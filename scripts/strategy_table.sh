#!/usr/bin/env bash
# Reruns the strategy comparison of docs/strategies.md: fedge-sim on
# Fashion-MNIST, 10 clients, seed 0, E=1, B=32, client lr 0.05, --insecure
# (transport security does not change the arithmetic), on two partitions.
# Prints one markdown row per run: test accuracy after rounds 10 and 20, the
# best over the 20 rounds, mean round seconds. Each run's files stay in
# OUT/<model>-<partition>-<strategy>/.
#
#   scripts/strategy_table.sh [--model=mlp|cnn] [--partitions="dirichlet:0.5 shards:2"]
#                             [--strategies="fedavg fedprox ..."] [--rounds=20] [--out=DIR]
#
# An mlp run takes ~30 s here, a cnn run ~10 min (2 vCPU). FEDGE_BIN=DIR runs
# the binaries in DIR instead of build/bin.
set -euo pipefail
cd "$(dirname "$0")/.."

model=mlp
partitions="dirichlet:0.5 shards:2"
strategies="fedavg fedavgm fedadagrad fedadam fedyogi fedprox scaffold fedbn median trimmed_mean krum multikrum"
rounds=20
out=strategy-runs
for a in "$@"; do
  case "$a" in
    --model=*) model=${a#*=} ;;
    --partitions=*) partitions=${a#*=} ;;
    --strategies=*) strategies=${a#*=} ;;
    --rounds=*) rounds=${a#*=} ;;
    --out=*) out=${a#*=} ;;
    *) echo "usage: $0 [--model=M] [--partitions=\"P ...\"] [--strategies=\"S ...\"] [--rounds=N] [--out=DIR]" >&2
       exit 2 ;;
  esac
done

# The hyper-parameters of each strategy in the table (server side; the
# client side is E=1, B=32, lr 0.05 for all).
flags_for() {
  case "$1" in
    fedavgm) echo "--server_lr=1.0 --server_momentum=0.9" ;;
    fedadagrad) echo "--server_lr=0.01 --server_tau=0.001" ;;
    fedadam|fedyogi) echo "--server_lr=0.01 --server_beta1=0.9 --server_beta2=0.99 --server_tau=0.001" ;;
    fedprox) echo "--proximal_mu=0.01" ;;
    trimmed_mean) echo "--trim_beta=0.1" ;;
    krum|multikrum) echo "--byzantine=1" ;;
    *) echo "" ;;
  esac
}

bin=${FEDGE_BIN:-./build/bin}/fedge-sim
[ -x "$bin" ] || { echo "$0: $bin missing; run scripts/setup.sh" >&2; exit 1; }
mkdir -p "$out"
echo "| model | partition | strategy | flags | acc@10 | acc@$rounds | best | mean round s | failed rounds |"
echo "|---|---|---|---|---|---|---|---|---|"
for p in $partitions; do
  for s in $strategies; do
    dir="$out/$model-${p/:/}-$s"
    # shellcheck disable=SC2046
    "$bin" --model="$model" --clients=10 --rounds="$rounds" --partition="$p" --seed=0 \
      --local_epochs=1 --batch_size=32 --lr=0.05 --insecure --strategy="$s" \
      $(flags_for "$s") --out="$dir" >"$dir.log" 2>&1 || {
        echo "| $model | $p | $s | $(flags_for "$s") | failed: see $dir.log | | | | |"; continue; }
    # Accuracy after the 10th and the last *completed* round; a failed round
    # (model unchanged) is counted in the last column.
    awk -F, -v m="$model" -v p="$p" -v s="$s" -v f="$(flags_for "$s")" -v r="$rounds" '
      NR > 1 && $2 == 1 { n++; acc[n] = $4; if ($4 > best) best = $4; secs += $7 }
      NR > 1 && $2 != 1 { failed++ }
      END { printf "| %s | %s | %s | %s | %.4f | %.4f | %.4f | %.2f | %d |\n",
                   m, p, s, f, acc[10], acc[r], best, secs / n, failed }' "$dir/results.csv"
  done
done
