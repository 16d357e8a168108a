#!/usr/bin/env bash
# Debian's PostgreSQL server binaries (initdb, pg_ctl, postgres), which tests/test_judge_postgres.py
# and `bench/bench_judge_app.py --database-url postgres` start a throwaway server from. Idempotent:
# does nothing when /usr/lib/postgresql/<version>/bin/initdb is already there. Needs root.
set -euo pipefail
if compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null; then
  echo "PostgreSQL already installed: $(ls -d /usr/lib/postgresql/*/bin | tr '\n' ' ')"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
# the package's own cluster service is not needed (the tests run their own server as `postgres`)
apt-get install -y --no-install-recommends postgresql
