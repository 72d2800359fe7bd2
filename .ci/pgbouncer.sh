#!/usr/bin/env bash
# PgBouncer in transaction pooling mode in front of CI's PostgreSQL (docs/scaling.md, "Connection pooling").
#
# Installs Debian's pgbouncer if missing, writes its configuration and starts it (or reloads a running one,
# so the script is idempotent). Every database name is passed through to the target server ("*"), so the
# suite's per-worker test databases need no entry.
#
# Environment: PGBOUNCER_PORT (6432), PRIMARY_HOST / PRIMARY_PORT (127.0.0.1:5432: the server pooled, as
# printed by .ci/replica.sh), PGBOUNCER_POOL_SIZE (20), PGUSER (postgres), PGBOUNCER_DIR (run/config dir).
set -euo pipefail

PGBOUNCER_PORT=${PGBOUNCER_PORT:-6432}
TARGET_HOST=${PRIMARY_HOST:-127.0.0.1}
TARGET_PORT=${PRIMARY_PORT:-5432}
POOL_SIZE=${PGBOUNCER_POOL_SIZE:-20}
PGUSER=${PGUSER:-postgres}

log() { printf 'pgbouncer: %s\n' "$*" >&2; }

if ! command -v pgbouncer >/dev/null 2>&1 && [ ! -x /usr/sbin/pgbouncer ]; then
  log "installing Debian's pgbouncer"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends pgbouncer >/dev/null
  # The package's own service (port 6432, /etc/pgbouncer) is not ours: it stays stopped.
  service pgbouncer stop >/dev/null 2>&1 || true
fi
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)

if [ "$(id -u)" = 0 ]; then
  DIR=${PGBOUNCER_DIR:-/var/lib/postgresql/koinonia-ci/pgbouncer-$PGBOUNCER_PORT}
  as_pg() { runuser -u postgres -- "$@"; }  # pgbouncer refuses to run as root
else
  DIR=${PGBOUNCER_DIR:-${TMPDIR:-/tmp}/koinonia-ci/pgbouncer-$PGBOUNCER_PORT}
  as_pg() { "$@"; }
fi
mkdir -p "$DIR"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$DIR" "$(dirname "$DIR")"

# CI's PostgreSQL trusts local connections, so PgBouncer does too; the user must still be listed.
printf '"%s" ""\n' "$PGUSER" | as_pg tee "$DIR/userlist.txt" >/dev/null
as_pg tee "$DIR/pgbouncer.ini" >/dev/null <<EOF
[databases]
* = host=$TARGET_HOST port=$TARGET_PORT

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PGBOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $DIR/userlist.txt
admin_users = $PGUSER
pool_mode = transaction
default_pool_size = $POOL_SIZE
reserve_pool_size = 5
reserve_pool_timeout = 3
max_client_conn = 1000
server_idle_timeout = 30
; psycopg and Django send no other startup parameters; these two are what drivers commonly add.
ignore_startup_parameters = extra_float_digits,options
pidfile = $DIR/pgbouncer.pid
logfile = $DIR/pgbouncer.log
EOF

pid=$(cat "$DIR/pgbouncer.pid" 2>/dev/null || true)
if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
  kill -HUP "$pid"  # re-read the configuration (a new target, pool size)
  log "reloaded (pid $pid)"
else
  as_pg "$PGBOUNCER" -d -q "$DIR/pgbouncer.ini"
fi
for _ in $(seq 1 40); do
  if psql "host=127.0.0.1 port=$PGBOUNCER_PORT user=$PGUSER dbname=postgres connect_timeout=2" -tAc "SELECT 1" \
    >/dev/null 2>&1; then
    log "pooling 127.0.0.1:$PGBOUNCER_PORT -> $TARGET_HOST:$TARGET_PORT (pool_mode = transaction)"
    echo "PGBOUNCER_HOST=127.0.0.1 PGBOUNCER_PORT=$PGBOUNCER_PORT"
    exit 0
  fi
  sleep 0.25
done
echo "pgbouncer: not answering on $PGBOUNCER_PORT (see $DIR/pgbouncer.log)" >&2
exit 1
