#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, docs, then every test (storage tests
# on SQLite and on PostgreSQL). Installs and starts what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v rustup >/dev/null 2>&1; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi
bash scripts/postgres.sh

# The OAuth tests run a real authorization server (oidc-provider) on Node.js.
if ! command -v node >/dev/null 2>&1; then
  echo "== installing Node.js (Debian packages)"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get install -y nodejs npm >/dev/null
fi
if [ ! -d tests/oauth-server/node_modules/oidc-provider ] \
  || [ tests/oauth-server/package-lock.json -nt tests/oauth-server/node_modules/.package-lock.json ]; then
  echo "== npm ci (tests/oauth-server)"
  npm ci --prefix tests/oauth-server --no-audit --no-fund --loglevel=error
fi
# The replica tests skew one replica's clock with libfaketime; the fault tests start a private
# PostgreSQL cluster (initdb, pg_ctl) and mount a small tmpfs, so they run as root or a user
# allowed to mount.
if [ ! -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ]; then
  echo "== installing faketime (Debian package)"
  sudo_cmd=""; [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get install -y faketime >/dev/null
fi
export KEYWAY_TEST_DATABASE_URL="${KEYWAY_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"

# A failed replica test may leave its database behind; clear old ones.
psql "$KEYWAY_TEST_DATABASE_URL" -qtAc "SELECT 'DROP DATABASE ' || datname || ' WITH (FORCE);' FROM pg_database WHERE datname LIKE 'kwt\_%'" \
  | psql "$KEYWAY_TEST_DATABASE_URL" -q >/dev/null
# Test runs leave one schema each behind in the `test` database; clear the old ones.
psql "$KEYWAY_TEST_DATABASE_URL" -qtAc "SELECT 'DROP SCHEMA ' || nspname || ' CASCADE;' FROM pg_namespace WHERE nspname LIKE 'kwt\_%' OR nspname LIKE 'kwbench\_%'" \
  | psql "$KEYWAY_TEST_DATABASE_URL" -q >/dev/null

echo "== cargo fmt" && cargo fmt --all -- --check
echo "== cargo clippy" && cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo doc" && RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
echo "== cargo test" && cargo test --workspace --locked
