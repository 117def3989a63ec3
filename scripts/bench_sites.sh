#!/usr/bin/env bash
# The site-selection race: PySAL spopt's MCLP against RedGrid's suggestSites solver on one
# instance, and suggestSites on the demo over GraphQL (bench/site_selection.py, which writes
# bench/results/site_selection.json and .md). spopt is a benchmark-only extra: it goes into a
# separate environment `.venv-bench`, never into RedGrid's own. The demo database
# `redgrid_bench_sites` is migrated and seeded when empty. Extra arguments go to the script.
set -euo pipefail
cd "$(dirname "$0")/.."

BENCH_DB=redgrid_bench_sites
SPOPT=spopt==0.7.0
PY=.venv/bin/python
REDGRID=.venv/bin/redgrid
DB="$PY bench/_db.py"
mkdir -p bench/results

source scripts/lib.sh

if ! .venv-bench/bin/python -c 'import spopt' 2>/dev/null; then
  echo "==> installing $SPOPT into .venv-bench (benchmark only)"
  [ -x .venv-bench/bin/python ] || python3 -m venv .venv-bench
  .venv-bench/bin/pip install -q --disable-pip-version-check "$SPOPT"
fi

if [ -n "${DATABASE_URL:-}" ]; then
  echo "==> DATABASE_URL is set: database '$BENCH_DB' on that server (no cluster)"
  DATABASE_URL=$($DB url "$BENCH_DB")
  export DATABASE_URL
  $DB ensure
else
  export REDGRID_DATABASE=$BENCH_DB
  start_database
  "$REDGRID" db up
fi
"$REDGRID" migrate
"$REDGRID" seed --demo --if-empty

REDGRID_ENV=development "$PY" bench/site_selection.py "$@"
