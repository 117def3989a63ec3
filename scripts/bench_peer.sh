#!/usr/bin/env bash
# `make bench-peer`: RedGrid against PostGraphile v4 + @graphile/postgis on `redgrid_bench`
# (bench/peer.py; results in bench/results/peer.*). PostGraphile comes from npm into
# bench/peer/node_modules (versions pinned in bench/peer/package.json and its lock), matplotlib
# into .venv-bench: both benchmark-only. pg_stat_statements (statements per request) needs
# shared_preload_libraries: set here with ALTER SYSTEM on the embedded cluster, which is
# restarted, and restored at exit. Extra arguments go to bench/peer.py.
set -euo pipefail
cd "$(dirname "$0")/.."
export REDGRID_ENV=development
PY=.venv/bin/python
REDGRID=.venv/bin/redgrid
export REDGRID_DATABASE=redgrid_bench
source scripts/lib.sh

if [ ! -x bench/peer/node_modules/.bin/postgraphile ]; then
  echo "==> installing PostGraphile into bench/peer/node_modules (benchmark only)"
  (cd bench/peer && npm ci --no-audit --no-fund)
fi
if ! .venv-bench/bin/python -c 'import matplotlib' 2>/dev/null; then
  echo "==> installing matplotlib into .venv-bench (benchmark only)"
  [ -x .venv-bench/bin/python ] || python3 -m venv .venv-bench
  .venv-bench/bin/pip install -q --disable-pip-version-check matplotlib==3.9.2
fi

# The database with its 1,000,000 bulk tickets (scripts/bench.sh seeds it once).
counts=$($PY bench/_db.py counts 2>/dev/null || echo "0 0")
read -r have _ <<<"$counts"
if [ "$have" -lt 1000000 ]; then
  echo "==> redgrid_bench holds $have tickets: seeding it with scripts/bench.sh first"
  bash scripts/bench.sh --queries 200 --wrk-duration 2
fi

psql_bench() { $PY -c "
import sys, psycopg
sys.path.insert(0, 'bench')
from _db import conninfo
with psycopg.connect(conninfo(), autocommit=True) as c:
    r = c.execute(sys.argv[1])
    print(r.fetchone()[0] if r.description else '')
" "$1"; }

preload=$(psql_bench "SHOW shared_preload_libraries")
if [[ "$preload" != *pg_stat_statements* ]] && [ -z "${DATABASE_URL:-}" ]; then
  echo "==> loading pg_stat_statements in the embedded cluster (restored at exit)"
  # Beside what the cluster preloads already (PostGIS, see db/embedded.py). A list setting
  # takes one quoted item each: 'a,b' as a single string would name a library "a,b". SHOW
  # double-quotes an item such as "postgis-3"; those quotes are not part of the name.
  items() { local out="" lib; IFS=', ' read -ra libs <<<"${1//\"/}"
            for lib in "${libs[@]}"; do [ -z "$lib" ] || out+="${out:+, }'$lib'"; done
            echo "$out"; }
  # Whether the value came from ALTER SYSTEM (postgresql.auto.conf) or the cluster's own file.
  altered=$(psql_bench "SELECT count(*) FROM pg_file_settings WHERE name =
    'shared_preload_libraries' AND sourcefile LIKE '%postgresql.auto.conf'")
  psql_bench "ALTER SYSTEM SET shared_preload_libraries = $(items "$preload,pg_stat_statements")"
  restore() {
    echo "==> restoring shared_preload_libraries"
    if [ "$altered" != 0 ]; then
      psql_bench "ALTER SYSTEM SET shared_preload_libraries = $(items "$preload")" || true
    else
      psql_bench "ALTER SYSTEM RESET shared_preload_libraries" || true
    fi
    $REDGRID db down && $REDGRID db up || true
  }
  trap restore EXIT
  $REDGRID db down
  $REDGRID db up
fi
psql_bench "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null

"$PY" bench/peer.py "$@"
.venv-bench/bin/python bench/peer_chart.py bench/results/peer.json bench/results/peer.png
