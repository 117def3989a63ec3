# Shared by the scripts (source it from the checkout's root).
redgrid=.venv/bin/redgrid

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Installs the Debian packages named, after one `apt-get update`; nothing when none is named.
apt_install() {
  [ $# -gt 0 ] || return 0
  echo "==> installing system packages: $*"
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

# Starts the embedded cluster unless DATABASE_URL is set, creating the database that
# REDGRID_DATABASE names (default redgrid); stops the cluster at exit only when this script
# started it (`redgrid db status` exits 3 when it is stopped).
start_database() {
  if [ -z "${DATABASE_URL:-}" ]; then
    local rc=0
    $redgrid db status >/dev/null 2>&1 || rc=$?
    if [ "$rc" -eq 3 ]; then
      echo "==> starting the embedded cluster (stopped again at exit)"
      trap 'echo "==> stopping the embedded cluster this script started"; $redgrid db down || true' EXIT
      trap 'exit 130' INT
      trap 'exit 143' TERM
    fi
    $redgrid db up
  fi
}

# Points a benchmark at database $1: on DATABASE_URL's server, or in the embedded cluster
# (started when it is not running, stopped at exit only then); defines create_db, which creates
# that database when it is missing.
bench_database() {
  local name=$1
  if [ -n "${DATABASE_URL:-}" ]; then
    echo "==> DATABASE_URL is set: database '$name' on that server (no cluster)"
    DATABASE_URL=$(.venv/bin/python bench/_db.py url "$name")
    export DATABASE_URL
    create_db() { .venv/bin/python bench/_db.py ensure; }
  else
    export REDGRID_DATABASE=$name
    start_database
    create_db() { $redgrid db up; }
  fi
}

# Creates and migrates the benchmark database (after bench_database) and returns 0 when it needs
# seeding, 1 when it holds at least $1 tickets already; a partly seeded one (an interrupted
# seed) is dropped and created again first.
needs_seed() {
  local want=$1 name have seeded
  name=${REDGRID_DATABASE:-the benchmark database}
  # Called as an `if` condition, where errexit is off: a failure here ends the script.
  create_db || exit 1
  $redgrid migrate || exit 1
  read -r have seeded <<<"$(.venv/bin/python bench/_db.py counts)"
  if [ "$have" -ge "$want" ]; then
    echo "==> $name already holds $have tickets: no seed"
    return 1
  fi
  if [ "$seeded" != 0 ]; then
    # A partial dataset (e.g. an interrupted bulk seed): start again from an empty database.
    echo "==> $name holds only $have tickets: recreating it"
    .venv/bin/python bench/_db.py drop || exit 1
    create_db || exit 1
    $redgrid migrate || exit 1
  fi
}
