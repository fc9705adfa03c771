#!/usr/bin/env bash
# Start the local Postgres and Redis the test suite talks to, when they are not already answering.
# Under CI=true the tests fail (never skip) if the services still cannot be reached.
set -uo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

if ! pg_up; then
  echo "ensure-services: starting PostgreSQL" >&2
  if command -v pg_ctlcluster >/dev/null && ls /etc/postgresql >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  fi
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
if ! redis_up; then
  echo "ensure-services: starting Redis" >&2
  if command -v redis-server >/dev/null; then
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no || true
  fi
  for _ in $(seq 1 30); do redis_up && break; sleep 1; done
fi
pg_up && echo "ensure-services: PostgreSQL up" >&2 || echo "ensure-services: PostgreSQL NOT reachable" >&2
redis_up && echo "ensure-services: Redis up" >&2 || echo "ensure-services: Redis NOT reachable" >&2
exit 0
