#!/usr/bin/env bash
# Runs schemathesis against a local `serve` with docs/openapi.json: every operation, generated
# valid and invalid data, the document's links followed statefully. Fails on any server error,
# undocumented status or content type, answer that breaks its schema, invalid data accepted, or
# route that works without credentials. Called by scripts/test.sh (which installs schemathesis
# into .tools/); `scripts/contract.sh .tools` runs it alone after `cargo build -p vellocity-local`.
set -euo pipefail
cd "$(dirname "$0")/.."
tools=$(cd "${1:-.tools}" && pwd)
bin=target/debug/vellocity-local
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
# Limits no generated request reaches: schemathesis sends thousands (the limits have their own tests).
VELLOCITY_PLANS='{"trial": {"credits": 200, "requests_per_second": 1000, "burst": 100000, "requests_per_day": 10000000}, "marketplace": 10000}' \
  "$bin" --data-dir "$work/data" serve --addr "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 60); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.5)" 2>/dev/null && break
  sleep 0.5
done
team=$("$bin" --data-dir "$work/data" create-team --name Contract)
team_id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["team_id"])' <<<"$team")
api_key=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"])' <<<"$team")
"$bin" --data-dir "$work/data" grant-credits --team "$team_id" --amount 1000000 --reason "contract test" >/dev/null
# Run from the scratch directory: schemathesis and hypothesis write nothing into the repository.
root=$(pwd)
(cd "$work" && HYPOTHESIS_STORAGE_DIRECTORY="$work/hypothesis" "$tools/venv/bin/schemathesis" \
  --config-file "$root/scripts/schemathesis.toml" run "$root/docs/openapi.json" \
  --url "http://127.0.0.1:$port" -H "Authorization: Bearer $api_key" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,negative_data_rejection,ignored_auth \
  --max-examples 30 --seed 20261202 --workers 2 --generation-database none --no-color) || {
  status=$?
  echo "schemathesis found failures (exit $status); the server's log:"; tail -n 50 "$work/serve.log"
  exit $status
}
echo "contract: schemathesis passed"
