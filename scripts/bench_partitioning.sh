#!/usr/bin/env bash
# The province layout of docs/scaling.md at 10,000,000 tickets: bench/partitioning.py recreates
# database `redgrid_bench_province` and writes bench/results/partitioning.json and .md. Starts
# the embedded cluster when it is not running, and stops it at exit only in that case. Extra
# arguments go to bench/partitioning.py (e.g. --tickets 1000000 for a quicker run).
set -euo pipefail
cd "$(dirname "$0")/.."
export REDGRID_ENV=development
source scripts/lib.sh
start_database
.venv/bin/python bench/partitioning.py "$@"
