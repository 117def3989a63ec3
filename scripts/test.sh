#!/usr/bin/env bash
# Lints, then runs the whole test suite against a fresh database in the embedded cluster
# (or DATABASE_URL's server). Stops the cluster if this script started it.
set -euo pipefail
cd "$(dirname "$0")/.."
# The tests run a development server (local tokens); unset REDGRID_ENV means production.
export REDGRID_ENV=development
source scripts/lib.sh
start_database
echo "==> ruff"
.venv/bin/ruff check .
echo "==> mypy"
.venv/bin/mypy
echo "==> eslint (the map page and the field app)"
node_modules/.bin/eslint web/static web/field
echo "==> pytest"
.venv/bin/python -m pytest "$@"
