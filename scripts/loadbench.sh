#!/usr/bin/env bash
# Load benchmark: Keyway against nginx as an authenticating reverse proxy.
#
#   bash scripts/loadbench.sh            (from the repo root; installs nginx-light and wrk from
#                                         Debian's packages if missing, builds Keyway in release)
#
# Starts, all on 127.0.0.1 only:
#   :18081  upstream (nginx, `return 200 "ok"`)
#   :18443  mTLS upstream (nginx, TLS with a run-time CA, client certificate required)
#   :18080  nginx reverse proxy to :18081 that adds a static `Authorization` header
#   :18090  Keyway, on SQLite then on PostgreSQL (a fresh database, dropped at exit), at its
#           default log level, with an API-key and an mTLS credential (each with a proxy
#           base) and one web service for each
# and drives each with the same wrk command (threads, connections, duration), after a short
# warm-up, reporting requests per second and p50/p99 latency. Per run: direct, nginx, and on
# each backend the saved web service, the same call in proxy mode (/v1/proxy/{id}/) and the
# mTLS web service; then the direct call, the web service and proxy mode at 1 connection
# (added latency). The report gives min / median / max over the runs of each ratio to nginx
# in the same run, with the targets of issue 12. Any socket error, non-2xx answer, failed
# outgoing call from Keyway or non-2xx answer of an upstream fails the run.
#
# Settings (environment):
#   LOADBENCH_RUNS         runs of the whole set            (default 5)
#   LOADBENCH_BACKENDS     Keyway's databases               (default "sqlite postgres")
#   LOADBENCH_PG_URL       PostgreSQL server (trust auth)   (default postgres://postgres@127.0.0.1:5432/postgres)
#   LOADBENCH_CONNECTIONS  wrk connections                  (default 64)
#   LOADBENCH_DURATION     measured run per scenario        (default 10s)
#   LOADBENCH_WARMUP       warm-up per scenario, not kept   (default 2s)
#   LOADBENCH_THREADS      wrk threads                      (default 2)
#   LOADBENCH_KEEP=1       keep the whole temp dir (certificates, database, configs)
#   LOADBENCH_STRICT=1     exit 1 when a target is missed (default: report MISS, exit 0)
#   LOADBENCH_NO_BUILD=1   skip `cargo build` and use the existing target/release/keyway
#   LOADBENCH_DOCS=1       also write the summary into docs/benchmarks.md, between its
#                          `<!-- loadbench:begin -->` and `<!-- loadbench:end -->` lines
#   LOADBENCH_SOAK=600     instead of the comparison: a soak of that many seconds with mixed
#                          calls (API key, Basic, OAuth client credentials with 20 s tokens,
#                          API key + mTLS) at LOADBENCH_SOAK_RATE calls/s (default: half of
#                          what a 10 s probe of the mix reaches), sampling Keyway's RSS every
#                          10 s. Fails on any error, failed call or RSS growth over 10 %
#                          after the first minute.
#
# All state lives in a fresh temp dir; every process started here is stopped on exit. What
# is left afterwards is the temp dir's results.md, logs/ and wrk/ (raw wrk output).
set -euo pipefail

CONNECTIONS=${LOADBENCH_CONNECTIONS:-64}
DURATION=${LOADBENCH_DURATION:-10s}
WARMUP=${LOADBENCH_WARMUP:-2s}
THREADS=${LOADBENCH_THREADS:-2}
KEEP=${LOADBENCH_KEEP:-0}
STRICT=${LOADBENCH_STRICT:-0}
NO_BUILD=${LOADBENCH_NO_BUILD:-0}
DOCS=${LOADBENCH_DOCS:-0}
SOAK=${LOADBENCH_SOAK:-}
RUNS=${LOADBENCH_RUNS:-5}
BACKENDS=${LOADBENCH_BACKENDS:-sqlite postgres}
PG_URL=${LOADBENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}

HOST=127.0.0.1
PORT_PROXY=18080
PORT_UPSTREAM=18081
PORT_TLS=18443
PORT_KEYWAY=18090

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
LUA="$ROOT/scripts/loadbench/keyway-run.lua"
PROXY_LUA="$ROOT/scripts/loadbench/keyway-proxy.lua"

log() { printf 'loadbench: %s\n' "$*" >&2; }
die() {
  printf '\nloadbench: FAILED: %s\n' "$*" >&2
  exit 1
}

[[ $CONNECTIONS =~ ^[0-9]+$ && $THREADS =~ ^[0-9]+$ ]] ||
  die "LOADBENCH_CONNECTIONS and LOADBENCH_THREADS must be whole numbers"
((THREADS >= 1 && CONNECTIONS >= THREADS)) ||
  die "need LOADBENCH_THREADS >= 1 and LOADBENCH_CONNECTIONS >= LOADBENCH_THREADS"

# --- tools: Debian packages only ----------------------------------------------------------
export PATH="$PATH:/usr/sbin:/sbin" # nginx lives in /usr/sbin, outside a normal user's PATH

install_packages() {
  local sudo=()
  if [[ $(id -u) -ne 0 ]]; then
    command -v sudo >/dev/null 2>&1 || die "missing $*; install them with apt-get as root"
    sudo=(sudo)
  fi
  log "installing from Debian's packages: $*"
  # Debian's maintainer scripts start a freshly installed nginx service: a temporary
  # policy-rc.d (the documented switch) keeps them from doing so; the script runs its own.
  local policy=0
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
    "${sudo[@]}" chmod 755 /usr/sbin/policy-rc.d
    policy=1
  fi
  local rc=0
  "${sudo[@]}" apt-get update -qq || rc=$?
  if ((rc == 0)); then
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || rc=$?
  fi
  if ((policy)); then "${sudo[@]}" rm -f /usr/sbin/policy-rc.d; fi
  return "$rc"
}

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
need_nginx=0
command -v nginx >/dev/null 2>&1 || need_nginx=1
if ((${#missing[@]} || need_nginx)); then
  if ((need_nginx)); then
    # nginx-light is Debian 12's small build (http, ssl, proxy, upstream keepalive); later
    # releases ship a single `nginx` package.
    install_packages "${missing[@]}" nginx-light || install_packages "${missing[@]}" nginx ||
      die "could not install ${missing[*]} nginx"
  else
    install_packages "${missing[@]}" || die "could not install ${missing[*]}"
  fi
fi
[[ $NO_BUILD == 1 ]] || command -v cargo >/dev/null 2>&1 || die "cargo is missing: install a Rust toolchain (https://rustup.rs)"

# --- the four ports must be free --------------------------------------------------------
port_busy() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
for port in $PORT_PROXY $PORT_UPSTREAM $PORT_TLS $PORT_KEYWAY; do
  ! port_busy "$port" || die "$HOST:$port is already in use (another loadbench still running?)"
done

# --- temp dir, and cleanup of everything started here -------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/keyway-loadbench.XXXXXX")
mkdir -p "$TMP"/{certs,data,nginx,logs,wrk}
PIDS=()

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # Only processes started here that are still running as this shell's jobs, so a PID that
  # was reused by an unrelated process is never signalled.
  local pid live=() jobs_now
  jobs_now=" $(jobs -p | tr '\n' ' ') "
  for pid in "${PIDS[@]}"; do [[ $jobs_now == *" $pid "* ]] && live+=("$pid"); done
  for pid in "${live[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    local alive=0
    for pid in "${live[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${live[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if declare -F drop_pg_databases >/dev/null; then drop_pg_databases; fi
  if [[ $KEEP != 1 ]]; then rm -rf "$TMP/certs" "$TMP/data" "$TMP/nginx"; fi
  if ((rc != 0)); then log "logs and raw wrk output are in $TMP (logs/, wrk/)"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

wait_for() { # what, command... : retries for up to 30 s
  local what=$1
  shift
  for _ in $(seq 1 300); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  die "$what did not come up in 30 s"
}

# --- build Keyway (no-op when up to date; cargo waits on its own lock) ---------------------
KEYWAY="${CARGO_TARGET_DIR:-$ROOT/target}/release/keyway"
if [[ $NO_BUILD == 1 ]]; then
  log "LOADBENCH_NO_BUILD=1: using the existing $KEYWAY"
else
  log "building Keyway (cargo build --release --locked)"
  cargo build --release --locked >"$TMP/logs/cargo-build.log" 2>&1 ||
    {
      tail -n 30 "$TMP/logs/cargo-build.log" >&2
      die "cargo build failed"
    }
fi
[[ -x $KEYWAY ]] || die "no binary at $KEYWAY"

# --- certificates (EC P-256; PKCS#8 keys) -------------------------------------------------
log "making certificates in $TMP/certs"
C=$TMP/certs
cat >"$C/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = keyway-loadbench
[ca_ext]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[client_ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
genkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
make_ca() { # name, subject
  genkey "$C/$1.key"
  openssl req -x509 -new -key "$C/$1.key" -config "$C/openssl.cnf" -extensions ca_ext \
    -subj "$2" -sha256 -days 2 -out "$C/$1.pem" 2>/dev/null
}
make_leaf() { # name, subject, ca, extensions
  genkey "$C/$1.key"
  openssl req -new -key "$C/$1.key" -config "$C/openssl.cnf" -subj "$2" -out "$C/$1.csr" 2>/dev/null
  openssl x509 -req -in "$C/$1.csr" -CA "$C/$3.pem" -CAkey "$C/$3.key" \
    -set_serial "0x$(openssl rand -hex 8)" -sha256 -days 2 \
    -extfile "$C/openssl.cnf" -extensions "$4" -out "$C/$1.pem" 2>/dev/null
  openssl verify -CAfile "$C/$3.pem" "$C/$1.pem" >/dev/null || die "certificate $1 does not verify"
}
make_ca server-ca "/CN=Keyway loadbench server CA"
make_leaf server "/CN=localhost" server-ca server_ext
make_ca client-ca "/CN=Keyway loadbench client CA"
make_leaf client "/CN=keyway-loadbench-client" client-ca client_ext
grep -q 'BEGIN PRIVATE KEY' "$C/client.key" || die "client key is not PKCS#8"

# --- nginx: upstream, mTLS upstream, reverse proxy ---------------------------------------
N=$TMP/nginx
tls_v6_listen=""
# localhost may resolve to ::1 too; serve the mTLS upstream there as well when ::1 exists.
if grep -q '^00000000000000000000000000000001 ' /proc/net/if_inet6 2>/dev/null; then
  tls_v6_listen="listen [::1]:$PORT_TLS ssl;"
fi
cat >"$N/nginx.conf" <<EOF
# Written by scripts/loadbench.sh for one run.
worker_processes auto;
daemon off;
pid $N/nginx.pid;
error_log $TMP/logs/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $N/client_body;
    proxy_temp_path $N/proxy;
    fastcgi_temp_path $N/fastcgi;
    uwsgi_temp_path $N/uwsgi;
    scgi_temp_path $N/scgi;

    # Any non-2xx answer from any server below is logged, and fails the run; except 499,
    # nginx's mark for a request whose client hung up, as wrk does with the requests still
    # in flight when its time is up.
    map \$status \$loadbench_failed { ~^2 0; 499 0; default 1; }
    log_format loadbench_failed '\$server_port \$status "\$request" \$upstream_status';

    upstream up {
        server $HOST:$PORT_UPSTREAM;
        keepalive 64;
    }

    # (a) the upstream
    server {
        listen $HOST:$PORT_UPSTREAM;
        access_log $TMP/logs/nginx-failed.log loadbench_failed if=\$loadbench_failed;
        location / { default_type text/plain; return 200 "ok"; }
    }

    # (b) the mTLS upstream
    server {
        listen $HOST:$PORT_TLS ssl;
        $tls_v6_listen
        server_name localhost;
        ssl_certificate $C/server.pem;
        ssl_certificate_key $C/server.key;
        ssl_client_certificate $C/client-ca.pem;
        ssl_verify_client on;
        access_log $TMP/logs/nginx-failed.log loadbench_failed if=\$loadbench_failed;
        location / { default_type text/plain; return 200 "ok"; }
    }

    # (c) the reverse proxy adding a static Authorization header
    server {
        listen $HOST:$PORT_PROXY;
        access_log $TMP/logs/nginx-failed.log loadbench_failed if=\$loadbench_failed;
        location / {
            proxy_pass http://up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Authorization "Bearer static-benchmark-token";
        }
    }
}
EOF
: >"$TMP/logs/nginx-failed.log"
nginx -t -q -e "$TMP/logs/nginx-error.log" -p "$N" -c "$N/nginx.conf" 2>"$TMP/logs/nginx-test.log" ||
  {
    cat "$TMP/logs/nginx-test.log" "$TMP/logs/nginx-error.log" >&2
    die "nginx rejected its configuration"
  }
log "starting nginx on :$PORT_UPSTREAM, :$PORT_TLS (mTLS), :$PORT_PROXY (proxy)"
nginx -e "$TMP/logs/nginx-error.log" -p "$N" -c "$N/nginx.conf" >"$TMP/logs/nginx.out" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_for "nginx" curl -sf "http://$HOST:$PORT_PROXY/"
kill -0 "$NGINX_PID" 2>/dev/null || die "nginx exited; see $TMP/logs/nginx-error.log"
[[ $(curl -sf "http://$HOST:$PORT_UPSTREAM/") == ok ]] || die "upstream does not answer ok"
[[ $(curl -sf "http://$HOST:$PORT_PROXY/") == ok ]] || die "proxy does not answer ok"
[[ $(curl -sf --cacert "$C/server-ca.pem" --cert "$C/client.pem" --key "$C/client.key" \
  "https://localhost:$PORT_TLS/") == ok ]] || die "mTLS upstream does not answer ok with the client certificate"
if curl -s -o /dev/null --cacert "$C/server-ca.pem" "https://localhost:$PORT_TLS/" -w '%{http_code}' | grep -q '^2'; then
  die "mTLS upstream answers without a client certificate"
fi
: >"$TMP/logs/nginx-failed.log" # forget the deliberate 400 of the no-certificate check above

# --- Keyway, on SQLite or PostgreSQL -------------------------------------------------------
# Only this run's settings: drop any KEYWAY_* from the caller's environment. The log level is
# the default (info): the figures are what a deployment that changed nothing gets.
while read -r var; do unset "$var"; done < <(compgen -e | grep '^KEYWAY_' || true)
export KEYWAY_LISTEN="$HOST:$PORT_KEYWAY"
export KEYWAY_PUBLIC_URL="http://$HOST:$PORT_KEYWAY"
export KEYWAY_DISPATCH_ALLOW_NETWORKS="127.0.0.0/8,::1/128"
KW="http://$HOST:$PORT_KEYWAY"
KEYWAY_PID=
PG_DATABASES=()

api() { # method, path, [json body] -> prints the body; fails on a non-2xx answer
  local out code data=()
  [[ -n ${3:-} ]] && data=(--data-binary "$3")
  out=$(curl -sS -o - -w '\n%{http_code}' -X "$1" "$KW$2" -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' "${data[@]}")
  code=${out##*$'\n'}
  out=${out%$'\n'*}
  [[ $code == 2* ]] || die "$1 $2 answered $code: $out"
  printf '%s' "$out"
}
json_id() { python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }

check_run() { # web service id, label: one call must give status 200 and body ok
  local out
  out=$(api POST "/v1/web-services/$1/run" '{}')
  python3 -c 'import json,sys; r=json.loads(sys.argv[1]); sys.exit(0 if r.get("status")==200 and r.get("body")=="ok" else 1)' "$out" ||
    die "$2: run answered $out"
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# Starts Keyway on `backend` (sqlite: a file in the temp dir; postgres: a fresh database on
# LOADBENCH_PG_URL's server, dropped at exit), with one org, user and token, an API-key and
# an mTLS credential (both with a proxy base), and one web service for each.
start_keyway() { # backend
  local backend=$1
  rm -rf "$TMP/data" && mkdir -p "$TMP/data"
  export KEYWAY_DATA_DIR="$TMP/data"
  unset KEYWAY_DATABASE_URL KEYWAY_MASTER_KEYS
  if [[ $backend == postgres ]]; then
    command -v psql >/dev/null 2>&1 || die "the postgres backend needs psql (Debian: postgresql-client)"
    local db="keyway_loadbench_$$_${#PG_DATABASES[@]}"
    psql "$PG_URL" -qAt -c "CREATE DATABASE $db" >/dev/null || die "cannot create database $db on $PG_URL"
    PG_DATABASES+=("$db")
    export KEYWAY_DATABASE_URL="${PG_URL%/*}/$db"
    # PostgreSQL needs a configured master key (no generated dev key).
    KEYWAY_MASTER_KEYS="bench-1:$(head -c 32 /dev/urandom | base64 -w0)"
    export KEYWAY_MASTER_KEYS
  fi
  log "starting Keyway on :$PORT_KEYWAY ($backend)"
  "$KEYWAY" serve >"$TMP/logs/keyway-$backend.out" 2>"$TMP/logs/keyway-$backend.log" &
  KEYWAY_PID=$!
  PIDS+=("$KEYWAY_PID")
  for _ in $(seq 1 300); do
    curl -sf "$KW/readyz" >/dev/null 2>&1 && break
    kill -0 "$KEYWAY_PID" 2>/dev/null || {
      tail -n 20 "$TMP/logs/keyway-$backend.log" >&2
      die "Keyway exited at start"
    }
    sleep 0.1
  done
  curl -sf "$KW/readyz" >/dev/null || die "Keyway is not ready after 30 s"

  "$KEYWAY" org create bench >/dev/null 2>>"$TMP/logs/keyway-cli.log"
  "$KEYWAY" user create --org bench --name loader >/dev/null 2>>"$TMP/logs/keyway-cli.log"
  TOKEN=$("$KEYWAY" token create --org bench --user loader)
  [[ -n $TOKEN ]] || die "keyway token create printed no token"
  export LOADBENCH_TOKEN=$TOKEN

  API_CRED=$(api POST /v1/credentials "{\"name\":\"bench-key\",\"kind\":\"api_key\",\"api_key\":\"bench-secret\",\"header_name\":\"Authorization\",\"prefix\":\"Bearer \",\"proxy_base_url\":\"http://$HOST:$PORT_UPSTREAM\"}" | json_id)
  local mtls_body
  mtls_body=$(python3 - "$C/client.pem" "$C/client.key" "$C/server-ca.pem" "https://localhost:$PORT_TLS" <<'PY'
import json, sys
read = lambda p: open(p).read()
print(json.dumps({
    "name": "bench-mtls", "kind": "api_key", "api_key": "bench-secret",
    "header_name": "Authorization", "prefix": "Bearer ", "proxy_base_url": sys.argv[4],
    "mtls": {"certificate_pem": read(sys.argv[1]), "private_key_pem": read(sys.argv[2]),
             "ca_certificate_pem": read(sys.argv[3])},
}))
PY
)
  MTLS_CRED=$(api POST /v1/credentials "$mtls_body" | json_id)
  WS_API=$(api POST /v1/web-services "{\"name\":\"direct\",\"request\":{\"method\":\"GET\",\"url\":\"http://$HOST:$PORT_UPSTREAM/\",\"credential_id\":\"$API_CRED\"}}" | json_id)
  WS_MTLS=$(api POST /v1/web-services "{\"name\":\"mtls\",\"request\":{\"method\":\"GET\",\"url\":\"https://localhost:$PORT_TLS/\",\"credential_id\":\"$MTLS_CRED\"}}" | json_id)
  check_run "$WS_API" "Keyway API key"
  check_run "$WS_MTLS" "Keyway mTLS"
  [[ $(curl -sf "$KW/v1/proxy/$API_CRED/" -H "Authorization: Bearer $TOKEN") == ok ]] ||
    die "proxy mode does not answer ok"
  log "Keyway ($backend) set up: credentials $API_CRED (API key), $MTLS_CRED (mTLS); web services $WS_API, $WS_MTLS"
}

stop_keyway() {
  [[ -n $KEYWAY_PID ]] || return 0
  kill -TERM "$KEYWAY_PID" 2>/dev/null || true
  wait "$KEYWAY_PID" 2>/dev/null || true
  local keep=() p
  for p in "${PIDS[@]}"; do [[ $p == "$KEYWAY_PID" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
  KEYWAY_PID=
}

# The audit log's size on disk (both tables and their indexes) over the uses it holds: what
# each call costs in storage (two events: the use and its result).
audit_bytes_per_call() { # backend
  if [[ $1 == postgres ]]; then
    psql "$KEYWAY_DATABASE_URL" -qAt -c "SELECT (pg_total_relation_size('audit_entries') + \
      pg_total_relation_size('audit_subjects')) / GREATEST(1, (SELECT COUNT(*) FROM audit_entries \
      WHERE action = 'credential.use'))"
  else
    python3 - "$KEYWAY_DATA_DIR/keyway.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
size = db.execute("SELECT SUM(pgsize) FROM dbstat WHERE name IN (SELECT name FROM sqlite_master "
                  "WHERE tbl_name IN ('audit_entries', 'audit_subjects'))").fetchone()[0]
uses = db.execute("SELECT COUNT(*) FROM audit_entries WHERE action = 'credential.use'").fetchone()[0]
print(size // max(1, uses))
PY
  fi
}

drop_pg_databases() {
  local db
  for db in "${PG_DATABASES[@]}"; do psql "$PG_URL" -qAt -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true; done
}

# --- measuring ---------------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)
proc_ticks() { # pids... : user+system ticks (all threads)
  local sum=0 pid fields
  for pid in "$@"; do
    [[ -n $pid ]] || continue # no Keyway running (the anchors' scenarios)
    fields=$(sed -E 's/^.*\) //' "/proc/$pid/stat" 2>/dev/null) || continue
    # after the comm field: state is field 1, utime field 12, stime field 13
    sum=$((sum + $(awk '{print $12 + $13}' <<<"$fields")))
  done
  echo "$sum"
}
# nginx's master and its workers (the children of the master)
NGINX_PIDS=("$NGINX_PID")
for f in /proc/[0-9]*/stat; do
  ppid=$(sed -E 's/^.*\) //' "$f" 2>/dev/null | awk '{print $2}') || continue
  if [[ $ppid == "$NGINX_PID" ]]; then pid=${f#/proc/}; NGINX_PIDS+=("${pid%/stat}"); fi
done
machine_ticks() { awk '/^cpu /{busy=$2+$3+$4+$7+$8+$9; print busy, busy+$5+$6}' /proc/stat; }
dispatch_failures() { # outgoing calls whose outcome is not "answered", so far (0: no Keyway)
  { [[ -z $KEYWAY_PID ]] || curl -sf "$KW/metrics"; } | awk '/^keyway_dispatch_calls_total\{/ && !/outcome="answered"/ {s += $NF} END {printf "%d\n", s}'
}
to_ms() { # wrk duration (e.g. 812.00us, 1.23ms, 2.01s) -> milliseconds
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000; else if (u != "ms") n = -1
    printf "%.3f\n", n }'
}

declare -A RPS P50 P99 CPU_KW CPU_NG CPU_ALL
SCENARIOS=()

wrk_once() { # output file, duration, url, [lua] ; wrk runs in the background so a signal ends it
  local args=(-t"$THREADS" -c"$CONNECTIONS" -d"$2" --timeout 10s --latency)
  [[ -n ${4:-} ]] && args+=(-s "$4")
  wrk "${args[@]}" "$3" >"$1" 2>&1 &
  local pid=$!
  PIDS+=("$pid")
  local rc=0
  wait "$pid" || rc=$?
  local keep=() p # finished: never signal this PID again
  for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
  ((rc == 0)) || die "wrk exited with $rc: $(cat "$1")"
}
check_wrk() { # label, file
  local bad
  bad=$(grep -E 'Socket errors|Non-2xx or 3xx responses' "$2" || true)
  [[ -z $bad ]] || die "$1: wrk saw errors:"$'\n'"$(cat "$2")"
  grep -q 'Requests/sec' "$2" || die "$1: no Requests/sec in wrk output:"$'\n'"$(cat "$2")"
  [[ ! -s $TMP/logs/nginx-failed.log ]] ||
    die "$1: an nginx server answered non-2xx:"$'\n'"$(head -n 5 "$TMP/logs/nginx-failed.log")"
}

scenario() { # name, url, [lua]
  local name=$1 url=$2 lua=${3:-}
  local file=${name//\//_}
  local out="$TMP/wrk/$file.txt" fail0 fail1
  log "$name: warm-up $WARMUP, then $DURATION at $CONNECTIONS connections ($url)"
  fail0=$(dispatch_failures)
  wrk_once "$TMP/wrk/$file.warmup.txt" "$WARMUP" "$url" "$lua"
  check_wrk "$name (warm-up)" "$TMP/wrk/$file.warmup.txt"

  local kw0 ng0 m0 m0_total kw1 ng1 m1 m1_total
  kw0=$(proc_ticks "$KEYWAY_PID")
  ng0=$(proc_ticks "${NGINX_PIDS[@]}")
  read -r m0 m0_total < <(machine_ticks)
  wrk_once "$out" "$DURATION" "$url" "$lua"
  kw1=$(proc_ticks "$KEYWAY_PID")
  ng1=$(proc_ticks "${NGINX_PIDS[@]}")
  read -r m1 m1_total < <(machine_ticks)
  check_wrk "$name" "$out"
  fail1=$(dispatch_failures)
  ((fail1 == fail0)) || die "$name: $((fail1 - fail0)) outgoing calls from Keyway failed (see $KW/metrics, $TMP/logs/keyway.log)"

  local secs
  secs=$(awk '/requests in/ {v = $(NF-2); sub(/,$/, "", v); print v}' "$out")
  secs=$(to_ms "$secs")
  RPS[$name]=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")
  P50[$name]=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")
  P99[$name]=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")
  # CPU as cores used over the measured run (ticks / tick rate / wall seconds)
  CPU_KW[$name]=$(awk -v t=$((kw1 - kw0)) -v hz="$CLK_TCK" -v ms="$secs" 'BEGIN {printf "%.2f", t / hz / (ms / 1000)}')
  CPU_NG[$name]=$(awk -v t=$((ng1 - ng0)) -v hz="$CLK_TCK" -v ms="$secs" 'BEGIN {printf "%.2f", t / hz / (ms / 1000)}')
  CPU_ALL[$name]=$(awk -v b=$((m1 - m0)) -v t=$((m1_total - m0_total)) 'BEGIN {printf "%.0f%%", t ? 100 * b / t : 0}')
  SCENARIOS+=("$name")
  log "$name: ${RPS[$name]} req/s, p50 ${P50[$name]} ms, p99 ${P99[$name]} ms"
}

# --- soak: mixed calls at a set rate for a long time, RSS sampled ---------------------------
soak() {
  local oidc_out="$TMP/logs/oidc.out" issuer reg client_id client_secret
  command -v node >/dev/null 2>&1 || die "the soak's OAuth server needs Node.js"
  [[ -d $ROOT/tests/oauth-server/node_modules/oidc-provider ]] ||
    npm ci --prefix "$ROOT/tests/oauth-server" --no-audit --no-fund --loglevel=error >/dev/null
  # The server exits when its stdin closes: hold a pipe open for as long as this script runs.
  mkfifo "$TMP/oidc.stdin"
  exec 7<>"$TMP/oidc.stdin"
  PORT=0 ACCESS_TOKEN_TTL=20 node "$ROOT/tests/oauth-server/server.mjs" >"$oidc_out" 2>"$TMP/logs/oidc.log" <&7 &
  PIDS+=("$!")
  wait_for "the OAuth server" grep -q issuer "$oidc_out"
  issuer=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["issuer"])' "$oidc_out")
  reg=$(curl -sS -X POST "$issuer/reg" -H 'Content-Type: application/json' --data-binary \
    '{"redirect_uris":["http://127.0.0.1/cb"],"grant_types":["client_credentials"],"response_types":[],"token_endpoint_auth_method":"client_secret_basic","scope":"api:read"}')
  client_id=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_id"])' "$reg")
  client_secret=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["client_secret"])' "$reg")
  local basic oauth ws_basic ws_oauth
  basic=$(api POST /v1/credentials '{"name":"soak-basic","kind":"basic","username":"soak","password":"soak-secret"}' | json_id)
  oauth=$(api POST /v1/credentials "{\"name\":\"soak-oauth\",\"kind\":\"oauth2\",\"provider\":\"custom\",\"grant_type\":\"client_credentials\",\"client_id\":\"$client_id\",\"client_secret\":\"$client_secret\",\"scopes\":[\"api:read\"],\"token_url\":\"$issuer/token\"}" | json_id)
  ws_basic=$(api POST /v1/web-services "{\"name\":\"soak-basic\",\"request\":{\"method\":\"GET\",\"url\":\"http://$HOST:$PORT_UPSTREAM/\",\"credential_id\":\"$basic\"}}" | json_id)
  ws_oauth=$(api POST /v1/web-services "{\"name\":\"soak-oauth\",\"request\":{\"method\":\"GET\",\"url\":\"http://$HOST:$PORT_UPSTREAM/\",\"credential_id\":\"$oauth\"}}" | json_id)
  check_run "$ws_basic" "Basic"
  check_run "$ws_oauth" "OAuth client credentials"
  check_run "$WS_MTLS" "API key + mTLS"
  export LOADBENCH_SOAK_PATHS="/v1/web-services/$WS_API/run /v1/web-services/$ws_basic/run /v1/web-services/$ws_oauth/run /v1/web-services/$WS_MTLS/run"
  export LOADBENCH_CONNECTIONS_NOW=$CONNECTIONS
  local lua="$ROOT/scripts/loadbench/soak.lua" rate=${LOADBENCH_SOAK_RATE:-}
  if [[ -z $rate ]]; then
    LOADBENCH_SOAK_RATE=100000000 wrk_once "$TMP/wrk/soak-probe.txt" 10s "$KW" "$lua"
    check_wrk "soak probe" "$TMP/wrk/soak-probe.txt"
    rate=$(awk '/^Requests\/sec:/ {printf "%.0f", $2 / 2}' "$TMP/wrk/soak-probe.txt")
    log "soak: the mix reached $((rate * 2)) calls/s in 10 s; soaking at half of it"
  fi
  export LOADBENCH_SOAK_RATE=$rate
  local fail0 rss="$TMP/logs/rss.txt"
  fail0=$(dispatch_failures)
  (while kill -0 "$KEYWAY_PID" 2>/dev/null; do
    awk -v t="$(date +%s)" '/^VmRSS:/ {print t, $2}' "/proc/$KEYWAY_PID/status"
    sleep 10
  done) >"$rss" &
  PIDS+=("$!")
  log "soak: ${SOAK} s at $rate calls/s over $CONNECTIONS connections (API key, Basic, OAuth, mTLS in turn)"
  wrk_once "$TMP/wrk/soak.txt" "${SOAK}s" "$KW" "$lua"
  check_wrk "soak" "$TMP/wrk/soak.txt"
  local failed=$(($(dispatch_failures) - fail0))
  ((failed == 0)) || die "soak: $failed outgoing calls from Keyway failed"
  local refreshes
  refreshes=$(curl -sf "$issuer/_test/stats" | python3 -c 'import json,sys; print(json.load(sys.stdin)["token_requests"].get("client_credentials", 0))')
  local rc=0
  python3 - "$rss" "$TMP/wrk/soak.txt" "$rate" "$refreshes" "$SOAK" >"$TMP/results.md" <<'PY' || rc=$?
import re, sys
rss_file, wrk_file, rate, refreshes, soak = sys.argv[1:]
samples = [tuple(map(int, l.split())) for l in open(rss_file) if l.strip()]
t0 = samples[0][0]
steady = [kb for t, kb in samples if t - t0 >= 60]
wrk = open(wrk_file).read()
rps = re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1)
total = re.search(r"(\d+) requests in", wrk).group(1)
lo, hi = min(steady), max(steady)
growth = (hi - lo) / lo
print(f"Soak: {soak} s, target {rate} calls/s, achieved {float(rps):.0f} calls/s, {total} calls, 0 errors.")
print(f"OAuth client-credentials token requests during the run (20 s tokens): {refreshes}.")
print(f"Keyway RSS after the first minute: min {lo/1024:.1f} MiB, max {hi/1024:.1f} MiB, spread {100*growth:.1f} % "
      f"({len(steady)} samples, every 10 s); first sample {samples[0][1]/1024:.1f} MiB.")
print("RSS flat within 10 %: " + ("PASS" if growth <= 0.10 else "MISS"))
sys.exit(0 if growth <= 0.10 else 3)
PY
  cat "$TMP/results.md"
  ((rc == 0)) || die "soak: RSS grew by more than 10 %"
}

# Other work on the machine skews every figure: measure how busy it is before starting.
read -r b0 t0 < <(machine_ticks)
sleep 2
read -r b1 t1 < <(machine_ticks)
IDLE_BUSY=$(awk -v b=$((b1 - b0)) -v t=$((t1 - t0)) 'BEGIN {printf "%.0f", t ? 100 * b / t : 0}')
BUSY_NOTE="Before the runs the machine was ${IDLE_BUSY}% busy with other work."
if ((IDLE_BUSY > 15)); then
  BUSY_NOTE="$BUSY_NOTE WARNING: that is more than 15%, so these figures understate what the machine can do."
  log "WARNING: the machine is already ${IDLE_BUSY}% busy before the runs; figures will be skewed"
fi

if [[ -n $SOAK ]]; then
  start_keyway sqlite
  soak
  exit 0
fi

# One run: the anchors (direct, nginx), then Keyway on each backend: a saved web service, the
# same call in proxy mode, and the mTLS web service; then the added latency at 1 connection.
run_once() { # run number
  local r=$1 b
  scenario "direct#$r" "http://$HOST:$PORT_UPSTREAM/"
  scenario "nginx#$r" "http://$HOST:$PORT_PROXY/"
  CONNECTIONS_SAVED=$CONNECTIONS
  CONNECTIONS=1 THREADS_SAVED=$THREADS THREADS=1
  scenario "direct-1c#$r" "http://$HOST:$PORT_UPSTREAM/"
  CONNECTIONS=$CONNECTIONS_SAVED THREADS=$THREADS_SAVED
  for b in $BACKENDS; do
    start_keyway "$b"
    IDLE_RSS[$b]="${IDLE_RSS[$b]:-} $(rss_kib "$KEYWAY_PID")"
    scenario "web-service/$b#$r" "$KW/v1/web-services/$WS_API/run" "$LUA"
    scenario "proxy/$b#$r" "$KW/v1/proxy/$API_CRED/" "$PROXY_LUA"
    scenario "mtls/$b#$r" "$KW/v1/web-services/$WS_MTLS/run" "$LUA"
    LOAD_RSS[$b]="${LOAD_RSS[$b]:-} $(rss_kib "$KEYWAY_PID")"
    AUDIT_BYTES[$b]="${AUDIT_BYTES[$b]:-} $(audit_bytes_per_call "$b")"
    CONNECTIONS=1 THREADS=1
    scenario "web-service-1c/$b#$r" "$KW/v1/web-services/$WS_API/run" "$LUA"
    scenario "proxy-1c/$b#$r" "$KW/v1/proxy/$API_CRED/" "$PROXY_LUA"
    CONNECTIONS=$CONNECTIONS_SAVED THREADS=$THREADS_SAVED
    stop_keyway
  done
}

declare -A IDLE_RSS LOAD_RSS AUDIT_BYTES
START=$(date +%s)
for r in $(seq 1 "$RUNS"); do
  log "run $r of $RUNS"
  run_once "$r"
done
drop_pg_databases
ELAPSED=$(($(date +%s) - START))

# --- report ------------------------------------------------------------------------------
stats() { # values... -> "min median max"
  printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.2f %.2f %.2f\n", v[1], m, v[NR]}'
}
stats3() { # like stats, three decimals
  printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f %.3f %.3f\n", v[1], m, v[NR]}'
}
mib() { printf '%s\n' "$@" | awk '{printf "%.1f\n", $1 / 1024}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a / b}'; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.3f", a - b}'; }
verdict() { awk -v x="$1" -v op="$2" -v y="$3" 'BEGIN {ok = (op == ">=") ? (x >= y) : (x <= y); print ok ? "PASS" : "MISS"}'; }

CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)
NGINX_VERSION=$(nginx -v 2>&1 | sed 's/^nginx version: //')
WRK_VERSION=$( (wrk -v 2>&1 || true) | awk 'NR == 1 {print $2}')
if REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null); then
  git -C "$ROOT" diff --quiet HEAD 2>/dev/null || REV="$REV (with uncommitted changes)"
else
  REV="(not a git checkout)"
fi

MISSED=0
RESULTS="$TMP/results.md"
{
  echo "Keyway load benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), Keyway $REV"
  echo
  echo "Machine: $(nproc) cores, $CPU_MODEL. nginx $NGINX_VERSION, wrk $WRK_VERSION."
  echo "Load: \`wrk -t$THREADS -c$CONNECTIONS -d$DURATION --latency\` per scenario after a $WARMUP warm-up"
  echo "(\`-t1 -c1\` for the 1-connection rows), $RUNS runs; Keyway at its default log level (info)."
  echo "wrk, nginx, Keyway and the upstream share the same cores. $BUSY_NOTE"
  echo
  echo "Ratios are Keyway's req/s over nginx's in the same run; added p50 is Keyway's p50 at one"
  echo "connection minus the direct call's in the same run. min / median / max over the runs:"
  echo
  echo "| measure | target | min | median | max | verdict |"
  echo "| --- | ---: | ---: | ---: | ---: | --- |"
  for b in $BACKENDS; do
    for kind in web-service proxy mtls; do
      values=()
      for r in $(seq 1 "$RUNS"); do values+=("$(ratio "${RPS[$kind/$b#$r]}" "${RPS[nginx#$r]}")"); done
      read -r lo med hi < <(stats "${values[@]}")
      case $kind in web-service) target=0.7 ;; proxy) target=0.8 ;; *) target= ;; esac
      if [[ -n $target ]]; then
        v=$(verdict "$med" ">=" "$target")
        [[ $v == PASS ]] || MISSED=1
        echo "| $kind / nginx, $b | >= $target | $lo | $med | $hi | **$v** |"
      else
        echo "| $kind / nginx, $b | (information) | $lo | $med | $hi | |"
      fi
    done
    for kind in web-service proxy; do
      values=()
      for r in $(seq 1 "$RUNS"); do values+=("$(minus "${P50[$kind-1c/$b#$r]}" "${P50[direct-1c#$r]}")"); done
      read -r lo med hi < <(stats3 "${values[@]}")
      v=$(verdict "$med" "<=" 0.2)
      [[ $v == PASS ]] || MISSED=1
      echo "| added p50 at 1 connection, $kind, $b | <= 0.2 ms | $lo ms | $med ms | $hi ms | **$v** |"
    done
    # shellcheck disable=SC2086 # word splitting of the KiB lists is meant
    read -r lo med hi < <(stats $(mib ${IDLE_RSS[$b]}))
    v=$(verdict "$hi" "<=" 30)
    [[ $v == PASS ]] || MISSED=1
    echo "| idle RSS after set-up, $b | <= 30 MiB | $lo MiB | $med MiB | $hi MiB | **$v** |"
    # shellcheck disable=SC2086
    read -r lo med hi < <(stats $(mib ${LOAD_RSS[$b]}))
    echo "| RSS after each run's load, $b | flat | $lo MiB | $med MiB | $hi MiB | |"
    # shellcheck disable=SC2086
    read -r lo med hi < <(stats ${AUDIT_BYTES[$b]})
    echo "| audit log bytes per call, $b | (information) | ${lo%.*} | ${med%.*} | ${hi%.*} | |"
  done
  echo
  echo "Every scenario of every run:"
  echo
  echo "| scenario#run | req/s | p50 | p99 | Keyway CPU (cores) | nginx CPU (cores) | machine busy |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  for s in "${SCENARIOS[@]}"; do
    printf '| %s | %s | %s ms | %s ms | %s | %s | %s |\n' "$s" "${RPS[$s]}" "${P50[$s]}" "${P99[$s]}" \
      "${CPU_KW[$s]}" "${CPU_NG[$s]}" "${CPU_ALL[$s]}"
  done
} >"$RESULTS"

echo
cat "$RESULTS"
echo
echo "Results: $RESULTS (raw wrk output in $TMP/wrk/, logs in $TMP/logs/); measuring took ${ELAPSED}s."
if [[ $DOCS == 1 ]]; then
  # The summary (everything before the per-scenario table) replaces the marked block.
  python3 - "$ROOT/docs/benchmarks.md" "$RESULTS" <<'PY' || die "could not write docs/benchmarks.md"
import sys
doc_path, results_path = sys.argv[1:]
doc = open(doc_path).read()
begin, end = "<!-- loadbench:begin -->", "<!-- loadbench:end -->"
if begin not in doc or end not in doc:
    sys.exit("docs/benchmarks.md has no loadbench markers")
summary = open(results_path).read().split("Every scenario of every run:")[0].rstrip()
head, rest = doc.split(begin, 1)
_, tail = rest.split(end, 1)
open(doc_path, "w").write(f"{head}{begin}\n{summary}\n{end}{tail}")
PY
  log "wrote the summary into docs/benchmarks.md"
fi
if [[ $STRICT == 1 && $MISSED == 1 ]]; then
  die "a target was missed (LOADBENCH_STRICT=1)"
fi
