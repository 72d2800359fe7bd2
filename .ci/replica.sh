#!/usr/bin/env bash
# A streaming hot standby for CI's PostgreSQL, with a configurable replay delay.
#
# If the server at 127.0.0.1:5432 accepts a physical replication connection, the standby is a
# pg_basebackup of it; otherwise a private primary is initdb'd on PRIMARY_PORT and the standby follows
# that one. Idempotent: a standby already following the right primary is only (re)started and its delay
# updated; one that follows another system (the primary was re-created) is rebuilt.
#
# Prints shell assignments for the caller to eval (everything else goes to stderr):
#   PRIMARY_HOST PRIMARY_PORT  the primary the standby follows (5432 or the private one)
#   REPLICA_HOST REPLICA_PORT  the standby (read-only, hot_standby = on)
#
# Environment: REPLICA_PORT (5439), PRIMARY_PORT (5438, only for the private pair),
# REPLICA_APPLY_DELAY (recovery_min_apply_delay, "2s": the read-your-writes tests need a visible lag),
# REPLICA_ROOT (/var/lib/postgresql/koinonia-ci when root, else $TMPDIR/koinonia-ci), PGUSER (postgres).
set -euo pipefail

REPLICA_PORT=${REPLICA_PORT:-5439}
PRIMARY_PORT_PRIVATE=${PRIMARY_PORT:-5438}
REPLICA_APPLY_DELAY=${REPLICA_APPLY_DELAY:-2s}
PGUSER=${PGUSER:-postgres}
HOST=127.0.0.1

log() { printf 'replica: %s\n' "$*" >&2; }

if [ "$(id -u)" = 0 ]; then
  REPLICA_ROOT=${REPLICA_ROOT:-/var/lib/postgresql/koinonia-ci}
  as_pg() { runuser -u postgres -- "$@"; }
else
  REPLICA_ROOT=${REPLICA_ROOT:-${TMPDIR:-/tmp}/koinonia-ci}
  as_pg() { "$@"; }
fi

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bindir/pg_ctl" ] || { echo "replica: no PostgreSQL binaries under /usr/lib/postgresql" >&2; exit 1; }

mkdir -p "$REPLICA_ROOT"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$REPLICA_ROOT"

sysid() {  # the system identifier of the server at $1:$2 over a replication connection, or nothing
  psql "host=$1 port=$2 user=$PGUSER dbname=postgres replication=true connect_timeout=3" -tAc "IDENTIFY_SYSTEM" \
    2>/dev/null | cut -d'|' -f1
}

running() { as_pg "$bindir/pg_ctl" -D "$1" status >/dev/null 2>&1; }

start() {  # start the cluster in $1 and wait until it answers on port $2
  running "$1" || as_pg "$bindir/pg_ctl" -D "$1" -l "$1/server.log" -w -t 60 start >/dev/null
  for _ in $(seq 1 60); do pg_isready -h "$HOST" -p "$2" -q && return; sleep 0.5; done
  echo "replica: the server in $1 did not answer on port $2 (see $1/server.log)" >&2; exit 1
}

ensure_private_primary() {
  local dir="$REPLICA_ROOT/primary"
  if [ ! -f "$dir/PG_VERSION" ]; then
    log "initdb a private primary on port $PRIMARY_PORT_PRIVATE"
    rm -rf "$dir"
    as_pg "$bindir/initdb" -D "$dir" -U "$PGUSER" --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    as_pg tee -a "$dir/postgresql.conf" >/dev/null <<EOF
port = $PRIMARY_PORT_PRIVATE
listen_addresses = '$HOST'
unix_socket_directories = '$REPLICA_ROOT'
wal_level = replica
max_wal_senders = 5
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
    echo "host replication all $HOST/32 trust" | as_pg tee -a "$dir/pg_hba.conf" >/dev/null
  fi
  start "$dir" "$PRIMARY_PORT_PRIVATE"
}

# 1. Which primary: the running server if it lets us replicate, else a private one.
PRIMARY_PORT=5432
primary_id=$(sysid "$HOST" 5432 || true)
if [ -z "$primary_id" ]; then
  log "the server at 5432 refuses replication connections: using a private primary/standby pair"
  ensure_private_primary
  PRIMARY_PORT=$PRIMARY_PORT_PRIVATE
  primary_id=$(sysid "$HOST" "$PRIMARY_PORT")
fi

# 2. The standby: rebuilt only when missing, following another system, or unable to stream (it was down
#    while the primary recycled the WAL it needs).
standby="$REPLICA_ROOT/standby-$PRIMARY_PORT"
marker="$standby/koinonia-primary-sysid"

build_standby() {
  log "pg_basebackup from $HOST:$PRIMARY_PORT into $standby"
  running "$standby" && as_pg "$bindir/pg_ctl" -D "$standby" -m immediate stop >/dev/null || true
  rm -rf "$standby"
  as_pg "$bindir/pg_basebackup" -h "$HOST" -p "$PRIMARY_PORT" -U "$PGUSER" -D "$standby" -R -X stream -c fast
  # A Debian cluster keeps its configuration in /etc: the standby gets its own (settings a hot standby
  # must not have lower than its primary are copied).
  settings=$(psql -h "$HOST" -p "$PRIMARY_PORT" -U "$PGUSER" -d postgres -tA -F= -c "SELECT name, setting FROM pg_settings
    WHERE name IN ('max_connections','max_worker_processes','max_wal_senders','max_prepared_transactions',
                   'max_locks_per_transaction')")
  {
    echo "include_if_exists = 'koinonia-delay.conf'"
    echo "port = $REPLICA_PORT"
    echo "listen_addresses = '$HOST'"
    echo "unix_socket_directories = '$REPLICA_ROOT'"
    echo "hot_standby = on"
    echo "hot_standby_feedback = on"
    echo "shared_buffers = 32MB"
    echo "fsync = off"
    echo "$settings"
  } | as_pg tee "$standby/postgresql.conf" >/dev/null
  printf 'local all all trust\nhost all all %s/32 trust\nhost replication all %s/32 trust\n' "$HOST" "$HOST" \
    | as_pg tee "$standby/pg_hba.conf" >/dev/null
  : | as_pg tee "$standby/pg_ident.conf" >/dev/null
  echo "$primary_id" | as_pg tee "$marker" >/dev/null
}

configure_delay() {  # the delay can change between runs without a rebuild
  local delay_conf="recovery_min_apply_delay = '$REPLICA_APPLY_DELAY'"
  if [ "$(cat "$standby/koinonia-delay.conf" 2>/dev/null)" != "$delay_conf" ]; then
    echo "$delay_conf" | as_pg tee "$standby/koinonia-delay.conf" >/dev/null
    running "$standby" && as_pg "$bindir/pg_ctl" -D "$standby" reload >/dev/null
  fi
  return 0
}

streaming() {
  for _ in $(seq 1 60); do
    [ "$(psql -h "$HOST" -p "$REPLICA_PORT" -U "$PGUSER" -d postgres -tAc \
      "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null)" = streaming ] && return 0
    sleep 0.25
  done
  return 1
}

for attempt in 1 2; do
  if [ ! -f "$marker" ] || [ "$(cat "$marker")" != "$primary_id" ] || [ "$attempt" = 2 ]; then
    build_standby
  fi
  configure_delay
  start "$standby" "$REPLICA_PORT"
  streaming && break
  [ "$attempt" = 2 ] && { echo "replica: the standby does not stream (see $standby/server.log)" >&2; exit 1; }
  log "the standby does not stream from its primary: rebuilding it"
done

in_recovery=$(psql -h "$HOST" -p "$REPLICA_PORT" -U "$PGUSER" -d postgres -tAc "SELECT pg_is_in_recovery()")
[ "$in_recovery" = t ] || { echo "replica: the server on $REPLICA_PORT is not a standby" >&2; exit 1; }
log "standby on $HOST:$REPLICA_PORT follows $HOST:$PRIMARY_PORT (apply delay $REPLICA_APPLY_DELAY)"
echo "PRIMARY_HOST=$HOST PRIMARY_PORT=$PRIMARY_PORT REPLICA_HOST=$HOST REPLICA_PORT=$REPLICA_PORT"
