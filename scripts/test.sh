#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, docs, then every test (storage tests
# on SQLite and on PostgreSQL). Installs and starts what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v rustup >/dev/null 2>&1; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi
bash scripts/postgres.sh
export KEYWAY_TEST_DATABASE_URL="${KEYWAY_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"

# Test runs leave one schema each behind in the `test` database; clear the old ones.
psql "$KEYWAY_TEST_DATABASE_URL" -qtAc "SELECT 'DROP SCHEMA ' || nspname || ' CASCADE;' FROM pg_namespace WHERE nspname LIKE 'kwt\_%' OR nspname LIKE 'kwbench\_%'" \
  | psql "$KEYWAY_TEST_DATABASE_URL" -q >/dev/null

echo "== cargo fmt" && cargo fmt --all -- --check
echo "== cargo clippy" && cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo doc" && RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
echo "== cargo test" && cargo test --workspace --locked
