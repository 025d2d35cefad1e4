#!/usr/bin/env bash
# Does the operator interface slow rounds down? Runs the same fedge-sim
# (mlp, 10 clients, Dirichlet(0.5), seed 0, CURVE) three ways, interleaved
# REPS times so machine noise falls on all alike:
#   off:     no --http_listen
#   scraped: --http_listen, /metrics and /status fetched 10 times a second
#   hostile: as scraped, plus 10,000 connections that send half a request
#            and never finish it (opened at once, held to the end)
# and prints each way's mean round time and its ratio to "off".
# Rounds 1-3 (start-up) are left out of every mean. The hostile load takes
# about a minute to put in place (cpp-httplib listens with a backlog of 5,
# so connects queue); its rounds are reported in all, and separately for
# those that ended once every connection was held.
# Usage: scripts/http_bench.sh [ROUNDS] [REPS]   (defaults 200, 2)
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-200}
REPS=${2:-2}
BIN=${BIN:-build/bin}
OUT=$(mktemp -d /tmp/fedge-http-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$OUT"' EXIT

# Holds N half-sent requests open to PORT until killed; scrapes at 10 Hz.
load() {  # load PORT HOSTILE(0|1)
  exec python3 - "$1" "$2" <<'PY'
import asyncio, resource, sys, urllib.request
port, hostile = int(sys.argv[1]), sys.argv[2] == "1"

async def hold(held, gate):
    # Many connects in flight: the server's listen backlog is 5, and a SYN
    # it drops is retried only after 1, 3, 7... seconds.
    async with gate:
        for _ in range(20):
            try:
                r, w = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.5)
        else:
            return
        w.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never the blank line
        await w.drain()
        held.append(w)

async def main():
    held = []
    if hostile:
        resource.setrlimit(resource.RLIMIT_NOFILE, (20000, 20000))
        gate = asyncio.Semaphore(256)
        await asyncio.gather(*(hold(held, gate) for _ in range(10000)))
        print(f"holding {len(held)} connections", file=sys.stderr, flush=True)
    loop = asyncio.get_running_loop()
    def scrape():
        for path in ("/metrics", "/status"):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=1).read()
            except Exception:
                pass
    while True:
        await loop.run_in_executor(None, scrape)
        await asyncio.sleep(0.1)

asyncio.run(main())
PY
}

run() {  # run WAY REP
  local way=$1 rep=$2 dir="$OUT/$1-$2" port held=0
  port=$((20000 + RANDOM % 20000))
  local http=()
  [ "$way" != off ] && http=(--http_listen=127.0.0.1:$port)
  "$BIN/fedge-sim" --model=mlp --clients=10 --rounds="$ROUNDS" --seed=0 \
    --partition=dirichlet:0.5 --out="$dir" --progress=off "${http[@]}" \
    > "$dir.log" 2>&1 &
  local sim=$!
  local loader=
  if [ "$way" != off ]; then
    until grep -q "status page" "$dir.log" 2>/dev/null; do
      kill -0 $sim 2>/dev/null || break
      sleep 0.2
    done
    load "$port" "$([ "$way" = hostile ] && echo 1 || echo 0)" 2>"$dir.load" &
    loader=$!
    if [ "$way" = hostile ]; then
      # Rounds that end after this all ran with the 10,000 connections held.
      until grep -qs holding "$dir.load" || ! kill -0 $sim 2>/dev/null; do sleep 0.2; done
      held=$(cat "$dir/metrics.jsonl" 2>/dev/null | wc -l)
    fi
  fi
  wait $sim
  [ -n "$loader" ] && kill "$loader" 2>/dev/null && wait "$loader" 2>/dev/null || true
  # Rounds 4.. (1-3: start-up); for "hostile" also the rounds after all
  # 10,000 connections were in place.
  python3 -c '
import json, sys
s = [json.loads(l)["round_seconds"] for l in open(sys.argv[1]) if l.strip()]
held = int(sys.argv[2])
after = s[max(held, 3):]
print(sum(s[3:]) / len(s[3:]), sum(after) / len(after) if after and held else float("nan"), len(after))' \
    "$dir/metrics.jsonl" "$held" > "$dir.mean"
  read -r all after n < "$dir.mean"
  echo "$way rep $rep: mean round (rounds 4-$ROUNDS) $all s$([ "$way" = hostile ] && echo "; the $n rounds after all connections were held: $after s")"
}

for rep in $(seq "$REPS"); do
  for way in off scraped hostile; do run "$way" "$rep"; done
done
python3 - "$OUT" "$REPS" <<'PY'
import math, sys
out, reps = sys.argv[1], int(sys.argv[2])
def means(w, k):
    return [float(open(f"{out}/{w}-{r}.mean").read().split()[k]) for r in range(1, reps + 1)]
rows = {w: means(w, 0) for w in ("off", "scraped", "hostile")}
held = [m for m in means("hostile", 1) if not math.isnan(m)]
if held:
    rows["hostile, held"] = held
base = sum(rows["off"]) / reps
print("way             mean round (s)   ratio to off   per rep")
for w, ms in rows.items():
    m = sum(ms) / len(ms)
    print(f"{w:15} {m:14.4f}   {m / base:12.3f}   {' '.join(f'{x:.4f}' for x in ms)}")
PY
