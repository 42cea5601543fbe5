#!/usr/bin/env bash
# A full disk: ingest into a data folder on a 24 MiB tmpfs stops with a clear error,
# loses nothing it acknowledged, and resumes once the filesystem is grown.
#   bash tests/reliability/full-disk.sh target/debug/credo
# Needs root (it mounts a tmpfs). Exits non-zero on any failed check.
set -euo pipefail
credo="$(realpath "$1")"
work=$(mktemp -d)
disk="$work/disk"
mkdir -p "$disk"
cleanup() { umount "$disk" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
mount -t tmpfs -o size=24m tmpfs "$disk"

"$credo" generate --people 8000 --seed 5 --out "$work/pop" > /dev/null
total=$(cat "$work/pop/subjects.jsonl" "$work/pop/contacts.jsonl" "$work/pop/events.jsonl" | wc -l)
input_mb=$(du -m "$work/pop/events.jsonl" | cut -f1)
echo "input: $total lines (events.jsonl $input_mb MB) into a 24 MiB filesystem"

# 1. The disk fills: ingest stops with a clear error. Each acknowledged batch is
#    printed as it is acknowledged (--progress-json); the last one says how much is safe.
set +e
"$credo" --data "$disk/data" ingest --progress-json --batch-bytes 262144 \
  "$work/pop/subjects.jsonl" "$work/pop/contacts.jsonl" "$work/pop/events.jsonl" \
  > "$work/acks.jsonl" 2> "$work/err.txt"
status=$?
set -e
cat "$work/err.txt"
[ "$status" -ne 0 ] || { echo "FAIL: ingest succeeded on a full disk"; exit 1; }
grep -q "No space left on device" "$work/err.txt" || { echo "FAIL: the error does not say the disk is full"; exit 1; }
acked=$(python3 - "$work/acks.jsonl" <<'PY'
import json, sys
# Progress lines count from the start of each file: the last line of each file holds
# what was acknowledged of it.
last = {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    if "acked_line" in d:
        last[d["file"]] = d["accepted"]
print(sum(last.values()))
PY
)
echo "acknowledged before the disk filled: $acked events"
[ "$acked" -gt 0 ] || { echo "FAIL: nothing was acknowledged before the disk filled"; exit 1; }

# 2. Nothing acknowledged is lost: the folder opens (a torn last batch is cut off) and
#    holds at least every acknowledged event; fsck finds no damage.
"$credo" --data "$disk/data" fsck
held=$("$credo" --data "$disk/data" summary --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["events"])')
echo "held after reopening on the full disk: $held events"
[ "$held" -ge "$acked" ] || { echo "FAIL: $held held < $acked acknowledged"; exit 1; }

# 3. Room again: the same command completes; what was held counts as duplicates.
mount -o remount,size=512m "$disk"
"$credo" --data "$disk/data" ingest --json \
  "$work/pop/subjects.jsonl" "$work/pop/contacts.jsonl" "$work/pop/events.jsonl" > "$work/resume.json"
python3 - "$work/resume.json" "$held" "$total" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); held, total = int(sys.argv[2]), int(sys.argv[3])
assert r["rejected"] == 0, r
assert r["duplicates"] == held, (r["duplicates"], held)
assert r["accepted"] + r["duplicates"] == total, (r, total)
print(f"resumed: {r['accepted']} accepted, {r['duplicates']} duplicates, {total} lines in all")
PY
final=$("$credo" --data "$disk/data" summary --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["events"])')
[ "$final" -eq "$total" ] || { echo "FAIL: $final events held, $total sent"; exit 1; }
"$credo" --data "$disk/data" fsck > /dev/null
echo "full disk: ok ($acked acknowledged before it filled, $held held, all $total after resuming)"
