#!/usr/bin/env bash
# The routes gathered across partitions (issue 9): `/v1/stats` asked of a node of the
# local cluster (every owner tallies its partitions, the node adds the tallies), a court
# notice's plan (gathered in steps: the debtor's centre, the circle's hops, every
# partition's share), and a relying party's consented score read (its inquiry goes
# through the partition's access stream before the answer), against the same population
# on one machine (`credo serve`). Checks the answers are equal (the plan's members
# aside), then times each: N requests, one at a time, median and p90 (curl's time_total).
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
# Keys on one machine (made before it serves: the server holds the folder): a court, a
# subject and the relying party its grant names.
skey() { "$credo" --data "$work/single" --json key create "$@" | jq -r .token; }
subject=$(head -1 "$work/pop/subjects.jsonl" | jq -r .id)
court_s=$(skey --role court --party court-1); sub_s=$(skey --role subject --subject "$subject")
rp_s=$(skey --role relying_party --party bank-b)
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
time_of() { # URL [TOKEN]
  for i in $(seq 1 "$n"); do
    curl -s -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer ${2:-}" "$1"
  done | sort -n |
    awk '{a[NR]=$1} END {printf "median %.1f ms, p90 %.1f ms (%d requests)\n", a[int((NR+1)/2)]*1000, a[int(NR*0.9+0.5)]*1000, NR}'
}
single_url="127.0.0.1:$sport"
echo "/v1/stats"
echo "  cluster node (3 nodes, 16 partitions, gathered): $(time_of "$node/v1/stats")"
echo "  one machine:                                      $(time_of "$single_url/v1/stats")"
echo "  cluster node, again:                              $(time_of "$node/v1/stats")"
echo "  one machine, again:                               $(time_of "$single_url/v1/stats")"

# The same keys on the cluster (in its bucket; every node takes them within a second).
nats_url=$(grep -o 'nats://[^ ]*' "$work/up.out" | head -1)
ckey() { "$credo" --json cluster key create --nats "$nats_url" "$@" | jq -r .token; }
court_c=$(ckey --role court --party court-1); sub_c=$(ckey --role subject --subject "$subject")
rp_c=$(ckey --role relying_party --party bank-b)
sleep 2

# A published case with a circle: the first listing whose plan one machine answers.
plan_path=""
for c in $(grep '"kind":"listing"' "$work/pop/events.jsonl" | jq -r .case | head -50 | jq -Rr @uri); do
  p="/v1/notices/plan?case=$c&hops=2"
  if [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $court_s" "$single_url$p")" = 200 ]; then
    plan_path="$p"; break
  fi
done
[ -n "$plan_path" ] || { echo "no published case"; exit 1; }
plain() { jq -S 'del(.members)'; }
a=$(curl -s -H "Authorization: Bearer $court_c" "$node$plan_path" | plain)
b=$(curl -s -H "Authorization: Bearer $court_s" "$single_url$plan_path" | plain)
[ "$a" = "$b" ] || { echo "plans differ:"; echo "$a"; echo "$b"; exit 1; }
echo "equal: a notice's plan on a node and on one machine (members aside): $(echo "$a" | jq -c '{size, capped, by_criterion}')"
echo "GET /v1/notices/plan (hops 2)"
echo "  cluster node (gathered in 4 steps): $(time_of "$node$plan_path" "$court_c")"
echo "  one machine:                        $(time_of "$single_url$plan_path" "$court_s")"
echo "  cluster node, again:                $(time_of "$node$plan_path" "$court_c")"
echo "  one machine, again:                 $(time_of "$single_url$plan_path" "$court_s")"

# A consented score read by a relying party: the inquiry is logged before the answer.
grant='{"party":"bank-b","purpose":"score","until":"2027-06-30"}'
curl -sf -X POST -H "Authorization: Bearer $sub_c" -d "$grant" "$node/v1/subjects/$subject/consents" > /dev/null
curl -sf -X POST -H "Authorization: Bearer $sub_s" -d "$grant" "$single_url/v1/subjects/$subject/consents" > /dev/null
score="/v1/subjects/$subject/score"
echo "GET $score by a relying party with the subject's grant (an inquiry each)"
echo "  cluster node (through the access stream): $(time_of "$node$score" "$rp_c")"
echo "  one machine:                               $(time_of "$single_url$score" "$rp_s")"
echo "  cluster node, again:                       $(time_of "$node$score" "$rp_c")"
echo "  one machine, again:                        $(time_of "$single_url$score" "$rp_s")"
inq_c=$(curl -s -H "Authorization: Bearer $sub_c" "$node/v1/subjects/$subject/report" | jq '.inquiries | length')
inq_s=$(curl -s -H "Authorization: Bearer $sub_s" "$single_url/v1/subjects/$subject/report" | jq '.inquiries | length')
echo "inquiries in the subject's report: cluster $inq_c, one machine $inq_s"
