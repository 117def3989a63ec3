"""Benchmark of createTicket: tickets/s at concurrency 16 over HTTP against the SQL floor.

Run by `scripts/bench_create.sh`, which recreates database `redgrid_bench_create` (migrations +
demo data) first. By hand, on such a database:

    REDGRID_DATABASE=redgrid_bench_create .venv/bin/python bench/create_ticket.py [--tickets 3000]

Every configuration files the same tickets: deterministic random points inside the demo's
compounds (ST_GeneratePoints with fixed seeds), random demand items P01–P46, channel ONLINE, a
fixed description, each with its own idempotency key. In this order:

1. SQL floor (psycopg 3 async, no server running): what the API's createTicket does as plain
   SQL, statement for statement: the idempotency-key lookup, locate, then in one transaction
   the grid cells held, one statement for the demand item with the compound's property
   company and the county units, and one for the ticket (ON CONFLICT on the key) with its
   events (CREATED + DISPATCHED; the outbox trigger writes the DISPATCHED event's
   notification rows at commit, one per lead / cooperating unit, on both sides alike) and its
   units, then the ticket read back and the possible-duplicates lookup. Concurrency 1 (one
   connection) and 16 (16 connections).
2. HTTP: `redgrid serve` on a free loopback port, the escalation job off
   (REDGRID_JOB_INTERVAL=0) and the webhook worker ON at its default interval (it sends what
   the trigger wrote, to no receiver: the demo units have no webhooks). wrk posts each body
   exactly once (bench/create_wrk.lua): `-t1 -c1`, then `-t2 -c16`.

Afterwards it checks in the database that every successful request created exactly one ticket
(no more, no fewer, no duplicate key), with its events, units and, once the worker has passed,
its notifications; and that each HTTP ticket was routed like its floor twin. Writes
bench/results/create_ticket.json and .md and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import _wrk
from _context import machine, versions
from _db import conninfo as configured_conninfo
from _server import Server, development_env, run_with_server_log
from create_checks import dataset, http_notifications, verify
from create_floor import floor_all
from create_http import WRK_THREADS, http_run
from create_jobs import CHANNEL, GRAPHQL, HTTP_SUBJECT, ITEMS, Job, make_jobs
from create_report import markdown, verdicts

from resolvers.actor import Role
from web.auth import mint
from web.settings import Settings

CHECKOUT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "redgrid_bench_create"




def measure(args: argparse.Namespace, conninfo: str, env: dict[str, str], token: str,
            jobs: dict[str, list[Job]], res: dict[str, Any], tmp: Path) -> None:
    asyncio.run(floor_all(conninfo, jobs, res))

    files = {p: _wrk.write_bodies(tmp / f"bodies-{p}.txt", (j.body() for j in js))
             for p, js in jobs.items()}
    print("starting redgrid serve", file=sys.stderr)
    server = Server(env, tmp / "server.log")
    res["server"] = {"pid": server.proc.pid, "base_url": server.base}
    try:
        server.wait_ready()
        for phase, conc in (("w1", 1), ("w16", 16), ("c1", 1), ("c16", 16)):
            n = len(jobs[phase])
            print(f"wrk POST /graphql createTicket, concurrency {conc}: {n:,} tickets"
                  + (" (warm-up)" if phase.startswith("w") else ""), file=sys.stderr)
            spy = None
            if args.profile and phase == "c16":
                args.profile.mkdir(parents=True, exist_ok=True)
                spy = subprocess.Popen(
                    [args.py_spy, "record", "--pid", str(server.proc.pid), "--rate", "100", "--nonblocking",
                     "--format", "raw", "--output", str(args.profile / "server-c16.txt")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(1.0)
            try:
                r = http_run(server, conninfo, files[phase], token, conc, n, args.max_seconds)
            finally:
                if spy is not None:
                    spy.send_signal(signal.SIGINT)
                    try:
                        spy.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        spy.kill()
                        spy.wait(timeout=10)
            res["created"][f"http-{phase}"] = r["created"]
            if phase.startswith("w"):
                res["warmups"].append({"phase": phase, **r})
            else:
                r["notifications_at_end"] = http_notifications(conninfo)
                res["runs"].append(r)
        print("checking the database (waiting for the webhook worker's pass)", file=sys.stderr)
        wait = max(30.0, 3 * (res["configuration"]["server_webhook_interval_s"] or 0) + 10)
        res["verification"] = verify(conninfo, jobs, res["created"], wait)
        res["verification"]["http_notifications_total"] = http_notifications(conninfo)
    finally:
        res["server"]["exit_code"] = server.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickets", type=int, default=3000, help="tickets at concurrency 16")
    ap.add_argument("--tickets-c1", type=int, default=1000, help="tickets at concurrency 1")
    ap.add_argument("--warmup", type=int, default=320,
                    help="warm-up tickets before concurrency 16 (concurrency 1: a tenth)")
    ap.add_argument("--seed", type=int, default=20240607, help="random seed of points and items")
    ap.add_argument("--max-seconds", type=float, default=300,
                    help="upper bound of one wrk run (it ends when all its bodies are answered)")
    ap.add_argument("--out", type=Path, default=CHECKOUT / "bench" / "results")
    ap.add_argument("--profile", type=Path, default=None,
                    help="record the server with py-spy during the concurrency-16 HTTP run "
                         "(collapsed stacks into this folder; slows that run: not for results)")
    ap.add_argument("--py-spy", default=shutil.which("py-spy") or "py-spy",
                    help="the py-spy executable for --profile")
    args = ap.parse_args()
    if not 16 <= args.tickets <= 200_000 or not 1 <= args.tickets_c1 <= 100_000:
        ap.error("--tickets must be 16..200000 and --tickets-c1 1..100000")
    if not 32 <= args.warmup <= 10_000:
        ap.error("--warmup must be 32..10000")

    env = development_env()
    if not env.get("DATABASE_URL") and not env.get("REDGRID_DATABASE"):
        env["REDGRID_DATABASE"] = BENCH_DATABASE
    # No escalation job (it would change tickets under the benchmark); the webhook worker
    # stays at the server's default (REDGRID_WEBHOOK_INTERVAL as set, else 5 s).
    env["REDGRID_JOB_INTERVAL"] = "0"
    settings = Settings.from_env(env)
    conninfo = configured_conninfo(settings)
    token = mint(settings.jwt_secret, subject=HTTP_SUBJECT, role=Role.RESIDENT, scopes=[],
                 ttl_s=6 * 3600)

    sizes = {"w1": max(16, args.warmup // 10), "w16": args.warmup, "c1": args.tickets_c1,
             "c16": args.tickets}
    res: dict[str, Any] = {
        "benchmark": "createTicket",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(), "versions": versions(conninfo), "dataset": dataset(conninfo),
        "configuration": {
            "tickets_c16": args.tickets, "tickets_c1": args.tickets_c1,
            "warmup": {"c1": sizes["w1"], "c16": sizes["w16"]}, "seed": args.seed,
            "items": f"{ITEMS[0]}–{ITEMS[-1]}", "channel": CHANNEL,
            "role": "RESIDENT", "graphql": GRAPHQL,
            "server_pool_size": settings.pool_size,
            "server_job_interval_s": settings.job_interval_s,
            "server_webhook_interval_s": settings.webhook_interval_s,
            "wrk_threads": {str(k): t for k, t in WRK_THREADS.items()},
            "wrk_script": "bench/create_wrk.lua",
            "floor": "psycopg 3 async, autocommit, prepare_threshold=1, one connection per "
                     "worker; same statements as the API (the outbox trigger writes the "
                     "notification rows at commit on both sides)",
            "order": ["floor c1", "floor c16", "http c1", "http c16"],
            "profiled_with_py_spy": args.profile is not None,
        },
        "runs": [], "warmups": [], "created": {},
    }
    if res["dataset"]["database"] != BENCH_DATABASE:
        print(f"note: database {res['dataset']['database']!r}, not {BENCH_DATABASE!r}",
              file=sys.stderr)
    print(f"dataset: {res['dataset']}", file=sys.stderr)
    print("drawing points inside compounds", file=sys.stderr)
    jobs = make_jobs(conninfo, sizes, args.seed)

    args.out.mkdir(parents=True, exist_ok=True)
    run_with_server_log("redgrid-bench-create-", res, lambda tmp: measure(
        args, conninfo, env, token, jobs, res, tmp))
    res["dataset_after"] = dataset(conninfo)
    verdicts(res)

    table = markdown(res)
    (args.out / "create_ticket.json").write_text(
        json.dumps(res, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    (args.out / "create_ticket.md").write_text(table, encoding="utf-8")
    print(table)
    # The exit status tells whether the run was valid (answers and database check), not
    # whether the throughput target was met: that is the table's verdict.
    return 0 if all(t["pass"] for t in res["targets"][1:]) else 1


if __name__ == "__main__":
    sys.exit(main())
