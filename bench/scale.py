"""The scale curve: Q1 and Q4 on 100,000, 1,000,000 and 10,000,000 bulk tickets.

Run by `make bench-scale` (scripts/bench_scale.sh), which seeds one database per size,
`redgrid_scale_<n>` (the demo data plus n bulk tickets), and then runs

    .venv/bin/python bench/scale.py run --size 100000 --size 1000000 --size 10000000

The queries and their inputs are bench/peer.py's (its input makers are imported, not copied):
Q1, the 20 nearest open tickets within 1 km of a point, with geometry; Q4, locate a point with
its 2 nearest clinics; 400 varied inputs each, one request body per line cycled by
bench/wrk_cycle.lua. Per size, `redgrid serve` is started against that database and wrk runs
each query at concurrency 1 and 16, then the SQL floor (the same SQL through psycopg 3,
prepared) and EXPLAIN (ANALYZE, BUFFERS) of the Q1 statement. Sizes alternate over `--rounds`
rounds in rotating order, so that load from other processes on the shared machine spreads over
all sizes; the tables give the median per size. Writes bench/results/scale.json and scale.md.

Other commands, used by scripts/bench_scale.sh:

    markdown scale.json                           the tables again from a report
    record-seed N DEMO.time BULK.time OUT.json   the seed's GNU time -v figures into OUT.json
    progress                                      the highest ticket id of the configured database
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import _wrk
import httpx
import psycopg
from _context import machine, versions
from _db import conninfo
from _server import OtherCpu, Server, bench_target, cpu_activity
from nearby_tickets import CENTRE, INDEX, api_sql, explain, make_points_at
from peer import LAT, LON, PEER, Case, _post, bodies, floor, make_cases

from db.queries.tickets import status_list
from db.vocabulary import OPEN_STATUSES
from resolvers.actor import Role
from web.auth import mint

CHECKOUT = Path(__file__).resolve().parent.parent
RESULTS = CHECKOUT / "bench" / "results"
SIZES = (100_000, 1_000_000, 10_000_000)
QUERIES = ("Q1", "Q4")
CONCURRENCIES = (1, 16)
WRK_THREADS = {1: 1, 16: 2}
CHECKED = 20  # Q1 inputs whose RedGrid answer must name the SQL floor's tickets
UNSEEN = 200  # Q1 floor queries per size and round at points asked nowhere else in the run
TARGET_RATIO = 1.5  # Q1 p50 at the largest size within 1.5x of the smallest's


def gnu_time(path: Path) -> dict[str, Any]:
    """Wall time, CPU and peak resident memory from the output of GNU `time -v`."""
    text = path.read_text(encoding="utf-8")

    def field(label: str) -> str:
        found = re.search(re.escape(label) + r": ([\d:.]+)", text)
        if not found:
            raise ValueError(f"{path}: no '{label}' in the GNU time output")
        return found.group(1)

    wall = 0.0
    for part in field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":"):
        wall = wall * 60 + float(part)
    return {"wall_s": round(wall, 2), "user_cpu_s": float(field("User time (seconds)")),
            "system_cpu_s": float(field("System time (seconds)")),
            "max_rss_mb": round(int(field("Maximum resident set size (kbytes)")) / 1024, 1)}


def record_seed(size: int, demo: Path, bulk: Path, out: Path) -> dict[str, Any]:
    """Adds one size's seed figures to `out` (a JSON object keyed by size)."""
    figures = gnu_time(bulk)
    figures["tickets"] = size
    figures["tickets_per_s"] = round(size / figures["wall_s"]) if figures["wall_s"] else None
    with psycopg.connect(conninfo()) as conn:
        row = conn.execute("SELECT count(*) FROM tickets").fetchone()
    entry = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
             "command": f"redgrid seed --demo; redgrid seed --tickets {size}",
             "demo": gnu_time(demo), "bulk": figures, "tickets_after": int(row[0]) if row else 0,
             "note": "wall and peak RSS of the seeding client process (GNU time -v); the "
                     "PostgreSQL server's own memory is not included"}
    seeds = json.loads(out.read_text(encoding="utf-8")) if out.exists() else {}
    seeds[str(size)] = entry
    out.write_text(json.dumps(seeds, indent=2) + "\n", encoding="utf-8")
    print(f"seed of {size:,} tickets: {figures['wall_s']} s, {figures['tickets_per_s']:,} "
          f"tickets/s, peak RSS {figures['max_rss_mb']} MB")
    return entry


def progress() -> int:
    with psycopg.connect(conninfo()) as conn:
        row = conn.execute("SELECT coalesce(max(id), 0) FROM tickets").fetchone()
    return int(row[0]) if row else 0


def database(size: int) -> str:
    return f"redgrid_scale_{size}"


def target(size: int) -> tuple[dict[str, str], Any, str]:
    """The server's environment, settings and conninfo for database `redgrid_scale_<size>`
    on the configured server, whatever database REDGRID_DATABASE or DATABASE_URL name."""
    env, settings, _ = bench_target(database(size))
    settings = settings.with_database(database(size))
    if env.get("DATABASE_URL"):
        env["DATABASE_URL"] = settings.database_url
    else:
        env["REDGRID_DATABASE"] = database(size)
    return env, settings, conninfo(settings)


def dataset(info: str) -> dict[str, Any]:
    """Tickets, open tickets and the sizes on disk of one database."""
    with psycopg.connect(info) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM tickets), "
            f"(SELECT count(*) FROM tickets WHERE status IN {status_list(OPEN_STATUSES)}), "
            "pg_database_size(current_database()), pg_total_relation_size('tickets'), "
            "pg_relation_size(%s::regclass)", (INDEX,)).fetchone()
    assert row is not None
    mb = 1024 * 1024
    return {"tickets": row[0], "open_tickets": row[1], "database_mb": round(row[2] / mb),
            "tickets_table_mb": round(row[3] / mb), "open_index_mb": round(row[4] / mb, 1)}


def plan_shape(plan: str) -> dict[str, Any]:
    """What EXPLAIN ANALYZE says of the ordered index scan: which node, the rows it returned,
    the rows its filter removed and the buffers it touched."""
    lines = plan.splitlines()
    at = next((i for i, x in enumerate(lines) if f"Index Scan using {INDEX}" in x), None)
    if at is None:
        first = lines[0].strip() if lines else ""
        return {"node": first.split("  (")[0], "knn_index_scan": False}
    node = lines[at]
    rows = re.search(r"actual time=[\d.]+\.\.[\d.]+ rows=(\d+)", node)
    depth = len(node) - len(node.lstrip())
    removed, buffers = 0, None
    for x in lines[at + 1:]:
        if len(x) - len(x.lstrip()) <= depth:
            break
        if "Rows Removed by Filter" in x:
            removed = int(x.split(":")[1])
        if "Buffers:" in x and buffers is None:
            buffers = x.split("Buffers:")[1].strip()
    return {"node": node.strip().lstrip("-> ").split("  (")[0],
            "knn_index_scan": "Order By:" in "\n".join(lines[at:at + 4]),
            "rows": int(rows.group(1)) if rows else None, "rows_removed_by_filter": removed,
            "buffers": buffers}


def agree(case: Case, url: str, token: str, info: str) -> dict[str, Any]:
    """RedGrid's Q1 answers name the tickets the SQL floor finds, in its order (first inputs)."""
    sent, _ = bodies(case)
    empty = 0
    with httpx.Client(trust_env=False, timeout=30.0) as client, psycopg.connect(info) as conn:
        for i in range(min(CHECKED, len(case.inputs))):
            got = [hit[0] for hit in case.redgrid_answer(_post(client, url, sent[i], token))]
            want = [r[0] for r in conn.execute(case.floor_sql, case.floor_params(case.inputs[i]))]
            if got != want:
                raise SystemExit(f"{case.name}: RedGrid and the SQL floor disagree at "
                                 f"{case.inputs[i]}: {got[:5]} against {want[:5]}")
            empty += not got
    if empty == min(CHECKED, len(case.inputs)):
        raise SystemExit(f"{case.name}: no ticket near any of the first inputs")
    return {"inputs_compared": min(CHECKED, len(case.inputs)), "empty_answers": empty}


def unseen_points(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [{"lon": round(rng.uniform(*LON), 6), "lat": round(rng.uniform(*LAT), 6)}
            for _ in range(n)]


def unseen_floor(case: Case, info: str, points: list[dict[str, Any]]) -> dict[str, Any]:
    """Q1's SQL once at each point, none asked before in this run (prepared, one connection):
    what a point costs while its tickets' pages are not yet in PostgreSQL's shared buffers.
    The 400 cycled inputs of the other rows keep theirs there after the first pass."""
    ms = []
    with psycopg.connect(info, autocommit=True, prepare_threshold=0) as conn:
        conn.execute(case.floor_sql, case.floor_params(case.inputs[0]), prepare=True).fetchall()
        for p in points:
            t0 = time.perf_counter()
            conn.execute(case.floor_sql, case.floor_params(p), prepare=True).fetchall()
            ms.append((time.perf_counter() - t0) * 1000)
    q = statistics.quantiles(sorted(ms), n=100, method="inclusive")
    return {"queries": len(ms), "p50_ms": round(q[49], 3), "p99_ms": round(q[98], 3)}


def measure_size(size: int, cases: list[Case], files: dict[str, Path], tmp: Path,
                 duration_s: float, floor_s: float, unseen: list[dict[str, Any]]
                 ) -> dict[str, Any]:
    """One round on one size: the server on its database, wrk and the floor per query."""
    env, settings, info = target(size)
    with psycopg.connect(info) as conn:  # the floor's SQL: RedGrid's, as SQL functions
        conn.execute((PEER / "schema.sql").read_text())
        conn.commit()
    token = mint(settings.jwt_secret, subject="bench-scale", role=Role.COUNTY_OFFICE, scopes=[])
    out: dict[str, Any] = {"loadavg_start": os.getloadavg()}
    server = Server(env, tmp / f"server_{size}.log")
    try:
        server.wait_ready()
        url, pid = f"{server.base}/graphql", server.proc.pid
        other = OtherCpu(info, pid)
        for case in cases:
            if case.name == "Q1":
                out["check"] = agree(case, url, token, info)
            _wrk.run(url, threads=2, connections=16, duration_s=1, bodies=files[case.name],
                     server_pid=pid, token=token)  # warm-up: pool, plans, caches
            res: dict[str, Any] = {}
            for c in CONCURRENCIES:
                run = _wrk.run(url, threads=WRK_THREADS[c], connections=c,
                               duration_s=duration_s, bodies=files[case.name], server_pid=pid,
                               token=token)
                if not _wrk.clean(run["check"]):
                    raise SystemExit(f"{case.name} at {size:,}: bad responses {run['check']}")
                run.pop("wrk")
                run["floor"] = asyncio.run(floor(case, info, c, floor_s, f"scale-{size}-c{c}"))
                res[str(c)] = run
                print(f"  {size:>10,} {case.name} c{c}: p50 {run['p50_ms']} ms, p99 "
                      f"{run['p99_ms']} ms, {run['throughput_rps']} req/s; floor p50 "
                      f"{run['floor']['p50_ms']} ms", flush=True)
            out[case.name] = res
            if case.name == "Q1" and unseen:
                out["Q1_unseen_floor"] = unseen_floor(case, info, unseen)
                print(f"  {size:>10,} Q1 floor at {len(unseen)} unseen points: p50 "
                      f"{out['Q1_unseen_floor']['p50_ms']} ms", flush=True)
        out["other_cpu_pct"] = other.pct_of_one_core()
    finally:
        server.stop()
    out["loadavg_end"] = os.getloadavg()
    return out


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 3)


def summarise(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Per query and concurrency, the median over the rounds of each figure."""
    out: dict[str, Any] = {}
    for name in QUERIES:
        out[name] = {}
        for c in map(str, CONCURRENCIES):
            runs = [r[name][c] for r in rounds if name in r]
            if not runs:
                continue
            out[name][c] = {
                "p50_ms": _median([r["p50_ms"] for r in runs]),
                "p99_ms": _median([r["p99_ms"] for r in runs]),
                "throughput_rps": _median([r["throughput_rps"] for r in runs]),
                "floor_p50_ms": _median([r["floor"]["p50_ms"] for r in runs]),
                "floor_p99_ms": _median([r["floor"]["p99_ms"] for r in runs]),
                "server_cpu_ms_per_req": _median([r["server_cpu_ms_per_req"] for r in runs]),
                "rounds_p50_ms": [r["p50_ms"] for r in runs],
            }
    unseen = [r["Q1_unseen_floor"] for r in rounds if "Q1_unseen_floor" in r]
    if unseen:
        out["Q1_unseen_floor"] = {"p50_ms": _median([u["p50_ms"] for u in unseen]),
                                  "p99_ms": _median([u["p99_ms"] for u in unseen])}
    out["other_cpu_pct"] = [r["other_cpu_pct"] for r in rounds]
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    sizes = sorted(args.size or SIZES)
    targets = {n: target(n)[2] for n in sizes}
    for n, info in targets.items():  # every size seeded: scripts/bench_scale.sh does it
        have = dataset(info)["tickets"]
        if have < n:
            raise SystemExit(f"{database(n)} holds {have:,} tickets, not {n:,}: seed it with "
                             f"`bash scripts/bench_scale.sh --seed-only {n}`")
    # The inputs depend on the demo's places only, the same in every database.
    cases = [c for c in make_cases(targets[sizes[0]], args.inputs, args.seed)
             if c.name in QUERIES]
    seeds = json.loads(args.seeds.read_text()) if args.seeds.exists() else {}
    started = machine()
    per_size: dict[int, list[dict[str, Any]]] = {n: [] for n in sizes}
    explains: dict[int, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as folder:
        tmp = Path(folder)
        files = {c.name: _wrk.write_bodies(tmp / f"{c.name}.bodies", bodies(c)[0])
                 for c in cases}
        for r in range(args.rounds):
            order = sizes[r % len(sizes):] + sizes[:r % len(sizes)]
            print(f"round {r + 1}/{args.rounds}: {', '.join(f'{n:,}' for n in order)}",
                  flush=True)
            for n in order:
                per_size[n].append(measure_size(
                    n, cases, files, tmp, args.duration, args.floor_duration,
                    unseen_points(args.unseen, args.seed + 1000 + r)))
        for n in sizes:
            print(f"EXPLAIN (ANALYZE, BUFFERS) of Q1 at {CENTRE} on {n:,}", flush=True)
            plan = explain(targets[n], api_sql(), make_points_at(*CENTRE))
            for kind in ("one_off", "prepared"):
                plan[kind]["shape"] = plan_shape(plan[kind]["plan"])
            explains[n] = plan
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=CHECKOUT,
                            capture_output=True, text=True, check=False).stdout.strip()
    return {
        "benchmark": "scale", "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": commit, "machine": started, "activity_end": cpu_activity(),
        "loadavg_end": os.getloadavg(), "versions": versions(targets[sizes[0]]),
        "method": {"queries": {c.name: c.label for c in cases}, "inputs": args.inputs,
                   "seed": args.seed, "rounds": args.rounds, "wrk_duration_s": args.duration,
                   "floor_duration_s": args.floor_duration, "unseen_points": args.unseen,
                   "concurrencies": list(CONCURRENCIES), "explain_point": CENTRE},
        "sizes": [{"size": n, "database": database(n), "dataset": dataset(targets[n]),
                   "seed": seeds.get(str(n)), "median": summarise(per_size[n]),
                   "explain": explains[n], "rounds": per_size[n]} for n in sizes],
    }


def verdict(report: dict[str, Any]) -> dict[str, Any] | None:
    """Q1's p50 at concurrency 1 on the largest size against the smallest's."""
    sizes = report["sizes"]
    if len(sizes) < 2:
        return None
    small, large = (s["median"]["Q1"]["1"]["p50_ms"] for s in (sizes[0], sizes[-1]))
    ratio = large / small
    return {"small": sizes[0]["size"], "large": sizes[-1]["size"], "small_p50_ms": small,
            "large_p50_ms": large, "ratio": round(ratio, 2), "target": TARGET_RATIO,
            "met": ratio <= TARGET_RATIO}


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    lines = [f"# Scale curve: Q1 and Q4 from 100,000 to 10,000,000 tickets ({report['date']})",
             "", f"Commit {report['commit']}; {m['cpu']}, {m['cores']} cores, "
             f"{m['ram_gb']} GB; load average at start {m['loadavg_start']}, at end "
             f"{report['loadavg_end']}. One `redgrid serve` process per size; wrk "
             f"{report['method']['wrk_duration_s']} s per run over "
             f"{report['method']['inputs']} varied inputs; {report['method']['rounds']} rounds, "
             "sizes in rotating order; medians over the rounds. Floor: the same SQL through "
             "psycopg 3, prepared. Other CPU: what other processes used during each size's "
             "runs, % of one core, per round.", "",
             "| tickets | database | tickets table with indexes | open-ticket index | seed wall | tickets/s "
             "| seed peak RSS |", "|---:|---:|---:|---:|---:|---:|---:|"]
    for s in report["sizes"]:
        d, seed = s["dataset"], (s["seed"] or {}).get("bulk")
        seeded = (f"{seed['wall_s']:,} s | {seed['tickets_per_s']:,} | {seed['max_rss_mb']} MB"
                  if seed else "not recorded | | ")
        lines.append(f"| {d['tickets']:,} | {d['database_mb']:,} MB | "
                     f"{d['tickets_table_mb']:,} MB | {d['open_index_mb']:,} MB | {seeded} |")
    for name in QUERIES:
        lines += ["", f"{report['method']['queries'][name]}:", "",
                  "| tickets | c | p50 ms | p99 ms | req/s | floor p50 ms | server CPU ms/req "
                  "| p50 per round | other CPU % |", "|---:|---:|---:|---:|---:|---:|---:|---|---|"]
        for s in report["sizes"]:
            for c, v in s["median"][name].items():
                lines.append(f"| {s['size']:,} | {c} | {v['p50_ms']} | {v['p99_ms']} | "
                             f"{v['throughput_rps']:,.0f} | {v['floor_p50_ms']} | "
                             f"{v['server_cpu_ms_per_req']} | {v['rounds_p50_ms']} | "
                             f"{s['median']['other_cpu_pct']} |")
    unseen = [(s["size"], s["median"]["Q1_unseen_floor"]) for s in report["sizes"]
              if "Q1_unseen_floor" in s["median"]]
    if unseen:
        lines += ["", f"Q1's SQL floor at points asked nowhere else in the run "
                  f"({report['method'].get('unseen_points')} per size and round, once each, "
                  "one connection): " + "; ".join(
                      f"{n:,}: p50 {u['p50_ms']} ms, p99 {u['p99_ms']} ms" for n, u in unseen)
                  + "."]
    lines += ["", f"Plan of the Q1 statement at {report['method']['explain_point']} (EXPLAIN "
              "ANALYZE, prepared after 10 runs; median of 5 executions):", "",
              "| tickets | node | ordered (KNN) | rows | removed by filter | buffers "
              "| execution ms |", "|---:|---|---|---:|---:|---|---:|"]
    for s in report["sizes"]:
        p = s["explain"]["prepared"]
        sh = p["shape"]
        lines.append(f"| {s['size']:,} | {sh['node']} | {sh['knn_index_scan']} | "
                     f"{sh.get('rows', '–')} | {sh.get('rows_removed_by_filter', '–')} | "
                     f"{sh.get('buffers', '–')} | {p['execution_ms_median']} |")
    v = verdict(report)
    if v:
        lines += ["", f"Target: Q1 p50 (concurrency 1) at {v['large']:,} tickets within "
                  f"{v['target']}x of its p50 at {v['small']:,}: {v['large_p50_ms']} ms against "
                  f"{v['small_p50_ms']} ms, {v['ratio']}x, "
                  f"{'met' if v['met'] else 'not met'}."]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench/scale.py", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run_cmd = commands.add_parser("run", help="time Q1 and Q4 on every size")
    run_cmd.add_argument("--size", type=int, action="append",
                         help="bulk tickets of a database redgrid_scale_<n> (repeatable)")
    run_cmd.add_argument("--rounds", type=int, default=3)
    run_cmd.add_argument("--duration", type=float, default=4.0, help="s per wrk run")
    run_cmd.add_argument("--floor-duration", type=float, default=3.0)
    run_cmd.add_argument("--inputs", type=int, default=400)
    run_cmd.add_argument("--seed", type=int, default=14)
    run_cmd.add_argument("--unseen", type=int, default=UNSEEN,
                         help="Q1 floor queries at fresh points per size and round")
    run_cmd.add_argument("--seeds", type=Path, default=RESULTS / "scale_seed.json")
    run_cmd.add_argument("--out", type=Path, default=RESULTS / "scale.json")
    commands.add_parser("markdown", help="the tables again from a report").add_argument(
        "report", type=Path)
    seed_cmd = commands.add_parser("record-seed", help="a seed's GNU time -v figures")
    seed_cmd.add_argument("size", type=int)
    for name in ("demo_time", "bulk_time", "out"):
        seed_cmd.add_argument(name, type=Path)
    commands.add_parser("progress", help="the highest ticket id of the configured database")
    args = parser.parse_args(argv)

    if args.command == "run":
        report = run(args)
        report["target"] = verdict(report)
        args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        args.out.with_suffix(".md").write_text(markdown(report))
        print(markdown(report))
    elif args.command == "markdown":
        print(markdown(json.loads(args.report.read_text())), end="")
    elif args.command == "record-seed":
        record_seed(args.size, args.demo_time, args.bulk_time, args.out)
    else:
        print(f"{progress():,}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
