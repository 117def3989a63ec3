#!/usr/bin/env bash
# Load with faults: bench/load_faults.py runs 32 clients for 60 s against `redgrid serve`,
# once with PostgreSQL restarted (fast shutdown) a third of the way in, once with it stopped
# for 45 s (the run 45 s longer) and once with the server process killed and started again,
# then checks in SQL that nothing acknowledged was lost or duplicated; writes
# bench/results/load_faults.json and .md (with the load average before and after). Each run has a PostgreSQL cluster
# of its own in a temporary folder (never the checkout's .data cluster, which it leaves alone).
# Extra arguments go to bench/load_faults.py (e.g. --clients 8 --seconds 20 for a quick run).
set -euo pipefail
cd "$(dirname "$0")/.."
# The benchmark's server signs its own tokens and runs without rate limits.
export REDGRID_ENV=development
echo "==> load average: $(cut -d' ' -f1-3 /proc/loadavg)"
.venv/bin/python bench/load_faults.py "$@"
