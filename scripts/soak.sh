#!/usr/bin/env bash
# Soak run: a long simulation that checks the coordinator does not grow. Runs
# fedge-sim for 200 rounds of 50 logical clients (the MLP on a 2,000-example
# prefix of Fashion-MNIST, so a round takes about a second) and compares the
# coordinator's resident memory and open descriptors after round 20 with those
# after the last round (the coordinator writes both into every metrics line:
# rss_kb, open_fds). Passes when RSS differs by less than 5% and the
# descriptor count is the same.
#   ./scripts/soak.sh [fedge-sim flags...]      e.g. --rounds=500 --secure=secagg
# SOAK_ROUNDS, SOAK_CLIENTS and SOAK_OUT change the defaults (200, 50,
# sim-out/soak); SOAK_SKIP_SETUP=1 uses build/ as it is. Not part of
# scripts/test.sh (minutes, not seconds).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${SOAK_ROUNDS:-200}
clients=${SOAK_CLIENTS:-50}
out=${SOAK_OUT:-sim-out/soak}
early=20

[ "${SOAK_SKIP_SETUP:-0}" = 1 ] || ./scripts/setup.sh
start=$(date +%s)
build/bin/fedge-sim --model=mlp --clients="$clients" --rounds="$rounds" \
  --max_examples=2000 --local_epochs=1 --batch_size=32 --lr=0.05 \
  --partition=iid --seed=0 --out="$out" "$@"
echo "soak: ${rounds} rounds in $(( $(date +%s) - start )) s"

python3 - "$out/metrics.jsonl" "$early" <<'PY'
import json, sys
path, early = sys.argv[1], int(sys.argv[2])
rows = [json.loads(line) for line in open(path) if line.strip()]
by_round = {r["round"]: r for r in rows}
last = max(by_round)
failed = [r["round"] for r in rows if not r["completed"]]
a, b = by_round.get(early), by_round[last]
if a is None or "rss_kb" not in a or "rss_kb" not in b:
    sys.exit(f"soak: {path} lacks round {early} or the rss_kb/open_fds fields")
growth = (b['rss_kb'] - a['rss_kb']) / a["rss_kb"]
print(f"soak: coordinator after round {early}: RSS {a['rss_kb'] / 1024:.1f} MiB, "
      f"{a['open_fds']} fds; after round {last}: RSS {b['rss_kb'] / 1024:.1f} MiB, "
      f"{b['open_fds']} fds; RSS {growth:+.2%}; failed rounds: {len(failed)}")
ok = abs(growth) < 0.05 and a["open_fds"] == b["open_fds"] and not failed
print("soak: PASS" if ok else "soak: FAIL (RSS must differ < 5%, fds equal, no failed round)")
sys.exit(0 if ok else 1)
PY
