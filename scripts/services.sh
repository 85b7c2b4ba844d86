#!/usr/bin/env bash
# Find the services the integration tests use and start any that stopped (PostgreSQL, Redis).
# Tests that need a service skip locally when it is absent and fail in CI (CI=true).
set -u

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  for _ in $(seq 1 50); do port_open "$1" && return 0; sleep 0.2; done
  return 1
}

if ! port_open 5432; then
  echo "services: PostgreSQL is not answering on 5432; starting it"
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start || true
  fi
  wait_port 5432 || echo "services: PostgreSQL could not be started"
fi
if ! port_open 6379; then
  echo "services: Redis is not answering on 6379; starting it"
  if command -v redis-server >/dev/null 2>&1; then
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  fi
  wait_port 6379 || echo "services: Redis could not be started"
fi
port_open 5432 && echo "services: PostgreSQL ok (127.0.0.1:5432)"
port_open 6379 && echo "services: Redis ok (127.0.0.1:6379)"
exit 0
