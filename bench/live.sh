#!/usr/bin/env bash
# Live map sessions over real WebSockets: a demo data folder, `credo serve` with the
# public rate limit lifted (all sessions come from loopback), and `credo bench live`.
#   bash bench/live.sh target/release/credo [SESSIONS] [SECONDS] [PEOPLE]
# Each session is a socket on both sides: the open-files limit (ulimit -n) must exceed
# SESSIONS + a few hundred in both processes; the script raises it as far as it may.
set -euo pipefail
BIN=$(realpath "${1:?usage: $0 /path/to/credo [sessions] [seconds] [people]}")
SESSIONS=${2:-18000}
SECONDS_MEASURED=${3:-15}
PEOPLE=${4:-100000}
PORT=${CREDO_PORT:-18181}
DIR=$(mktemp -d /tmp/credo-live.XXXXXX)
trap 'kill $SP 2>/dev/null || true; wait $SP 2>/dev/null || true; rm -rf "$DIR"' EXIT
ulimit -n "$(ulimit -Hn)" || true
if [ "$(ulimit -n)" -le $((SESSIONS + 200)) ]; then
  echo "open-files limit $(ulimit -n) is too low for $SESSIONS sessions (hard limit $(ulimit -Hn))" >&2
  exit 2
fi
"$BIN" --data "$DIR" demo --people "$PEOPLE" --no-serve --json > /dev/null
"$BIN" --data "$DIR" serve --listen "127.0.0.1:$PORT" --public-rate 1e9 --public-burst 1e9 > "$DIR/serve.log" 2>&1 &
SP=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
"$BIN" bench live --addr "127.0.0.1:$PORT" --sessions "$SESSIONS" --seconds "$SECONDS_MEASURED" \
  --per-source 9000 --server-pid "$SP" "${@:5}"
echo "server RSS: $(grep VmRSS /proc/$SP/status | awk '{print $2/1024 " MB"}')"
