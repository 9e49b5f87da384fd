#!/usr/bin/env bash
# Make sure the services the tests use answer on loopback: PostgreSQL 127.0.0.1:5432
# (trust auth, user postgres) and Redis 127.0.0.1:6379. Starts whichever is down; does
# nothing when both run.
set -euo pipefail

sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)

postgres_up() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; }

wait_until() { # what, check
  for _ in $(seq 1 30); do
    "$2" && return 0
    sleep 1
  done
  echo "$1 did not start on loopback; the PostgreSQL and Redis tests need it." >&2
  exit 1
}

if ! postgres_up; then
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  "${sudo[@]}" pg_ctlcluster --skip-systemctl-redirect "$version" main start
  wait_until PostgreSQL postgres_up
fi

if ! redis_up; then
  # Nothing kept on disk: the tests create what they need.
  "${sudo[@]}" mkdir -p /var/lib/redis /var/log/redis
  "${sudo[@]}" redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/tests.log
  wait_until Redis redis_up
fi
