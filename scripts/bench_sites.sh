#!/usr/bin/env bash
# The site-selection race: PySAL spopt's MCLP against suggestSites end to end (a planner's
# request over HTTP to a `redgrid serve` on a scratch database of the benchmark's own, about
# 5,000 demand points x 300 candidates), RedGrid's solver alone on a ready matrix, and
# suggestSites on the demo (bench/site_selection.py, which writes
# bench/results/site_selection.json and .md). spopt is a benchmark-only extra: it goes into a
# separate environment `.venv-bench`, never into RedGrid's own. The scratch database
# `redgrid_bench_sites_scratch` is made fresh and dropped at the end, on DATABASE_URL's server
# when that is set, else in the embedded cluster (started here when stopped, and stopped again
# at exit). Extra arguments go to the script.
set -euo pipefail
cd "$(dirname "$0")/.."

SPOPT=spopt==0.7.0
PY=.venv/bin/python
mkdir -p bench/results

source scripts/lib.sh

if ! .venv-bench/bin/python -c 'import spopt' 2>/dev/null; then
  echo "==> installing $SPOPT into .venv-bench (benchmark only)"
  [ -x .venv-bench/bin/python ] || python3 -m venv .venv-bench
  .venv-bench/bin/pip install -q --disable-pip-version-check "$SPOPT"
fi

if [ -z "${DATABASE_URL:-}" ]; then
  # `db up` creates the database REDGRID_DATABASE names: the scratch one, dropped at the end.
  export REDGRID_DATABASE=redgrid_bench_sites_scratch
  start_database
fi

REDGRID_ENV=development "$PY" bench/site_selection.py "$@"
