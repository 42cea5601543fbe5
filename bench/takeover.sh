#!/usr/bin/env bash
# A takeover on the local cluster (issue 9): `credo cluster up` with a generated
# population, then nodes n1 and n2 are killed with SIGKILL and n0 takes their partitions
# over. Prints how long until n0 holds all of them caught up, and how many it restored
# from snapshots. Run it with snapshots and without, side by side:
#   bash bench/takeover.sh CREDO PEOPLE SNAPSHOT_EVERY   (seconds; 0: no snapshots)
#   e.g. for s in 20 0 20 0; do bash bench/takeover.sh target/release/credo 100000 $s; done
# NATS: $CREDO_NATS_SERVER, else `nats-server` on the PATH.
set -euo pipefail
credo="$(realpath "$1")"; people="$2"; every="$3"
work=$(mktemp -d)
port=$(( 20000 + RANDOM % 20000 ))
up=""
cleanup() {
  [ -n "$up" ] && kill "$up" 2>/dev/null || true
  pkill -f "$work/cluster" 2>/dev/null || true
  sleep 1; rm -rf "$work"
}
trap cleanup EXIT
nats="${CREDO_NATS_SERVER:-nats-server}"
CREDO_SNAPSHOT_EVERY="$every" "$credo" --data "$work/cluster" --as-of 2026-10-31 cluster up \
  --people "$people" --port "$port" --nats-server "$nats" > "$work/up.out" 2>&1 &
up=$!
until grep -q "^running" "$work/up.out"; do
  kill -0 "$up" 2>/dev/null || { cat "$work/up.out"; exit 1; }
  sleep 1
done
loaded=$(grep "^loaded" "$work/up.out")
# Every partition's snapshot taken after the load (the first tick comes `every` seconds
# after the nodes start).
[ "$every" != 0 ] && sleep $(( ${every%.*} + 5 ))
pid() { grep -o "node $1: .*(pid [0-9]*)" "$work/up.out" | grep -o '[0-9]*)$' | tr -d ')'; }
health() { curl -s "127.0.0.1:$((port + 20))/healthz"; }
kill -9 "$(pid n1)" "$(pid n2)"
t0=$(date +%s.%N)
until health | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["caught_up"] and len(d["partitions"]) == len(d["applied"]) == 16 else 1)' 2>/dev/null; do
  sleep 0.2
done
t1=$(date +%s.%N)
restored=$(health | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["restored_from_snapshot"]))')
printf '{"people": %s, "snapshot_every_s": %s, "takeover_s": %.2f, "restored_from_snapshot": %s, "load": "%s"}\n' \
  "$people" "$every" "$(echo "$t1 - $t0" | bc)" "$restored" "$loaded"
