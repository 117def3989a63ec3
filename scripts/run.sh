#!/usr/bin/env bash
# Starts the embedded database (unless DATABASE_URL is set), migrates, seeds the demo on first
# run and serves http://127.0.0.1:8000. Stops the cluster it started when the server exits.
set -euo pipefail
cd "$(dirname "$0")/.."
# A development box: local tokens (the map's sign-in form), GraphiQL, no rate limits.
export REDGRID_ENV=development
source scripts/lib.sh
start_database
$redgrid migrate
$redgrid seed --demo --if-empty
echo "RedGrid: map at http://${REDGRID_HOST:-127.0.0.1}:${REDGRID_PORT:-8000}/ · GraphiQL at /graphql"
$redgrid serve
