#!/usr/bin/env bash
# Provisions a fresh Debian machine for RedGrid: system packages, .venv from the hashed lock,
# npm packages for the map page. Safe to run again: every step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

want_browser=0
[ "${1:-}" = "--with-browser" ] && want_browser=1

source scripts/lib.sh

missing=()
[ -x /usr/lib/postgresql/15/bin/initdb ] || missing+=(postgresql-15)
[ -f /usr/share/postgresql/15/extension/postgis.control ] || missing+=(postgresql-15-postgis-3)
command -v npm >/dev/null || missing+=(npm)
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v ogrinfo >/dev/null || missing+=(gdal-bin)  # OAPIF client of tests/web/test_ogc.py
if [ "$want_browser" = 1 ]; then
  command -v chromium >/dev/null || missing+=(chromium)
  fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing+=(fonts-noto-cjk)
fi
apt_install "${missing[@]}"

lock_sum=$(sha256sum requirements.lock pyproject.toml | sha256sum | cut -c1-16)
if [ ! -f .venv/.installed ] || [ "$(cat .venv/.installed)" != "$lock_sum" ]; then
  echo "==> creating .venv from requirements.lock"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check --require-hashes -r requirements.lock
  .venv/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation \
    --config-settings editable_mode=compat -e .
  echo "$lock_sum" > .venv/.installed
fi

npm_sum=$(sha256sum package-lock.json | cut -c1-16)
if [ ! -f node_modules/.installed ] || [ "$(cat node_modules/.installed)" != "$npm_sum" ]; then
  echo "==> installing map packages with npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$npm_sum" > node_modules/.installed
fi
