# Shared by the scripts: start the embedded cluster unless DATABASE_URL is set, and stop it
# on exit only when this script started it (`redgrid db status` exits 3 when it is stopped).
redgrid=.venv/bin/redgrid
start_database() {
  if [ -z "${DATABASE_URL:-}" ]; then
    local rc=0
    $redgrid db status >/dev/null 2>&1 || rc=$?
    if [ "$rc" -eq 3 ]; then
      trap '$redgrid db down' EXIT
    fi
    $redgrid db up
  fi
}
