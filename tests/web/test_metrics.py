"""`/metrics`: scraped and parsed with prometheus_client's own parser, compared with what was
requested and with SQL; served to the monitoring network only."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from db.database import Database
from web.app import create_app
from web.clients import parse_networks
from web.metrics import MAX_OPERATION_NAMES, pool_stats
from web.settings import Settings
from web.webhooks import MAX_ATTEMPTS

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
LOOPBACK_CLIENT = ("127.0.0.1", 50000)


def scrape(client: TestClient) -> Samples:
    answer = client.get("/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module")
def monitor(settings: Settings) -> Iterator[TestClient]:
    """The app as seen from this machine (loopback), where a Prometheus would scrape it."""
    with TestClient(create_app(settings), client=LOOPBACK_CLIENT) as client:
        yield client


def test_requests_and_operations_are_counted(monitor: TestClient) -> None:
    before = scrape(monitor)
    for _ in range(3):
        assert "errors" not in monitor.post(
            "/graphql", json={"query": "query MapZones { zones { code } }"}).json()
    monitor.post("/graphql", json={"query": "{ ticket(code: 5) { code } }"})  # invalid
    assert monitor.get("/tiles/compounds/14/13592/6494.mvt").status_code in (200, 204)
    after = scrape(monitor)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("redgrid_graphql_operations_total", operation="MapZones", type="query",
                outcome="ok") == 3
    assert grew("redgrid_graphql_operations_total", operation="anonymous", type="query",
                outcome="error") == 1
    assert grew("redgrid_graphql_operation_duration_seconds_count", operation="MapZones",
                type="query") == 3
    assert grew("redgrid_http_requests_total", route="/graphql", method="POST",
                status="200") == 4
    tile = "/tiles/{layer}/{z}/{x}/{y}.mvt"
    assert grew("redgrid_http_request_duration_seconds_count", route=tile, method="GET") == 1
    # The previous scrape itself, by its route.
    assert grew("redgrid_http_requests_total", route="/metrics", method="GET",
                status="200") == 1


def test_pools_tickets_and_outbox_match_the_database(monitor: TestClient, settings: Settings,
                                                     db: psycopg.Connection) -> None:
    samples = scrape(monitor)
    for pool in ("graphql", "tiles"):
        assert value(samples, "redgrid_db_pool_max", pool=pool) == settings.pool_size
        held = value(samples, "redgrid_db_pool_connections", pool=pool)
        assert 1 <= held <= settings.pool_size
        assert 0 <= value(samples, "redgrid_db_pool_idle", pool=pool) <= held
    by_status = dict(db.execute("SELECT status, count(*) FROM tickets GROUP BY status").fetchall())
    assert sum(by_status.values()) > 0
    for status in ("SUBMITTED", "DISPATCHED", "IN_PROGRESS", "RESOLVED", "CLOSED", "REJECTED"):
        assert value(samples, "redgrid_tickets", status=status) == by_status.get(status, 0)
    pending, oldest, failing, given_up = db.execute(
        "SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0), "
        "count(*) FILTER (WHERE last_error IS NOT NULL), "
        "count(*) FILTER (WHERE attempts >= %s) FROM notifications "
        "WHERE delivered_at IS NULL", (MAX_ATTEMPTS,)).fetchone()  # type: ignore[misc]
    assert value(samples, "redgrid_outbox_pending") == pending
    assert value(samples, "redgrid_webhook_failing") == failing
    assert value(samples, "redgrid_webhook_given_up") == given_up
    assert abs(value(samples, "redgrid_outbox_oldest_pending_seconds") - float(oldest)) < 30


async def test_requests_waiting_for_a_slot_count_as_waiting(conninfo: str) -> None:
    db = Database(conninfo, min_size=1, max_size=1)
    await db.open()
    try:
        async with db.connection():
            waiting = asyncio.create_task(db.connection().__aenter__())
            await asyncio.sleep(0.05)
            assert pool_stats(db)["requests_waiting"] == 1
            assert db.pool.get_stats().get("requests_waiting", 0) == 0  # not in the pool
            waiting.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiting
        assert pool_stats(db)["requests_waiting"] == 0
    finally:
        await db.close()


def test_operation_names_are_bounded(settings: Settings) -> None:
    with TestClient(create_app(settings), client=LOOPBACK_CLIENT) as client:
        for n in range(MAX_OPERATION_NAMES + 20):
            client.post("/graphql", json={"query": f"query Q{n} {{ zones {{ code }} }}"})
        samples = scrape(client)
    names = {dict(labels)["operation"] for (name, labels) in samples
             if name == "redgrid_graphql_operations_total"}
    assert len(names) == MAX_OPERATION_NAMES + 1 and "other" in names
    assert value(samples, "redgrid_graphql_operations_total", operation="other", type="query",
                 outcome="ok") == 20


def test_metrics_are_not_public(settings: Settings) -> None:
    with TestClient(create_app(settings), client=("203.0.113.9", 40000)) as outsider:
        refused = outsider.get("/metrics")
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert "redgrid_" not in refused.text
    allowed = replace(settings, metrics_networks=parse_networks("203.0.113.0/24"))
    with TestClient(create_app(allowed), client=("203.0.113.9", 40000)) as monitoring:
        assert scrape(monitoring)
    # The default is loopback, in production too.
    assert Settings.from_env({"REDGRID_DATA_DIR": str(settings.data_dir)}).metrics_networks == \
        parse_networks("127.0.0.0/8 ::1/128")
