#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the shared-sweep test; prints its URL. PostgreSQL refuses to run
# as root, so the server runs as an unprivileged user made for it. Stop: pg_ctl -D "$DIR/data" stop.
set -euo pipefail
DIR=$(mktemp -d /tmp/memcap-pg.XXXX)
PORT=${PORT:-55433}
run() { if [ "$(id -u)" = 0 ]; then runuser -u memcap_pg -- "$@"; else "$@"; fi; }
if [ "$(id -u)" = 0 ]; then
  id -u memcap_pg >/dev/null 2>&1 || useradd -M -s /bin/false memcap_pg
  chown memcap_pg "$DIR"
fi
run initdb -D "$DIR/data" -A trust -U postgres >/dev/null
run pg_ctl -D "$DIR/data" -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1" -l "$DIR/log" -w start >/dev/null
createdb -h 127.0.0.1 -p "$PORT" -U postgres memcap
echo "$DIR" > "${PG_DIR_FILE:-/tmp/memcap-pg-dir}"
echo "postgresql://postgres@127.0.0.1:$PORT/memcap"
