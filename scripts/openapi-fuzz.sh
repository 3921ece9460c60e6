#!/usr/bin/env bash
# Runs inside `unshare --net` (see openapi-check.sh): only loopback exists here.
set -euo pipefail
VENV="$1"
ip link set lo up
DIR="$(mktemp -d)"
PORT=18480
BIN="$PWD/target/debug/keyway"
export KEYWAY_DATA_DIR="$DIR/data" KEYWAY_LISTEN="127.0.0.1:$PORT" KEYWAY_LOG="warn"
# Calls may go to loopback here (nothing else exists in this namespace), so dispatch and runs
# get past the destination policy to a refused connection.
export KEYWAY_DISPATCH_ALLOW_NETWORKS="127.0.0.0/8"
(cd "$DIR" && exec "$BIN" serve >"$DIR/serve.log" 2>&1) &
SERVER=$!
cleanup() { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
(cd "$DIR" && "$BIN" org create acme >/dev/null && "$BIN" user create --org acme --name fuzz --admin >/dev/null)
TOKEN="$(cd "$DIR" && "$BIN" token create --org acme --user fuzz)"
# From the run's own directory, so schemathesis's cache (.schemathesis/) starts empty each time
# and the seeded run repeats exactly.
CONFIG="$PWD/tests/openapi/schemathesis.toml"
VENV="$(cd "$VENV" && pwd)"
cd "$DIR"
"$VENV/bin/schemathesis" --config-file "$CONFIG" run "http://127.0.0.1:$PORT/openapi.json" \
  -H "Authorization: Bearer $TOKEN" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,negative_data_rejection,use_after_free,ensure_resource_availability \
  --max-examples "${SCHEMATHESIS_MAX_EXAMPLES:-100}" --seed 1 --workers 1 \
  --max-time "${SCHEMATHESIS_MAX_TIME:-90}" --no-color
# A panic would have answered 500 (found above); the log must show none either.
if grep -q "panicked" "$DIR/serve.log"; then
  echo "keyway serve panicked during the run:" >&2
  grep -A5 "panicked" "$DIR/serve.log" >&2
  exit 1
fi
