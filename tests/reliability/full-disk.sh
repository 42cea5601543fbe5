#!/usr/bin/env bash
# A full disk: ingest into a data folder on a 24 MiB tmpfs stops with a clear error,
# loses nothing it acknowledged, and resumes once the filesystem is grown: the CLI on
# its next run, and a running server by itself, without a restart.
#   bash tests/reliability/full-disk.sh target/debug/credo
# Needs root (it mounts a tmpfs). Exits non-zero on any failed check.
set -euo pipefail
credo="$(realpath "$1")"
work=$(mktemp -d)
disk="$work/disk"
mkdir -p "$disk"
disk2="$work/disk2"
mkdir -p "$disk2"
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null || true
  umount "$disk" 2>/dev/null || true
  umount "$disk2" 2>/dev/null || true
  rm -rf "$work"
}
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

# 4. A running server on a full disk: HTTP ingest gets 503 `storage_io`, and once the
#    filesystem is grown the same server takes the rest, with nothing lost and the audit
#    chain whole.
mount -t tmpfs -o size=24m tmpfs "$disk2"
"$credo" --data "$disk2/data" ingest "$work/pop/subjects.jsonl" > /dev/null
token=$("$credo" --data "$disk2/data" key create --role furnisher --party disk --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')
python3 - "$work/pop/subjects.jsonl" "$work/payments.jsonl" <<'PY'
import json, sys
ids = [json.loads(l)["id"] for l in open(sys.argv[1])]
with open(sys.argv[2], "w") as f:
    for n in range(600_000):
        f.write(json.dumps({"id": f"d-{n}", "source": "disk", "subject": ids[n % len(ids)],
                            "at": f"2026-09-{1 + n % 28:02d}", "kind": "payment",
                            "amount": 10 + n % 900}, separators=(",", ":")) + "\n")
PY
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$credo" --data "$disk2/data" serve --listen "127.0.0.1:$port" > "$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/healthz" > /dev/null 2>&1 && break; sleep 0.2; done
python3 - "$port" "$token" "$work/payments.jsonl" "$disk2" <<'PY'
import http.client, json, subprocess, sys
port, token, path, disk = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
lines = open(path, "rb").read().splitlines(keepends=True)
bodies = [b"".join(lines[i:i + 10_000]) for i in range(0, len(lines), 10_000)]
h = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
def post(b):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    c.request("POST", "/v1/events", body=b, headers=h)
    r = c.getresponse()
    return r.status, json.loads(r.read())
def events():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", "/v1/stats")
    return json.loads(c.getresponse().read())["events"]
start = events()
acked, failed_at = 0, None
for k, b in enumerate(bodies):
    status, d = post(b)
    if status == 200:
        acked += d["accepted"]
        continue
    assert status == 503 and d["code"] == "storage_io", (status, d)
    assert "No space left on device" in d["message"], d
    failed_at = k
    break
assert failed_at is not None, "the disk never filled"
print(f"server: {acked} events acknowledged, then 503 storage_io: {d['message']}")
# Still full: another try fails the same way, and the server keeps what it acknowledged.
status, d = post(bodies[failed_at])
assert status == 503 and d["code"] == "storage_io", (status, d)
held = events() - start
assert held >= acked, (held, acked)
subprocess.run(["mount", "-o", "remount,size=512m", disk], check=True)
accepted = dups = 0
for b in bodies:
    status, d = post(b)
    assert status == 200 and d["rejected"] == 0, (status, d)
    accepted += d["accepted"]; dups += d["duplicates"]
assert accepted + dups == len(lines), (accepted, dups, len(lines))
assert dups >= acked, (dups, acked)
assert events() - start == len(lines), (events() - start, len(lines))
print(f"server resumed without a restart: {accepted} accepted, {dups} duplicates, all {len(lines)} held")
PY
kill "$server"; wait "$server" 2>/dev/null || true; server=
"$credo" --data "$disk2/data" fsck > /dev/null
"$credo" --data "$disk2/data" audit verify > /dev/null
echo "full disk (server): ok"
