#!/usr/bin/env bash
# The createTicket benchmark: a fresh database `redgrid_bench_create` (dropped and created again
# on every run, then migrated and seeded with the demo data), then bench/create_ticket.py, which
# writes bench/results/create_ticket.json and .md. Starts the embedded cluster when it is not
# running, and stops it at exit only in that case. Extra arguments go to bench/create_ticket.py
# (e.g. --tickets 1000 --tickets-c1 300 for a quick run).
set -euo pipefail
cd "$(dirname "$0")/.."
# The benchmark's server signs its own tokens and runs without rate limits.
export REDGRID_ENV=development

BENCH_DB=redgrid_bench_create
PY=.venv/bin/python
REDGRID=.venv/bin/redgrid
DB="$PY bench/_db.py"
mkdir -p bench/results

source scripts/lib.sh

# wrk (Debian package `wrk`) is the HTTP load generator.
command -v wrk >/dev/null || apt_install wrk

bench_database "$BENCH_DB"

create_db
echo "==> recreating database $BENCH_DB"
$DB drop
create_db
"$REDGRID" migrate
echo "==> seeding the demo data"
"$REDGRID" seed --demo

echo "==> load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "==> running bench/create_ticket.py"
"$PY" bench/create_ticket.py "$@"
