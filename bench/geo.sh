#!/usr/bin/env bash
# The debtor map's index: credo and rstar in process, and Redis GEOSEARCH (Debian's
# redis-server, started here on 127.0.0.1) on the same points.
#   bash bench/geo.sh target/release/credo [credo bench geo flags...]
# e.g. the full run:  bash bench/geo.sh target/release/credo --points 15000000
#      a quick check: bash bench/geo.sh target/release/credo --points 200000 --queries 200000 --runs 1 --sessions 2000
set -euo pipefail
BIN=$(realpath "${1:?usage: $0 /path/to/credo [flags]}")
shift
PORT=${CREDO_REDIS_PORT:-16379}
command -v redis-server >/dev/null || { echo "redis-server is not installed (apt-get install -y redis-server)" >&2; exit 2; }
DIR=$(mktemp -d /tmp/credo-redis.XXXXXX)
redis-server --port "$PORT" --bind 127.0.0.1 --save "" --appendonly no --dir "$DIR" --daemonize no > "$DIR/redis.log" 2>&1 &
RP=$!
trap 'kill $RP 2>/dev/null || true; wait $RP 2>/dev/null || true; rm -rf "$DIR"' EXIT
for _ in $(seq 1 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
"$BIN" bench geo --peer rstar,redis --redis "127.0.0.1:$PORT" "$@"
