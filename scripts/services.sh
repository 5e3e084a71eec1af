#!/usr/bin/env bash
# Make sure the local PostgreSQL and Redis that the production-path tests use are running.
# Starts them with the machine's documented commands when they are not; fails loudly otherwise.
set -euo pipefail
PGHOST=${SHIPYARD_TEST_PGHOST:-127.0.0.1}

if ! pg_isready -q -h "$PGHOST" -p 5432 2>/dev/null; then
    echo "services: starting PostgreSQL"
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    fi
    for _ in $(seq 1 30); do pg_isready -q -h "$PGHOST" -p 5432 && break; sleep 1; done
    pg_isready -q -h "$PGHOST" -p 5432 || { echo "services: PostgreSQL is not reachable on $PGHOST:5432" >&2; exit 1; }
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    echo "services: starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log
    for _ in $(seq 1 30); do redis-cli ping >/dev/null 2>&1 && break; sleep 0.5; done
    redis-cli ping >/dev/null 2>&1 || { echo "services: Redis is not reachable on 127.0.0.1:6379" >&2; exit 1; }
fi
echo "services: PostgreSQL and Redis are up"

# Prometheus and Alertmanager (Debian packages `prometheus`, `prometheus-alertmanager`): promtool
# checks /metrics and the exported rules; the integration tests run both servers themselves (the
# packages' own services are not started: there is no systemd here).
missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
if [ ${#missing[@]} -gt 0 ]; then
    echo "services: installing ${missing[*]} (Debian)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
        || { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
fi
