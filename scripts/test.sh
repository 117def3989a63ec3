#!/usr/bin/env bash
# Lints, then runs the whole test suite against a fresh database in the embedded cluster
# (or DATABASE_URL's server). Stops the cluster if this script started it.
set -euo pipefail
cd "$(dirname "$0")/.."
redgrid=.venv/bin/redgrid
if [ -z "${DATABASE_URL:-}" ]; then
  if ! $redgrid db status >/dev/null 2>&1; then
    trap '$redgrid db down' EXIT
  fi
  $redgrid db up
fi
echo "==> ruff"
.venv/bin/ruff check .
echo "==> mypy"
.venv/bin/mypy
echo "==> pytest"
.venv/bin/python -m pytest "$@"
