#!/usr/bin/env bash
# The cluster's transport benchmark (issue 9): starts NATS with JetStream on 127.0.0.1
# (one server, or a cluster of three with every message on all three), runs
# `credo bench bus` against it, and stops it.
#   bash bench/bus.sh CREDO SERVERS POPULATION [credo bench bus options…]
#   e.g. bash bench/bus.sh target/release/credo 3 /tmp/pop --json
# NATS: $CREDO_NATS_SERVER, else `nats-server` on the PATH (2.10 or later; see
# tests/cluster/nats-requirements.txt).
set -euo pipefail
credo="$(realpath "$1")"; servers="$2"; pop="$3"; shift 3
nats="${CREDO_NATS_SERVER:-nats-server}"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ports=(); cports=()
for i in $(seq 1 "$servers"); do ports+=("$(port)"); cports+=("$(port)"); done
routes=$(for c in "${cports[@]}"; do printf 'nats://127.0.0.1:%s,' "$c"; done); routes=${routes%,}
urls=""
for i in $(seq 0 $((servers - 1))); do
  args=(-js -a 127.0.0.1 -p "${ports[$i]}" -sd "$work/s$i" --server_name "s$i")
  if [ "$servers" -gt 1 ]; then
    args+=(--cluster_name credo --cluster "nats://127.0.0.1:${cports[$i]}" --routes "$routes")
  fi
  "$nats" "${args[@]}" > "$work/s$i.log" 2>&1 &
  pids+=($!)
  urls+="nats://127.0.0.1:${ports[$i]},"
done
urls=${urls%,}
for p in "${ports[@]}"; do
  for _ in $(seq 1 100); do (echo > "/dev/tcp/127.0.0.1/$p") 2>/dev/null && break; sleep 0.1; done
done
# A new cluster needs a few seconds to elect its JetStream leader.
[ "$servers" -gt 1 ] && sleep 5
"$credo" bench bus --nats "$urls" --replicas "$servers" --input "$pop" "$@"
