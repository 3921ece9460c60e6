#!/usr/bin/env bash
# Keyway's own OpenAPI document (docs/openapi.json, which a unit test keeps equal to the one
# the code generates): validated with openapi-spec-validator, then fuzzed with schemathesis
# against a live `keyway serve` on SQLite. Both run inside a network namespace that has only
# loopback, because schemathesis makes up URLs for /v1/dispatch and Keyway would otherwise try
# to reach them. A fixed seed and bounded examples keep the run short and repeatable.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${KEYWAY_PYENV:-target/pyenv}"
if [ ! -x "$VENV/bin/schemathesis" ] || [ ! -x "$VENV/bin/openapi-spec-validator" ]; then
  echo "== installing schemathesis and openapi-spec-validator (PyPI) into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check \
    "schemathesis==4.32.5" "openapi-spec-validator==0.9.0"
fi
echo "== openapi-spec-validator docs/openapi.json"
"$VENV/bin/openapi-spec-validator" docs/openapi.json

cargo build --locked --quiet --bin keyway
echo "== schemathesis against keyway serve (loopback-only network namespace)"
if [ "$(id -u)" -eq 0 ]; then
  exec unshare --net bash scripts/openapi-fuzz.sh "$VENV"
else
  exec unshare --map-root-user --net bash scripts/openapi-fuzz.sh "$VENV"
fi
