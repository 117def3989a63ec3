#!/usr/bin/env bash
# `make bench-scale`: the scale curve. For each size (100,000, 1,000,000 and 10,000,000 bulk
# tickets) a database `redgrid_scale_<n>` holding the demo data plus n bulk tickets, seeded once
# and reused on reruns (a partly seeded one is dropped and seeded again); the seed's wall time and
# peak RSS (GNU time -v) go to bench/results/scale_seed.json. Then bench/scale.py times Q1 and Q4
# on every size (results in bench/results/scale.*) and bench/scale_chart.py draws scale.png.
# Starts the embedded cluster when it is not running, and stops it at exit only in that case.
#
#   bash scripts/bench_scale.sh                  # seed what is missing, measure, chart
#   bash scripts/bench_scale.sh --seed-only N    # only seed redgrid_scale_N
#   SCALE_SIZES="100000 1000000" bash scripts/bench_scale.sh --rounds 1   # fewer sizes; the
#                                                  other arguments go to bench/scale.py
set -euo pipefail
cd "$(dirname "$0")/.."
export REDGRID_ENV=development

SIZES=(${SCALE_SIZES:-100000 1000000 10000000})
RESULTS=bench/results
PY=.venv/bin/python
REDGRID=.venv/bin/redgrid
mkdir -p "$RESULTS"
source scripts/lib.sh

seed_only=""
if [ "${1:-}" = "--seed-only" ]; then
  seed_only=$2
  SIZES=("$2")
  shift 2
fi

missing=()
[ -x /usr/bin/time ] || missing+=(time)
command -v wrk >/dev/null || missing+=(wrk)
apt_install "${missing[@]}"
if [ -z "$seed_only" ] && ! .venv-bench/bin/python -c 'import matplotlib' 2>/dev/null; then
  echo "==> installing matplotlib into .venv-bench (benchmark only)"
  [ -x .venv-bench/bin/python ] || python3 -m venv .venv-bench
  .venv-bench/bin/pip install -q --disable-pip-version-check matplotlib==3.9.2
fi

# Prints the number of tickets every minute while the seed runs (the progress bar shows only on
# a terminal).
watch_seed() {
  while sleep 60; do
    echo "    $(date -u +%H:%M:%S) $($PY bench/scale.py progress) tickets so far"
  done
}

seed_size() {
  local n=$1
  bench_database "redgrid_scale_$n"
  needs_seed "$n" || return 0
  local tmp watcher=""
  tmp=$(mktemp -d)
  echo "==> redgrid_scale_$n: seeding the demo data"
  /usr/bin/time -v -o "$tmp/demo.time" "$REDGRID" seed --demo
  echo "==> redgrid_scale_$n: seeding $n bulk tickets ($(date -u +%H:%M:%S) UTC)"
  [ -t 1 ] || { watch_seed & watcher=$!; }
  local rc=0
  /usr/bin/time -v -o "$tmp/bulk.time" "$REDGRID" seed --tickets "$n" || rc=$?
  [ -z "$watcher" ] || kill "$watcher"
  if [ "$rc" != 0 ]; then
    cat "$tmp/bulk.time" >&2
    echo "==> seeding redgrid_scale_$n failed ($rc)" >&2
    exit "$rc"
  fi
  "$PY" bench/scale.py record-seed "$n" "$tmp/demo.time" "$tmp/bulk.time" \
    "$RESULTS/scale_seed.json"
  rm -rf "$tmp"
}

for n in "${SIZES[@]}"; do
  seed_size "$n"
done
[ -z "$seed_only" ] || exit 0

args=()
for n in "${SIZES[@]}"; do args+=(--size "$n"); done
echo "==> running bench/scale.py"
"$PY" bench/scale.py run "${args[@]}" "$@"
.venv-bench/bin/python bench/scale_chart.py "$RESULTS/scale.json" "$RESULTS/scale.png"
