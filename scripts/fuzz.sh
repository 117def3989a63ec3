#!/usr/bin/env bash
# The full fuzzing run: tests/web/test_fuzz_graphql.py with REDGRID_FUZZ_OPERATIONS
# (default 10,000) generated queries and mutations, half as the public and half as the county
# office, on a database of its own in the embedded cluster (or DATABASE_URL's server); records
# bench/results/fuzz.json and .md (operations, 5xx and INTERNAL_SERVER_ERROR per caller, error
# codes met, commit, date, seconds, load average), also when the run fails. Extra arguments go
# to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
# The tests run a development server (local tokens); unset REDGRID_ENV means production.
export REDGRID_ENV=development
export REDGRID_FUZZ_OPERATIONS=${REDGRID_FUZZ_OPERATIONS:-10000}
source scripts/lib.sh
start_database
raw=$(mktemp)
# The code the run imports is the checkout's as it starts.
commit=$(git rev-parse --short HEAD)
git diff --quiet HEAD || commit="$commit (with uncommitted changes)"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
echo "==> fuzzing /graphql: $REDGRID_FUZZ_OPERATIONS operations (load average $load_before)"
rc=0
REDGRID_FUZZ_REPORT=$raw .venv/bin/python -m pytest tests/web/test_fuzz_graphql.py -q "$@" || rc=$?
if [ -s "$raw" ]; then
  .venv/bin/python bench/fuzz_report.py "$raw" --commit "$commit" --exit-code "$rc" --load-before "$load_before"
else
  echo "==> the fuzzing test recorded nothing (it failed before the run ended)" >&2
fi
rm -f "$raw"
exit "$rc"
