#!/usr/bin/env bash
# Soak: `credo serve` for MINUTES under ingest at half the measured maximum, public map
# queries and live map sessions, with its resident memory sampled every 10 s.
#   bash tests/reliability/soak.sh target/release/credo [MINUTES=30] [SESSIONS=2000] [PEOPLE=100000]
# Ingest re-sends a fixed set of events after the first pass: unique events at this rate
# for 30 minutes (about a billion) would grow the dedupe set and event lists past this
# machine's memory by design, so the soak measures the steady state of the paths a
# request takes (HTTP, parsing, dedupe, audit, sessions), not the log's growth.
# Fails if RSS grows by more than 5 % from the end of the warm-up (the first 3 minutes,
# or a tenth of the run; SOAK_WARMUP=seconds to change it) to the end, or if ingest falls behind its target rate by more
# than 5 %.
set -euo pipefail
BIN=$(realpath "$1")
MINUTES=${2:-30}
SESSIONS=${3:-2000}
PEOPLE=${4:-100000}
PORT=${CREDO_PORT:-18282}
DIR=$(mktemp -d /tmp/credo-soak.XXXXXX)
OUT=${SOAK_OUT:-$DIR}
mkdir -p "$OUT"
cleanup() {
  kill "$SP" "$LP" "$QP" "$IP" "$MP" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$DIR/data"
}
SP=; LP=; QP=; IP=; MP=
trap cleanup EXIT
ulimit -n "$(ulimit -Hn)" || true

"$BIN" --data "$DIR/data" demo --people "$PEOPLE" --no-serve --json > /dev/null
TOKEN=$("$BIN" --data "$DIR/data" key create --role furnisher --party soak --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
python3 - "$DIR/data/population/subjects.jsonl" "$DIR/events.jsonl" <<'PY'
import json, random, sys
ids = [json.loads(l)["id"] for l in open(sys.argv[1])]
r = random.Random(7)
with open(sys.argv[2], "w") as f:
    for n in range(200_000):
        s = ids[r.randrange(len(ids))]
        f.write(json.dumps({"id": f"soak-{n}", "source": "soak", "subject": s,
                            "at": f"2026-10-{1 + n % 28:02d}", "kind": "payment",
                            "amount": 10 + n % 900}, separators=(",", ":")) + "\n")
PY
"$BIN" --data "$DIR/data" serve --listen "127.0.0.1:$PORT" --public-rate 1e9 --public-burst 1e9 > "$OUT/serve.log" 2>&1 &
SP=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.2; done

# The ingest client: bodies of 10,000 lines over one keep-alive connection, paced to
# RATE events/s (0: as fast as the server takes them) for SECONDS; prints events/s.
cat > "$DIR/ingest.py" <<'PY'
import http.client, json, sys, time
port, token, path, rate, seconds = int(sys.argv[1]), sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5])
lines = open(path, "rb").read().splitlines(keepends=True)
bodies = [b"".join(lines[i:i + 10_000]) for i in range(0, len(lines), 10_000)]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
h = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
t0 = time.monotonic(); sent = 0; k = 0; worst = 0.0
while time.monotonic() - t0 < seconds:
    b = bodies[k % len(bodies)]; k += 1
    c.request("POST", "/v1/events", body=b, headers=h)
    r = c.getresponse(); d = json.loads(r.read())
    if r.status != 200 or d["rejected"]:
        sys.exit(f"ingest: {r.status} {d}")
    sent += d["accepted"] + d["duplicates"]
    if rate > 0:
        due = t0 + sent / rate
        now = time.monotonic()
        worst = max(worst, now - due)
        if due > now:
            time.sleep(due - now)
el = time.monotonic() - t0
print(json.dumps({"events": sent, "seconds": el, "events_per_s": sent / el, "worst_lag_s": worst}))
PY
# First pass (new events) and the maximum on the duplicate path, 20 s.
python3 "$DIR/ingest.py" "$PORT" "$TOKEN" "$DIR/events.jsonl" 0 20 > "$OUT/max.json"
MAX=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["events_per_s"])' "$OUT/max.json")
RATE=$(python3 -c "print(round($MAX / 2))")
echo "maximum HTTP ingest (re-sent events): $(printf '%.0f' "$MAX")/s; soak at $RATE/s for $MINUTES min with $SESSIONS live sessions"

# Public map queries, 50 a second (not audited: the public reads no personal data).
cat > "$DIR/query.py" <<'PY'
import http.client, random, sys, time
port, seconds = int(sys.argv[1]), float(sys.argv[2])
r = random.Random(3); c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
t0 = time.monotonic(); n = 0; bad = 0
while time.monotonic() - t0 < seconds:
    lat, lon = 31.2 + r.random() * 0.2, 121.4 + r.random() * 0.2
    path = [f"/v1/map/nearby?lat={lat:.5f}&lon={lon:.5f}&radius=1000", f"/v1/map/view?south={lat:.4f}&west={lon:.4f}&north={lat+0.05:.4f}&east={lon+0.05:.4f}", "/v1/stats"][n % 3]
    c.request("GET", path); resp = c.getresponse(); resp.read()
    bad += resp.status != 200; n += 1
    time.sleep(max(0.0, t0 + n / 50 - time.monotonic()))
print(f"queries: {n}, not 200: {bad}")
sys.exit(1 if bad else 0)
PY
SECS=$((MINUTES * 60))
python3 "$DIR/query.py" "$PORT" "$SECS" > "$OUT/query.txt" 2>&1 &
QP=$!
"$BIN" bench live --addr "127.0.0.1:$PORT" --sessions "$SESSIONS" --seconds "$SECS" --ramp 1000 \
  --server-pid "$SP" --json > "$OUT/live.json" 2> "$OUT/live.err" &
LP=$!
python3 "$DIR/ingest.py" "$PORT" "$TOKEN" "$DIR/events.jsonl" "$RATE" "$SECS" > "$OUT/ingest.json" &
IP=$!
( while kill -0 "$SP" 2>/dev/null; do
    echo "$(date +%s) $(awk '/VmRSS/ {print $2}' /proc/$SP/status)"; sleep 10
  done ) > "$OUT/rss.txt" &
MP=$!
wait "$IP"; wait "$QP"; wait "$LP" || true
kill "$MP" 2>/dev/null || true
python3 - "$OUT" "$RATE" "$MINUTES" "${SOAK_WARMUP:-0}" <<'PY'
import json, sys
out, rate, minutes, warmup = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
rss = [tuple(map(int, l.split())) for l in open(f"{out}/rss.txt") if len(l.split()) == 2]
t0 = rss[0][0]
warm = t0 + (warmup or max(180, minutes * 6))
after = [(t, kb) for t, kb in rss if t >= warm]
base, end, peak = after[0][1], after[-1][1], max(kb for _, kb in after)
ing = json.load(open(f"{out}/ingest.json"))
live = open(f"{out}/live.json").read()
print(f"RSS: {rss[0][1]/1024:.0f} MB at start, {base/1024:.0f} MB after warm-up, {end/1024:.0f} MB at the end (peak {peak/1024:.0f} MB): {100*(end-base)/base:+.2f} %")
print(f"ingest: {ing['events']} events in {ing['seconds']:.0f} s = {ing['events_per_s']:.0f}/s (target {rate:.0f}/s), worst lag {ing['worst_lag_s']:.2f} s")
print(open(f"{out}/query.txt").read().strip())
try:
    l = json.loads(live); print("live:", {k: l[k] for k in l if k in ("sessions", "connected", "failed", "sent_per_s", "acked_per_s", "worst_second_ratio", "lag_p99_ms", "server_cores")})
except Exception:
    print("live:", live[:300])
assert end <= base * 1.05, f"RSS grew by {100*(end-base)/base:.1f} %"
assert ing["events_per_s"] >= 0.95 * rate, "ingest fell behind"
print("soak: ok")
PY
