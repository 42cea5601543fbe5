#!/usr/bin/env bash
# HTTP decisions over loopback: `credo serve` and wrk on the same machine.
#   bash bench/http.sh [CREDO_BIN] [CONNECTIONS] [SECONDS] [RUNS]
# Makes a 2,000-person demo folder and a relying-party key, then for each run starts the
# server, warms up for 2 s, and measures GET /v1/subjects/ID/check/rail_g with wrk, ID
# drawn at random from the folder's subjects for every request. Each
# answer is authenticated and logged (inquiry + audit entry, synced) before it is sent.
# Prints wrk's rate and latency percentiles and the CPU seconds of the server and of wrk
# (from /proc), so the figure can be split between them. Needs wrk (apt-get install wrk).
set -euo pipefail
B=$(realpath "${1:-target/release/credo}"); C=${2:-64}; T=${3:-10}; RUNS=${4:-3}
PORT=18095; URL=http://127.0.0.1:$PORT
D=$(mktemp -d /tmp/credo-http.XXXXXX); trap 'rm -rf "$D"' EXIT
"$B" --data "$D/data" demo --people 2000 --no-serve --json > /dev/null
TOKEN=$("$B" --data "$D/data" key create --role relying_party --party rail-1 --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
python3 - "$D/data/population/subjects.jsonl" "$TOKEN" > "$D/auth.lua" <<'PY'
import json, sys
ids = [json.loads(l)["id"] for l in open(sys.argv[1]) if l.strip()]
print('wrk.headers["Authorization"] = "Bearer %s"' % sys.argv[2])
print("local ids = {%s}" % ",".join('"%s"' % i for i in ids))
print('request = function() return wrk.format("GET", "/v1/subjects/" .. ids[math.random(#ids)] .. "/check/rail_g") end')
PY
ID=random
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tck=$(getconf CLK_TCK)
echo "machine: $(nproc) cores, $(uname -r); $C connections, $T s per run"
for run in $(seq "$RUNS"); do
  "$B" --data "$D/data" serve --listen "127.0.0.1:$PORT" > "$D/server.log" 2>&1 & SP=$!
  for _ in $(seq 100); do curl -fs "$URL/healthz" > /dev/null && break; sleep 0.1; done
  wrk -t1 -c"$C" -d2s -s "$D/auth.lua" "$URL/v1/subjects/$ID/check/rail_g" > /dev/null
  s0=$(cpu $SP)
  wrk -t1 -c"$C" -d"${T}s" --latency -s "$D/auth.lua" "$URL/v1/subjects/$ID/check/rail_g" > "$D/wrk.out" & WP=$!
  w1=0; while kill -0 $WP 2> /dev/null; do w1=$(cpu $WP 2> /dev/null || echo "$w1"); sleep 0.1; done
  wait $WP; s1=$(cpu $SP)
  kill $SP; wait $SP 2> /dev/null || true
  rate=$(awk '/Requests\/sec/ {print $2}' "$D/wrk.out")
  p=$(awk '$1 ~ /^(50|90|99)%$/ {printf "%s=%s ", $1, $2}' "$D/wrk.out")
  echo "run $run: $rate req/s  $p server_cpu=$(echo "scale=2; ($s1 - $s0) / $tck" | bc)s wrk_cpu=$(echo "scale=2; $w1 / $tck" | bc)s"
done
