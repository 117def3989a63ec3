"""Load with faults: a realistic mix of clients against `redgrid serve` while PostgreSQL is
restarted (fast shutdown), stopped for a long outage (45 s) and started again, or while the
server process is killed and started again; then SQL checks that nothing acknowledged was lost
or duplicated.

Everything runs on a PostgreSQL cluster of its own (an `EmbeddedCluster` in a temporary
folder with its own socket), never the checkout's `.data` cluster, and the load goes only to
127.0.0.1. The mix per request: 50 % map and nearby reads, 20 % tiles and layers, 20 %
createTicket with a fresh idempotency key, 10 % retries (of a failed createTicket first, else
of an acknowledged one) and workflow moves. A client whose request failed waits
`RETRY_PAUSE_S` and tries again (a failed createTicket with the same key at its next write).

Recovery is measured from the first moment the database (or the restarted server) accepts a
connection again, seen by a probe that tries every 10 ms from its own thread, to the first
acknowledged createTicket whose ticket the restarted database wrote.

    python bench/load_faults.py                      # 32 clients, 60 s, every fault
    python bench/load_faults.py --clients 4 --seconds 12 --fault db_restart

writes bench/results/load_faults.json and .md (unless --no-write).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg

from db import migrate
from db.embedded import EmbeddedCluster
from db.seed import seed_demo
from resolvers.actor import Role
from resolvers.lifecycle import MOVES
from resolvers.policy import Operation
from web.auth import mint
from web.settings import development_secret

CHECKOUT = Path(__file__).resolve().parent.parent
RESULTS = CHECKOUT / "bench" / "results"
DATABASE = "redgrid"
FAULTS = ("db_restart", "db_outage", "server_kill")
# Faults of the database (the others are of the server process).
DB_FAULTS = ("db_restart", "db_outage")
# How long the long outage keeps PostgreSQL stopped (--outage).
OUTAGE_S = 45.0
# The mix: (share, kind).
MIX = ((0.50, "read"), (0.20, "tile"), (0.20, "create"), (0.10, "retry_or_move"))
# Targets (issue 13).
RECOVERY_TARGET_S = 2.0
# While the database is away, a request fails within this with a retryable UNAVAILABLE.
FAIL_FAST_TARGET_S = 2.0
REQUEST_TIMEOUT_S = 10.0
# A client's pause after a failed request before it goes on (and retries a failed write).
RETRY_PAUSE_S = 0.25
PROBE_INTERVAL_S = 0.01
FINAL_RETRIES_S = 30.0
# Words of an internal message that an answer must never carry (driver, SQL, stack traces).
LEAK = re.compile(r"psycopg|sqlalchemy|traceback|postgres|server closed|terminating connection|"
                  r"operationalerror|connection (?:is )?(?:closed|lost|refused)|socket|"
                  r"\.py\b|\bselect\b.*\bfrom\b|\binsert into\b", re.IGNORECASE)
# The county seat's centre and the spread of points around it (degrees).
CENTRE = (118.657, 34.918)
SPREAD = 0.006

READS = (
    ("nearby", "query N($p: PointInput!) { nearbyTickets(point: $p, radiusM: 800, first: 20) "
               "{ distanceM ticket { code status } } }"),
    ("compounds", "query C($b: BBoxInput!) { compounds(bbox: $b) { code name households } }"),
    ("locate", "query L($p: PointInput!) { locate(point: $p) { gridCell { code } "
               "compound { name } nearestFacilities(kind: CLINIC, first: 2) { distanceM } } }"),
    ("zones", "{ zones { code name communities { code } } }"),
)
CREATE = ("mutation T($input: CreateTicketInput!, $key: String) { createTicket(input: $input, "
          "idempotencyKey: $key) { ticket { code status version } errors { code message } } }")
TICKET = "query Q($code: String!) { ticket(code: $code) { status version } }"
MOVE = ("mutation M($input: TransitionTicketInput!) { transitionTicket(input: $input) "
        "{ ticket { status version } errors { code message } } }")
# An open ticket's next step forward (dispatch, start, resolve), from the lifecycle.
NEXT = {source: m.target for m in MOVES
        if m.operation in (Operation.DISPATCH, Operation.START, Operation.RESOLVE)
        for source in m.source}
LAYER = "{ layer(name: ZONES) }"


def tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    """The web-mercator tile (x, y) holding a point at zoom z."""
    n = 2 ** z
    rad = math.radians(lat)
    return int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(rad)) / math.pi) / 2 * n)


@dataclass
class Record:
    """One request: when it started and ended (seconds since the run began), what it was,
    and how it was answered."""

    kind: str
    start: float
    end: float
    status: int | None  # None: no HTTP answer (connection refused, reset, timeout)
    codes: tuple[str, ...] = ()
    ok: bool = False
    leak: str = ""
    ticket: str = ""  # the code an acknowledged createTicket answered with

    @property
    def fault(self) -> bool:
        """Whether the answer was a fault (none, a 5xx, UNAVAILABLE or TIMEOUT), not data or
        a domain error."""
        return (self.status is None or self.status >= 500
                or bool({"UNAVAILABLE", "TIMEOUT"} & set(self.codes)))


@dataclass
class Ledger:
    """What the clients were told about their createTicket requests."""

    bodies: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> variables
    acked: dict[str, str] = field(default_factory=dict)  # key -> ticket code
    failed: set[str] = field(default_factory=set)  # keys not acknowledged yet after a failure
    ever_failed: set[str] = field(default_factory=set)  # keys of which an attempt failed
    retried: set[str] = field(default_factory=set)  # failed keys tried again
    mismatched: list[tuple[str, str, str]] = field(default_factory=list)  # key, first, again
    states: dict[str, tuple[str, int]] = field(default_factory=dict)  # code -> status, version


@dataclass
class Timeline:
    fault_start: float = math.inf
    fault_end: float = math.inf  # the database (or server) accepting connections again
    down: float = math.inf  # the first probe refused
    started: float = math.inf  # `pg_ctl start` (or the server's readiness wait) returned


class Probe:
    """From its own thread (so the clients' event loop cannot delay it), tries `accepts`
    every PROBE_INTERVAL_S from the fault on; the first attempt refused marks the target down,
    and the start of the first attempt let in after that marks it back."""

    def __init__(self, accepts: Callable[[], bool], now: Callable[[], float],
                 timeline: Timeline) -> None:
        self.accepts, self.now, self.timeline = accepts, now, timeline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="fault-probe", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _watch(self) -> None:
        timeline = self.timeline
        while not self._stop.is_set():
            at = self.now()
            if not self.accepts():
                timeline.down = min(timeline.down, at)
            elif timeline.down < math.inf:
                timeline.fault_end = at
                return
            self._stop.wait(PROBE_INTERVAL_S)


def database_accepts(conninfo: str) -> Callable[[], bool]:
    def accepts() -> bool:
        try:
            psycopg.connect(conninfo, connect_timeout=2).close()
            return True
        except psycopg.OperationalError:
            return False
    return accepts


def server_accepts(base: str) -> Callable[[], bool]:
    def accepts() -> bool:
        try:
            return httpx.get(base + "/healthz", trust_env=False, timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
    return accepts


class Load:
    """`clients` concurrent clients for `seconds` against `base`, each with its own
    deterministic random stream."""

    def __init__(self, base: str, secret: str, clients: int, seconds: float, seed: int = 13,
                 run: str = "load") -> None:
        self.base, self.clients, self.seconds, self.seed, self.run = base, clients, seconds, seed, run
        self.county = mint(secret, subject="load-county", role=Role.COUNTY_OFFICE, scopes=[],
                           ttl_s=3600)
        self.residents = [mint(secret, subject=f"load-resident-{i}", role=Role.RESIDENT,
                               scopes=[], ttl_s=3600) for i in range(clients)]
        self.records: list[Record] = []
        self.ledger = Ledger()
        self.t0 = 0.0
        self.t0_wall = 0.0  # time.time() at t0: records' times on the database's clock
        self.tiles: list[str] = []

    def now(self) -> float:
        return time.monotonic() - self.t0

    async def _send(self, client: httpx.AsyncClient, kind: str, method: str, url: str,
                    token: str | None = None, body: Any = None) -> tuple[Record, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        start = self.now()
        try:
            response = await client.request(method, url, json=body, headers=headers)
        except httpx.HTTPError:
            record = Record(kind, start, self.now(), None)
            self.records.append(record)
            await asyncio.sleep(RETRY_PAUSE_S)  # a real client pauses before it retries
            return record, None
        record = Record(kind, start, self.now(), response.status_code)
        payload: Any = None
        if response.headers.get("content-type", "").startswith("application/json"):
            try:
                payload = response.json()
            except ValueError:
                payload = None
        errors = payload.get("errors") if isinstance(payload, dict) else None
        messages: list[str] = []
        if errors:
            record.codes = tuple(str((e.get("extensions") or {}).get("code")) for e in errors)
            messages = [str(e.get("message", "")) for e in errors]
        elif response.status_code >= 400 and isinstance(payload, dict) and "code" in payload:
            # OGC API Features' exception body (web/errors.py), under /ogc
            record.codes = (str(payload["code"]),)
            messages = [str(payload.get("description", ""))]
        elif response.status_code >= 400 and payload is None:
            record.codes = ("NOT_JSON",)
            messages = [response.text[:500]]
        record.ok = response.status_code == 200 and not errors
        leaked = next((m for m in messages if LEAK.search(m)), "")
        record.leak = leaked[:200]
        self.records.append(record)
        if record.fault:
            await asyncio.sleep(RETRY_PAUSE_S)
        return record, payload

    def _point(self, rng: random.Random) -> dict[str, float]:
        return {"lon": CENTRE[0] + rng.uniform(-SPREAD, SPREAD),
                "lat": CENTRE[1] + rng.uniform(-SPREAD, SPREAD)}

    async def _read(self, client: httpx.AsyncClient, rng: random.Random) -> None:
        name, query = rng.choice(READS)
        p = self._point(rng)
        variables = {"p": p, "b": {"west": p["lon"] - 0.004, "south": p["lat"] - 0.004,
                                   "east": p["lon"] + 0.004, "north": p["lat"] + 0.004}}
        await self._send(client, f"read:{name}", "POST", "/graphql", self.county,
                         {"query": query, "variables": variables})

    async def _tile(self, client: httpx.AsyncClient, rng: random.Random) -> None:
        choice = rng.random()
        if choice < 0.6:
            await self._send(client, "tile", "GET", rng.choice(self.tiles), self.county)
        elif choice < 0.8:
            await self._send(client, "layer", "POST", "/graphql", None, {"query": LAYER})
        else:
            offset = rng.randrange(0, 200)
            await self._send(client, "ogc", "GET",
                             f"/ogc/collections/compounds/items?limit=5&offset={offset}")

    async def _create(self, client: httpx.AsyncClient, rng: random.Random, worker: int,
                      key: str | None = None) -> None:
        ledger = self.ledger
        if key is None:
            key = f"{self.run}-{worker}-{len(ledger.bodies)}-{rng.randrange(10**9)}"
            ledger.bodies[key] = {"key": key, "input": {
                "point": self._point(rng), "itemCode": rng.choice(("P01", "P11", "P20", "P33")),
                "description": f"负载测试 {key}", "channel": "QR_CODE"}}
        retry = key in ledger.failed or key in ledger.acked
        record, payload = await self._send(client, "retry" if retry else "create", "POST",
                                           "/graphql", self.residents[worker],
                                           {"query": CREATE, "variables": ledger.bodies[key]})
        result = (payload or {}).get("data") or {}
        ticket = (result.get("createTicket") or {}).get("ticket")
        if record.ok and ticket:
            record.ticket = ticket["code"]
            first = ledger.acked.setdefault(key, ticket["code"])
            if first != ticket["code"]:
                ledger.mismatched.append((key, first, ticket["code"]))
            ledger.states.setdefault(ticket["code"], (ticket["status"], ticket["version"]))
            ledger.failed.discard(key)
        elif key not in ledger.acked:
            ledger.failed.add(key)
            ledger.ever_failed.add(key)
            if retry:
                ledger.retried.add(key)

    async def _move(self, client: httpx.AsyncClient, rng: random.Random) -> None:
        states = self.ledger.states
        movable = sorted(code for code, (status, _) in states.items() if status in NEXT)
        if not movable:
            return await self._read(client, rng)
        code = rng.choice(movable)
        status, version = states[code]
        record, payload = await self._send(
            client, "move", "POST", "/graphql", self.county,
            {"query": MOVE, "variables": {"input": {"code": code, "to": NEXT[status],
                                                    "expectedVersion": version}}})
        moved = (((payload or {}).get("data") or {}).get("transitionTicket") or {})
        if moved.get("ticket"):
            states[code] = (moved["ticket"]["status"], moved["ticket"]["version"])
        elif moved.get("errors") or not record.ok:  # a conflict or a fault: read it again
            _, again = await self._send(client, "read:ticket", "POST", "/graphql", self.county,
                                        {"query": TICKET, "variables": {"code": code}})
            fresh = (((again or {}).get("data") or {}).get("ticket"))
            if fresh:
                states[code] = (fresh["status"], fresh["version"])

    async def _client(self, worker: int) -> None:
        rng = random.Random(self.seed * 1000 + worker)
        timeout = httpx.Timeout(REQUEST_TIMEOUT_S, connect=2.0)
        async with httpx.AsyncClient(base_url=self.base, timeout=timeout, trust_env=False,
                                     limits=httpx.Limits(max_connections=1)) as client:
            while self.now() < self.seconds:
                draw, kind = rng.random(), "read"
                for share, name in MIX:
                    if draw < share:
                        kind = name
                        break
                    draw -= share
                if kind == "read":
                    await self._read(client, rng)
                elif kind == "tile":
                    await self._tile(client, rng)
                elif kind == "create":
                    await self._create(client, rng, worker, self._failed_key(worker))
                else:
                    await self._retry_or_move(client, rng, worker)
            # Every createTicket whose answer never came is tried again after the run, until
            # it is acknowledged or FINAL_RETRIES_S have passed.
            deadline = time.monotonic() + FINAL_RETRIES_S
            mine = f"{self.run}-{worker}-"
            while time.monotonic() < deadline:
                failed = sorted(k for k in self.ledger.failed if k.startswith(mine))
                if not failed:
                    break
                for key in failed:
                    await self._create(client, rng, worker, key)

    def _failed_key(self, worker: int) -> str | None:
        """The client's oldest createTicket not acknowledged yet after a failure."""
        mine = f"{self.run}-{worker}-"
        return min((k for k in self.ledger.failed if k.startswith(mine)),
                   key=lambda k: int(k.split("-")[-2]), default=None)

    async def _retry_or_move(self, client: httpx.AsyncClient, rng: random.Random,
                             worker: int) -> None:
        mine = f"{self.run}-{worker}-"
        failed = self._failed_key(worker)
        acked = sorted(k for k in self.ledger.acked if k.startswith(mine))
        if failed is not None:
            await self._create(client, rng, worker, failed)
        elif acked and rng.random() < 0.5:
            await self._create(client, rng, worker, rng.choice(acked))
        else:
            await self._move(client, rng)

    def prepare_tiles(self) -> None:
        """Tile URLs of the county seat (z13–z16) for the layers the catalogue serves."""
        layers = [name for name in ("compounds", "grid_cells", "tickets", "facilities")
                  if httpx.get(f"{self.base}/tiles/{name}.json", trust_env=False,
                               timeout=10).status_code == 200]
        if not layers:
            raise RuntimeError("no tile layer answers /tiles/{layer}.json")
        for z in (13, 14, 15, 16):
            x, y = tile_of(*CENTRE, z)
            self.tiles += [f"/tiles/{name}/{z}/{x}/{y}.mvt" for name in layers]

    async def run_with(self, fault: Any) -> None:
        """Runs the clients; `fault` is a coroutine function started with them."""
        self.prepare_tiles()
        self.t0, self.t0_wall = time.monotonic(), time.time()
        await asyncio.gather(fault(), *(self._client(w) for w in range(self.clients)))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`redgrid serve` on 127.0.0.1:`port` against the given data folder's cluster, in its
    own process group (killed by its PID)."""

    def __init__(self, root: Path, port: int, log: Path) -> None:
        self.root, self.port, self.log_path = root, port, log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {**os.environ, "REDGRID_ENV": "development", "REDGRID_DATA_DIR": str(self.root),
               "REDGRID_DATABASE": DATABASE, "REDGRID_WORKERS": "1",
               "REDGRID_LOG_FORMAT": "json"}
        env.pop("DATABASE_URL", None)
        env.pop("REDGRID_REPLICA_URL", None)
        exe = Path(sys.executable).parent / "redgrid"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(exe), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                cwd=CHECKOUT, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"redgrid serve exited; see {self.log_path}")
            try:
                if httpx.get(self.base + "/readyz", trust_env=False, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"redgrid serve not ready after {timeout_s} s; see {self.log_path}")

    def kill(self) -> None:
        """SIGKILL: what a crash or the OOM killer does (no graceful shutdown)."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


@contextmanager
def own_cluster(keep: Path | None = None) -> Iterator[EmbeddedCluster]:
    """A fresh cluster in a temporary folder with the demo data; stopped and removed after."""
    with tempfile.TemporaryDirectory(prefix="redgrid-faults-") as tmp:
        root = keep or Path(tmp)
        os.chmod(root, 0o755)  # the postgres user (when run as root) reaches the data folder
        cluster = EmbeddedCluster(root)
        cluster.start()
        try:
            with psycopg.connect(cluster.conninfo("postgres"), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{DATABASE}"')
            migrate.upgrade(cluster.url(DATABASE))
            seed_demo(cluster.conninfo(DATABASE))
            yield cluster
        finally:
            cluster.stop()


def sql_checks(conninfo: str, load: Load) -> dict[str, Any]:
    """What the database holds of the run, against what the clients were told."""
    ledger = load.ledger
    keys = sorted(ledger.bodies)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT idempotency_key, code, description FROM tickets "
            "WHERE idempotency_caller LIKE 'load-resident-%%' AND idempotency_key LIKE %s",
            (f"{load.run}-%",)).fetchall()
        by_description = Counter(r[2] for r in rows)
        by_key: dict[str, list[str]] = {}
        for key, code, _ in rows:
            by_key.setdefault(key, []).append(code)
        no_creation = conn.execute(
            "SELECT count(*) FROM tickets t WHERE NOT EXISTS (SELECT 1 FROM ticket_events e "
            "WHERE e.ticket_id = t.id AND e.action = 'CREATED')").fetchone()
        orphan_events = conn.execute(
            "SELECT count(*) FROM ticket_events e WHERE NOT EXISTS "
            "(SELECT 1 FROM tickets t WHERE t.id = e.ticket_id)").fetchone()
        orphan_notifications = conn.execute(
            # An event's notifications are keyed ACTION:code:event id (migration 0007).
            "SELECT count(*) FROM notifications n WHERE NOT EXISTS (SELECT 1 FROM tickets t "
            "WHERE t.id = n.ticket_id) OR (n.dedupe_key ~ '^[A-Z]+:[^:]+:[0-9]+$' AND NOT "
            "EXISTS (SELECT 1 FROM ticket_events e WHERE e.id::text = "
            "split_part(n.dedupe_key, ':', 3) AND e.ticket_id = n.ticket_id))").fetchone()
        missing_notifications = conn.execute(
            "SELECT count(*) FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id "
            "WHERE t.idempotency_caller LIKE 'load-resident-%%' AND t.unit_code IS NOT NULL "
            "AND t.idempotency_key LIKE %s "
            "AND e.action IN ('DISPATCHED', 'ESCALATED', 'REOPENED') AND NOT EXISTS "
            "(SELECT 1 FROM notifications n WHERE n.unit_code = t.unit_code "
            "AND n.dedupe_key = e.action || ':' || t.code || ':' || e.id)",
            (f"{load.run}-%",)).fetchone()
    lost = [k for k, code in ledger.acked.items() if by_key.get(k) != [code]]
    return {
        "requests_create_keys": len(keys),
        "acknowledged": len(ledger.acked),
        "tickets_of_the_run": len(rows),
        "lost": len(lost),
        "lost_keys": lost[:20],
        "duplicated": sum(n - 1 for n in by_description.values() if n > 1),
        "retry_answered_another_code": len(ledger.mismatched),
        "failed_keys": len(ledger.ever_failed),
        "failed_keys_retried": len(ledger.retried | (ledger.ever_failed & set(ledger.acked))),
        "failed_keys_acknowledged_on_retry": len(ledger.ever_failed & set(ledger.acked)),
        "failed_keys_with_more_than_one_ticket": sum(
            1 for k in ledger.ever_failed if len(by_key.get(k, [])) > 1),
        "unacknowledged_but_written": sum(1 for k in by_key if k not in ledger.acked),
        "tickets_without_creation_event": int(no_creation[0]) if no_creation else -1,
        "orphan_events": int(orphan_events[0]) if orphan_events else -1,
        "orphan_notifications": int(orphan_notifications[0]) if orphan_notifications else -1,
        "events_missing_notifications": (int(missing_notifications[0])
                                         if missing_notifications else -1),
    }


def phase_of(record: Record, window: tuple[float, float]) -> str:
    if record.end < window[0]:
        return "before"
    if record.start > window[1]:
        return "after"
    return "during"


def summarise(load: Load, timeline: Timeline, created: dict[str, float],
              written_after: float) -> dict[str, Any]:
    """Errors by phase, how fast failures came and the recovery time, from the clients'
    records; `created` holds each ticket's creation time (epoch seconds, as written), and a
    write counts for recovery only when it was written after `written_after` (the restarted
    database's start, or the server's kill)."""
    writes = sorted(r.end for r in load.records if r.ok and r.ticket
                    and created.get(r.ticket, -math.inf) >= written_after)
    recovery = (writes[0] - timeline.fault_end) if writes else None
    # The outage window: from the fault to the first successful write after it (or the
    # recovery target, when no write came back).
    window = (timeline.fault_start,
              timeline.fault_end + (recovery if recovery is not None else RECOVERY_TARGET_S))
    phases: dict[str, dict[str, Any]] = {}
    for phase in ("before", "during", "after"):
        mine = [r for r in load.records if phase_of(r, window) == phase]
        failures = [r for r in mine if not r.ok and "CONFLICT" not in "".join(r.codes)]
        # How long a failure took to come: an answer, or the client giving up (a request
        # never answered counts with the time it was waited for).
        took = sorted(r.end - r.start for r in failures)
        phases[phase] = {
            "requests": len(mine),
            "ok": sum(1 for r in mine if r.ok),
            "errors": len(failures),
            "by_answer": dict(Counter(
                "no answer" if r.status is None else f"{r.status} {'/'.join(r.codes)}".strip()
                for r in failures).most_common()),
            "http_5xx": sum(1 for r in mine if r.status is not None and r.status >= 500),
            "not_json_errors": sum(1 for r in mine if "NOT_JSON" in r.codes),
            "by_kind": dict(Counter(r.kind.split(":")[0] for r in mine).most_common()),
            "failure_s": {
                "p50": round(took[len(took) // 2], 3) if took else None,
                "p99": round(took[min(len(took) - 1, int(len(took) * 0.99))], 3) if took else None,
                "max": round(took[-1], 3) if took else None,
                f"over_{FAIL_FAST_TARGET_S:g}_s": sum(1 for t in took if t > FAIL_FAST_TARGET_S),
            },
        }
    leaks = [r.leak for r in load.records if r.leak]
    internal = sum(1 for r in load.records if "INTERNAL_SERVER_ERROR" in r.codes)
    return {
        "fault_start_s": round(timeline.fault_start, 3),
        "down_s": round(timeline.down, 3),
        "fault_end_s": round(timeline.fault_end, 3),
        "started_s": round(timeline.started, 3),
        "outage_s": round(timeline.fault_end - timeline.fault_start, 3),
        "recovery_s": None if recovery is None else round(recovery, 3),
        "window_s": [round(window[0], 3), round(window[1], 3)],
        "requests": len(load.records),
        "phases": phases,
        "http_5xx_outside_window": phases["before"]["http_5xx"] + phases["after"]["http_5xx"],
        "errors_after": phases["after"]["errors"],
        "internal_server_errors": internal,
        "leaked_messages": len(leaks),
        "leak_examples": sorted(set(leaks))[:5],
        "after_ok_by_kind": dict(Counter(
            r.kind.split(":")[0] for r in load.records
            if r.ok and phase_of(r, window) == "after").most_common()),
    }


def creation_times(conninfo: str, run: str) -> tuple[dict[str, float], float]:
    """Each ticket of the run's creation time and the database's start, in epoch seconds."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT code, extract(epoch FROM created_at)::float8 FROM tickets "
            "WHERE idempotency_caller LIKE 'load-resident-%%' AND idempotency_key LIKE %s",
            (f"{run}-%",)).fetchall()
        started = conn.execute(
            "SELECT extract(epoch FROM pg_postmaster_start_time())::float8").fetchone()
    return {str(code): float(at) for code, at in rows}, float(started[0]) if started else 0.0


def run(fault: str, clients: int, seconds: float, fault_at: float | None = None,
        log_dir: Path | None = None, outage_s: float = OUTAGE_S,
        cluster: EmbeddedCluster | None = None) -> dict[str, Any]:
    """One run: a fresh cluster (or `cluster`, from `own_cluster`), a server, the load, the
    fault a third of the way in (or at `fault_at` seconds), then the checks. The long outage
    keeps PostgreSQL stopped for `outage_s`, and the clients run that much longer."""
    if fault not in FAULTS:
        raise ValueError(f"fault must be one of {FAULTS}")
    if cluster is None:
        with own_cluster() as fresh:
            return run(fault, clients, seconds, fault_at, log_dir, outage_s, fresh)
    at = seconds / 3 if fault_at is None else fault_at
    length = seconds + (outage_s if fault == "db_outage" else 0.0)
    log = (log_dir or cluster.root) / f"load_faults_{fault}_server.log"
    log.unlink(missing_ok=True)
    server = Server(cluster.root, free_port(), log)
    server.start()
    try:
        server.wait_ready()
        secret = development_secret(cluster.root)
        load = Load(server.base, secret, clients, length, run=fault)
        timeline = Timeline()
        probe = Probe(database_accepts(cluster.conninfo(DATABASE)) if fault in DB_FAULTS
                      else server_accepts(server.base), load.now, timeline)

        async def inject() -> None:
            await asyncio.sleep(max(0.0, at - load.now()))
            timeline.fault_start = load.now()
            probe.start()
            if fault in DB_FAULTS:
                await asyncio.to_thread(cluster.stop)  # pg_ctl -m fast
                if fault == "db_outage":
                    await asyncio.sleep(outage_s)
                await asyncio.to_thread(cluster.start)
            else:
                await asyncio.to_thread(server.kill)
                await asyncio.to_thread(server.start)
                await asyncio.to_thread(server.wait_ready)
            timeline.started = load.now()

        try:
            asyncio.run(load.run_with(inject))
        finally:
            probe.stop()
        created, db_started = creation_times(cluster.conninfo(DATABASE), fault)
        written_after = (db_started if fault in DB_FAULTS
                         else load.t0_wall + timeline.fault_start)
        summary = summarise(load, timeline, created, written_after)
        checks = sql_checks(cluster.conninfo(DATABASE), load)
    finally:
        server.stop()
    return {"fault": fault, "clients": clients, "seconds": length, "fault_at_s": at,
            **summary, "sql": checks}


def correctness(result: dict[str, Any]) -> dict[str, bool]:
    """What must hold on any machine: nothing lost or duplicated, faults answered as faults."""
    sql = result["sql"]
    return {
        "0 lost": sql["lost"] == 0,
        "0 duplicated": sql["duplicated"] == 0 and sql["retry_answered_another_code"] == 0,
        "every failed retry at most one ticket": sql["failed_keys_with_more_than_one_ticket"] == 0,
        "every ticket has its creation event": sql["tickets_without_creation_event"] == 0,
        "no orphan events or notifications": (sql["orphan_events"] == 0
                                               and sql["orphan_notifications"] == 0
                                               and sql["events_missing_notifications"] == 0),
        "no 5xx outside the outage": result["http_5xx_outside_window"] == 0,
        "no leaked internal message": result["leaked_messages"] == 0,
        "no INTERNAL_SERVER_ERROR": result["internal_server_errors"] == 0,
    }


def verdicts(result: dict[str, Any]) -> dict[str, bool]:
    """Correctness and the timing targets (issue 13)."""
    targets = {f"recovery ≤ {RECOVERY_TARGET_S:g} s": (
        result["recovery_s"] is not None and result["recovery_s"] <= RECOVERY_TARGET_S)}
    if result["fault"] in DB_FAULTS:
        slowest = result["phases"]["during"]["failure_s"]["max"]
        targets[f"failures during the outage answered within {FAIL_FAST_TARGET_S:g} s"] = (
            slowest is None or slowest <= FAIL_FAST_TARGET_S)
    return correctness(result) | targets


def markdown(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [f"# Load with faults (commit {meta['commit']}, {meta['when']})", "",
             f"{meta['clients']} clients against `redgrid serve` on 127.0.0.1, a cluster of its "
             f"own with the demo data; {meta['seconds']:g} s of load with the fault a third of "
             f"the way in (the long outage adds its {meta['outage']:g} s). {meta['machine']}; "
             f"load average {meta['load_before']} before, {meta['load_after']} after.", "",
             "Outage: from the fault to the first moment the database (or the restarted server) "
             f"accepts a connection again, probed every {PROBE_INTERVAL_S * 1000:g} ms. "
             "Recovery: from then to the first acknowledged createTicket written after it. "
             f"Clients pause {RETRY_PAUSE_S:g} s after a failed request.", "",
             "| fault | requests | acked tickets | lost | duplicated | outage s | recovery s "
             "| failures during: p50 / max s | errors before / during / after "
             "| 5xx outside | leaks |",
             "|---|---:|---:|---:|---:|---:|---:|---|---|---:|---:|"]
    for r in results:
        p, sql = r["phases"], r["sql"]
        took = p["during"]["failure_s"]
        lines.append(
            f"| {r['fault']} | {r['requests']:,} | {sql['acknowledged']:,} | {sql['lost']} | "
            f"{sql['duplicated']} | {r['outage_s']:.2f} | {r['recovery_s']} | "
            f"{took['p50']} / {took['max']} | "
            f"{p['before']['errors']} / {p['during']['errors']} / {p['after']['errors']} | "
            f"{r['http_5xx_outside_window']} | {r['leaked_messages']} |")
    for r in results:
        lines += ["", f"## {r['fault']}", "", "| check | result |", "|---|---|"]
        lines += [f"| {name} | {'pass' if ok else '**fail**'} |"
                  for name, ok in verdicts(r).items()]
        lines += ["", "Answers that were not a success, by phase:", ""]
        for phase, stats in r["phases"].items():
            answers = ", ".join(f"{k}: {v}" for k, v in stats["by_answer"].items()) or "none"
            lines.append(f"- {phase}: {stats['requests']:,} requests, {stats['errors']} "
                         f"errors ({answers})")
        sql = r["sql"]
        lines += ["", f"createTicket keys with a failed attempt (no answer or a fault): "
                  f"{sql['failed_keys']}, acknowledged on a retry: "
                  f"{sql['failed_keys_acknowledged_on_retry']}; written though never "
                  f"acknowledged: {sql['unacknowledged_but_written']}."]
    return "\n".join(lines) + "\n"


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--outage", type=float, default=OUTAGE_S,
                        help="seconds PostgreSQL stays stopped in the long outage")
    parser.add_argument("--fault", choices=(*FAULTS, "all"), default="all")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    os.environ["REDGRID_ENV"] = "development"
    faults = FAULTS if args.fault == "all" else (args.fault,)
    load_before = load_average()
    results = []
    for fault in faults:
        print(f"==> {fault}: {args.clients} clients, {args.seconds:g} s "
              f"(load average {load_average()})", flush=True)
        result = run(fault, args.clients, args.seconds, log_dir=Path(tempfile.gettempdir()),
                     outage_s=args.outage)
        results.append(result)
        print(json.dumps({k: result[k] for k in ("recovery_s", "outage_s", "requests",
                                                 "http_5xx_outside_window")}
                         | {"failure_s": result["phases"]["during"]["failure_s"]}
                         | {"sql": {k: v for k, v in result["sql"].items() if k != "lost_keys"}}),
              flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=CHECKOUT,
                            capture_output=True, text=True).stdout.strip()
    meta = {"commit": commit, "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "clients": args.clients, "seconds": args.seconds, "outage": args.outage,
            "load_before": load_before, "load_after": load_average(),
            "machine": f"{os.cpu_count()} cores, Python {sys.version.split()[0]}"}
    if not args.no_write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "load_faults.json").write_text(
            json.dumps({**meta, "runs": results, "verdicts": [verdicts(r) for r in results]},
                       indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (RESULTS / "load_faults.md").write_text(markdown(results, meta), encoding="utf-8")
    failed = [name for r in results for name, ok in verdicts(r).items() if not ok]
    print(markdown(results, meta))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
