#!/usr/bin/env bash
# The routes gathered across partitions (issue 9): `/v1/stats` asked of a node of the
# local cluster (every owner tallies its partitions, the node adds the tallies) against
# the same population on one machine (`credo serve`). Checks the two answers are equal,
# then times each: N requests, one at a time, median and p90 (curl's time_total).
#   bash bench/gather.sh CREDO PEOPLE [N]     e.g. bash bench/gather.sh target/release/credo 100000 20
# NATS: $CREDO_NATS_SERVER, else `nats-server` on the PATH.
set -euo pipefail
credo="$(realpath "$1")"; people="$2"; n="${3:-20}"; seed=42
work=$(mktemp -d)
port=$(( 20000 + RANDOM % 20000 ))
up=""; single=""
cleanup() {
  [ -n "$up" ] && kill "$up" 2>/dev/null || true
  [ -n "$single" ] && kill "$single" 2>/dev/null || true
  pkill -f "$work/cluster" 2>/dev/null || true
  sleep 1; rm -rf "$work"
}
trap cleanup EXIT
nats="${CREDO_NATS_SERVER:-nats-server}"
# One machine: the same population (the same generator and seed as `cluster up`).
"$credo" generate --people "$people" --seed "$seed" --out "$work/pop" > /dev/null
"$credo" --data "$work/single" --as-of 2026-10-31 ingest --json \
  "$work/pop/subjects.jsonl" "$work/pop/events.jsonl" "$work/pop/contacts.jsonl" > /dev/null
sport=$(( port + 50 ))
"$credo" --data "$work/single" --as-of 2026-10-31 serve --listen "127.0.0.1:$sport" > /dev/null 2>&1 &
single=$!
"$credo" --data "$work/cluster" --as-of 2026-10-31 cluster up --people "$people" --seed "$seed" \
  --port "$port" --nats-server "$nats" > "$work/up.out" 2>&1 &
up=$!
until grep -q "^running" "$work/up.out"; do
  kill -0 "$up" 2>/dev/null || { cat "$work/up.out"; exit 1; }
  sleep 1
done
grep "^loaded" "$work/up.out"
node="127.0.0.1:$((port + 20))"
until curl -sf "127.0.0.1:$sport/healthz" > /dev/null; do sleep 0.5; done
# Equal answers (the keeper may still be finishing a round: a few tries).
for i in $(seq 1 30); do
  if [ "$(curl -s "$node/v1/stats")" = "$(curl -s "127.0.0.1:$sport/v1/stats")" ]; then
    echo "equal: /v1/stats on a node and on one machine"; break
  fi
  [ "$i" = 30 ] && { echo "differ:"; curl -s "$node/v1/stats"; echo; curl -s "127.0.0.1:$sport/v1/stats"; exit 1; }
  sleep 2
done
time_of() {
  for i in $(seq 1 "$n"); do curl -s -o /dev/null -w '%{time_total}\n' "$1/v1/stats"; done | sort -n |
    awk '{a[NR]=$1} END {printf "median %.1f ms, p90 %.1f ms (%d requests)\n", a[int((NR+1)/2)]*1000, a[int(NR*0.9+0.5)]*1000, NR}'
}
echo "cluster node (3 nodes, 16 partitions, gathered): $(time_of "$node")"
echo "one machine:                                      $(time_of "127.0.0.1:$sport")"
echo "cluster node, again:                              $(time_of "$node")"
echo "one machine, again:                               $(time_of "127.0.0.1:$sport")"
