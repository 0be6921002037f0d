#!/usr/bin/env bash
# Resident memory of `vellocity-local serve` as the table grows: COMPANIES companies (default
# 20000) POSTed over HTTP, RSS printed at 1,000, 10,000 and the end, then the database's size.
# The embedded table keeps items in SQLite, so memory should stay flat as the table grows.
# Usage: scripts/memory.sh [COMPANIES]   (builds the debug binary; BIN=… to use another)
set -euo pipefail
cd "$(dirname "$0")/.."
companies=${1:-20000}
bin=${BIN:-target/debug/vellocity-local}
[ -n "${BIN:-}" ] || cargo build --quiet -p vellocity-local
data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
key=$("$bin" --data-dir "$data" create-team --name Memory 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
"$bin" --data-dir "$data" serve --addr "127.0.0.1:$port" 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$data"' EXIT
python3 - "$port" "$key" "$server" "$companies" <<'PY'
import http.client, json, sys, time
port, key, pid, total = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
def rss_kb():
    return next(int(l.split()[1]) for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS"))
for _ in range(100):
    try:
        http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect(); break
    except OSError:
        time.sleep(0.05)
print(f"companies {0:>6}: {rss_kb():>7} kB resident")
headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
for n in range(1, total + 1):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("POST", "/v1/companies", json.dumps({"name": f"Company {n}", "description": "x" * 200}), headers)
    answer = conn.getresponse(); answer.read()
    assert answer.status == 201, answer.status
    if n in (1000, 10000) or n == total:
        print(f"companies {n:>6}: {rss_kb():>7} kB resident")
PY
echo "database: $(du -k "$data/vellocity.sqlite3" | cut -f1) kB"
