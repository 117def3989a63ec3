"""The tickets of the createTicket benchmark: the same points, items and descriptions for the
SQL floor and for HTTP, drawn deterministically inside the demo's compounds."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg.rows import namedtuple_row

from db.queries import places as place_queries

ITEMS = [f"P{i:02d}" for i in range(1, 47)]
CHANNEL = "ONLINE"
HTTP_SUBJECT = "bench-create-resident"
FLOOR_SUBJECT = "bench-create-floor"

GRAPHQL = """mutation CreateTicket($input: CreateTicketInput!, $key: String) {
  createTicket(input: $input, idempotencyKey: $key) {
    ticket { code status itemCode dueAt }
    errors { code field message }
    possibleDuplicates { code distanceM }
  }
}"""


@dataclass(frozen=True)
class Job:
    """One ticket to file: the same point, item and description for the floor and HTTP."""

    phase: str  # "w1", "w16", "c1", "c16"
    index: int
    lon: float
    lat: float
    item: str
    compound: str

    @property
    def description(self) -> str:
        return f"createTicket benchmark {self.phase} #{self.index}: street lamp out by the gate"

    def key(self, side: str) -> str:
        return f"{side}-{self.phase}-{self.index:06d}"

    def body(self) -> bytes:
        """The POST /graphql body (compact JSON: one line), with the HTTP side's key."""
        return json.dumps({"query": GRAPHQL, "operationName": "CreateTicket", "variables": {
            "input": {"point": {"lon": self.lon, "lat": self.lat}, "itemCode": self.item,
                      "description": self.description, "channel": CHANNEL},
            "key": self.key("http")}}, separators=(",", ":")).encode()


_POINTS = """
WITH pick AS (
    SELECT unnest(%(codes)s::text[]) AS code, unnest(%(counts)s::int[]) AS n,
           unnest(%(seeds)s::int[]) AS s)
SELECT k.code, ST_X(d.geom) AS lon, ST_Y(d.geom) AS lat
FROM pick JOIN compounds k ON k.code = pick.code
CROSS JOIN LATERAL ST_Dump(ST_GeneratePoints(k.geom, pick.n, pick.s)) d
ORDER BY k.code, d.path
"""


def make_jobs(conninfo: str, sizes: dict[str, int], seed: int) -> dict[str, list[Job]]:
    """Points inside compounds (a compound drawn uniformly, then a point uniformly inside it,
    ST_GeneratePoints with a fixed seed per compound), kept only where the API's locate finds a
    grid cell; items drawn uniformly from P01–P46."""
    rng = random.Random(seed)
    # Connection[Any]: psycopg types named-tuple rows as bare NamedTuple, without their fields.
    with psycopg.Connection[Any].connect(conninfo, autocommit=True,
                                         row_factory=namedtuple_row) as conn:
        codes = [r.code for r in conn.execute("SELECT code FROM compounds ORDER BY code")]
        items = {r.code for r in conn.execute("SELECT code FROM demand_items")}
        missing = set(ITEMS) - items
        if missing:
            raise SystemExit(f"demand items missing from the database: {sorted(missing)}")
        if not codes:
            raise SystemExit("no compounds: seed the demo data first (redgrid seed --demo)")
        total = sum(sizes.values())
        picks = [rng.choice(codes) for _ in range(total)]
        need: dict[str, int] = {}
        for c in picks:
            need[c] = need.get(c, 0) + 1
        order = sorted(need)
        seeds = [seed % 100_000 + 1 + codes.index(c) for c in order]
        rows = conn.execute(_POINTS, {"codes": order, "counts": [2 * need[c] + 2 for c in order],
                                      "seeds": seeds}).fetchall()
        located: dict[str, list[tuple[float, float]]] = {c: [] for c in order}
        for r in rows:
            found = conn.execute(place_queries._LOCATE, {"lon": r.lon, "lat": r.lat}).fetchone()
            if found is not None:
                located[r.code].append((r.lon, r.lat))
    used = {c: 0 for c in order}
    out: dict[str, list[Job]] = {}
    k = 0
    for phase, n in sizes.items():
        jobs = []
        for i in range(n):
            c = picks[k]
            k += 1
            if used[c] >= len(located[c]):
                raise SystemExit(f"not enough located points in compound {c}")
            lon, lat = located[c][used[c]]
            used[c] += 1
            jobs.append(Job(phase, i, lon, lat, rng.choice(ITEMS), c))
        out[phase] = jobs
    return out


def request_hash(job: Job) -> str:
    """resolvers.ticket_create.request_hash of the job's input."""
    body = json.dumps([job.lon, job.lat, job.item, job.description, CHANNEL, None, None],
                      ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()
