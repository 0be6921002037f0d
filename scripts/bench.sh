#!/usr/bin/env bash
# Performance figures for the closing notes, each as ratios to a baseline measured in the same
# run (these machines are shared and noisy):
# - API latency and throughput through the local stack (cargo bench --bench api);
# - Lambda cold start and warm invoke of a route function against a hello-world
#   `lambda_runtime` function built with the same profile, DynamoDB over HTTP and HTTPS, and the
#   AWS cost of a four-step execution from measured counts (cargo bench --bench cold_start);
# - route function sizes, x86_64 release, gzip -9 (what a deployment zips);
# - the local server's time from process start to first answered request.
# `scripts/bench.sh --all-sizes` sizes every function, not only the few that link the most.
# Needs what scripts/test.sh installs: DynamoDB Local is started here and stopped after.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="$(pwd)/.tools"
mkdir -p "$tools"
. scripts/services.sh
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
unset AWS_PROFILE AWS_ENDPOINT_URL
# The benches are drivers: optimised, but not worth a whole-program LTO build each.
export CARGO_PROFILE_BENCH_LTO=false CARGO_PROFILE_BENCH_CODEGEN_UNITS=16

# Route functions that link the most: the plain route, the ones with a queue, a model and
# streaming, the webhook sender, and the authorizer (API Gateway client).
sized=(get-team start-execution send-message create-webhook authorizer)
if [ "${1:-}" = "--all-sizes" ]; then
  sized=($(ls functions/src/bin | sed 's/\.rs$//'))
fi
bins=()
for name in "${sized[@]}"; do bins+=(--bin "$name"); done
echo "== release build: ${sized[*]} and the hello-world baseline"
cargo build --quiet --release -p vellocity-functions "${bins[@]}" --example hello-world

echo
echo "== function sizes, x86_64 release, gzip -9 (goal: <= 3 MB each)"
size() { printf '%-24s %9d bytes  gzip %9d bytes\n' "$1" "$(stat -c %s "$2")" "$(gzip -9 -c "$2" | wc -c)"; }
size "hello-world (baseline)" target/release/examples/hello-world
for name in "${sized[@]}"; do size "$name" "target/release/$name"; done

start_dynamodb_local
echo
echo "== cold start and cost per execution (cargo bench --bench cold_start)"
cargo bench --quiet --bench cold_start

echo
echo "== API latency and throughput (cargo bench --bench api)"
cargo bench --quiet --bench api

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
