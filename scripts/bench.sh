#!/usr/bin/env bash
# `make bench`: the nearbyTickets benchmark on a dedicated database `redgrid_bench` holding the
# demo data plus 1,000,000 bulk tickets (seeded once; reruns reuse it), then bench/nearby_tickets.py.
# Starts the embedded cluster when it is not running, and stops it at exit only in that case.
# Extra arguments go to bench/nearby_tickets.py (e.g. --queries 500 --wrk-duration 5).
set -euo pipefail
cd "$(dirname "$0")/.."
# The benchmark's server signs its own tokens and runs without rate limits.
export REDGRID_ENV=development

BENCH_DB=redgrid_bench
WANT_TICKETS=1000000
RESULTS=bench/results
PY=.venv/bin/python
REDGRID=.venv/bin/redgrid
mkdir -p "$RESULTS"

source scripts/lib.sh

# GNU time measures the seed's peak memory; wrk (Debian package `wrk`) is the HTTP load
# generator of the primary HTTP rows.
missing=()
[ -x /usr/bin/time ] || missing+=(time)
command -v wrk >/dev/null || missing+=(wrk)
apt_install "${missing[@]}"

DB="$PY bench/_db.py"
bench_database "$BENCH_DB"
if needs_seed "$WANT_TICKETS"; then
  tmp=$(mktemp -d)
  echo "==> seeding the demo data"
  /usr/bin/time -v -o "$tmp/demo.time" "$REDGRID" seed --demo
  echo "==> seeding $WANT_TICKETS bulk tickets (takes minutes)"
  /usr/bin/time -v -o "$tmp/bulk.time" "$REDGRID" seed --tickets "$WANT_TICKETS"
  counts=$($DB counts)
  read -r total _ <<<"$counts"
  "$PY" - "$tmp/demo.time" "$tmp/bulk.time" "$RESULTS/seed.json" "$WANT_TICKETS" "$total" <<'EOF'
import json, re, sys
from datetime import datetime, timezone

def parse(path):
    text = open(path, encoding="utf-8").read()
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): ([\d:.]+)", text).group(1)
    seconds = 0.0
    for part in wall.split(":"):
        seconds = seconds * 60 + float(part)
    user = float(re.search(r"User time \(seconds\): ([\d.]+)", text).group(1))
    system = float(re.search(r"System time \(seconds\): ([\d.]+)", text).group(1))
    return {"wall_s": round(seconds, 2), "user_cpu_s": user, "system_cpu_s": system,
            "max_rss_mb": round(rss / 1024, 1)}

demo, bulk, out, wanted, total = sys.argv[1:]
bulk = parse(bulk)
bulk["tickets"] = int(wanted)
bulk["tickets_per_s"] = round(int(wanted) / bulk["wall_s"]) if bulk["wall_s"] else None
json.dump({"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "command_demo": "redgrid seed --demo", "demo": parse(demo),
           "command_bulk": f"redgrid seed --tickets {wanted}", "bulk": bulk,
           "tickets_after": int(total),
           "note": "wall and peak RSS of the seeding client process (GNU time -v); "
                   "the PostgreSQL server's own memory is not included"},
          open(out, "w", encoding="utf-8"), indent=2)
print(f"seed: demo {parse(demo)['wall_s']} s; {wanted} tickets {bulk['wall_s']} s, "
      f"peak RSS {bulk['max_rss_mb']} MB")
EOF
  rm -rf "$tmp"
fi

echo "==> running bench/nearby_tickets.py"
"$PY" bench/nearby_tickets.py --seed-results "$RESULTS/seed.json" "$@"
"$PY" bench/tiles.py  # vector tiles on the same database: tile SQL vs GET .mvt
