"""The race with PostGraphile: RedGrid and PostGraphile v4 (+ @graphile/postgis) on the same
database, the same SQL and the same varied inputs, with the psycopg SQL floor beside them.

Run by `make bench-peer` (scripts/bench_peer.sh), which installs PostGraphile into
bench/peer/node_modules, turns on pg_stat_statements and seeds `redgrid_bench` when needed:

    REDGRID_DATABASE=redgrid_bench .venv/bin/python bench/peer.py [--duration 4] [--rounds 3]

Queries (bench/peer/schema.sql gives PostGraphile each one as SQL functions returning a table
type, with the SQL RedGrid runs):

- Q1 the 20 nearest open tickets within 1 km of a point, with geometry;
- Q2 the communities intersecting a box, with their outlines as GeoJSON: small (~1 km),
  medium (~3 km) and the whole county seat;
- Q3 one ticket with its grid cell, compound, community, unit and events (nesting);
- Q4 locate a point (cell, compound, community, zone, street) with its 2 nearest clinics.
- Q5 createTicket with an idempotency key (a resident's report in a compound, items cycled);
  PostGraphile through the plpgsql function peer.create_ticket, which writes what RedGrid
  writes. Every request files a new ticket: each run gets bodies with keys of its own, more
  than it can send. Before timing, the tickets both sides filed for the same inputs must agree
  (cell, compound, lead unit, units, events, deadline). The race's tickets are deleted after.

Before timing, both servers answer the first inputs of every query and must agree (floats to
1e-6). Then wrk (bench/wrk_cycle.lua) cycles through hundreds of inputs, one body per line, at
concurrency 1, 16 and 64, one server after the other, alternating which goes first, for
`--rounds` rounds; the tables give the round of median throughput. Statements per request come
from pg_stat_statements over a sequential batch. One server process on each side, each with a
pool of `--pool` (10, PostGraphile's default) database connections. Writes
bench/results/peer.json and peer.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import _wrk
import httpx
import psycopg
from _context import machine, versions
from _db import conninfo as configured_conninfo
from _db import one
from _server import (
    OtherCpu,
    RssSampler,
    Server,
    bench_env,
    cpu_activity,
    free_port,
    process_tree,
    stop_process,
)
from psycopg import sql

from db.vocabulary import OPEN_STATUSES
from resolvers.actor import Role
from web.auth import mint
from web.settings import Settings

CHECKOUT = Path(__file__).resolve().parent.parent
PEER = CHECKOUT / "bench" / "peer"
RESULTS = CHECKOUT / "bench" / "results"
BENCH_DATABASE = "redgrid_bench"
LON = (118.613, 118.701)
LAT = (34.886, 34.950)
CONCURRENCIES = (1, 16, 64)
# Database connections of each server: PostGraphile's default pool size, given to both.
PEER_POOL = 10
WRK_THREADS = {1: 1, 16: 2, 64: 2}
CHECKED = 40  # inputs of each query both servers must answer alike before timing
STATEMENT_BATCH = 50  # sequential requests per server for pg_stat_statements

Json = Any


@dataclass
class Case:
    """One query: its GraphQL on each side, the variables of each input, the SQL floor and a
    normal form of each side's answer for the comparison."""

    name: str
    label: str
    redgrid: str
    peer: str
    inputs: list[dict[str, Any]]
    redgrid_vars: Callable[[dict[str, Any]], dict[str, Any]]
    peer_vars: Callable[[dict[str, Any]], dict[str, Any]]
    redgrid_answer: Callable[[Json], Json]
    peer_answer: Callable[[Json], Json]
    floor_sql: str
    floor_params: Callable[[dict[str, Any]], tuple[Any, ...]]
    results: dict[str, Any] = field(default_factory=dict)
    # A write (Q5): RedGrid's caller, and the inputs of one run, made afresh for each run.
    token: str | None = None
    runs: Callable[[str], list[dict[str, Any]]] | None = None


def _point(p: dict[str, Any]) -> dict[str, Any]:
    return {"point": {"lon": p["lon"], "lat": p["lat"]}}


def _lonlat(p: dict[str, Any]) -> dict[str, Any]:
    return {"lon": p["lon"], "lat": p["lat"]}


Q1_REDGRID = """query Q1($point: PointInput!) {
  nearbyTickets(point: $point, radiusM: 1000, status: [""" + ", ".join(OPEN_STATUSES) + """],
                first: 20) { distanceM ticket { code status geometry } } }"""
Q1_PEER = """query Q1($lon: Float!, $lat: Float!) {
  nearbyTicketsList(lon: $lon, lat: $lat, radiusM: 1000, n: 20) {
    distanceM code status geom { geojson } } }"""
Q2_REDGRID = """query Q2($bbox: BBoxInput!) { communities(bbox: $bbox) { code name geometry } }"""
Q2_PEER = """query Q2($west: Float!, $south: Float!, $east: Float!, $north: Float!) {
  communitiesInBoxList(west: $west, south: $south, east: $east, north: $north) {
    code name geom { geojson } } }"""
Q3_REDGRID = """query Q3($code: String!) { ticket(code: $code) {
  code status level itemCode createdAt dueAt version gridCell { code households }
  compound { code name } community { code name } responsibleUnit { code name kind }
  events { at action fromStatus toStatus note } } }"""
Q3_PEER = """query Q3($code: String!) { ticketByCode(code: $code) {
  code status level itemCode createdAt dueAt version gridCell { code households }
  compound { code name } community { code name } responsibleUnit { code name kind }
  eventsList { at action fromStatus toStatus note } } }"""
Q4_REDGRID = """query Q4($point: PointInput!) { locate(point: $point) {
  gridCell { code households } compound { code name } community { code name }
  zone { code name } street { code name }
  nearestFacilities(kind: CLINIC, first: 2) { distanceM facility { code name } } } }"""
Q4_PEER = """query Q4($lon: Float!, $lat: Float!) { locate(lon: $lon, lat: $lat) {
  gridCell { code households } compound { code name } community { code name }
  zone { code name } street { code name }
  nearestFacilitiesList(kind: "CLINIC", n: 2) { distanceM code name } } }"""

Q5_REDGRID = """mutation Q5($input: CreateTicketInput!, $key: String) {
  createTicket(input: $input, idempotencyKey: $key) {
    ticket { code status itemCode createdAt dueAt } } }"""
Q5_PEER = """mutation Q5($input: CreateTicketInput!) { createTicket(input: $input) {
  createdTicket { code status itemCode createdAt dueAt } } }"""
Q5_MARK = "peer race Q5"  # the description of every ticket the race files
Q5_CALLER = {"redgrid": "bench-peer-q5", "postgraphile": "bench-peer-q5-pg"}
Q5_RUN = 12_000  # bodies per run: more than a 4 s run sends (no key is used twice)

FLOOR_Q1 = ("SELECT code, status, distance_m, ST_AsGeoJSON(geom) "
            "FROM peer.nearby_tickets(%s, %s, 1000, 20)")
FLOOR_Q2 = "SELECT code, name, ST_AsGeoJSON(geom, 7) FROM peer.communities_in_box(%s, %s, %s, %s)"
FLOOR_Q3 = """SELECT t.code, t.status, t.level, t.item_code, t.created_at, t.due_at, t.version,
  to_json(peer.ticket_grid_cell(t)), to_json(peer.ticket_compound(t)),
  to_json(peer.ticket_community(t)), to_json(peer.ticket_responsible_unit(t)),
  (SELECT json_agg(e) FROM peer.ticket_events(t) e)
FROM peer.ticket_by_code(%s) t"""
FLOOR_Q4 = """SELECT to_json(peer.location_grid_cell(l)), to_json(peer.location_compound(l)),
  to_json(peer.location_community(l)), to_json(peer.location_zone(l)),
  to_json(peer.location_street(l)),
  (SELECT json_agg(f) FROM peer.location_nearest_facilities(l, 'CLINIC', 2) f)
FROM peer.locate(%s, %s) l"""
FLOOR_Q5 = "SELECT * FROM peer.create_ticket(%s, %s, %s, %s, 'ONLINE', %s, %s)"


def _q1_redgrid(data: Json) -> Json:
    return [(h["ticket"]["code"], h["ticket"]["status"], h["distanceM"],
             h["ticket"]["geometry"]) for h in data["nearbyTickets"]]


def _q1_peer(data: Json) -> Json:
    return [(h["code"], h["status"], h["distanceM"], h["geom"]["geojson"])
            for h in data["nearbyTicketsList"]]


def _q2_redgrid(data: Json) -> Json:
    return [(c["code"], c["name"], c["geometry"]) for c in data["communities"]]


def _q2_peer(data: Json) -> Json:
    return [(c["code"], c["name"], c["geom"]["geojson"]) for c in data["communitiesInBoxList"]]


def _instant(text: str | None) -> str | None:
    return None if text is None else datetime.fromisoformat(text).astimezone(UTC).isoformat()


def _ticket(t: Json, events: str) -> Json:
    if t is None:
        return None
    return {**{k: v for k, v in t.items() if k != events},
            "createdAt": _instant(t["createdAt"]), "dueAt": _instant(t["dueAt"]),
            "events": [{**e, "at": _instant(e["at"])} for e in t[events]]}


def _q4(data: Json, facilities: str, hit: Callable[[Json], Json]) -> Json:
    where = data["locate"]
    return {**{k: v for k, v in where.items() if k != facilities},
            "clinics": [hit(f) for f in where[facilities]]}


def _boxes(rng: random.Random, n: int, size: float | None) -> list[dict[str, Any]]:
    """Boxes of about `size` degrees anywhere over the area; None: the whole area, its edges
    moved by up to ~1 km so that no two are alike."""
    out = []
    for _ in range(n):
        if size is None:
            west, south = LON[0] + rng.uniform(-0.01, 0.01), LAT[0] + rng.uniform(-0.01, 0.01)
            east, north = LON[1] + rng.uniform(-0.01, 0.01), LAT[1] + rng.uniform(-0.01, 0.01)
        else:
            west, south = rng.uniform(LON[0], LON[1] - size), rng.uniform(LAT[0], LAT[1] - size)
            east, north = west + size * rng.uniform(0.8, 1.2), south + size * rng.uniform(0.8, 1.2)
        out.append({k: round(v, 6) for k, v in
                    (("west", west), ("south", south), ("east", east), ("north", north))})
    return out


def _bbox(b: dict[str, Any]) -> tuple[Any, ...]:
    return (b["west"], b["south"], b["east"], b["north"])


def _q5_redgrid(p: dict[str, Any]) -> dict[str, Any]:
    return {"input": {"point": {"lon": p["lon"], "lat": p["lat"]}, "itemCode": p["item"],
                      "description": p["description"], "channel": "ONLINE"}, "key": p["key"]}


def _q5_peer(p: dict[str, Any]) -> dict[str, Any]:
    return {"input": {"lon": p["lon"], "lat": p["lat"], "itemCode": p["item"],
                      "description": p["description"], "channel": "ONLINE",
                      "idempotencyKey": p["key"], "caller": Q5_CALLER["postgraphile"]}}


def _q5_answer(t: Json) -> Json:
    """What both sides must agree on: not the code (each files its own ticket)."""
    created, due = datetime.fromisoformat(t["createdAt"]), datetime.fromisoformat(t["dueAt"])
    return {"status": t["status"], "itemCode": t["itemCode"],
            "deadline_s": round((due - created).total_seconds())}


def _q5_inputs(places: list[tuple[float, float]], items: list[str]) -> Callable[[str],
                                                                                list[dict[str, Any]]]:
    """The inputs of one run tagged `tag`: points in compounds and items cycled, keys unique."""
    def make(tag: str) -> list[dict[str, Any]]:
        n = {"check": CHECKED, "statements": STATEMENT_BATCH + 1}.get(tag, Q5_RUN)
        return [{"lon": places[i % len(places)][0], "lat": places[i % len(places)][1],
                 "item": items[i % len(items)], "key": f"{tag}-{i}",
                 "description": f"{Q5_MARK} {tag} #{i}"} for i in range(n)]
    return make


_Q5_FILED = """
SELECT t.idempotency_key, t.cell_code, t.compound_code, t.unit_code, t.status, t.item_code,
       round(extract(epoch FROM t.due_at - t.created_at)) AS deadline_s,
       (SELECT array_agg(u.unit_code || ':' || u.role ORDER BY u.unit_code) FROM ticket_units u
        WHERE u.ticket_id = t.id) AS units,
       (SELECT array_agg(e.action || ':' || coalesce(e.note, '') ORDER BY e.at, e.id)
        FROM ticket_events e WHERE e.ticket_id = t.id) AS events
FROM tickets t WHERE t.idempotency_caller = %s AND t.idempotency_key LIKE 'check-%%'
ORDER BY t.idempotency_key
"""


def check_filed(conninfo: str) -> int:
    """The tickets both sides filed for the checked inputs agree row for row; their number."""
    with psycopg.connect(conninfo) as conn:
        rg, pg = (conn.execute(_Q5_FILED, (Q5_CALLER[side],)).fetchall()
                  for side in ("redgrid", "postgraphile"))
    if not rg or rg != pg:
        differing = [(a, b) for a, b in zip(rg, pg, strict=False) if a != b][:1]
        raise SystemExit(f"Q5: the servers filed different tickets ({len(rg)} vs {len(pg)}): "
                         f"{differing}")
    return len(rg)


def count_filed(conninfo: str, caller: str, tag: str) -> int:
    with psycopg.connect(conninfo) as conn:
        return int(one(conn.execute(
            "SELECT count(*) FROM tickets WHERE idempotency_caller = %s "
            "AND idempotency_key LIKE %s", (caller, f"{tag}-%")))[0])


def delete_filed(conninfo: str) -> int:
    """Deletes the tickets of Q5 runs with their events, units and notifications; returns how
    many. Triggers are held off in this transaction only (session_replication_role, which
    needs a superuser, as the embedded cluster's is): events are append-only, and checking
    each deleted ticket against `tickets.merged_into_id`, which has no index, would scan a
    million rows per ticket. Nothing else refers to tickets a run has just filed."""
    callers = list(Q5_CALLER.values()) + ["bench-peer-q5-floor"]
    with psycopg.connect(conninfo) as conn:
        ids = [r[0] for r in conn.execute(
            "SELECT id FROM tickets WHERE idempotency_caller = ANY(%s)", (callers,))]
        if ids:
            conn.execute("SET LOCAL session_replication_role = replica")
            for table in ("notifications", "ticket_units", "ticket_events", "tickets"):
                column = "id" if table == "tickets" else "ticket_id"
                conn.execute(sql.SQL("DELETE FROM {} WHERE {} = ANY(%s)").format(
                    sql.Identifier(table), sql.Identifier(column)), (ids,))
        conn.commit()
    return len(ids)


def make_cases(conninfo: str, n: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    points = [{"lon": round(rng.uniform(*LON), 6), "lat": round(rng.uniform(*LAT), 6)}
              for _ in range(n)]
    with psycopg.connect(conninfo) as conn:
        conn.execute("SELECT setseed(%s)", (seed / 2**31,))
        codes = [r[0] for r in conn.execute(
            "SELECT code FROM tickets t WHERE EXISTS (SELECT 1 FROM ticket_events e "
            "WHERE e.ticket_id = t.id) ORDER BY random() LIMIT %s", (n,))]
        in_compounds = [(round(x, 6), round(y, 6)) for x, y in conn.execute(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) AS p FROM compounds "
            "ORDER BY random() LIMIT %s) k", (n,))]
        items = [r[0] for r in conn.execute("SELECT code FROM demand_items ORDER BY code")]
        # Q4 points inside the grid: elsewhere locate is an error by contract
        covered: list[dict[str, Any]] = []
        while len(covered) < n:
            p = {"lon": round(rng.uniform(*LON), 6), "lat": round(rng.uniform(*LAT), 6)}
            inside = conn.execute(
                "SELECT 1 FROM grid_cells WHERE ST_Intersects(geom, "
                "ST_SetSRID(ST_MakePoint(%s, %s), 4326)) LIMIT 1", (p["lon"], p["lat"]))
            if inside.fetchone():
                covered.append(p)
    cases = [Case("Q1", "Q1 nearest 20 open tickets within 1 km, with geometry", Q1_REDGRID,
                  Q1_PEER, points, _point, _lonlat, _q1_redgrid, _q1_peer, FLOOR_Q1,
                  lambda p: (p["lon"], p["lat"]))]
    for name, label, size in (("Q2s", "Q2 communities in a ~1 km box, with GeoJSON", 0.01),
                              ("Q2m", "Q2 communities in a ~3 km box, with GeoJSON", 0.03),
                              ("Q2c", "Q2 communities of the whole county seat, with GeoJSON",
                               None)):
        cases.append(Case(name, label, Q2_REDGRID, Q2_PEER, _boxes(rng, n, size),
                          lambda b: {"bbox": b}, lambda b: b, _q2_redgrid, _q2_peer, FLOOR_Q2,
                          _bbox))
    cases.append(Case("Q3", "Q3 one ticket with cell, compound, community, unit, events",
                      Q3_REDGRID, Q3_PEER, [{"code": c} for c in codes], lambda c: c,
                      lambda c: c, lambda d: _ticket(d["ticket"], "events"),
                      lambda d: _ticket(d["ticketByCode"], "eventsList"), FLOOR_Q3,
                      lambda c: (c["code"],)))
    cases.append(Case("Q4", "Q4 locate a point with its 2 nearest clinics", Q4_REDGRID,
                      Q4_PEER, covered, _point, _lonlat,
                      lambda d: _q4(d, "nearestFacilities", lambda f: (
                          f["facility"]["code"], f["facility"]["name"], f["distanceM"])),
                      lambda d: _q4(d, "nearestFacilitiesList", lambda f: (
                          f["code"], f["name"], f["distanceM"])),
                      FLOOR_Q4, lambda p: (p["lon"], p["lat"])))
    runs = _q5_inputs(in_compounds, items)
    cases.append(Case("Q5", "Q5 createTicket with an idempotency key (a new ticket each)",
                      Q5_REDGRID, Q5_PEER, runs("check"), _q5_redgrid, _q5_peer,
                      lambda d: _q5_answer(d["createTicket"]["ticket"]),
                      lambda d: _q5_answer(d["createTicket"]["createdTicket"]), FLOOR_Q5,
                      lambda p: (p["lon"], p["lat"], p["item"], p["description"],
                                 "floor-" + p["key"], "bench-peer-q5-floor"),
                      runs=runs))
    return cases


def same(a: Json, b: Json, tol: float = 1e-6) -> bool:
    """Equal, floats to `tol` (PostGIS writes GeoJSON with 9 decimals, RedGrid with 7)."""
    if isinstance(a, float | int) and isinstance(b, float | int) and not isinstance(a, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=tol)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y, tol) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k], tol) for k in a)
    return bool(a == b)


class Peer:
    """PostGraphile v4 from bench/peer/node_modules (not npx: its wrapper would leave the server
    running as an orphan), on a free loopback port; stopped by its PID."""

    def __init__(self, database_url: str, log_path: Path, pool: int) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        self.command = [str(PEER / "node_modules" / ".bin" / "postgraphile"), "-c", database_url,
                        "--schema", "peer", "--append-plugins", "@graphile/postgis",
                        "--dynamic-json", "--disable-query-log", "--simple-collections", "only",
                        "--disable-default-mutations", "--disable-graphiql",
                        "--max-pool-size", str(pool),
                        "--host", "127.0.0.1", "--port", str(self.port)]
        self.proc = subprocess.Popen(self.command, cwd=PEER, stdout=self.log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     start_new_session=True)

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        with httpx.Client(base_url=self.base, trust_env=False, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"postgraphile exited; see {self.log.name}")
                try:
                    if client.post("/graphql", json={"query": "{__typename}"}).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        raise RuntimeError(f"postgraphile not ready after {timeout_s} s; see {self.log.name}")

    def stop(self) -> None:
        stop_process(self.proc, signal.SIGTERM)
        self.log.close()


def node_url(conninfo: str) -> str:
    """A postgres:// URL for node-postgres from a psycopg conninfo (Unix socket as host=)."""
    parts = psycopg.conninfo.conninfo_to_dict(conninfo)
    host = str(parts.get("host", "localhost"))
    user = parts.get("user", "")
    auth = f"{user}:{parts['password']}@" if parts.get("password") else f"{user}@"
    if host.startswith("/"):
        return f"postgres://{auth}/{parts['dbname']}?host={host}&port={parts.get('port', 5432)}"
    return f"postgres://{auth}{host}:{parts.get('port', 5432)}/{parts['dbname']}"


def _post(client: httpx.Client, url: str, body: bytes, token: str | None) -> Json:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    r = client.post(url, content=body, headers=headers)
    r.raise_for_status()
    out = r.json()
    if out.get("errors"):
        raise RuntimeError(f"{url}: {out['errors'][:2]}")
    return out["data"]


def _body(query: str, variables: dict[str, Any]) -> bytes:
    return json.dumps({"query": query, "variables": variables}, ensure_ascii=False,
                      separators=(",", ":")).encode()


def bodies(case: Case, tag: str | None = None) -> tuple[list[bytes], list[bytes]]:
    """The request bodies of each side; a write's (Q5) for the run `tag`."""
    inputs = case.runs(tag) if case.runs and tag else case.inputs
    return ([_body(case.redgrid, case.redgrid_vars(i)) for i in inputs],
            [_body(case.peer, case.peer_vars(i)) for i in inputs])


def check(case: Case, redgrid: str, peer: str, token: str) -> dict[str, Any]:
    """Both servers answer the first inputs alike (and not all with nothing)."""
    rg_bodies, peer_bodies = bodies(case)
    differing, empty = [], 0
    with httpx.Client(trust_env=False, timeout=30.0) as client:
        for i in range(min(CHECKED, len(case.inputs))):
            a = case.redgrid_answer(_post(client, redgrid, rg_bodies[i], case.token or token))
            b = case.peer_answer(_post(client, peer, peer_bodies[i], None))
            empty += not a
            if not same(a, b):
                differing.append({"input": case.inputs[i], "redgrid": a, "peer": b})
    if differing or empty == min(CHECKED, len(case.inputs)):
        raise SystemExit(f"{case.name}: the servers disagree before timing "
                         f"({len(differing)} differing, {empty} empty): "
                         f"{json.dumps(differing[:1], ensure_ascii=False, default=str)[:3000]}")
    return {"inputs_compared": min(CHECKED, len(case.inputs)), "differing": 0,
            "empty_answers": empty}


def statements(case: Case, conninfo: str, redgrid: str, peer: str,
               token: str) -> dict[str, Any]:
    """SQL statements per request on each side (pg_stat_statements, this database; utility
    statements such as BEGIN, COMMIT and SET counted apart)."""
    rg_bodies, peer_bodies = bodies(case, "statements")
    out: dict[str, Any] = {}
    with psycopg.connect(conninfo, autocommit=True) as probe:
        try:
            probe.execute("SELECT pg_stat_statements_reset()")
        except psycopg.Error as exc:  # not loaded: scripts/bench_peer.sh loads it
            return {"unavailable": str(exc).splitlines()[0]}
    with psycopg.connect(conninfo, autocommit=True) as conn, \
            httpx.Client(trust_env=False, timeout=30.0) as client:
        for side, url, sent, tok in (("redgrid", redgrid, rg_bodies, case.token or token),
                                     ("postgraphile", peer, peer_bodies, None)):
            _post(client, url, sent[0], tok)  # connections and prepared plans settled
            conn.execute("SELECT pg_stat_statements_reset()")
            batch = sent[1:STATEMENT_BATCH + 1] if case.runs else sent[:STATEMENT_BATCH]
            for body in batch:
                _post(client, url, body, tok)
            rows = conn.execute(
                "SELECT query, calls FROM pg_stat_statements s JOIN pg_database d "
                "ON d.oid = s.dbid WHERE d.datname = current_database() "
                "AND query NOT ILIKE '%%pg_stat_statements%%'").fetchall()
            utility = sum(c for q, c in rows if q.lstrip().split(" ", 1)[0].upper() in
                          {"BEGIN", "COMMIT", "ROLLBACK", "SET", "RESET", "SAVEPOINT",
                           "RELEASE", "DISCARD", "DEALLOCATE", "SHOW"})
            total = sum(c for _, c in rows)
            n = len(batch)
            out[side] = {"requests": n, "statements_per_request": round(total / n, 2),
                         "queries_per_request": round((total - utility) / n, 2),
                         "utility_per_request": round(utility / n, 2)}
    return out


async def floor(case: Case, conninfo: str, concurrency: int, duration_s: float,
                tag: str) -> dict[str, Any]:
    """The same SQL through psycopg 3, prepared, `concurrency` connections cycling through the
    inputs (a write's made for the run `tag`) for `duration_s`; rows fetched, nothing else."""
    inputs = case.runs(tag) if case.runs else case.inputs
    latencies: list[float] = []
    conns = [await psycopg.AsyncConnection.connect(conninfo, autocommit=True,
                                                   prepare_threshold=0)
             for _ in range(concurrency)]
    try:
        for k, conn in enumerate(conns):  # each connection prepares and plans before timing
            params = case.floor_params({**inputs[k], "key": f"{tag}-warm-{k}"})
            await (await conn.execute(case.floor_sql, params, prepare=True)).fetchall()
        stop_at = time.monotonic() + duration_s

        async def worker(k: int) -> None:
            conn, i = conns[k], k
            while time.monotonic() < stop_at:
                params = case.floor_params(inputs[i % len(inputs)])
                t0 = time.perf_counter()
                await (await conn.execute(case.floor_sql, params, prepare=True)).fetchall()
                latencies.append(time.perf_counter() - t0)
                i += concurrency

        t0 = time.monotonic()
        await asyncio.gather(*(worker(k) for k in range(concurrency)))
        wall = time.monotonic() - t0
    finally:
        for conn in conns:
            await conn.close()
    ms = sorted(v * 1000 for v in latencies)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {"client": "psycopg (asyncio)", "queries": len(ms), "p50_ms": round(q[49], 3),
            "p99_ms": round(q[98], 3), "throughput_rps": round(len(ms) / wall, 1),
            "concurrency": concurrency}


def _median_round(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ordered = sorted(runs, key=lambda r: r["throughput_rps"])
    best = dict(ordered[len(ordered) // 2])
    best["rounds_rps"] = [r["throughput_rps"] for r in runs]
    best["rounds_p50_ms"] = [r["p50_ms"] for r in runs]
    best["rounds_p99_ms"] = [r["p99_ms"] for r in runs]
    best["errors"] = sum(r["check"]["non_2xx"] + r["check"]["socket_errors"]
                         + r["check"]["responses_with_errors"] for r in runs)
    best["bytes_per_response"] = round(r_bytes(ordered[len(ordered) // 2]), 1)
    best.pop("wrk", None)
    return best


def r_bytes(run: dict[str, Any]) -> float:
    return float(run["bytes"]) / max(1, run["queries"])


def _files(case: Case, tmp: Path, tag: str | None) -> dict[str, Path]:
    """Each side's bodies in a file: a read's once, a write's afresh for the run `tag`."""
    rg_bodies, peer_bodies = bodies(case, tag)
    name = f"{case.name}.{tag}" if case.runs and tag else case.name
    return {"redgrid": _wrk.write_bodies(tmp / f"{name}.redgrid", rg_bodies),
            "postgraphile": _wrk.write_bodies(tmp / f"{name}.peer", peer_bodies)}


def _filed(case: Case, run: dict[str, Any], side: str, tag: str, concurrency: int,
           conninfo: str) -> None:
    """A write's run filed one ticket per answered request, and at most one per request
    still in flight when wrk stopped: none lost, none doubled."""
    if case.runs is None:
        return
    filed = count_filed(conninfo, Q5_CALLER[side], tag)
    run["tickets_filed"] = filed
    if not run["queries"] <= filed <= run["queries"] + concurrency:
        raise SystemExit(f"{case.name} {side} {tag}: {run['queries']} answered but {filed} "
                         "tickets filed")


def race(case: Case, urls: dict[str, str], pids: dict[str, int], token: str,
         tmp: Path, duration_s: float, rounds: int, conninfo: str) -> None:
    tokens = {"redgrid": case.token or token, "postgraphile": None}
    files = _files(case, tmp, "warm")
    for side in ("redgrid", "postgraphile"):  # warm-up: plans, pools, JIT
        _wrk.run(urls[side], threads=2, connections=16, duration_s=1, bodies=files[side],
                 server_pid=pids[side], token=tokens[side])
    for c in CONCURRENCIES:
        runs: dict[str, list[dict[str, Any]]] = {"redgrid": [], "postgraphile": []}
        other = OtherCpu(conninfo)
        for r in range(rounds):
            order = ("redgrid", "postgraphile") if r % 2 == 0 else ("postgraphile", "redgrid")
            tag = f"c{c}-r{r}"
            if case.runs:
                files = _files(case, tmp, tag)
            for side in order:
                run = _wrk.run(urls[side], threads=WRK_THREADS[c], connections=c,
                               duration_s=duration_s, bodies=files[side],
                               server_pid=pids[side], token=tokens[side])
                run["bytes"] = run["wrk"]["result"]["bytes"]
                _filed(case, run, side, tag, c, conninfo)
                runs[side].append(run)
        floor_runs = [asyncio.run(floor(case, conninfo, c, min(duration_s, 3.0),
                                        f"floor-c{c}-r{r}"))
                      for r in range(rounds)]
        floor_runs.sort(key=lambda f: f["throughput_rps"])
        case.results[str(c)] = {
            "redgrid": _median_round(runs["redgrid"]),
            "postgraphile": _median_round(runs["postgraphile"]),
            "floor": floor_runs[len(floor_runs) // 2],
            "other_cpu_pct": other.pct_of_one_core(),
        }
        res = case.results[str(c)]
        print(f"{case.name} c{c}: redgrid {res['redgrid']['throughput_rps']} req/s "
              f"p50 {res['redgrid']['p50_ms']} ms | postgraphile "
              f"{res['postgraphile']['throughput_rps']} req/s p50 "
              f"{res['postgraphile']['p50_ms']} ms | floor {res['floor']['throughput_rps']} "
              f"req/s p50 {res['floor']['p50_ms']} ms", flush=True)


def profile(case: Case, url: str, pid: int, token: str, tmp: Path, duration_s: float) -> str:
    """A py-spy flame graph of the RedGrid server under wrk at concurrency 16 on this query
    (py-spy from .venv-bench, benchmark only); returns the SVG's path."""
    py_spy = CHECKOUT / ".venv-bench" / "bin" / "py-spy"
    raw = os.environ.get("PEER_PROFILE_RAW") == "1"  # collapsed stacks instead of SVG
    target = RESULTS / f"flame_{case.name.lower()}.{'txt' if raw else 'svg'}"
    rg_bodies, _ = bodies(case, "profile")
    sent = _wrk.write_bodies(tmp / f"{case.name}.profile", rg_bodies)
    token = case.token or token
    spy = subprocess.Popen([str(py_spy), "record", "--pid", str(pid), "--rate", "250",
                            "--duration", str(int(duration_s)), "--output", str(target),
                            "--format", "raw" if raw else "flamegraph", "--nonblocking"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)
        _wrk.run(url, threads=2, connections=16, duration_s=duration_s, bodies=sent,
                 server_pid=pid, token=token)
        spy.wait(timeout=duration_s + 30)
    finally:
        stop_process(spy, signal.SIGINT)
    return str(target.relative_to(CHECKOUT))


def workers_rss(case: Case, env: dict[str, str], token: str, tmp: Path, duration_s: float,
                rounds: int, workers: int) -> dict[str, Any]:
    """RedGrid as deployed on this machine, `workers` processes (REDGRID_WORKERS unset is the
    number of cores), under the Q1 load at concurrency 16: the RSS of all its processes
    together (supervisor, workers, multiprocessing's resource tracker), sampled every 0.1 s."""
    server = Server({**env, "REDGRID_WORKERS": str(workers)}, tmp / "redgrid-workers.log")
    try:
        server.wait_ready()
        url = f"{server.base}/graphql"
        sent, _ = bodies(case, "workers")
        files = _wrk.write_bodies(tmp / "Q1.workers", sent)
        _wrk.run(url, threads=2, connections=16, duration_s=1, bodies=files,
                 server_pid=server.proc.pid, token=token)
        # The supervisor, multiprocessing's resource tracker and the workers (one process
        # serves alone): a tree read short would understate the sum.
        found, expected = len(process_tree(server.proc.pid)), workers + 2 if workers > 1 else 1
        if found != expected:
            raise RuntimeError(f"redgrid serve runs {found} processes, not {expected}")
        sampler = RssSampler(server.proc.pid, tree=True)
        sampler.start()
        runs = [_wrk.run(url, threads=2, connections=16, duration_s=duration_s, bodies=files,
                         server_pid=server.proc.pid, token=token) for _ in range(rounds)]
        rss = sampler.stop()
    finally:
        server.stop()
    return {"workers": workers, "concurrency": 16, "rss": rss,
            "throughput_rps": [r["throughput_rps"] for r in runs],
            "errors": [r["check"]["non_2xx"] + r["check"]["socket_errors"]
                       + r["check"]["responses_with_errors"] for r in runs]}


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# RedGrid against PostGraphile v4 on the same PostGIS ({report['date']})", "",
             f"Commit {report['commit']}; database `{report['database']}` "
             f"({report['tickets']:,} tickets); one server process on each side, each with a "
             f"pool of {report['pool']} database connections (RedGrid: one uvicorn process, "
             f"REDGRID_POOL_SIZE={report['pool']}; PostGraphile "
             f"{report['peer_versions']['postgraphile']} with @graphile/postgis "
             f"{report['peer_versions']['@graphile/postgis']}, one node process, "
             "`--dynamic-json --disable-query-log --simple-collections only "
             f"--max-pool-size {report['pool']}`); "
             f"wrk {report['duration_s']} s per run, {report['rounds']} alternating rounds, the "
             "round of median throughput shown; the floor is the same SQL through psycopg 3 "
             "(prepared, asyncio, one connection per concurrent client).", "",
             f"Machine: {report['machine']['cpu']}, {report['machine']['cores']} cores, load "
             f"average at start {report['machine']['loadavg_start']}, other processes' CPU "
             "during the runs in the last column (% of one core; the machine was shared).", "",
             "| query | c | RedGrid req/s | PostGraphile req/s | ratio | floor req/s "
             "| RedGrid p50 / p99 ms | PostGraphile p50 / p99 ms | floor p50 / p99 ms "
             "| server CPU ms/req RG / PG | errors RG / PG | bytes RG / PG | other CPU % |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for case in report["cases"]:
        for c, res in case["results"].items():
            rg, pg, fl = res["redgrid"], res["postgraphile"], res["floor"]
            lines.append(
                f"| {case['name']} | {c} | {rg['throughput_rps']:,.0f} | "
                f"{pg['throughput_rps']:,.0f} | {rg['throughput_rps'] / pg['throughput_rps']:.2f}× "
                f"| {fl['throughput_rps']:,.0f} | {rg['p50_ms']} / {rg['p99_ms']} | "
                f"{pg['p50_ms']} / {pg['p99_ms']} | {fl['p50_ms']} / {fl['p99_ms']} | "
                f"{rg['server_cpu_ms_per_req']} / {pg['server_cpu_ms_per_req']} | "
                f"{rg['errors']} / {pg['errors']} | {rg['bytes_per_response']:,.0f} / "
                f"{pg['bytes_per_response']:,.0f} | {res['other_cpu_pct']} |")
    lines += ["", "Statements per request (pg_stat_statements, "
              f"{STATEMENT_BATCH} sequential requests; queries + utility such as BEGIN/SET):", "",
              "| query | RedGrid | PostGraphile |", "|---|---:|---:|"]
    for case in report["cases"]:
        st = case["statements"]
        if "unavailable" in st:
            lines.append(f"| {case['name']} | {st['unavailable']} | |")
            continue
        lines.append(f"| {case['name']} | {st['redgrid']['queries_per_request']} + "
                     f"{st['redgrid']['utility_per_request']} | "
                     f"{st['postgraphile']['queries_per_request']} + "
                     f"{st['postgraphile']['utility_per_request']} |")
    rss = report["rss_q1"]
    if rss:
        lines += ["", f"Server RSS under the Q1 load (max): RedGrid {rss['redgrid']['max_mb']} "
                  f"MB, PostGraphile {rss['postgraphile']['max_mb']} MB."]
    many = report.get("rss_workers")
    if many:
        each = ", ".join(f"{p['role']} {p['mb']}" for p in many["rss"]["processes_at_max"])
        lines += ["", f"With {many['workers']} RedGrid worker processes (REDGRID_WORKERS="
                  f"{many['workers']}; unset, it is the number of cores) under Q1 at "
                  f"concurrency {many['concurrency']}, all its processes together (max): "
                  f"{many['rss']['max_mb']} MB ({each}; MB); "
                  f"{', '.join(f'{t:,.0f}' for t in many['throughput_rps'])} req/s, errors "
                  f"{many['errors']}."]
    lines += ["", "Queries:", ""]
    lines += [f"- {case['name']}: {case['label']}; {case['inputs']} inputs, "
              f"{case['check']['inputs_compared']} compared before timing, 0 differing"
              for case in report["cases"]]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--inputs", type=int, default=400)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", nargs="*", help="query names (Q1 Q2s Q2m Q2c Q3 Q4)")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--pool", type=int, default=PEER_POOL,
                        help="database connections of each side (PostGraphile's default: 10)")
    parser.add_argument("--out", type=Path, default=RESULTS / "peer.json")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="RedGrid's worker processes for the RSS of all of them under Q1 "
                             "(default: the number of cores, as REDGRID_WORKERS unset)")
    parser.add_argument("--rss-only", action="store_true",
                        help="only that measurement: no PostGraphile, no race")
    parser.add_argument("--profile", action="store_true",
                        help="only py-spy flame graphs of RedGrid per query (no race)")
    args = parser.parse_args()

    # No access log, as PostGraphile runs with --disable-query-log (RedGrid's is off by
    # default in production; the development environment turns it on).
    # The same number of database connections on each side: PostGraphile's default pool.
    env = {**bench_env(BENCH_DATABASE), "REDGRID_ACCESS_LOG": "0",
           "REDGRID_POOL_SIZE": str(args.pool)}
    settings = Settings.from_env(env)
    conninfo = configured_conninfo(settings)
    cases = make_cases(conninfo, args.inputs, args.seed)
    if args.only:
        cases = [c for c in cases if c.name in args.only]
    with psycopg.connect(conninfo) as conn:
        tickets = one(conn.execute("SELECT count(*) FROM tickets"))[0]
        conn.execute((PEER / "schema.sql").read_text())
        conn.commit()
    token = mint(settings.jwt_secret, subject="bench-peer", role=Role.COUNTY_OFFICE, scopes=[])
    for case in cases:
        if case.runs:  # a resident files on the ONLINE channel
            case.token = mint(settings.jwt_secret, subject=Q5_CALLER["redgrid"],
                              role=Role.RESIDENT, scopes=[], ttl_s=6 * 3600)
    if any(case.runs for case in cases):
        left = delete_filed(conninfo)
        if left:
            print(f"deleted {left} tickets of an earlier Q5 run", flush=True)
    started = machine()
    RESULTS.mkdir(parents=True, exist_ok=True)
    q1 = next((case for case in cases if case.name == "Q1"), None)
    if args.rss_only:
        if q1 is None:
            parser.error("--rss-only measures under Q1: leave Q1 in --only")
        with tempfile.TemporaryDirectory() as tmpdir:
            many = workers_rss(q1, env, token, Path(tmpdir), args.duration, args.rounds,
                               args.workers)
        print(json.dumps(many, indent=2))
        return 0
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        server = Server(env, tmp / "redgrid.log")
        peer = Peer(node_url(conninfo), tmp / "postgraphile.log", args.pool)
        try:
            server.wait_ready()
            peer.wait_ready()
            urls = {"redgrid": f"{server.base}/graphql", "postgraphile": f"{peer.base}/graphql"}
            pids = {"redgrid": server.proc.pid, "postgraphile": peer.proc.pid}
            rss = {side: RssSampler(pid) for side, pid in pids.items()}
            rss_q1 = None
            if args.profile:
                for case in cases:
                    print(profile(case, urls["redgrid"], pids["redgrid"], token, tmp,
                                  args.duration), flush=True)
                return 0
            for case in cases:
                case_check = check(case, urls["redgrid"], urls["postgraphile"], token)
                if case.runs:
                    case_check["tickets_compared"] = check_filed(conninfo)
                print(f"{case.name}: answers agree on {case_check['inputs_compared']} inputs",
                      flush=True)
                case.results["_check"] = case_check
            for case in cases:
                case.results["_statements"] = statements(case, conninfo, urls["redgrid"],
                                                         urls["postgraphile"], token)
                if case.name == "Q1":
                    for sampler in rss.values():
                        sampler.start()
                race(case, urls, pids, token, tmp, args.duration, args.rounds, conninfo)
                if case.name == "Q1":
                    rss_q1 = {side: sampler.stop() for side, sampler in rss.items()}
        finally:
            peer.stop()
            server.stop()
            if any(case.runs for case in cases):
                print(f"deleted the {delete_filed(conninfo)} tickets Q5 filed", flush=True)
        rss_workers = (workers_rss(q1, env, token, tmp, args.duration, args.rounds, args.workers)
                       if q1 else None)
    package = json.loads((PEER / "package.json").read_text())["dependencies"]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=CHECKOUT,
                            capture_output=True, text=True, check=False).stdout.strip()
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"), "commit": commit,
        "database": psycopg.conninfo.conninfo_to_dict(conninfo).get("dbname"),
        "tickets": tickets,
        "duration_s": args.duration, "rounds": args.rounds, "pool": args.pool,
        "peer_versions": package, "peer_command": " ".join(peer.command[3:]),
        "machine": started, "activity_end": cpu_activity(), "versions": versions(conninfo),
        "rss_q1": rss_q1, "rss_workers": rss_workers,
        "cases": [{"name": c.name, "label": c.label, "inputs": len(c.inputs),
                   "check": c.results.pop("_check"), "statements": c.results.pop("_statements"),
                   "results": c.results} for c in cases],
    }
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    args.out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))
    return 0


if __name__ == "__main__":
    os.chdir(CHECKOUT)
    if sys.argv[1:2] == ["--markdown"]:  # the tables again from a JSON report
        print(markdown(json.loads(Path(sys.argv[2]).read_text())), end="")
        sys.exit(0)
    sys.exit(main())
