#!/usr/bin/env bash
# Performance figures for the closing notes: API latency/throughput through the local stack,
# arm64 release function sizes (cargo-lambda, as SAM builds them), and the local server's
# time from process start to first answered request. Needs scripts/test.sh's .tools/ for
# cargo-lambda (installed here if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
tools="$(pwd)/.tools"

echo "== API latency and throughput (cargo bench --bench api)"
cargo bench --quiet --bench api

echo
echo "== arm64 release functions (cargo lambda build --release --arm64)"
if [ ! -x "$tools/venv/bin/cargo-lambda" ]; then
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check cargo-lambda ziglang
fi
start=$(date +%s)
PATH="$tools/venv/bin:$PATH" cargo lambda build --release --arm64 -p vellocity-functions >/dev/null 2>&1
echo "build time: $(( $(date +%s) - start )) s"
for dir in target/lambda/*/; do
  name=$(basename "$dir")
  printf '%-16s %8d bytes\n' "$name" "$(stat -c %s "$dir/bootstrap")"
done | sort -k2 -n | awk '{ print; total += $2; n += 1; sizes[n] = $2 } END { printf "functions: %d, median %d bytes\n", n, sizes[int((n + 1) / 2)] }'

echo
echo "== local server: process start to first answered request (release, 10 runs)"
cargo build --quiet --release -p vellocity-local
bin=target/release/vellocity-local
data=$(mktemp -d)
key=$("$bin" --data-dir "$data" create-team --name Bench 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])')
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
python3 - "$bin" "$data" "$port" "$key" <<'PY'
import statistics, subprocess, sys, time, urllib.request
binary, data, port, key = sys.argv[1:]
times = []
for _ in range(10):
    start = time.perf_counter()
    server = subprocess.Popen([binary, "--data-dir", data, "serve", "--addr", f"127.0.0.1:{port}"], stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/team", headers={"Authorization": f"Bearer {key}"})
                urllib.request.urlopen(request, timeout=1).read()
                break
            except OSError:
                time.sleep(0.002)
        times.append((time.perf_counter() - start) * 1000)
    finally:
        server.terminate()
        server.wait()
print(f"start to first 200: median {statistics.median(times):.1f} ms (min {min(times):.1f}, max {max(times):.1f})")
PY
rm -rf "$data"
