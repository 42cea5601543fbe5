#!/usr/bin/env bash
# Two builds of `credo` side by side on the same ingest (issue 2): the population's
# events ingested into a folder that already holds its subjects and contacts, as
# `credo bench ingest` times it, the builds alternated run by run so both see the host's
# same minutes. For each run: events/s as `credo ingest` reports it, and the process's
# user and system CPU seconds (the work done, which moves less with the host's phases
# than time; system time is mostly page faults and the input's copy).
# Prints each build's runs and medians, and the median of the pairwise ratios.
#   bash bench/ingest-ab.sh OLD NEW [ROUNDS] [PEOPLE] [DIR]
#   e.g. bash bench/ingest-ab.sh /tmp/credo-old target/release/credo 5 100000 /dev/shm
# DIR holds the data folders (default: a temporary folder; /dev/shm leaves the disk out).
#
# With CALLGRIND=1 it counts instructions instead (deterministic; valgrind's callgrind,
# one rayon thread so each side's work is counted under its own function), over
# PEOPLE (use 10000), printing the whole run's total and each side's.
set -euo pipefail
old="$(realpath "$1")"; new="$(realpath "$2")"; rounds="${3:-5}"; people="${4:-100000}"
base="${5:-}"
work=$(mktemp -d ${base:+-p "$base"})
trap 'rm -rf "$work"' EXIT
"$new" generate --people "$people" --seed 7 --out "$work/pop" > /dev/null
# The setup folder, made once (the log format is the same for both builds).
"$new" --data "$work/setup" ingest --json "$work/pop/subjects.jsonl" "$work/pop/contacts.jsonl" > /dev/null

if [ "${CALLGRIND:-0}" = 1 ]; then
  for b in "$old" "$new"; do
    rm -rf "$work/run" && cp -r "$work/setup" "$work/run"
    RAYON_NUM_THREADS=1 valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" \
      "$b" --data "$work/run" ingest "$work/pop/events.jsonl" --json > /dev/null 2> /dev/null
    total=$(callgrind_annotate "$work/cg.out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
    commit=$(callgrind_annotate --inclusive=yes "$work/cg.out" 2>/dev/null \
      | awk '/commit_chunk \[/ && !done {gsub(",","",$1); print $1; done = 1}')
    parse=$(callgrind_annotate --inclusive=yes "$work/cg.out" 2>/dev/null \
      | awk '/ingest::parse_chunk \[/ && !done {gsub(",","",$1); print $1; done = 1}')
    echo "$b: $total instructions in all, $parse in parse_chunk (parse, validate, encode)," \
      "$commit in commit_chunk (admit, log, apply)"
  done
  exit 0
fi

for r in $(seq "$rounds"); do
  for b in "$old" "$new"; do
    rm -rf "$work/run" && cp -r "$work/setup" "$work/run" && sync
    /usr/bin/time -f "%U %S" -o "$work/time" "$b" --data "$work/run" ingest "$work/pop/events.jsonl" --json \
      | jq -r .events_per_s > "$work/rate"
    echo "$r $b $(cat "$work/rate") $(cat "$work/time")"
  done
done | python3 -c '
import sys, statistics as st
runs = {}
for line in sys.stdin:
    r, b, rate, user, system = line.split()
    runs.setdefault(b, []).append((float(rate), float(user), float(system)))
(old, a), (new, b) = runs.items()
for name, xs in ((old, a), (new, b)):
    print(f"{name}: events/s {[round(x[0] / 1e6, 2) for x in xs]} M, median {st.median(x[0] for x in xs) / 1e6:.2f} M; "
          f"user CPU {[x[1] for x in xs]} s, median {st.median(x[1] for x in xs):.2f} s; "
          f"system CPU {[x[2] for x in xs]} s, median {st.median(x[2] for x in xs):.2f} s")
print(f"pairwise new/old: events/s {st.median(y[0] / x[0] for x, y in zip(a, b)):.2f}x, "
      f"user CPU {st.median(y[1] / x[1] for x, y in zip(a, b)):.2f}x, "
      f"system CPU {st.median(y[2] / max(x[2], 0.01) for x, y in zip(a, b)):.2f}x")
'
