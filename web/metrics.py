"""Prometheus metrics at `/metrics`: requests and latency per route and per GraphQL
operation, database pool use, tickets by status, the notification outbox's backlog and
webhook failures.

Request and operation figures are counted as requests are served; with `redgrid serve
--workers N` the workers share them through a Prometheus multiprocess folder (see
`web/serving.py`), so whichever worker answers a scrape reports them all, while the pool
gauges are the answering worker's. The
database figures are read at scrape time by one cheap statement (`db/queries/operations.py`),
cached for `COUNTS_TTL_S`, and a scrape waits at most `COUNTS_WAIT_S` for them.

`/metrics` answers only clients in `REDGRID_METRICS_NETWORKS` (loopback by default): it tells
how busy the service is and how many tickets it holds, which is not for the public.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension

from db.database import Database
from db.queries.operations import OperationCounts, operation_counts
from db.replica import Replica
from resolvers.errors import ErrorCode
from web.clients import Network, client_address
from web.errors import PRIVATE, error_response
from web.reloading import Reloading
from web.settings import LOOPBACK
from web.webhooks import MAX_ATTEMPTS

access_log = logging.getLogger("redgrid.access")
COUNTS_TTL_S = 10.0
COUNTS_WAIT_S = 2.0
# Latency buckets in seconds: from a cached tile (0.2 ms) to the statement timeout (5 s).
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Operation names are the clients' choice: at most this many label values, the rest `other`.
MAX_OPERATION_NAMES = 100
# Label sets whose children are kept at hand (the methods are the clients' choice: past this
# many, a label set's children are looked up each time, as prometheus_client does).
MAX_KEPT_CHILDREN = 1000
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")


def multiprocess_dir() -> str | None:
    """Where worker processes share their counts (`PROMETHEUS_MULTIPROC_DIR`), if anywhere."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    """The metrics of one app: its counters, and the pools and counts read at scrape time."""

    def __init__(self, networks: tuple[Network, ...] = LOOPBACK,
                 proxies: tuple[Network, ...] = ()) -> None:
        self.networks = networks
        self.proxies = proxies
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("redgrid_http_requests", "HTTP requests answered",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("redgrid_http_request_duration_seconds",
                                 "Time to answer an HTTP request", ["route", "method"],
                                 buckets=BUCKETS, registry=self.registry)
        self.operations = Counter("redgrid_graphql_operations", "GraphQL operations run",
                                  ["operation", "type", "outcome"], registry=self.registry)
        self.operation_latency = Histogram(
            "redgrid_graphql_operation_duration_seconds", "Time to run a GraphQL operation",
            ["operation", "type"], buckets=BUCKETS, registry=self.registry)
        self.pools: dict[str, Database] = {}
        self.replica: Replica | None = None
        self.counts: Reloading[OperationCounts] | None = None
        self._names: set[str] = set()
        # The children of the label sets seen: looking them up costs a lock and label checks
        # each time (4 % of a small answer's CPU).
        self._children: dict[tuple[str, ...], tuple[Any, Any]] = {}
        self.registry.register(_Gauges(self))

    def watch(self, db: Database, tile_db: Database, replica: Replica | None = None) -> None:
        """Reports these pools and reads the database counts through `db`."""
        self.pools = {"graphql": db, "tiles": tile_db}
        if replica is not None:
            self.pools.update({"replica": replica.db, "replica_tiles": replica.tile_db})
        self.replica = replica

        async def load() -> OperationCounts:
            async with db.connection() as conn:
                return await operation_counts(conn, MAX_ATTEMPTS)

        self.counts = Reloading("the metrics' database counts", load, ttl_s=COUNTS_TTL_S,
                                min_interval_s=COUNTS_TTL_S / 2)

    def observe_operation(self, name: str | None, kind: str, outcome: str,
                          seconds: float) -> None:
        """Counts and times one GraphQL operation."""
        label = self.operation_label(name)
        count, timing = self._kept(("operation", label, kind, outcome), lambda: (
            self.operations.labels(label, kind, outcome),
            self.operation_latency.labels(label, kind)))
        count.inc()
        timing.observe(seconds)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Counts and times one HTTP request."""
        count, timing = self._kept(("request", route, method, str(status)), lambda: (
            self.requests.labels(route, method, str(status)), self.latency.labels(route, method)))
        count.inc()
        timing.observe(seconds)

    def _kept(self, key: tuple[str, ...], children: Callable[[], tuple[Any, Any]],
              ) -> tuple[Any, Any]:
        kept = self._children.get(key)
        if kept is None:
            kept = children()
            if len(self._children) < MAX_KEPT_CHILDREN:
                self._children[key] = kept
        return kept

    def operation_label(self, name: str | None) -> str:
        if not name:
            return "anonymous"
        if name in self._names:
            return name
        if not _NAME.fullmatch(name) or len(self._names) >= MAX_OPERATION_NAMES:
            return "other"
        self._names.add(name)
        return name

    async def exposition(self) -> bytes:
        """The text format, with the database counts brought up to date first."""
        if self.counts is not None and self.counts.stale:
            try:
                await asyncio.wait_for(self.counts.reload(), COUNTS_WAIT_S)
            except TimeoutError:
                pass  # the last counts, or none: a slow database must not hang the scrape
        if directory := multiprocess_dir():
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry, path=directory)
            registry.register(_Gauges(self))
            return generate_latest(registry)
        return generate_latest(self.registry)


class _Gauges(Collector):
    """What is read at scrape time: pool use and the database counts."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        pools = {name: pool_stats(db) for name, db in self.metrics.pools.items()}
        for metric, key, text in (
                ("redgrid_db_pool_connections", "pool_size", "Connections the pool holds"),
                ("redgrid_db_pool_idle", "pool_available", "Connections idle in the pool"),
                ("redgrid_db_pool_max", "pool_max", "Connections the pool may hold"),
                ("redgrid_db_pool_waiting", "requests_waiting",
                 "Requests waiting for a connection")):
            family = GaugeMetricFamily(metric, text, labels=["pool"])
            for name, stats in pools.items():
                family.add_metric([name], stats.get(key, 0))
            yield family
        if (replica := self.metrics.replica) is not None:
            yield GaugeMetricFamily("redgrid_replica_up", "Whether reads go to the replica",
                                    value=int(replica.health.up))
            yield GaugeMetricFamily("redgrid_replica_lag_seconds",
                                    "How far the replica is behind (+Inf: unreachable)",
                                    value=replica.health.lag_s)
        counts = self.metrics.counts.value if self.metrics.counts else None
        if counts is None:
            return
        tickets = GaugeMetricFamily("redgrid_tickets", "Tickets by status", labels=["status"])
        for status, n in counts.tickets.items():
            tickets.add_metric([status], n)
        yield tickets
        yield GaugeMetricFamily("redgrid_outbox_pending", "Notifications not yet delivered",
                                value=counts.outbox_pending)
        yield GaugeMetricFamily("redgrid_outbox_oldest_pending_seconds",
                                "Age of the oldest notification not yet delivered",
                                value=counts.outbox_oldest_s)
        yield GaugeMetricFamily("redgrid_webhook_failing",
                                "Undelivered notifications whose last webhook attempt failed",
                                value=counts.webhook_failing)
        yield GaugeMetricFamily("redgrid_webhook_given_up",
                                "Notifications given up on after the last attempt",
                                value=counts.webhook_given_up)


def route_label(scope: Scope) -> str:
    """The route template a request matched (`/tiles/{layer}/{z}/{x}/{y}.mvt`), never its
    concrete path, so the label's values stay few."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if path is None:
        return "unmatched"
    return str(scope.get("root_path", "")) + str(path)


class HttpMetrics:
    """ASGI middleware: counts and times every HTTP request by route, method and status, and
    writes the access log's line for it (`redgrid.access`, when that is on)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            elapsed = time.perf_counter() - started
            route, method = route_label(scope), scope["method"]
            self.metrics.observe_request(route, method, status, elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info("%s %s %d %.1f ms", method, scope["path"], status, elapsed * 1000)


class OperationMetrics(SchemaExtension):
    """Counts and times GraphQL operations by name, type and outcome (HTTP and websocket)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        context = self.execution_context
        try:
            kind = context.operation_type.value
        except Exception:  # noqa: BLE001 - a document that did not parse has no type
            kind = "invalid"
        outcome = "error" if getattr(context.result, "errors", None) else "ok"
        self.metrics.observe_operation(context.operation_name, kind, outcome,
                                       time.perf_counter() - started)


def pool_stats(db: Database) -> dict[str, int]:
    """A pool's figures; the requests waiting for a slot (db/database.py) count as waiting."""
    stats = db.pool.get_stats()
    stats["requests_waiting"] = stats.get("requests_waiting", 0) + len(db.slots.waiting)
    return stats


def routes(metrics: Metrics) -> list[Route]:
    async def endpoint(request: Request) -> Response:
        address = client_address(request.scope, metrics.proxies)
        if not any(_in(address, network) for network in metrics.networks):
            return error_response(ErrorCode.FORBIDDEN, "Metrics are served to the monitoring "
                                  "network only (REDGRID_METRICS_NETWORKS).")
        return Response(await metrics.exposition(), media_type=CONTENT_TYPE_LATEST,
                        headers=PRIVATE)

    return [Route("/metrics", endpoint)]


def _in(address: str, network: Network) -> bool:
    try:
        return ipaddress.ip_address(address) in network
    except ValueError:
        return False

