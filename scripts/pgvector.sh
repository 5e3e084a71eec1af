#!/usr/bin/env bash
# PostgreSQL 16 + pgvector for the pgvector tests, from the `pgserver` wheel (Debian bookworm has
# no pgvector package for its PostgreSQL 15). Runs on 127.0.0.1:$PORT with trust auth, as the
# unprivileged `postgres` user (PostgreSQL refuses to run as root). Idempotent.
#   scripts/pgvector.sh start|stop|status
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${SHIPYARD_PGVECTOR_PORT:-55432}
DATA=${SHIPYARD_PGVECTOR_DATA:-/var/tmp/shipyard-pgvector}
BIN=$(.venv/bin/python -W ignore -c 'import pgserver, pathlib; print(pathlib.Path(pgserver.__file__).parent / "pginstall" / "bin")')
RUN=()
if [ "$(id -u)" = 0 ]; then RUN=(runuser -u postgres --); fi

ready() { "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; }

case "${1:-start}" in
  start)
    if ready; then echo "pgvector: up on 127.0.0.1:$PORT"; exit 0; fi
    if [ ! -f "$DATA/PG_VERSION" ]; then
      mkdir -p "$DATA"
      [ "$(id -u)" = 0 ] && chown postgres:postgres "$DATA"
      chmod 700 "$DATA"
      "${RUN[@]}" "$BIN/initdb" -D "$DATA" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    # After a hard kill, the old server's children hold its shared memory for a few seconds and
    # a new postmaster refuses to start: try again for a while.
    for _ in 1 2 3 4 5 6; do
      "${RUN[@]}" "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w \
        -o "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$DATA" start >/dev/null 2>&1 && break
      sleep 2
    done
    ready || { echo "pgvector: did not start; see $DATA/server.log" >&2; exit 1; }
    echo "pgvector: started on 127.0.0.1:$PORT"
    ;;
  stop)
    if ready; then "${RUN[@]}" "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null; fi
    echo "pgvector: stopped"
    ;;
  status)
    ready && echo "pgvector: up on 127.0.0.1:$PORT" || { echo "pgvector: down"; exit 1; }
    ;;
esac
