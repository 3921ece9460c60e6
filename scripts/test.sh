#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, docs, then every test (storage tests
# on SQLite and on PostgreSQL). Installs and starts what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v rustup >/dev/null 2>&1; then
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi
bash scripts/postgres.sh

# Installs Debian packages (with sudo unless root), refreshing the package lists only when
# the first try fails.
debian_install() {
  local sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get install -y "$@" >/dev/null 2>&1 ||
    { $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y "$@" >/dev/null; }
}

# SQLite, ring and jemalloc are compiled from C; jemalloc's build runs `make`.
if ! command -v cc >/dev/null 2>&1 || ! command -v make >/dev/null 2>&1; then
  echo "== installing a C toolchain (Debian package build-essential)"
  debian_install build-essential
fi

# The OAuth tests run a real authorization server (oidc-provider) on Node.js.
if ! command -v node >/dev/null 2>&1; then
  echo "== installing Node.js (Debian packages)"
  debian_install nodejs npm
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
  debian_install faketime
fi
# The console's browser tests drive headless Chromium through chromedriver.
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "== installing chromium and chromium-driver (Debian packages)"
  debian_install chromium chromium-driver
fi
# GitHub's OpenAPI description (npm @octokit/openapi, pinned), for the OpenAPI tests.
bash scripts/fixtures.sh
export KEYWAY_TEST_DATABASE_URL="${KEYWAY_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"

# Every database and schema a test makes is named with this run's prefix (kwt_<epoch>_), so
# this run drops only its own when it ends, and two runs on one machine never touch each
# other's. Leftovers of runs that died more than six hours ago are dropped too.
RUN_STARTED=$(date +%s)
export KEYWAY_TEST_PREFIX="kwt_${RUN_STARTED}_"
drop_test_objects() { # SQL condition on the name `n`
  psql "$KEYWAY_TEST_DATABASE_URL" -qtAc "SELECT 'DROP DATABASE ' || datname || ' WITH (FORCE);' FROM pg_database d, LATERAL (SELECT d.datname AS n) x WHERE $1" \
    | PGOPTIONS="--client-min-messages=warning" psql "$KEYWAY_TEST_DATABASE_URL" -q >/dev/null
  psql "$KEYWAY_TEST_DATABASE_URL" -qtAc "SELECT 'DROP SCHEMA ' || nspname || ' CASCADE;' FROM pg_namespace s, LATERAL (SELECT s.nspname AS n) x WHERE $1" \
    | PGOPTIONS="--client-min-messages=warning" psql "$KEYWAY_TEST_DATABASE_URL" -q >/dev/null
}
STALE=$((RUN_STARTED - 6 * 3600))
drop_test_objects "CASE WHEN n ~ '^kwt_[0-9]+_' THEN split_part(n, '_', 2)::bigint < $STALE ELSE n ~ '^kwt_[0-9a-f]{32}\$' OR n LIKE 'kwbench\_%' END"
drop_own() { drop_test_objects "left(n, ${#KEYWAY_TEST_PREFIX}) = '$KEYWAY_TEST_PREFIX'"; }
trap drop_own EXIT

echo "== cargo fmt" && cargo fmt --all -- --check
echo "== cargo clippy" && cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo doc" && RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet
echo "== cargo test" && cargo test --workspace --locked
bash scripts/openapi-check.sh
