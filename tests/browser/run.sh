#!/usr/bin/env bash
# Runs the browser test against a fresh demo data folder.
#   bash tests/browser/run.sh ./target/release/credo
# Needs node >= 20 and Chromium at /usr/bin/chromium (or CHROMIUM=/path).
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 /path/to/credo" >&2
  exit 2
fi
BIN=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
PORT=${CREDO_PORT:-18080}
URL="http://127.0.0.1:$PORT"
DIR=$(mktemp -d /tmp/credo-browser.XXXXXX)
SHOTS=${CREDO_SHOTS:-/tmp/credo-browser-shots}
mkdir -p "$SHOTS"
SERVER_PID=""

cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$DIR" "$DIR.server.log"
}
trap cleanup EXIT

if curl -fsS "$URL/healthz" >/dev/null 2>&1; then
  echo "something already answers on $URL; stop it or set CREDO_PORT" >&2
  exit 2
fi

echo "== demo data in $DIR"
"$BIN" --data "$DIR" demo --people 2000 --no-serve --json > /dev/null

SUBJECTS="$DIR/population/subjects.jsonl"
if [ ! -s "$SUBJECTS" ]; then
  echo "no $SUBJECTS after demo" >&2
  exit 1
fi
# The first person (an 18-character resident ID) in the population.
SUBJECT_ID=$(node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").split("\n");
  for (const l of lines) {
    if (!l.trim()) continue;
    const id = JSON.parse(l).id;
    if (typeof id === "string" && id.length === 18) { console.log(id); process.exit(0); }
  }
  process.exit(1);
' "$SUBJECTS")
echo "== subject $SUBJECT_ID"

json_field() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s)[process.argv[1]]))' "$1"; }
SUBJECT_KEY=$("$BIN" --data "$DIR" key create --role subject --subject "$SUBJECT_ID" --json | json_field token)
COURT_PARTY=court-1
COURT_KEY=$("$BIN" --data "$DIR" key create --role court --party "$COURT_PARTY" --json | json_field token)
FURNISHER_KEY=$("$BIN" --data "$DIR" key create --role furnisher --party bank-map --json | json_field token)

echo "== serving on $URL"
"$BIN" --data "$DIR" serve --listen "127.0.0.1:$PORT" > "$DIR.server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 150); do
  if curl -fsS "$URL/healthz" >/dev/null 2>&1; then break; fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "the server exited:" >&2; cat "$DIR.server.log" >&2; exit 1
  fi
  sleep 0.2
done
curl -fsS "$URL/healthz" >/dev/null || { echo "no /healthz after 30 s" >&2; cat "$DIR.server.log" >&2; exit 1; }

# A debtor for the map test at a known address (Beijing, Dongcheng): a furnisher sends the
# subject record, the court the judgment and a listing published at once.
MAP_ID=11010519491231002X
MAP_LAT=39.9288
MAP_LON=116.4164
MAP_CASE="(2025)京0101执4242号"
post() { curl -fsS -X POST -H "Authorization: Bearer $1" -H 'Content-Type: application/x-ndjson' --data-binary "$2" "$URL/v1/events"; }
post "$FURNISHER_KEY" "{\"id\":\"$MAP_ID\",\"source\":\"bank-map\",\"kind\":\"subject\",\"at\":\"2025-01-01\",\"name\":\"测试债务人\",\"lat\":$MAP_LAT,\"lon\":$MAP_LON,\"address\":\"x\"}" >/dev/null
post "$COURT_KEY" "{\"id\":\"map-j\",\"source\":\"$COURT_PARTY\",\"subject\":\"$MAP_ID\",\"at\":\"2025-06-01\",\"kind\":\"judgment\",\"case\":\"$MAP_CASE\",\"court\":\"北京市东城区人民法院\",\"amount\":88000}
{\"id\":\"map-l\",\"source\":\"$COURT_PARTY\",\"subject\":\"$MAP_ID\",\"at\":\"2025-06-01\",\"kind\":\"listing\",\"case\":\"$MAP_CASE\",\"court\":\"北京市东城区人民法院\",\"trigger\":1,\"grace_days\":0}" >/dev/null

cd "$HERE"
if [ ! -d node_modules/playwright-core ]; then
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
fi

set +e
CREDO_URL="$URL" CREDO_SUBJECT_KEY="$SUBJECT_KEY" CREDO_SUBJECT_ID="$SUBJECT_ID" \
  CREDO_COURT_KEY="$COURT_KEY" CREDO_COURT_PARTY="$COURT_PARTY" CREDO_SHOTS="$SHOTS" \
  CREDO_MAP_LAT="$MAP_LAT" CREDO_MAP_LON="$MAP_LON" CREDO_MAP_CASE="$MAP_CASE" \
  node test.mjs
STATUS=$?
set -e
if [ $STATUS -ne 0 ]; then
  echo "== server log (tail)"; tail -n 30 "$DIR.server.log" || true
fi
rm -f "$DIR.server.log"
exit $STATUS
